"""Scenarios (issue 4 item 5): changes applied to a copy — the base city and network never change;
adding outlets or street links never lengthens a walk, closing outlets never shortens one; JSON
round trip; the comparison table has the same indicators side by side."""

from __future__ import annotations

import copy

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from shapely.geometry import LineString

from lifecircle.city.demo import build_demo_city
from lifecircle.cli.plan_circles import network_for_city
from lifecircle.errors import InputError
from lifecircle.network.snap import snap_points
from lifecircle.plans.scenarios import (
    BASE_COLUMN,
    COMPARE_INDICATORS,
    BaseCase,
    Scenario,
    apply_scenario,
    compare_scenarios,
    evaluate_scenario,
    list_scenarios,
    load_scenario,
    make_outlets,
    save_scenario,
)
from lifecircle.profile import load_profile

SCALE = 0.05


@pytest.fixture(scope="module")
def base() -> BaseCase:
    city = build_demo_city(2022, SCALE)
    b = BaseCase(city, network_for_city(city), load_profile(city.profile))
    b.evaluation  # noqa: B018 - computed once for the module
    return b


def _nearest(ev) -> pd.Series:
    a = ev.access.set_index(["community_id", "format"])["nearest_m"]
    return a.fillna(np.inf)


def _circle_share(ev, cid: str, code: str) -> float:
    fc = ev.format_coverage
    row = fc[(fc["level"] == "circle") & (fc["unit_id"] == cid) & (fc["format"] == code)]
    return float(row["share_within_layer"].iloc[0])


def _snapshot(city, net):
    return (
        {k: v.copy(deep=True) for k, v in city.tables.items()},
        (net.node_x.copy(), net.edge_u.copy(), net.edge_v.copy(), net.edge_len.copy(), net.n_edges),
    )


def _assert_unchanged(city, net, snap) -> None:
    tables, (nx, eu, ev_, el, ne) = snap
    assert set(city.tables) == set(tables)
    for k, df in tables.items():
        pd.testing.assert_frame_equal(city.tables[k], df, check_dtype=True)
    assert net.n_edges == ne
    assert np.array_equal(net.node_x, nx) and np.array_equal(net.edge_u, eu)
    assert np.array_equal(net.edge_v, ev_) and np.array_equal(net.edge_len, el)


def _gap(ev) -> tuple[str, str, pd.Series]:
    """A circle, one of its basic gap formats, and its most populous community lacking it."""
    g = ev.gaps[(ev.gaps["class"] == "basic") & (ev.gaps["share_within_layer"] < 0.5)].iloc[0]
    comm = ev.communities[ev.communities["circle_id"] == g["circle_id"]]
    acc = ev.access[(ev.access["format"] == g["format"]) & ~ev.access["within_layer"]]
    comm = comm[comm["id"].isin(acc["community_id"]) & comm["snapped"]].sort_values("population", ascending=False)
    return str(g["circle_id"]), str(g["format"]), comm.iloc[0]


def test_adding_an_outlet_of_a_missing_format_raises_its_coverage_and_lengthens_no_walk(base):
    ev0 = base.evaluation
    cid, code, home = _gap(ev0)
    scn = Scenario(
        "add",
        added_outlets=make_outlets(
            [{"id": "NEW-1", "name": "新网点", "formats": code, "lon": home["lon"], "lat": home["lat"]}]
        ),
    )
    snap = _snapshot(base.city, base.net)
    ev1 = evaluate_scenario(base, scn)
    _assert_unchanged(base.city, base.net, snap)
    assert _circle_share(ev1, cid, code) > _circle_share(ev0, cid, code)
    d0, d1 = _nearest(ev0), _nearest(ev1)
    assert (d1 <= d0 + 1e-6).all()
    assert (d1.xs(code, level="format") < d0.xs(code, level="format") - 1e-6).any()
    others = d0.index.get_level_values("format") != code
    assert np.allclose(d1[others].replace(np.inf, -1), d0[others].replace(np.inf, -1))
    assert len(ev1.outlets) == len(ev0.outlets) + 1


@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(i=st.integers(0, 10_000), j=st.integers(0, 10_000), dx=st.floats(-0.003, 0.003), dy=st.floats(-0.003, 0.003))
def test_any_added_outlet_never_lengthens_a_walk_nor_lowers_a_coverage(base, i, j, dx, dy):
    ev0 = base.evaluation
    comm = base.city.communities
    c = comm.iloc[i % len(comm)]
    code = base.profile.codes[j % len(base.profile.codes)]
    lon, lat = c["lon"] + dx, c["lat"] + dy
    x, y = base.net.project(np.array([lon]), np.array([lat]))
    # a scenario refuses an outlet farther than snap_max_m from every street (tested elsewhere)
    assume(bool(snap_points(base.net, x, y, max_m=base.profile.walking.snap_max_m).ok[0]))
    scn = Scenario(
        "h", added_outlets=make_outlets([{"id": "H-1", "name": "h", "formats": code, "lon": lon, "lat": lat}])
    )
    ev1 = evaluate_scenario(base, scn)
    assert (_nearest(ev1) <= _nearest(ev0) + 1e-6).all()
    f0 = ev0.format_coverage["share_within_layer"].fillna(0).to_numpy()
    f1 = ev1.format_coverage["share_within_layer"].fillna(0).to_numpy()
    assert (f1 >= f0 - 1e-12).all()


