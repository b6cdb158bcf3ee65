"""Noding real centre lines (:mod:`lifecircle.network.noding`): ends within the tolerance join,
an end near a line's middle splits it (T), lines that merely cross stay apart, bridges pass over.
Connectivity is checked against networkx graphs built independently from the input geometry."""

from __future__ import annotations

import geopandas as gpd
import networkx as nx
import numpy as np
import pytest
import shapely
import shapely.affinity
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pyproj import CRS
from shapely.geometry import LineString

from lifecircle.errors import InputError
from lifecircle.network import Snapped, WalkNetwork, nearest
from lifecircle.network.noding import line_levels, node_lines, piece_labels
from lifecircle.sources.network_loader import network_from_streets

UTM = CRS.from_epsg(32649)


def lines(*coords) -> np.ndarray:
    return np.array([LineString(c) for c in coords], dtype=object)


def build(ls, level=None, tol=2.0) -> tuple[WalkNetwork, object]:
    noded = node_lines(ls, level=level, tolerance_m=tol)
    return WalkNetwork.from_lines(noded.lines, UTM, level=noded.level if level is not None else None), noded


def walk(net: WalkNetwork, a: tuple[float, float], b: tuple[float, float]) -> float:
    """Walking metres between the network nodes nearest to two points."""
    ia = int(np.argmin(np.hypot(net.node_x - a[0], net.node_y - a[1])))
    ib = int(np.argmin(np.hypot(net.node_x - b[0], net.node_y - b[1])))
    return float(nearest(net, Snapped.at_nodes(net, [ib]), Snapped.at_nodes(net, [ia]))[0])


# ------------------------------------------------------------------ the rules, one at a time
def test_an_end_short_of_a_middle_splits_it_and_joins():
    """A side street ending 0.4 m short of the main street (a T): the main street is split there."""
    net, noded = build(lines([(0, 0), (200, 0)], [(100, 0.4), (100, 100)]))
    r = noded.report
    assert (r.t_joins, r.lines_split, r.ends_joined, r.lines_out, r.n_pieces) == (1, 1, 1, 3, 1)
    assert net.n_nodes == 4 and net.n_edges == 3  # a T: three dead ends and the junction
    assert walk(net, (0, 0), (100, 100)) == pytest.approx(200.0, abs=1e-9)  # 100 along, 100 up
    assert net.edge_len.sum() == pytest.approx(200 + 100, abs=1e-9)  # the side street grew 0.4 m


def test_without_noding_the_same_t_stays_apart():
    """The reference behaviour: lines that do not share a vertex are not connected."""
    net = WalkNetwork.from_lines(lines([(0, 0), (200, 0)], [(100, 0.4), (100, 100)]), UTM)
    assert net.component_summary()["n_components"] == 2


def test_two_ends_a_little_apart_join():
    net, noded = build(lines([(0, 0), (100, 0)], [(100.3, 0), (200, 0)]))
    assert shapely.get_coordinates(noded.lines)[[1, 2]].tolist() == [[100.15, 0], [100.15, 0]]
    assert (noded.report.ends_joined, noded.report.t_joins, noded.report.n_pieces) == (2, 0, 1)  # both meet halfway
    assert net.n_nodes == 2 and net.n_edges == 1  # one straight street after simplification
    assert walk(net, (0, 0), (200, 0)) == pytest.approx(200.0, abs=1e-9)


def test_ends_farther_than_the_tolerance_stay_apart_and_the_tolerance_is_configurable():
    ls = lines([(0, 0), (100, 0)], [(103, 0), (200, 0)])
    assert build(ls)[1].report.n_pieces == 2
    _net, noded = build(ls, tol=5.0)
    assert noded.report.n_pieces == 1 and noded.report.tolerance_m == 5.0


