"""The walking engine against an independent networkx reference (tests/reference.py), on random
street graphs, plus invariants checked with hypothesis.

Graphs are synthetic: random geometric street networks in a UTM CRS (metres), built with
``WalkNetwork.from_lines``, with a second, disconnected piece so some pairs are unreachable.
"""

from __future__ import annotations

import networkx as nx
import numpy as np
import pytest
import shapely
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pyproj import CRS
from scipy.spatial import cKDTree

from lifecircle.network import (
    Snapped,
    WalkNetwork,
    count_within,
    nearest,
    nearest_per_category,
    snap_points,
)
from lifecircle.network.engine import accessibility, metres, minutes

from reference import build_reference, reference_counts, reference_nearest

UTM49N = CRS.from_epsg(32649)  # Yichang's UTM zone
X0, Y0 = 500_000.0, 3_390_000.0


def random_streets(seed: int, n: int = 60, size_m: float = 1500.0) -> WalkNetwork:
    """Synthetic random geometric street graph: a main piece and a small separate piece 5 km
    away (unreachable from the main one). Some streets bend (an extra vertex mid-way)."""
    rng = np.random.default_rng(seed)
    lines = []
    for piece, (m, ox) in enumerate([(n, 0.0), (max(4, n // 6), 5000.0)]):
        pts = rng.uniform(0, size_m if piece == 0 else size_m / 4, (m, 2)) + [X0 + ox, Y0]
        tree = cKDTree(pts)
        _, nbr = tree.query(pts, k=min(4, m))
        pairs = {(min(i, j), max(i, j)) for i in range(m) for j in nbr[i, 1:]}
        # a chain through all points so the piece is (mostly) connected
        pairs |= {(i, i + 1) for i in range(m - 1)}
        for i, j in sorted(pairs):
            a, b = pts[i], pts[j]
            if rng.random() < 0.3:
                mid = (a + b) / 2 + rng.normal(0, 20, 2)
                lines.append(shapely.LineString([a, mid, b]))
            else:
                lines.append(shapely.LineString([a, b]))
    return WalkNetwork.from_lines(np.array(lines, dtype=object), UTM49N, source="synthetic random streets")


def random_points(net: WalkNetwork, rng: np.random.Generator, k: int, max_m: float = 120.0) -> Snapped:
    """``k`` points scattered over the network's extent, snapped within ``max_m`` metres: most land
    on a street with an offset, some are too far and stay unsnapped."""
    x = rng.uniform(net.node_x.min() - 200, net.node_x.max() + 200, k)
    y = rng.uniform(net.node_y.min() - 200, net.node_y.max() + 200, k)
    return snap_points(net, x, y, max_m=max_m)


def assert_same_distances(got: np.ndarray, want: np.ndarray) -> None:
    assert got.shape == want.shape
    assert np.array_equal(np.isinf(got), np.isinf(want)), "reachability differs from the reference"
    fin = np.isfinite(want)
    np.testing.assert_allclose(got[fin], want[fin], rtol=1e-10, atol=1e-6)


@pytest.fixture(scope="module", params=[1, 2, 3, 4])
def case(request):
    seed = request.param
    net = random_streets(seed)
    rng = np.random.default_rng(100 + seed)
    n_cat = 4
    sources = random_points(net, rng, 40)
    cat = rng.integers(0, n_cat, len(sources))
    origins = random_points(net, rng, 30)
    return net, sources, cat, n_cat, origins


# ---------------------------------------------------------------------------- vs reference
def test_random_graphs_have_unreachable_pairs_and_unsnapped_points(case):
    net, sources, _, _, origins = case
    assert net.component_summary()["n_components"] >= 2
    assert not sources.ok.all() and sources.ok.any()
    assert not origins.ok.all() and origins.ok.any()


def test_nearest_per_category_matches_reference(case):
    net, sources, cat, n_cat, origins = case
    d, lab = nearest_per_category(net, sources, cat, n_cat, origins)
    want = reference_nearest(net, origins, sources, cat, n_cat)
    assert_same_distances(d, want)
    assert np.isinf(want).any(), "the case should contain unreachable origin/category pairs"
    # unsnapped origins reach nothing; labels name a snapped source of the right category
    assert np.isinf(d[~origins.ok]).all()
    fin = np.isfinite(d)
    assert (lab[~fin] == -1).all()
    assert (cat[lab[fin]] == np.nonzero(fin)[1]).all()
    assert sources.ok[lab[fin]].all()


def test_nearest_source_label_is_at_the_reported_distance(case):
    net, sources, cat, n_cat, origins = case
    d, lab = nearest_per_category(net, sources, cat, n_cat, origins)
    g = build_reference(net, {"o": origins, "s": sources})
    for o in np.flatnonzero(origins.ok)[:10]:
        dist = nx.single_source_dijkstra_path_length(g, ("o", int(o)), weight="weight")
        for c in range(n_cat):
            if np.isfinite(d[o, c]):
                assert dist[("s", int(lab[o, c]))] == pytest.approx(d[o, c], abs=1e-6)


def test_every_node_as_origin_matches_reference(case):
    net, sources, cat, n_cat, _ = case
    d, lab = nearest_per_category(net, sources, cat, n_cat)  # origins=None: every node
    assert d.shape == (net.n_nodes, n_cat) and lab.shape == (net.n_nodes, n_cat)
    at_nodes = Snapped.at_nodes(net, np.arange(net.n_nodes))
    assert_same_distances(d, reference_nearest(net, at_nodes, sources, cat, n_cat))
    # the same as passing every node explicitly as a point on the network
    d2, _ = nearest_per_category(net, sources, cat, n_cat, at_nodes)
    assert_same_distances(d2, d)


@pytest.mark.parametrize("max_m", [0.0, 150.0, 400.0])
def test_max_m_bounds_the_search(case, max_m):
    net, sources, cat, n_cat, origins = case
    want = reference_nearest(net, origins, sources, cat, n_cat)
    want = np.where(want <= max_m, want, np.inf)
    d, lab = nearest_per_category(net, sources, cat, n_cat, origins, max_m=max_m)
    assert_same_distances(d, want)
    assert (lab[np.isinf(d)] == -1).all()
    dn, _ = nearest_per_category(net, sources, cat, n_cat, max_m=max_m)
    full, _ = nearest_per_category(net, sources, cat, n_cat)
    assert_same_distances(dn, np.where(full <= max_m, full, np.inf))


def test_count_within_matches_reference(case):
    net, sources, cat, n_cat, origins = case
    thr = [600.0, 150.0, 333.3, 1000.0]  # deliberately unsorted: returned in the given order
    got = count_within(net, sources, cat, n_cat, origins, thr)
    want = reference_counts(net, origins, sources, cat, n_cat, thr)
    assert got.shape == (len(origins), n_cat, len(thr))
    assert np.array_equal(got, want)
    assert got.sum() > 0
    assert (got[~origins.ok] == 0).all()


def test_accessibility_combines_nearest_and_counts(case):
    net, sources, cat, n_cat, origins = case
    res = accessibility(net, sources, cat, n_cat, origins, [250.0, 500.0])
    d, lab = nearest_per_category(net, sources, cat, n_cat, origins)
    assert_same_distances(res.nearest_m, d)
    assert np.array_equal(res.nearest_source, lab)
    assert np.array_equal(res.counts, count_within(net, sources, cat, n_cat, origins, [250.0, 500.0]))
    # a category counted within some threshold has its nearest source within it
    has = res.counts[:, :, 0] > 0
    assert (res.nearest_m[has] <= 250.0).all()
    assert (res.counts[:, :, 0][res.nearest_m > 250.0] == 0).all()


def test_nearest_single_category_equals_min_over_categories(case):
    net, sources, cat, n_cat, origins = case
    d, _ = nearest_per_category(net, sources, cat, n_cat, origins)
    assert_same_distances(nearest(net, sources, origins), d.min(axis=1))


def test_minutes_and_metres_are_inverse():
    # 15 minutes at 4.0 km/h is 1,000 m (GB 50180); at 3.0 km/h it is 750 m
    assert metres(15, 4.0) == pytest.approx(1000.0)
    assert metres(15, 3.0) == pytest.approx(750.0)
    assert minutes(1000.0, 4.0) == pytest.approx(15.0)
    assert minutes(metres(7.5, 3.0), 3.0) == pytest.approx(7.5)


# ---------------------------------------------------------------------------- hand-built cases
def straight_street() -> WalkNetwork:
    """Synthetic: a 1,000 m east-west street with a 400 m loop north of it (nodes at 0 and 1000)."""
    a, b = (X0, Y0), (X0 + 1000, Y0)
    lines = [shapely.LineString([a, b]), shapely.LineString([a, (X0, Y0 + 200), (X0 + 1000, Y0 + 200), b])]
    return WalkNetwork.from_lines(np.array(lines, dtype=object), UTM49N, source="synthetic street")


def test_source_on_the_origins_edge_is_reached_along_the_edge():
    net = straight_street()
    origin = snap_points(net, [X0 + 300], [Y0 - 10])  # 300 m along, 10 m off the street
    # one source 50 m further along the same edge (5 m off), one 250 m back
    src = snap_points(net, [X0 + 350, X0 + 50], [Y0 - 5, Y0 + 5])
    assert origin.ok.all() and src.ok.all()
    e0 = origin.edge[0]
    assert (src.edge == e0).all()
    d, lab = nearest_per_category(net, src, np.array([0, 1]), 2, origin)
    assert d[0, 0] == pytest.approx(10 + 50 + 5)
    assert d[0, 1] == pytest.approx(10 + 250 + 5)
    assert lab[0].tolist() == [0, 1]
    c = count_within(net, src, np.array([0, 0]), 1, origin, [60.0, 70.0, 300.0])
    assert c[0, 0].tolist() == [0, 1, 2]
    assert_same_distances(d, reference_nearest(net, origin, src, np.array([0, 1]), 2))


def test_same_edge_source_behind_a_node_uses_the_shorter_way():
    net = straight_street()
    # origin near the east end of the straight edge; source just east of node 0 on the loop
    origin = snap_points(net, [X0 + 990], [Y0])
    src = snap_points(net, [X0 - 3], [Y0 + 30])
    d = nearest(net, src, origin)
    # the straight street (990 m to node 0) beats the loop (10 + 1000 + 200 - 30 m)
    assert d[0] == pytest.approx(990 + 30 + 3)


def test_at_nodes_places_points_exactly_on_nodes():
    net = random_streets(7, n=30)
    nodes = np.array([0, 5, net.n_nodes - 1, 5])
    pts = Snapped.at_nodes(net, nodes)
    assert pts.ok.all() and (pts.offset_m == 0).all()
    # each point sits at the u or v end of its edge, on that very node
    end = np.where(pts.pos_m == 0, net.edge_u[pts.edge], net.edge_v[pts.edge])
    assert (end == nodes).all()
    assert np.allclose(pts.x, net.node_x[nodes]) and np.allclose(pts.y, net.node_y[nodes])
    rng = np.random.default_rng(0)
    src = random_points(net, rng, 10)
    per_node, _ = nearest_per_category(net, src, np.zeros(10, int), 1)
    via_points = nearest(net, src, pts)
    assert_same_distances(via_points, per_node[nodes, 0])
    # a source at a node is at distance 0 from an origin at the same node
    assert nearest(net, Snapped.at_nodes(net, [5]), Snapped.at_nodes(net, [5]))[0] == 0.0


def test_points_beyond_the_snap_limit_are_left_out_not_moved():
    net = straight_street()
    x = np.array([X0 + 500, X0 + 500, X0 + 500])
    y = np.array([Y0 - 100, Y0 - 299, Y0 - 301])  # 100, 299, 301 m south of the street
    pts = snap_points(net, x, y, max_m=300.0)
    assert pts.ok.tolist() == [True, True, False]
    assert pts.offset_m[:2] == pytest.approx([100.0, 299.0])
    assert pts.x.tolist() == x.tolist() and pts.y.tolist() == y.tolist()  # never moved
    # the far point reaches nothing as an origin and is never counted as a source
    origin = snap_points(net, [X0 + 500], [Y0 - 1])
    assert np.isinf(nearest(net, origin, pts)[2])
    assert count_within(net, pts, np.zeros(3, int), 1, origin, [1e9])[0, 0, 0] == 2
    d = nearest(net, pts.subset(np.array([False, False, True])), origin)
    assert np.isinf(d[0])
    tight = snap_points(net, x, y, max_m=50.0)
    assert not tight.ok.any()


# ---------------------------------------------------------------------------- properties
_nets: dict[int, WalkNetwork] = {}


def small_net(seed: int) -> WalkNetwork:
    if seed not in _nets:
        _nets[seed] = random_streets(seed, n=25, size_m=800.0)
    return _nets[seed]


props = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
net_seed = st.integers(0, 4)
pt_seed = st.integers(0, 10_000)


@props
@given(net_seed, pt_seed, st.integers(1, 12))
def test_adding_an_outlet_never_increases_a_nearest_distance(ns, ps, k):
    net = small_net(ns)
    rng = np.random.default_rng(ps)
    pts = random_points(net, rng, k + 1 + 15)
    origins = pts.subset(np.arange(len(pts)) >= k + 1)
    before = pts.subset(np.arange(len(pts)) < k)
    after = pts.subset(np.arange(len(pts)) < k + 1)
    cat_after = rng.integers(0, 3, k + 1)
    d0, _ = nearest_per_category(net, before, cat_after[:k], 3, origins)
    d1, _ = nearest_per_category(net, after, cat_after, 3, origins)
    assert (d1 <= d0).all()
    n0, _ = nearest_per_category(net, before, cat_after[:k], 3)
    n1, _ = nearest_per_category(net, after, cat_after, 3)
    assert (n1 <= n0).all()


@props
@given(net_seed, pt_seed, st.lists(st.floats(0.0, 2000.0), min_size=1, max_size=5))
def test_counts_never_decrease_as_the_threshold_grows(ns, ps, thr):
    net = small_net(ns)
    rng = np.random.default_rng(ps)
    src = random_points(net, rng, 20)
    origins = random_points(net, rng, 8)
    cat = rng.integers(0, 2, 20)
    c = count_within(net, src, cat, 2, origins, thr)
    order = np.argsort(thr, kind="stable")
    assert (np.diff(c[:, :, order], axis=2) >= 0).all()
    # and each count agrees with the nearest distance: zero exactly when nothing is that close
    d, _ = nearest_per_category(net, src, cat, 2, origins)
    for k, t in enumerate(thr):
        assert np.array_equal(c[:, :, k] > 0, d <= t)


@props
@given(net_seed, pt_seed)
def test_walking_distance_is_symmetric(ns, ps):
    net = small_net(ns)
    rng = np.random.default_rng(ps)
    a = random_points(net, rng, 6)
    b = random_points(net, rng, 6)
    for i in range(len(a)):
        ai = a.subset(np.arange(len(a)) == i)
        for j in range(len(b)):
            bj = b.subset(np.arange(len(b)) == j)
            ab = nearest(net, bj, ai)[0]
            ba = nearest(net, ai, bj)[0]
            if np.isinf(ab) or np.isinf(ba):
                assert np.isinf(ab) and np.isinf(ba)
            else:
                assert ab == pytest.approx(ba, rel=1e-12, abs=1e-9)


@props
@given(net_seed, pt_seed)
def test_count_within_a_huge_threshold_is_the_number_of_reachable_sources(ns, ps):
    net = small_net(ns)
    rng = np.random.default_rng(ps)
    src = random_points(net, rng, 25)
    origins = random_points(net, rng, 10)
    cat = rng.integers(0, 3, 25)
    c = count_within(net, src, cat, 3, origins, [1e12])[:, :, 0]
    comp = net.components
    s_comp = np.where(src.ok, comp[net.edge_u[src.edge]], -1)
    for o in range(len(origins)):
        if not origins.ok[o]:
            assert (c[o] == 0).all()
            continue
        oc = comp[net.edge_u[origins.edge[o]]]
        want = np.bincount(cat[s_comp == oc], minlength=3)
        assert c[o].tolist() == want.tolist()


# ---------------------------------------------------------------------------- kernel internals
@pytest.mark.parametrize("width", [0.5, 7.0, 60.0, 5000.0])
def test_bucket_queue_equals_heap_dijkstra_bit_for_bit_at_any_bucket_width(width):
    """Wide buckets force re-expansions (label-correcting); the result must not change at all."""
    from lifecircle.network import kernels
    from lifecircle.network.engine import kernel_graph

    net = random_streets(11, n=80)
    g = kernel_graph(net)
    w = g.weight_m
    n = net.n_nodes
    rng = np.random.default_rng(3)
    seeds = kernels.Seeds(
        rng.choice(n, 7, replace=False).astype(np.int32), rng.uniform(0, 50, 7), np.arange(7, dtype=np.int64)
    )
    cap = len(g.nbr) + 8
    heap = kernels.heap_work(n, cap)
    kernels.dijkstra_seeded(g, seeds, np.inf, heap)
    want, want_lab = heap.dist_m, heap.label
    n_ring = int(np.ceil(w.max() / width)) + 3

    def bucket_work(pool_size):
        return kernels.BucketWork(
            np.full(n, np.inf),
            np.full(n, -1, dtype=np.int64),
            np.full(n, -1.0),
            np.empty(pool_size, np.int64),
            np.empty(n_ring, np.int64),
        )

    bw = bucket_work(50 * cap)
    res = kernels.dial_seeded(g, seeds, np.inf, bw, width)
    assert res >= np.isfinite(want).sum()
    assert np.array_equal(bw.dist_m, want)
    assert np.array_equal(bw.label, want_lab)
    # a pool too small is reported, not overrun
    small = kernels.dial_seeded(g, seeds, np.inf, bucket_work(5), width)
    assert small == -1
    # through the parallel driver too, where an overflowing pool falls back to the heap
    cat_ptr = np.array([0, 3, 7], dtype=np.int64)
    d2, l2 = kernels.nearest_all_nodes(g, seeds, cat_ptr, np.inf, width, n_ring, 2)
    for c in range(2):
        a, b = cat_ptr[c], cat_ptr[c + 1]
        hc = kernels.heap_work(n, cap)
        kernels.dijkstra_seeded(g, kernels.Seeds(seeds.node[a:b], seeds.dist_m[a:b], seeds.label[a:b]), np.inf, hc)
        wc, lc = hc.dist_m, hc.label
        assert np.array_equal(d2[c], wc) and np.array_equal(l2[c], lc)


def test_kernel_structures_name_the_graph_and_the_points_on_edges():
    """Graph fields are the network's CSR and edges; EdgePoints put unsnapped points on no edge."""
    from lifecircle.network.engine import edge_points, kernel_graph

    net = random_streets(5, n=30)
    g = kernel_graph(net)
    indptr, nbr, w, eid = net.csr
    assert g.indptr is indptr and g.nbr is nbr and g.weight_m is w and g.edge_id is eid
    assert np.array_equal(g.edge_u, net.edge_u) and np.array_equal(g.edge_len_m, net.edge_len)
    assert len(g.indptr) - 1 == net.n_nodes
    z = np.zeros(4)
    pts = Snapped(
        np.array([2, 0, 2, 1], np.int32),
        np.array([1.5, 7.0, 0.5, 3.0]),
        np.array([4.0, 999.0, 2.0, 0.0]),
        np.array([True, False, True, True]),
        z,
        z,
    )
    p = edge_points(pts, net.n_edges)
    assert p.edge.tolist() == [2, -1, 2, 1] and p.pos_m.tolist() == [1.5, 0.0, 0.5, 3.0]
    assert p.offset_m.tolist() == [4.0, 0.0, 2.0, 0.0] and p.ok.tolist() == [True, False, True, True]
    on = {e: p.by_edge[p.by_edge_ptr[e] : p.by_edge_ptr[e + 1]].tolist() for e in range(net.n_edges)}
    assert on[2] == [0, 2] and on[1] == [3] and on[0] == []  # the unsnapped point (edge 0 in Snapped) is on none
    q = edge_points(pts, net.n_edges, group=False)
    assert len(q.by_edge_ptr) == net.n_edges + 1 and not q.by_edge_ptr.any() and len(q.by_edge) == 0