def test_closing_outlets_never_shortens_a_walk(base):
    ev0 = base.evaluation
    ids = base.city.outlets["id"].astype(str).tolist()[::7][:25]
    snap = _snapshot(base.city, base.net)
    ev1 = evaluate_scenario(base, Scenario("close", closed_outlets=ids))
    _assert_unchanged(base.city, base.net, snap)
    d0, d1 = _nearest(ev0), _nearest(ev1)
    assert (d1 >= d0 - 1e-6).all()
    assert (d1 > d0 + 1e-6).any()
    assert len(ev1.outlets) == len(ev0.outlets) - len(ids)
    assert not set(ids) & set(ev1.outlets["id"].astype(str))


def _node_distance(net, a_xy, b_xy) -> float:
    from scipy.spatial import cKDTree

    from lifecircle.network import Snapped, nearest

    tree = cKDTree(np.column_stack([net.node_x, net.node_y]))
    _, (ia, ib) = tree.query(np.array([a_xy, b_xy]))
    return float(nearest(net, Snapped.at_nodes(net, np.array([ia])), Snapped.at_nodes(net, np.array([ib])))[0])


def test_new_street_link_is_a_walkable_shortcut_on_a_copy(base):
    net = base.net
    # two nodes 300–1,500 m apart in a straight line whose walk is much longer: a shortcut
    from lifecircle.network import Snapped, nearest

    rng = np.random.default_rng(1)
    best = None
    for a in rng.choice(net.n_nodes, 40, replace=False):
        d = np.hypot(net.node_x - net.node_x[a], net.node_y - net.node_y[a])
        bs = np.flatnonzero((d > 300) & (d < 1500))
        if not len(bs):
            continue
        walk = nearest(net, Snapped.at_nodes(net, np.array([a])), Snapped.at_nodes(net, bs))
        r = walk / d[bs]
        k = int(np.argmax(np.where(np.isfinite(r), r, 0)))
        if best is None or r[k] > best[2]:
            best = (a, bs[k], r[k], d[bs[k]])
    a, b, ratio, straight = best
    assert ratio > 1.2
    lon, lat = net.to_wgs84.transform(net.node_x[[a, b]] + np.array([15.0, -15.0]), net.node_y[[a, b]])
    link = LineString([(lon[0], lat[0]), (lon[1], lat[1])])  # ends 15 m off the nodes: joined by connectors
    snap = _snapshot(base.city, base.net)
    city1, net1 = apply_scenario(base.city, base.net, Scenario("link", new_links=[link]), profile=base.profile)
    _assert_unchanged(base.city, base.net, snap)
    assert net1 is not base.net and net1.n_edges > base.net.n_edges
    assert len(city1.streets) == len(base.city.streets) + 1
    after = _node_distance(net1, (net.node_x[a], net.node_y[a]), (net.node_x[b], net.node_y[b]))
    assert after <= straight + 4 * 15.0 + 1.0 < ratio * straight  # link + two 15 m connectors
    with pytest.raises(InputError):
        apply_scenario(base.city, base.net, Scenario("far", new_links=[LineString([(100.0, 30.0), (100.01, 30.0)])]))


def test_apply_reports_every_problem_at_once(base):
    existing = str(base.city.outlets["id"].iloc[0])
    scn = Scenario(
        "bad",
        added_outlets=make_outlets(
            [{"id": existing, "name": "x", "formats": "no_such_format", "lon": 111.3, "lat": 30.7}]
        ),
        closed_outlets=["NOPE"],
        new_links=[LineString([(111.3, 30.7), (111.3, 30.7)])],
    )
    with pytest.raises(InputError) as exc:
        apply_scenario(base.city, base.net, scn, profile=base.profile)
    fields = {p.field for p in exc.value.problems}
    assert {"closed_outlets", "added_outlets", "added_outlets.formats", "new_links"} <= fields


def test_scenario_json_round_trip_and_listing(tmp_path, base):
    scn = Scenario(
        "西陵 补菜市场/一期",
        description="说明",
        city=base.city.name,
        added_outlets=make_outlets(
            [
                {
                    "id": "S-1",
                    "name": "新菜场",
                    "formats": "wet_market;breakfast",
                    "lon": 111.3,
                    "lat": 30.7,
                    "is_chain": True,
                }
            ]
        ),
        closed_outlets=["O000001"],
        new_links=[LineString([(111.30, 30.70), (111.31, 30.705)])],
    )
    p = save_scenario(scn, tmp_path)
    assert p.parent == tmp_path and "/" not in p.name[:-5]
    with pytest.raises(InputError):
        save_scenario(scn, tmp_path)  # no silent overwrite
    back = load_scenario(scn.name, tmp_path)
    assert back.name == scn.name and back.description == "说明" and back.city == base.city.name
    assert back.closed_outlets == ["O000001"]
    assert back.new_links[0].equals(scn.new_links[0])
    assert back.added_outlets.loc[0, "formats"] == "wet_market;breakfast"
    assert bool(back.added_outlets.loc[0, "is_chain"]) is True
    (tmp_path / "broken.json").write_text(
        '{"lifecircle_scenario": 1, "name": "", "new_links": [{"type": "Point", "coordinates": [1, 2]}]}',
        encoding="utf-8",
    )
    listing = list_scenarios(tmp_path)
    assert set(listing["name"]) == {scn.name, "broken"}
    assert listing.set_index("name").loc["broken", "error"]
    with pytest.raises(InputError) as exc:
        load_scenario(tmp_path / "broken.json")
    assert {p.field for p in exc.value.problems} >= {"name"}


