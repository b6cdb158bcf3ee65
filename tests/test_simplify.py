"""The lean network (:mod:`lifecircle.network.simplify`): chains of degree-2 vertices are one edge,
and no distance changes. Compared with the unsimplified network built from the same lines, and
with networkx on that network (tests/reference.py)."""

from __future__ import annotations

import numpy as np
import pytest
import shapely
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pyproj import CRS
from shapely.geometry import LineString

from lifecircle.network import Snapped, WalkNetwork, nearest_per_category, snap_points
from lifecircle.network.isochrone import network_distances_from, reached_streets

from reference import reference_nearest

UTM = CRS.from_epsg(32649)


def net_of(coords_list, simplify=True, level=None) -> WalkNetwork:
    return WalkNetwork.from_lines(
        np.array([LineString(c) for c in coords_list], dtype=object), UTM, simplify=simplify, level=level
    )


def check_edges(net: WalkNetwork) -> None:
    """Every edge runs from its u node to its v node, is as long as its geometry, is no self-loop."""
    start = shapely.get_coordinates(shapely.get_point(net.edge_geom, 0))
    end = shapely.get_coordinates(shapely.get_point(net.edge_geom, -1))
    assert np.allclose(start, np.column_stack([net.node_x, net.node_y])[net.edge_u], atol=0.01)
    assert np.allclose(end, np.column_stack([net.node_x, net.node_y])[net.edge_v], atol=0.01)
    assert np.allclose(net.edge_len, shapely.length(net.edge_geom), rtol=0, atol=1e-9)
    assert np.all(net.edge_u != net.edge_v) and np.all(net.edge_len > 0)


def all_pairs(net: WalkNetwork, pts: Snapped) -> np.ndarray:
    """Walking metres between every pair of snapped points (each point its own category)."""
    d, _ = nearest_per_category(net, pts, np.arange(len(pts)), len(pts), pts)
    return d


# ------------------------------------------------------------------ unit cases
def test_a_chain_becomes_one_edge_with_the_whole_geometry():
    c = [(0, 0), (10, 0), (10, 10), (20, 10), (20, 30)]
    net = net_of([c[:3], c[2:]])  # two lines meeting at a degree-2 vertex
    assert net.n_nodes == 2 and net.n_edges == 1
    assert net.edge_len[0] == pytest.approx(10 + 10 + 10 + 20)
    got = shapely.get_coordinates(net.edge_geom[0])
    assert np.array_equal(got, np.array(c, float)) or np.array_equal(got, np.array(c[::-1], float))
    check_edges(net)


def test_a_ring_with_no_junction_keeps_two_edges():
    ring = [(0, 0), (100, 0), (100, 100), (0, 100), (0, 0)]
    net = net_of([ring])
    assert net.n_nodes == 2 and net.n_edges == 2 and net.edge_len.sum() == pytest.approx(400.0)
    check_edges(net)


def test_a_loop_back_to_its_own_junction_is_not_a_self_loop():
    stem = [(-50, 0), (0, 0)]
    loop = [(0, 0), (30, 10), (40, 40), (10, 30), (0, 0)]
    net = net_of([stem, loop])
    assert net.n_edges == 3 and net.n_nodes == 3  # stem + the loop in two halves
    assert net.edge_len.sum() == pytest.approx(50 + shapely.length(LineString(loop)))
    check_edges(net)
    raw = net_of([stem, loop], simplify=False)
    pts = snap_points(raw, np.array([-50, 35.0, 20]), np.array([0, 25.0, 20]))
    pts2 = snap_points(net, pts.x, pts.y)
    np.testing.assert_allclose(all_pairs(net, pts2), all_pairs(raw, pts), atol=1e-6)


def test_parallel_chains_with_different_geometry_are_both_kept():
    a = [(0, 0), (50, 20), (100, 0)]
    b = [(0, 0), (50, -30), (100, 0)]
    net = net_of([a, b, [(-10, 0), (0, 0)], [(100, 0), (110, 0)]])
    assert net.n_nodes == 4 and net.n_edges == 4
    pair = np.sort(np.column_stack([net.edge_u, net.edge_v]), axis=1)
    assert len({tuple(p) for p in pair}) == 3  # two of the four edges join the same two nodes
    check_edges(net)


def test_exact_duplicate_lines_are_one_edge():
    a = [(0, 0), (50, 20), (100, 0)]
    assert net_of([a, a[::-1]]).n_edges == 1


def test_a_level_change_keeps_its_node():
    """A bridge meeting the ground road end to end: the node stays, so each edge has one level."""
    net = net_of([[(0, 0), (50, 0)], [(50, 0), (100, 0)]], level=np.array([0, 4]))
    assert net.n_nodes == 3 and sorted(net.edge_level.tolist()) == [0, 4]
    assert net_of([[(0, 0), (50, 0)], [(50, 0), (100, 0)]]).n_nodes == 2