def test_lines_that_cross_without_a_shared_vertex_stay_apart():
    net, noded = build(lines([(0, 0), (200, 0)], [(100, -100), (100, 100)]))
    assert noded.report.n_pieces == 2 and noded.report.t_joins == 0 and noded.report.ends_joined == 0
    assert net.component_summary()["n_components"] == 2
    # with a shared vertex at the crossing they join, as today
    net2, _ = build(lines([(0, 0), (100, 0), (200, 0)], [(100, -100), (100, 0), (100, 100)]))
    assert net2.component_summary()["n_components"] == 1 and net2.n_nodes == 5


def test_a_bridge_passes_over_the_road_it_shares_a_vertex_with_but_its_ends_join():
    road = [(0, 0), (100, 0), (200, 0)]
    bridge = [(100, -100), (100, 0), (100, 100)]  # shares (100, 0) with the road below
    south = [(0, -100.5), (200, -100.5)]  # the bridge's south end lands 0.5 m from its middle
    north = [(100, 100), (100, 200)]  # the north end meets this street's end exactly
    ls = lines(road, bridge, south, north)
    level = line_levels(4, bridge=[None, "yes", "no", None])
    net, noded = build(ls, level=level)
    assert noded.report.n_pieces == 2  # the road under the bridge is apart from the rest
    assert noded.report.t_joins == 1 and noded.report.ends_joined == 1
    assert walk(net, (0, -100.5), (100, 200)) == pytest.approx(100 + 200.5 + 100, abs=1e-6)  # bridge 0.5 m longer
    assert not np.isfinite(walk(net, (0, 0), (100, 200)))
    # the same lines all on the ground join at the shared vertex
    assert build(ls)[1].report.n_pieces == 1


def test_an_existing_junction_stays_put_when_a_stray_end_joins_it():
    ls = lines([(0, 0), (100, 0)], [(100, 0), (100, 100)], [(101, 0.5), (200, 0)])
    _, noded = build(ls)
    assert noded.report.ends_joined == 1
    assert [100.0, 0.0] in shapely.get_coordinates(noded.lines).tolist()


def test_a_road_ending_near_a_bridge_middle_is_not_lifted_onto_it():
    bridge = [(0, 0), (200, 0)]
    road = [(100, -100), (100, -0.6)]  # dead-ends under the bridge, 0.6 m short of it
    level = line_levels(2, bridge=["yes", None])
    _, noded = build(lines(bridge, road), level=level)
    assert noded.report.n_pieces == 2 and noded.report.t_joins == 0
    _, ground = build(lines(bridge, road))  # a ground street there: a T
    assert ground.report.n_pieces == 1 and ground.report.t_joins == 1


def test_an_end_exactly_on_a_bridge_vertex_joins_it():
    """A vertex shared with a line on another level joins them when it is the end of one."""
    bridge = [(0, 0), (100, 0), (200, 0)]
    stair = [(100, -50), (100, 0)]
    _, noded = build(lines(bridge, stair), level=line_levels(2, bridge=["yes", None]))
    assert noded.report.n_pieces == 1 and noded.report.lines_split == 1


def test_layer_and_tunnel_values_give_levels():
    lv = line_levels(
        6,
        bridge=["yes", "no", None, "viaduct", None, None],
        tunnel=[None, None, "yes", None, None, "building_passage"],
        layer=[None, None, None, 2, "-1", "x"],
    )
    assert lv[1] == 0  # bridge=no is the ground
    assert len({int(x) for x in lv[[0, 2, 3]]}) == 3 and 0 not in lv[[0, 2, 3]]  # bridge, tunnel, layer-2 bridge
    assert lv[5] == lv[2]  # a building passage is a tunnel; an unreadable layer takes the default
    assert lv[4] == -3  # layer -1 without a tunnel tag: another level, not the ground


