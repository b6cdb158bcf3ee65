"""Snapping over packed edge coordinates equals shapely's per-edge snapping (the previous
implementation, kept here as the reference); the network holds arrays only, within a stated
memory bound per node; nodes renumbered along a Hilbert curve keep every result in the caller's
order."""

from __future__ import annotations

import numpy as np
import pytest
import shapely
from hypothesis import given, settings
from hypothesis import strategies as st

from lifecircle.network import WalkNetwork, nearest_per_category, snap_points
from lifecircle.network.graph import pack_lines, take_lines
from lifecircle.network.ordering import hilbert_key, hilbert_order
from lifecircle.network.snap import Snapped
from lifecircle.scale.synthetic import grid_network

# Bytes of arrays per node of a generated grid network (about 1.8 edges of two points per node),
# with its adjacency, component labels and snapping index built: 300 MB per million nodes.
MAX_BYTES_PER_NODE = 300


def reference_snap(net: WalkNetwork, x: np.ndarray, y: np.ndarray, max_m: float):
    """The previous implementation: one shapely LineString per edge, STRtree.query_nearest and
    line_locate_point. Returns ``(ok, edge, dist, pos)``."""
    geoms = net.edge_geom
    pts = shapely.points(x, y)
    (pi, ei), dist = shapely.STRtree(geoms).query_nearest(
        pts, max_distance=max_m, return_distance=True, all_matches=False
    )
    n = len(x)
    ok = np.zeros(n, bool)
    edge = np.zeros(n, np.int64)
    d = np.full(n, np.inf)
    pos = np.zeros(n)
    ok[pi], edge[pi], d[pi] = True, ei, dist
    pos[pi] = np.clip(shapely.line_locate_point(geoms[ei], pts[pi]), 0.0, net.edge_len[ei])
    return ok, edge, d, pos


def assert_same_snap(net: WalkNetwork, x: np.ndarray, y: np.ndarray, max_m: float) -> None:
    ok, edge, dist, pos = reference_snap(net, x, y, max_m)
    got = snap_points(net, x, y, max_m=max_m)
    np.testing.assert_array_equal(got.ok, ok)
    np.testing.assert_allclose(got.offset_m[ok], dist[ok], rtol=0, atol=1e-6)
    same = got.edge[ok] == edge[ok]
    # a different edge only where it is exactly as near (a tie, e.g. a point nearest a junction)
    other = np.flatnonzero(ok)[~same]
    pts = shapely.points(x[other], y[other])
    d_other = shapely.distance(net.edge_lines(got.edge[other]), pts)
    np.testing.assert_allclose(d_other, dist[other], rtol=0, atol=1e-6)
    np.testing.assert_allclose(got.pos_m[ok][same], pos[ok][same], rtol=0, atol=1e-6)
    # the position on a tied edge is the reference's own answer on that edge
    ref_pos = np.clip(shapely.line_locate_point(net.edge_lines(got.edge[other]), pts), 0, net.edge_len[got.edge[other]])
    np.testing.assert_allclose(got.pos_m[other], ref_pos, rtol=0, atol=1e-6)
    assert same.mean() > 0.5