def test_at_nodes_isochrone_and_with_edges_agree_with_the_raw_network():
    grid = [[(0, y), (100, y), (150, y), (200, y), (300, y)] for y in (0, 100, 200)] + [
        [(x, 0), (x, 50), (x, 100), (x, 200)] for x in (0, 150, 300)
    ]
    grid.append([(300, 200), (350, 250), (400, 200), (300, 200)])  # a loop on a corner
    raw, net = net_of(grid, simplify=False), net_of(grid)
    assert net.n_nodes < raw.n_nodes
    # every node of the lean network is a node of the raw one, with the same distances
    ix = [int(np.argmin(np.hypot(raw.node_x - x, raw.node_y - y))) for x, y in zip(net.node_x, net.node_y, strict=True)]
    d_net, _ = nearest_per_category(
        net, Snapped.at_nodes(net, np.arange(net.n_nodes)), np.arange(net.n_nodes), net.n_nodes
    )
    d_raw, _ = nearest_per_category(raw, Snapped.at_nodes(raw, np.array(ix)), np.arange(net.n_nodes), net.n_nodes)
    np.testing.assert_allclose(d_net, d_raw[ix], atol=1e-6)
    # the same streets reached: isochrone pieces cover the same length
    for r in (60.0, 170.0, 333.0):
        lens = []
        for n in (raw, net):
            dist, e, p, f = network_distances_from(n, 130.0, 40.0, max_m=r)
            pieces = np.array(reached_streets(n, dist, r, e, p, f), dtype=object)
            lens.append(shapely.length(shapely.union_all(pieces)))
        assert lens[0] == pytest.approx(lens[1], abs=1e-6)
    # a planned link between two chain middles (vertices, not nodes, of the lean network)
    # connects both networks the same way: 1 + 150 + 1 m instead of 250 m around
    link = np.array([LineString([(0, 50), (150, 50)])], dtype=object)
    to_ll = lambda n: shapely.transform(link, lambda xy: np.column_stack(n.to_wgs84.transform(xy[:, 0], xy[:, 1])))  # noqa: E731
    raw2, net2 = raw.with_edges(to_ll(raw)), net.with_edges(to_ll(net))
    px, py = np.array([-1.0, 151.0]), np.array([50.0, 50.0])
    assert all_pairs(net, snap_points(net, px, py))[0, 1] == pytest.approx(250 + 2)
    d_raw2 = all_pairs(raw2, snap_points(raw2, px, py))[0, 1]
    assert all_pairs(net2, snap_points(net2, px, py))[0, 1] == pytest.approx(d_raw2, abs=1e-6)
    assert d_raw2 == pytest.approx(1 + 150 + 1, abs=1e-3)


# ------------------------------------------------------------------ property: no distance changes
@st.composite
def street_sets(draw):
    """Random small street sets whose lines share vertices drawn from a pool (so there are
    junctions, chains, loops, rings and parallel chains), some lines closed into rings."""
    seed = draw(st.integers(0, 2**32 - 1))
    n_pool = draw(st.integers(3, 14))
    n_lines = draw(st.integers(1, 10))
    rng = np.random.default_rng(seed)
    pool = rng.uniform(0, 500, (n_pool, 2))
    lines = []
    for _ in range(n_lines):
        k = int(rng.integers(2, 7))
        idx = rng.choice(n_pool, size=min(k, n_pool), replace=False)
        c = pool[idx]
        if rng.random() < 0.2 and len(c) >= 3:
            c = np.vstack([c, c[:1]])  # a ring or a loop
        lines.append(LineString(c))
    return np.array(lines, dtype=object), seed


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(street_sets())
def test_simplification_never_changes_a_distance(case):
    lines, seed = case
    raw = WalkNetwork.from_lines(lines, UTM, simplify=False)
    net = WalkNetwork.from_lines(lines, UTM)
    assert net.n_nodes <= raw.n_nodes and net.n_edges <= raw.n_edges
    assert net.edge_len.sum() == pytest.approx(raw.edge_len.sum(), rel=1e-12)
    assert net.component_summary()["n_components"] == raw.component_summary()["n_components"]
    check_edges(net)
    rng = np.random.default_rng(seed)
    x, y = rng.uniform(-20, 520, 12), rng.uniform(-20, 520, 12)
    p_raw, p_net = snap_points(raw, x, y, max_m=1000), snap_points(net, x, y, max_m=1000)
    np.testing.assert_allclose(p_net.offset_m, p_raw.offset_m, atol=1e-9)
    d_raw, d_net = all_pairs(raw, p_raw), all_pairs(net, p_net)
    np.testing.assert_array_equal(np.isfinite(d_net), np.isfinite(d_raw))
    np.testing.assert_allclose(
        np.where(np.isfinite(d_raw), d_net, 0), np.where(np.isfinite(d_raw), d_raw, 0), atol=1e-6
    )
    # and both agree with networkx Dijkstra on the lean network (an independent reference)
    ref = reference_nearest(net, p_net, p_net, np.arange(len(p_net)), len(p_net))
    np.testing.assert_allclose(np.where(np.isfinite(ref), d_net, 0), np.where(np.isfinite(ref), ref, 0), atol=1e-6)