def test_a_ring_road_survives_noding_and_simplification():
    ring = [(0, 0), (100, 0), (100, 100), (0, 100), (0, 0)]
    net, noded = build(lines(ring))
    assert noded.report.n_pieces == 1 and net.n_edges == 2 and net.n_nodes == 2
    assert net.edge_len.sum() == pytest.approx(400.0)
    assert walk(net, (0, 0), (100, 100)) == pytest.approx(200.0)
    # a street ending on the ring's middle, 0.2 m off: a T on the ring
    net2, noded2 = build(lines(ring, [(50, -0.2), (50, -80)]))
    assert noded2.report.t_joins == 1 and noded2.report.n_pieces == 1
    assert net2.edge_len.sum() == pytest.approx(400.0 + 80.0, abs=1e-9)


def test_report_counts_on_a_small_town():
    ls = lines(
        [(0, 0), (300, 0)],  # main street
        [(100, 0.5), (100, 100)],  # T, 0.5 m short
        [(200, -0.7), (200, -100)],  # T from the other side, 0.7 m short
        [(300.4, 0.2), (400, 0)],  # end to end, 0.45 m
        [(150, -50), (150, 50)],  # crosses the main street: stays apart
        [(100, 101.0), (0, 101.0)],  # 1 m from the first T's far end: end to end
    )
    _net, noded = build(ls)
    r = noded.report
    assert r.lines_in == 6 and r.t_joins == 2 and r.lines_split == 1
    assert r.ends_joined == 6  # two T ends, and both ends of each pair (they meet halfway)
    assert r.n_pieces == 2 and r.piece_m[1] == pytest.approx(100.0)
    assert r.lines_out == 8  # the main street in three pieces
    assert len(r.lines()) == 2 and "T" in r.lines()[0]


def test_multilines_and_empty_geometries_are_handled():
    ml = shapely.MultiLineString([[(0, 0), (100, 0)], [(100.5, 0), (200, 0)]])
    noded = node_lines(np.array([ml, shapely.LineString(), None], dtype=object))
    assert noded.report.n_pieces == 1 and list(noded.origin) == [0, 0]


# ------------------------------------------------------------------ wired into the streets path
def test_network_from_streets_nodes_with_levels_and_without(tmp_path):
    to_ll = gpd.GeoSeries(
        list(lines([(0, 0), (100, 0), (200, 0)], [(100, -100), (100, 0), (100, 100)], [(200.8, 0), (300, 0)])),
        crs=32649,
    ).to_crs(4326)
    plain = gpd.GeoDataFrame({"name": ["a", "b", "c"]}, geometry=to_ll.values, crs=4326)
    net = network_from_streets(plain)
    assert net.noding is not None and net.noding.n_pieces == 1 and net.noding.ends_joined == 2
    assert net.component_summary()["n_components"] == 1
    bridged = plain.assign(bridge=[None, "yes", None], layer=[None, "1", None])
    net2 = network_from_streets(bridged)
    assert net2.noding.n_pieces == 2 and net2.component_summary()["n_components"] == 2
    assert net2.edge_level is not None and set(np.unique(net2.edge_level)) == {0, 3 + 1}
    with pytest.raises(InputError):
        network_from_streets(plain, tolerance_m=-1)