def test_compare_table_has_the_same_indicators_side_by_side(base):
    cid, code, home = _gap(base.evaluation)
    add = Scenario(
        "加网点",
        added_outlets=make_outlets(
            [{"id": "NEW-1", "name": "n", "formats": code, "lon": home["lon"], "lat": home["lat"]}]
        ),
    )
    close = Scenario("关店", closed_outlets=base.city.outlets["id"].astype(str).tolist()[:5])
    tab = compare_scenarios(base, [add, close])
    n_circles = len(base.evaluation.circles)
    n_city = sum(1 for k, _, _ in COMPARE_INDICATORS if k not in ("grade", "quality_formats_present"))
    n_circle = sum(1 for k, _, _ in COMPARE_INDICATORS if not k.startswith("n_") or k == "n_outlets")
    assert list(tab.columns) == ["level", "unit_id", "unit_name", "indicator", "label", BASE_COLUMN, "加网点", "关店"]
    assert tab.shape == (n_city + n_circles * n_circle, 8)
    assert not tab.duplicated(["level", "unit_id", "indicator"]).any()
    city = tab[tab["level"] == "city"].set_index("indicator")
    assert city.loc["n_outlets", "加网点"] == city.loc["n_outlets", BASE_COLUMN] + 1
    assert city.loc["n_outlets", "关店"] <= city.loc["n_outlets", BASE_COLUMN]
    one = compare_scenarios(base, [add], circles=[cid])
    assert one.shape == (n_city + n_circle, 7)
    with pytest.raises(InputError):
        compare_scenarios(base, [add, copy.copy(add)])


def test_scenario_cli_create_list_compare(cli, tmp_path):
    d = tmp_path / "scn"
    code, out, err = cli(
        "scenario",
        "create",
        "加菜场",
        "--dir",
        d,
        "--add",
        "wet_market,111.30,30.70,新菜场",
        "--link",
        "111.30 30.70;111.305 30.701",
    )
    assert code == 0, err
    code, out, err = cli("scenario", "create", "坏", "--dir", d, "--add", "wet_market,abc,30.7")
    assert code == 2 and "lon" in err and "Traceback" not in err
    code, out, err = cli("scenario", "list", "--dir", d)
    assert code == 0 and "加菜场" in out
    code, out, err = cli(
        "scenario", "compare", "加菜场", "--dir", d, "--demo", "--scale", SCALE, "--out", tmp_path / "c.csv"
    )
    assert code == 0, err
    assert "基准" in out and "加菜场" in out
    tab = pd.read_csv(tmp_path / "c.csv")
    assert list(tab.columns[-2:]) == [BASE_COLUMN, "加菜场"]


def test_an_outlet_added_outside_the_city_is_refused(base, cli, tmp_path):
    """An outlet at (0, 0) is nowhere near the city's streets: a user error naming the field, not
    a scenario that silently serves no one."""
    scn = Scenario(
        "far", added_outlets=make_outlets([{"id": "F-1", "name": "x", "formats": "wet_market", "lon": 0.0, "lat": 0.0}])
    )
    with pytest.raises(InputError) as exc:
        apply_scenario(base.city, base.net, scn, profile=base.profile)
    assert {p.field for p in exc.value.problems} == {"added_outlets.lon/lat"}
    code, _out, err = cli(
        "scenario", "create", "far", "--dir", tmp_path, "--add", "wet_market,0,0", "--demo", "--scale", SCALE
    )
    assert code == 2 and "lon/lat" in err and "Traceback" not in err
    assert not list(tmp_path.glob("*.json"))


def test_scenario_compare_in_english_labels_indicators_in_english(cli, tmp_path):
    from lifecircle.i18n import set_lang

    d = tmp_path / "scn"
    assert cli("scenario", "create", "plus", "--dir", d, "--add", "wet_market,111.30,30.70")[0] == 0
    try:
        code, out, err = cli(
            "--lang",
            "en",
            "scenario",
            "compare",
            "plus",
            "--dir",
            d,
            "--demo",
            "--scale",
            SCALE,
            "--out",
            tmp_path / "c.csv",
        )
    finally:
        set_lang(None)
    assert code == 0, err
    assert "residents" in out.lower() and "常住人口" not in out
    assert "常住人口" not in (tmp_path / "c.csv").read_text(encoding="utf-8-sig")
