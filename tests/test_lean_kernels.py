"""The lean paths of the engine at scale (issue 13): adjacency and edge order built by counting sorts
equal the sorts they replace; distances without labels in float32 equal the full search rounded
once; the search's entry pool grows (and falls back to a heap) without changing any result."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from lifecircle.network import kernels, nearest_per_category, snap_points
from lifecircle.network.engine import (
    _prepare_sources,
    kernel_graph,
    nearest_distance_nodes,
    nearest_per_category_nodes,
)
from lifecircle.network.graph import _adjacency_arrays
from lifecircle.network.ordering import _edge_order, _edge_order_as
from lifecircle.network.tiled import Tiling
from lifecircle.scale.synthetic import grid_network


def _argsort_csr(n, u, v, length):
    """The adjacency as the stable argsort built it before (the reference)."""
    src = np.concatenate([u, v])
    order = np.argsort(src, kind="stable")
    indptr = np.zeros(n + 1, dtype=np.int64)
    np.add.at(indptr, src + 1, 1)
    return np.cumsum(indptr), np.concatenate([v, u])[order], np.concatenate([length, length])[order], order % len(u)


@settings(max_examples=25, deadline=None)
@given(st.integers(2, 40), st.integers(1, 120), st.integers(0, 10_000))
def test_counting_sorts_equal_the_sorts_they_replace(n, m, seed):
    rng = np.random.default_rng(seed)
    u = rng.integers(0, n, m).astype(np.int32)
    v = rng.integers(0, n, m).astype(np.int32)  # loops and parallel edges included
    length = rng.uniform(1, 100, m)
    indptr, nbr, eid = _adjacency_arrays(n, u, v)
    csr = (indptr, nbr, length[eid], eid)  # as WalkNetwork.csr completes the weightless adjacency
    for got, want in zip(csr, _argsort_csr(n, u, v, length), strict=True):
        np.testing.assert_array_equal(got, want)
    np.testing.assert_array_equal(_edge_order(n, u, v), np.lexsort((np.maximum(u, v), np.minimum(u, v))))
    relabel = rng.permutation(n).astype(np.int32)  # the order of the ends under new node numbers
    ru, rv = relabel[u], relabel[v]
    want = np.lexsort((np.maximum(ru, rv), np.minimum(ru, rv)))
    np.testing.assert_array_equal(_edge_order_as(n, u, v, relabel), want)


def _city(seed: int):
    net = grid_network(40, 30, seed=seed, drop=0.25)  # dropped links: some nodes unreachable
    rng = np.random.default_rng(seed)
    k = rng.integers(0, net.n_edges, 300)
    x = (net.node_x[net.edge_u[k]] + net.node_x[net.edge_v[k]]) / 2 + rng.normal(0, 20, 300)
    y = (net.node_y[net.edge_u[k]] + net.node_y[net.edge_v[k]]) / 2 + rng.normal(0, 20, 300)
    return net, snap_points(net, x, y, max_m=300.0), rng.integers(0, 5, 300) % 4  # category 4 empty


def test_float32_distances_are_the_full_search_rounded_once():
    net, src, cat = _city(3)
    full, _ = nearest_per_category(net, src, cat, 5, max_m=1500.0)
    lean = nearest_distance_nodes(net, src, cat, 5, max_m=1500.0)
    assert lean.dtype == np.float32 and lean.shape == (net.n_nodes, 5)
    np.testing.assert_array_equal(lean, full.astype(np.float32))
    assert np.isinf(lean[:, 4]).all() and np.isinf(lean).any() and np.isfinite(lean).mean() > 0.5
    np.testing.assert_array_equal(nearest_distance_nodes(net, src, cat, 5, max_m=1500.0, dtype=np.float64), full)


def test_the_origins_pass_also_gives_the_node_distances_it_resolved_them_from():
    """One search for both: the origins' rows equal nearest_per_category's, the node distances
    equal nearest_distance_nodes in float64 (what the batch's walking-time surface reuses)."""
    net, src, cat = _city(4)
    origins = snap_points(net, net.node_x[:200] + 7.0, net.node_y[:200] - 5.0, max_m=300.0)
    dist, lab, node_m = nearest_per_category_nodes(net, src, cat, 5, origins, max_m=1500.0)
    want, want_lab = nearest_per_category(net, src, cat, 5, origins, max_m=1500.0)
    np.testing.assert_array_equal(dist, want)
    np.testing.assert_array_equal(lab, want_lab)
    assert node_m.shape == (net.n_nodes, 5) and node_m.dtype == np.float64
    np.testing.assert_array_equal(node_m, nearest_distance_nodes(net, src, cat, 5, max_m=1500.0, dtype=np.float64))


def test_a_small_entry_pool_grows_and_then_falls_back_to_a_heap_with_the_same_result():
    net, src, cat = _city(5)
    g = kernel_graph(net)
    prep = _prepare_sources(net, src, cat, 5)
    want, want_lab = nearest_per_category(net, src, cat, 5)
    width, n_ring = kernels.bucket_width(g.weight_m)
    a, b = prep.cat_ptr[1], prep.cat_ptr[2]
    seeds = kernels.Seeds(prep.seeds.node[a:b], prep.seeds.dist_m[a:b], prep.seeds.label[a:b])
    n = net.n_nodes
    full = g.nbr.shape[0] + (b - a) + 1
    for pool_size, cap in ((1, full), (1, 2)):  # grows to the full pool; cannot grow enough: heap
        dist, lab, done = np.empty(n), np.empty(n, dtype=np.int64), np.empty(n)
        pool = np.empty(pool_size, dtype=np.int64)
        pool = kernels._nearest_one_category(
            g, seeds, np.inf, width, dist, lab, done, pool, np.empty(n_ring, dtype=np.int64), cap, kernels._NO_START
        )
        assert len(pool) == cap
        np.testing.assert_array_equal(dist, want[:, 1])
        np.testing.assert_array_equal(lab, want_lab[:, 1])


def test_the_tiled_search_makes_no_half_edge_weights():
    """Tile by tile, a street's length is read by its edge: the network keeps its weightless
    adjacency only (8 bytes per half-edge less, 110 MB at 4 million nodes), with the same distances
    as the whole search on the full CSR; the bytes counted once where the two share arrays."""
    net, src, cat = _city(5)
    tiled = nearest_distance_nodes(net, src, cat, 5, dtype=np.float64, tiling=Tiling(200, 300.0, 0))
    assert "adjacency" in vars(net) and "csr" not in vars(net)
    lean_bytes = net.array_nbytes()
    whole = nearest_distance_nodes(net, src, cat, 5, dtype=np.float64, tiling=None)
    np.testing.assert_array_equal(tiled, whole)
    assert net.csr[0] is net.adjacency[0] and net.csr[3] is net.adjacency[2]
    assert net.array_nbytes() == lean_bytes + 8 * 2 * net.n_edges  # only the weights were added