# ------------------------------------------------------------------ properties
@st.composite
def street_sets(draw):
    seed = draw(st.integers(0, 2**32 - 1))
    n = draw(st.integers(1, 12))
    tol = draw(st.floats(0.2, 4.0))
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        k = int(rng.integers(2, 5))
        start = rng.uniform(0, 60, 2)
        steps = rng.normal(0, 15, (k - 1, 2))
        out.append(LineString(np.vstack([start, start + np.cumsum(steps, axis=0)])))
    # some ends placed near other lines on purpose, so joins happen
    for i in range(1, n, 2):
        target = out[int(rng.integers(0, i))]
        p = shapely.line_interpolate_point(target, rng.uniform(0, 1), normalized=True)
        jitter = rng.normal(0, tol, 2)
        c = shapely.get_coordinates(out[i])
        c[-1] = shapely.get_coordinates(p)[0] + jitter
        if np.hypot(*(c[-1] - c[-2])) > 1e-3:
            out[i] = LineString(c)
    levels = rng.choice([0, 0, 0, 4], n).astype(np.int16)
    return np.array(out, dtype=object), tol, levels


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(street_sets())
def test_noding_never_joins_lines_farther_apart_than_the_tolerance(case):
    ls, tol, levels = case
    noded = node_lines(ls, level=levels, tolerance_m=tol)
    lab = piece_labels(noded.lines, noded.level)
    # reference: input lines linked when their closest approach is within the tolerance
    ref = nx.Graph()
    ref.add_nodes_from(range(len(ls)))
    for i in range(len(ls)):
        for j in range(i + 1, len(ls)):
            if shapely.distance(ls[i], ls[j]) <= tol + 0.02:
                ref.add_edge(i, j)
    ref_comp = {i: k for k, comp in enumerate(nx.connected_components(ref)) for i in comp}
    for p in range(len(noded.lines)):
        for q in range(p + 1, len(noded.lines)):
            if lab[p] == lab[q]:
                assert ref_comp[int(noded.origin[p])] == ref_comp[int(noded.origin[q])]
    # every piece of a line stays connected to the rest of its line (splits do not cut a line apart)
    for i in range(len(ls)):
        assert len(set(lab[noded.origin == i])) <= 1
    # ends within the tolerance of each other always join (the converse, for ends)
    ends = [shapely.get_coordinates(g)[[0, -1]] for g in ls]
    for i in range(len(ls)):
        for j in range(i + 1, len(ls)):
            if min(np.hypot(*(a - b)) for a in ends[i] for b in ends[j]) < tol * 0.99:
                li, lj = lab[noded.origin == i], lab[noded.origin == j]
                assert li[0] == lj[0]
    # the network built from the result has the same pieces
    net = WalkNetwork.from_lines(noded.lines, UTM, level=noded.level)
    assert net.component_summary()["n_components"] == noded.report.n_pieces


# ------------------------------------------------------------------ configuration and the command
def test_the_tolerance_comes_from_the_profile(tmp_path):
    from lifecircle.errors import ConfigError
    from lifecircle.profile import load_profile

    assert load_profile().walking.join_ends_m == 2.0
    f = tmp_path / "city.toml"
    f.write_text('extends = "yichang-2022"\n[walking]\njoin_ends_m = 5\n', encoding="utf-8")
    assert load_profile(f).walking.join_ends_m == 5.0
    f.write_text('extends = "yichang-2022"\n[walking]\njoin_ends_m = -1\n', encoding="utf-8")
    with pytest.raises(ConfigError, match="join_ends_m"):
        load_profile(f)


def test_isochrone_on_street_lines_prints_the_noding_report(cli, tmp_path):
    utm = lines([(0, 0), (400, 0)], [(200, 0.6), (200, 400)], [(400.5, 0.3), (800, 0)])
    ll = gpd.GeoSeries(list(shapely.affinity.translate(g, 500000, 3400000) for g in utm), crs=32649).to_crs(4326)
    p = tmp_path / "streets.gpkg"
    gpd.GeoDataFrame({"name": ["a", "b", "c"]}, geometry=ll.values, crs=4326).to_file(p, engine="pyogrio")
    lon, lat = ll.iloc[1].coords[-1]
    code, stdout, stderr = cli(
        "isochrone", "--streets", p, "--lon", lon, "--lat", lat, "--minutes", "10", "--out", tmp_path / "i.geojson"
    )
    assert code == 0, stderr
    text = stdout + stderr
    assert "1 处 T 形接合" in text and "3 个线端移动接合" in text  # the T end and both of the pair and "1 块" in text
    iso = gpd.read_file(tmp_path / "i.geojson")
    # 667 m in 10 min: up the side street (400 m) and 267 m along the main street both ways
    assert iso.to_crs(32649).area.iloc[0] > 0.9 * (400 + 2 * 266) * 80