def random_near(net: WalkNetwork, n: int, margin_m: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.uniform(net.node_x.min() - margin_m, net.node_x.max() + margin_m, n)
    y = rng.uniform(net.node_y.min() - margin_m, net.node_y.max() + margin_m, n)
    return x, y


@pytest.mark.parametrize("seed", [0, 1])
def test_snap_equals_shapely_on_generated_grids(seed):
    net = grid_network(120, 80, seed=seed, drop=0.3)
    x, y = random_near(net, 20_000, 500.0, seed)
    # a few points exactly on vertices and on edges (ties between the edges of a junction)
    x[:50], y[:50] = net.node_x[:50], net.node_y[:50]
    for max_m in (300.0, 40.0, np.inf):
        assert_same_snap(net, x, y, max_m)


def test_snap_equals_shapely_on_helsinki(helsinki_pbf):
    from lifecircle.sources.osm import read_osm_network

    net = read_osm_network(helsinki_pbf)
    x, y = random_near(net, 30_000, 200.0, 7)
    assert_same_snap(net, x, y, 300.0)
    assert_same_snap(net, x[:3000], y[:3000], 15.0)


def test_snap_without_any_street_in_reach():
    net = grid_network(10, 10, seed=0)
    x = np.array([net.node_x.min() - 5000.0, np.nan, net.node_x[3] + 1e9])
    y = np.array([net.node_y.min(), 0.0, net.node_y[3]])
    got = snap_points(net, x, y, max_m=300.0)
    assert not got.ok.any() and np.isinf(got.offset_m).all()
    far = snap_points(net, x[:1], y[:1], max_m=np.inf)  # no limit: the nearest street however far
    assert far.ok[0] and far.offset_m[0] > 4000


def test_packed_lines_round_trip():
    net = grid_network(20, 20, seed=3)
    lines = net.edge_geom
    xy, ptr = pack_lines(lines)
    np.testing.assert_array_equal(xy, net.edge_xy)
    np.testing.assert_array_equal(ptr, net.edge_ptr)
    np.testing.assert_array_equal(net.edge_len, shapely.length(lines))
    idx = np.array([5, 0, 5, 17])
    sub_xy, sub_ptr = take_lines(net.edge_xy, net.edge_ptr, idx)
    assert shapely.equals_exact(
        shapely.linestrings(sub_xy, indices=np.repeat(np.arange(4), np.diff(sub_ptr))), lines[idx], 0
    ).all()
    assert all(shapely.equals_exact(net.edge_lines(idx), lines[idx], 0))


def test_network_holds_arrays_only_within_the_memory_bound():
    """About 200,000 nodes: every attribute of the network is a plain numpy array (no object dtype,
    no GeoSeries, no shapely geometry), and all of them together stay under the bound per node."""
    net = grid_network(450, 450, seed=1)
    assert net.n_nodes == 202_500
    net.csr, net.components, net.segment_index  # noqa: B018 - build the derived structures the engine uses
    snap_points(net, net.node_x[:1000] + 3.0, net.node_y[:1000], max_m=300.0)
    for name, v in vars(net).items():
        for a in v if isinstance(v, tuple) else (v,):
            if isinstance(a, np.ndarray):
                assert a.dtype != object, name
            assert not isinstance(a, shapely.Geometry | shapely.STRtree), name
            assert type(a).__module__.split(".")[0] not in ("geopandas", "pandas"), name
    per_node = net.array_nbytes() / net.n_nodes
    assert per_node < MAX_BYTES_PER_NODE, per_node
    # the packed geometry is what it must be: two points per straight edge
    assert net.edge_xy.nbytes == 32 * net.n_edges


def test_built_networks_are_in_hilbert_order_and_results_follow_the_caller():
    """from_lines numbers nodes along a Hilbert curve; renumbering a network moves node_id with its
    nodes, and results per node (given back by node id) do not change."""
    net = grid_network(60, 40, seed=2, drop=0.2)
    built = WalkNetwork.from_lines(net.edge_geom, net.crs)
    assert np.all(np.diff(hilbert_key(built.node_x, built.node_y)) >= 0)
    ren = net.renumbered()
    assert not np.array_equal(ren.node_id, net.node_id)
    # same places under the same ids
    back = np.argsort(ren.node_id)
    np.testing.assert_array_equal(ren.node_x[back], net.node_x)
    np.testing.assert_array_equal(ren.node_y[back], net.node_y)
    x, y = random_near(net, 500, 50.0, 4)
    src_a, src_b = snap_points(net, x, y), snap_points(ren, x, y)
    np.testing.assert_allclose(src_a.offset_m, src_b.offset_m, rtol=0, atol=1e-9)
    cat = np.arange(500) % 3
    d_a, _ = nearest_per_category(net, src_a, cat, 3)
    d_b, _ = nearest_per_category(ren, src_b, cat, 3)
    np.testing.assert_allclose(np.asarray(d_b)[back], np.asarray(d_a), rtol=0, atol=1e-6)
    # from snapped origins (the caller's order, whatever the node numbering)
    o_a, o_b = snap_points(net, y * 0 + x[::-1], y), snap_points(ren, x[::-1], y)
    da, _ = nearest_per_category(net, src_a, cat, 3, o_a)
    db, _ = nearest_per_category(ren, src_b, cat, 3, o_b)
    np.testing.assert_allclose(db, da, rtol=0, atol=1e-6)
    nodes = Snapped.at_nodes(ren, back[:100])
    np.testing.assert_array_equal(nodes.x, net.node_x[:100])


def _hilbert_reference(x, y, bits=16):
    """The Hilbert key as the vectorised numpy code computed it before (the reference)."""
    side = (1 << bits) - 1

    def scale(a):
        lo, span = float(a.min()), float(np.ptp(a))
        return np.zeros(len(a), np.int64) if span == 0 else np.floor((a - lo) / span * side).astype(np.int64)

    xi, yi = scale(x), scale(y)
    d = np.zeros(len(x), dtype=np.int64)
    s = 1 << (bits - 1)
    while s > 0:
        rx, ry = (xi & s) > 0, (yi & s) > 0
        d += s * s * ((3 * rx.astype(np.int64)) ^ ry.astype(np.int64))
        flip = ~ry & rx
        xi, yi = np.where(flip, side - xi, xi), np.where(flip, side - yi, yi)
        xi, yi = np.where(~ry, yi, xi), np.where(~ry, xi, yi)
        s >>= 1
    return d


@settings(max_examples=30, deadline=None)
@given(st.integers(1, 300), st.integers(0, 10_000), st.booleans())
def test_hilbert_key_and_order_equal_the_numpy_reference(n, seed, flat):
    """The compiled Hilbert key equals the numpy one point for point, and the counting-sort order
    equals a stable argsort of it (ties, a flat extent and a single point included)."""
    rng = np.random.default_rng(seed)
    x = np.round(rng.uniform(0, 5_000, n), 0 if seed % 2 else 6)  # rounded: repeated points, equal keys
    y = np.zeros(n) if flat else rng.uniform(-50, 50, n)
    np.testing.assert_array_equal(hilbert_key(x, y), _hilbert_reference(x, y))
    np.testing.assert_array_equal(hilbert_order(x, y), np.argsort(_hilbert_reference(x, y), kind="stable"))


@settings(max_examples=40, deadline=None)
@given(st.lists(st.integers(2, 6), min_size=1, max_size=30), st.integers(0, 10_000))
def test_segment_pass_equals_the_numpy_reference(n_points, seed):
    """The segment index's one compiled pass gives the segments (every coordinate row but each
    line's last), the bounds and the total segment length of the numpy code it replaced (lines
    of 2 to 6 points, repeated points included)."""
    from lifecircle.network.spatial import _segments

    rng = np.random.default_rng(seed)
    ptr = np.concatenate([[0], np.cumsum(n_points)]).astype(np.int64)
    xy = np.round(rng.uniform(-1_000, 1_000, (ptr[-1], 2)), 0 if seed % 2 else 3)
    start = np.ones(len(xy), dtype=bool)
    start[ptr[1:] - 1] = False
    ref_seg = np.flatnonzero(start)
    seg, bounds, total = _segments(xy, ptr)
    np.testing.assert_array_equal(seg, ref_seg)
    np.testing.assert_array_equal(bounds, (*xy.min(axis=0), *xy.max(axis=0)))
    d = xy[ref_seg + 1] - xy[ref_seg]
    assert total == pytest.approx(np.sqrt((d * d).sum(axis=1)).sum(), rel=1e-12)


@settings(max_examples=40, deadline=None)
@given(st.integers(1, 25), st.integers(0, 10_000), st.sampled_from([0, 2, 3]))
def test_take_lines_equals_the_numpy_reference(n_lines, seed, width):
    """Taking packed lines (a subset, repeats, a permutation, more lines than there were) equals
    concatenating the chosen lines, whether every line has ``width`` points (the row-copy path,
    pointers a view) or they differ (``width`` 0: 2 to 5 points each)."""
    rng = np.random.default_rng(seed)
    n_points = np.full(n_lines, width) if width else rng.integers(2, 6, n_lines)
    ptr = np.concatenate([[0], np.cumsum(n_points)]).astype(np.int64)
    xy = rng.uniform(-100, 100, (ptr[-1], 2))
    for idx in (rng.permutation(n_lines), rng.integers(0, n_lines, rng.integers(0, 2 * n_lines + 1))):
        got_xy, got_ptr = take_lines(xy, ptr, idx)
        want = [xy[ptr[i] : ptr[i + 1]] for i in idx]
        np.testing.assert_array_equal(got_xy, np.concatenate(want) if want else np.zeros((0, 2)))
        np.testing.assert_array_equal(got_ptr, np.concatenate([[0], np.cumsum([len(p) for p in want])]))
