"""Live indicators (issue 11, part 5): registering and closing outlets keeps every circle's
coverage, indicators, grade and gaps equal to a full ``evaluate_city`` on the changed city.

Two cities: the demo city at scale 0.05 (30 circles with drawn boundaries) and the shipped mini
city ``examples/mini-city/`` (circles drawn around their communities; community C4 sits on a
bridge that meets no other street, an island). Every check compares with the batch evaluation of
a city whose outlets table is changed here, independently of the live object.
"""

from __future__ import annotations

import math
import shutil
import threading
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import shapely
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pyproj import CRS, Transformer

from lifecircle.city.model import City
from lifecircle.indicators.evaluate import evaluate_city
from lifecircle.indicators.live import GRADE_FIELDS, LiveIndicators
from lifecircle.profile import load_profile

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "mini-city"
X0, Y0 = 520_000.0, 3_390_000.0  # the mini city's origin, UTM 49N metres
_to_wgs = Transformer.from_crs(CRS.from_epsg(32649), 4326, always_xy=True)


def ll(x: float, y: float) -> tuple[float, float]:
    lon, lat = _to_wgs.transform(X0 + x, Y0 + y)
    return float(lon), float(lat)


# ---------------------------------------------------------------------------- cities
@pytest.fixture(scope="module")
def demo():
    from lifecircle.city.demo import build_demo_city

    city = build_demo_city(seed=7, scale=0.05)
    prof = load_profile(city.profile)
    return city, prof, LiveIndicators.build(city, prof)


@pytest.fixture(scope="module")
def mini(tmp_path_factory):
    """The mini city imported as the README's worked example does (streets, districts,
    communities, circles, surveys, both Amap exports)."""
    from typer.testing import CliRunner

    from lifecircle.city.store import load_city
    from lifecircle.cli import _register, app

    _register()
    d = tmp_path_factory.mktemp("mini-live")
    shutil.copytree(EXAMPLE, d / "files")
    db = d / "city.db"
    files = [
        ("streets", "streets.geojson"),
        ("districts", "districts.geojson"),
        ("communities", "communities.xlsx"),
        ("circles", "circles.csv"),
        ("surveys", "surveys.csv"),
        ("outlets", "amap_export_1.csv"),
        ("outlets", "amap_export_2.csv"),
    ]
    runner = CliRunner()
    for kind, name in files:
        r = runner.invoke(app, ["import", kind, str(d / "files" / name), "--db", str(db), "--city", "mini"])
        assert r.exit_code == 0, (kind, r.stdout, r.stderr)
    city = load_city(db, "mini")
    prof = load_profile(city.profile)
    return city, prof, LiveIndicators.build(city, prof)


# ---------------------------------------------------------------------------- the batch, by hand
def _plain(v: Any) -> Any:
    if isinstance(v, np.generic):
        v = v.item()
    return None if v is pd.NA or (isinstance(v, float) and math.isnan(v)) else v


def with_outlets(city: City, outlets: pd.DataFrame) -> City:
    return City(city.name, city.profile, city.synthetic, {**city.tables, "outlets": outlets.reset_index(drop=True)})


def added(outlets: pd.DataFrame, oid: str, lon: float, lat: float, formats: list[str], **attrs) -> pd.DataFrame:
    row = {"id": oid, "lon": lon, "lat": lat, "formats": ";".join(formats), **attrs}
    return pd.concat([outlets, pd.DataFrame([row])], ignore_index=True)


def removed(outlets: pd.DataFrame, oid: str) -> pd.DataFrame:
    return outlets[outlets["id"].astype(str) != oid].reset_index(drop=True)


def batch_circles(live: LiveIndicators, city: City) -> dict[str, dict]:
    """Every circle as ``LiveIndicators.circle`` shows it (without ``as_of``), from a full
    ``evaluate_city`` of ``city`` on the same network and rules."""
    ev = evaluate_city(city, live.net, live.profile, rules=live.rules)
    fc = ev.format_coverage[ev.format_coverage["level"] == "circle"]
    out = {}
    for rec in ev.circles.drop(columns="geometry").to_dict("records"):
        cid = rec["id"]
        shares = fc[fc["unit_id"] == cid].set_index("format")["share_within_layer"]
        gaps = ev.gaps[ev.gaps["circle_id"] == cid]
        out[cid] = {
            "id": cid,
            "coverage": {f: _plain(float(shares[f])) for f in live.profile.codes},
            "grade": {
                "code": rec["grade_code"],
                "name": rec["grade"],
                "name_en": rec["grade_en"],
                "reasons": rec["grade_reasons"],
                "reasons_en": rec["grade_reasons_en"],
            },
            "gaps": [
                {k: _plain(v) for k, v in g.items()}
                for g in gaps[
                    ["format", "format_zh", "class", "share_within_layer", "residents_uncovered", "priority"]
                ].to_dict("records")
            ],
            "indicators": {k: _plain(v) for k, v in rec.items() if k not in GRADE_FIELDS},
        }
    return out


def live_circles(live: LiveIndicators) -> dict[str, dict]:
    out = {}
    for cid in live.circle_ids:
        c = live.circle(cid)
        assert isinstance(c.pop("as_of"), str)
        out[cid] = c
    return out


def assert_same(live: LiveIndicators, city: City) -> dict[str, dict]:
    want, have = batch_circles(live, city), live_circles(live)
    assert set(want) == set(have)
    for cid in want:
        assert have[cid] == want[cid], cid
    return have


def street_point(live: LiveIndicators, x: float, y: float) -> tuple[float, float]:
    """The street point nearest the projected point ``x``, ``y`` (metres), as lon, lat."""
    net = live.net
    e = int(net.edge_tree.nearest(shapely.Point(x, y)))
    geom = net.edge_geom[e]
    p = shapely.line_interpolate_point(geom, shapely.line_locate_point(geom, shapely.Point(x, y)))
    lon, lat = net.to_wgs84.transform(p.x, p.y)
    return float(lon), float(lat)


def community_xy(live: LiveIndicators, city: City, cid: str) -> tuple[float, float]:
    row = city.communities.set_index("id").loc[cid]
    x, y = live.net.project(np.array([row["lon"]]), np.array([row["lat"]]))
    return float(x[0]), float(y[0])


# ---------------------------------------------------------------------------- demo city
def test_build_equals_the_batch_evaluation(demo):
    city, _, live = demo
    assert_same(live, city)


def test_outlet_inside_a_circle_changes_exactly_what_the_batch_changes(demo):
    city, _, live = demo
    before = live_circles(live)
    comm = city.communities
    cid = str(comm["circle_id"].dropna().iloc[0])
    home = str(comm.loc[comm["circle_id"] == cid, "id"].iloc[0])
    lacks = [g["format"] for g in before[cid]["gaps"] if g["share_within_layer"] < 1.0]
    assert lacks, "the circle lacks nothing: choose another"
    fmt = [lacks[0], "parcel_locker"]  # 一店多能: a shop with a smart locker
    lon, lat = street_point(live, *community_xy(live, city, home))
    touched = live.add_outlet("LIVE-IN", lon, lat, fmt, name="新店", is_chain=True)
    assert cid in touched
    after = assert_same(
        live, with_outlets(city, added(city.outlets, "LIVE-IN", lon, lat, fmt, name="新店", is_chain=True))
    )
    assert after[cid]["coverage"][lacks[0]] > before[cid]["coverage"][lacks[0]]
    assert after[cid]["indicators"]["n_outlets"] == before[cid]["indicators"]["n_outlets"] + 1
    assert live.remove_outlet("LIVE-IN") == touched
    assert live_circles(live) == before  # exactly the original


def test_closing_an_existing_outlet_equals_the_batch_and_reopening_restores_it(demo):
    city, _, live = demo
    before = live_circles(live)
    row = city.outlets.iloc[3].to_dict()
    oid = str(row.pop("id"))
    touched = live.remove_outlet(oid)
    assert touched
    assert_same(live, with_outlets(city, removed(city.outlets, oid)))
    lon, lat, formats = row.pop("lon"), row.pop("lat"), row.pop("formats")
    assert live.add_outlet(oid, lon, lat, formats, **row) == touched
    assert live_circles(live) == before


def test_outlet_on_the_border_of_two_circles_touches_both(demo):
    city, _, live = demo
    comm = city.communities.dropna(subset=["circle_id"]).reset_index(drop=True)
    x, y = live.net.project(comm["lon"].to_numpy(float), comm["lat"].to_numpy(float))
    circ = comm["circle_id"].astype(str).to_numpy()
    d = np.hypot(x[:, None] - x[None, :], y[:, None] - y[None, :])
    d[circ[:, None] == circ[None, :]] = np.inf
    i, j = np.unravel_index(int(np.argmin(d)), d.shape)
    lon, lat = street_point(live, (x[i] + x[j]) / 2, (y[i] + y[j]) / 2)
    fmt = ["convenience_store", "supermarket"]
    touched = live.add_outlet("LIVE-BORDER", lon, lat, fmt)
    assert {circ[i], circ[j]} <= touched
    assert_same(live, with_outlets(city, added(city.outlets, "LIVE-BORDER", lon, lat, fmt)))
    live.remove_outlet("LIVE-BORDER")
    assert_same(live, city)


def test_refusals(demo):
    _, _, live = demo
    oid = str(live.outlets_table()["id"].iloc[0])
    with pytest.raises(ValueError, match="already registered"):
        live.add_outlet(oid, 111.3, 30.7, ["pharmacy"])
    with pytest.raises(KeyError):
        live.remove_outlet("no-such-outlet")
    with pytest.raises(ValueError):
        live.add_outlet("nan", float("nan"), 30.7, ["pharmacy"])
    with pytest.raises(KeyError):
        live.circle("no-such-circle")


def test_concurrent_changes_from_threads_end_as_the_batch(demo):
    city, _, live = demo
    rng = np.random.default_rng(5)
    edges = rng.choice(live.net.n_edges, 8, replace=False)
    points = []
    for k, e in enumerate(edges):
        p = shapely.line_interpolate_point(live.net.edge_geom[e], 0.5, normalized=True)
        lon, lat = live.net.to_wgs84.transform(p.x, p.y)
        points.append((f"T{k}", float(lon), float(lat), [live.profile.codes[k % len(live.profile.codes)]]))

    def work(pts):
        for oid, lon, lat, fmt in pts:
            live.add_outlet(oid, lon, lat, fmt)
        live.remove_outlet(pts[0][0])

    threads = [threading.Thread(target=work, args=(points[k::2],)) for k in range(2)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    outlets = city.outlets
    for oid, lon, lat, fmt in points[2:]:
        outlets = added(outlets, oid, lon, lat, fmt)
    assert_same(live, with_outlets(city, outlets))
    for oid, *_ in points[2:]:
        live.remove_outlet(oid)
    assert_same(live, city)


OP = st.tuples(
    st.sampled_from(["add", "add", "remove"]),
    st.integers(0, 10**9),
    st.floats(0.0, 1.0),
    st.floats(-60.0, 60.0),
    st.lists(st.integers(0, 26), min_size=1, max_size=3),
    st.booleans(),
)


@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ops=st.lists(OP, min_size=1, max_size=6))
def test_any_sequence_of_changes_equals_the_batch_and_undoing_it_restores_the_start(demo, ops):
    city, _, live = demo
    start = live_circles(live)
    outlets = city.outlets.copy()
    undo: list[tuple] = []
    for n, (kind, pick, frac, off, cats, chain) in enumerate(ops):
        if kind == "remove":
            ids = outlets["id"].astype(str).tolist()
            oid = ids[pick % len(ids)]
            row = outlets[outlets["id"].astype(str) == oid].iloc[0].to_dict()
            live.remove_outlet(oid)
            outlets = removed(outlets, oid)
            undo.append(("readd", oid, row))
            continue
        geom = live.net.edge_geom[pick % live.net.n_edges]
        p = shapely.line_interpolate_point(geom, frac, normalized=True)
        lon, lat = (float(v) for v in live.net.to_wgs84.transform(p.x + off, p.y - off))
        fmt = sorted({live.profile.codes[c % len(live.profile.codes)] for c in cats})
        oid = f"H{n}"
        live.add_outlet(oid, lon, lat, fmt, is_chain=chain)
        outlets = added(outlets, oid, lon, lat, fmt, is_chain=chain)
        undo.append(("remove", oid, None))
    assert_same(live, with_outlets(city, outlets))
    for kind, oid, old in reversed(undo):
        if kind == "remove":
            live.remove_outlet(oid)
        else:
            row = dict(old)
            row.pop("id")
            live.add_outlet(oid, row.pop("lon"), row.pop("lat"), row.pop("formats"), **row)
    assert live_circles(live) == start


# ---------------------------------------------------------------------------- mini city (an island)
def test_mini_city_outlet_on_the_main_street(mini):
    city, _, live = mini
    before = live_circles(live)
    circle_of = city.communities.set_index("id")["circle_id"].astype(str)
    lon, lat = ll(600, 0)  # on street A, between C1 and C2
    touched = live.add_outlet("M-MAIN", lon, lat, ["pharmacy"])
    assert touched == {circle_of["C1"]}  # C1 and C2's circle; C3 is 1.2 km away, C4 on the island
    assert_same(live, with_outlets(city, added(city.outlets, "M-MAIN", lon, lat, ["pharmacy"])))
    live.remove_outlet("M-MAIN")
    assert live_circles(live) == before


def test_mini_city_outlet_on_the_island_reaches_only_the_island(mini):
    city, _, live = mini
    before = live_circles(live)
    circle_of = city.communities.set_index("id")["circle_id"].astype(str)
    q = circle_of["C4"]
    assert before[q]["indicators"]["n_communities_on_islands"] == 1
    lon, lat = ll(1500, 250)  # on the bridge, 20 m from C4
    touched = live.add_outlet("M-ISLAND", lon, lat, ["convenience_store"])
    assert touched == {q}
    after = assert_same(live, with_outlets(city, added(city.outlets, "M-ISLAND", lon, lat, ["convenience_store"])))
    assert after[q]["coverage"]["convenience_store"] > before[q]["coverage"]["convenience_store"]
    for cid in before:  # the other circles' residents cannot walk onto the bridge
        if cid != q:
            assert after[cid]["coverage"] == before[cid]["coverage"]
    live.remove_outlet("M-ISLAND")
    assert live_circles(live) == before


def test_mini_city_outlet_far_from_every_street_is_reported_not_counted(mini):
    city, _, live = mini
    before = live_circles(live)
    lon, lat = ll(1000, 3000)  # 2.4 km from the nearest street
    assert live.add_outlet("M-FAR", lon, lat, ["supermarket"]) == set()
    assert list(live.unsnapped()["id"]) == ["M-FAR"]
    assert_same(live, with_outlets(city, added(city.outlets, "M-FAR", lon, lat, ["supermarket"])))
    assert live_circles(live) == before
    live.remove_outlet("M-FAR")
    assert live.unsnapped().empty


def _point_at_walk(live: LiveIndicators, lon: float, lat: float, ahead_m: float, target_m: float) -> tuple:
    """A street point (lon, lat) ``target_m`` metres' walk from the point ``lon``, ``lat``, on the
    street about ``ahead_m`` metres east of it (found by probing the engine: walking distance is
    linear along one street)."""
    from lifecircle.network import nearest, snap_lonlat

    net, snap_m = live.net, live.profile.walking.snap_max_m
    home = snap_lonlat(net, np.array([lon]), np.array([lat]), snap_m)
    e = int(net.edge_tree.nearest(shapely.Point(home.x[0] + ahead_m, home.y[0])))
    geom = net.edge_geom[e]

    def at(t: float) -> tuple[float, float, float]:
        p = shapely.line_interpolate_point(geom, t)
        olon, olat = (float(v) for v in net.to_wgs84.transform(p.x, p.y))
        d = nearest(net, snap_lonlat(net, np.array([olon]), np.array([olat]), snap_m), home)[0]
        return olon, olat, float(d)

    t1, t2 = geom.length / 3, 2 * geom.length / 3
    d1, d2 = at(t1)[2], at(t2)[2]
    t = t1 + (target_m - d1) * (t2 - t1) / (d2 - d1)
    assert 0 < t < geom.length, "the limit falls off this street: choose another"
    return at(t)


def test_mini_city_outlet_exactly_at_the_layer_limit_counts_as_the_batch_counts_it(mini):
    """An outlet a 5-minute walk (333.33 m at 4 km/h) from C1 is within breakfast's layer
    (``within`` allows float rounding); one a metre farther is not. Live agrees with the batch."""
    from lifecircle.network.engine import metres

    city, prof, live = mini
    before = live_circles(live)
    c1 = city.communities.set_index("id").loc["C1"]
    q1 = str(c1["circle_id"])
    lim = float(metres(prof.format("breakfast").layer_min, prof.walking.speed_kmh))
    lon, lat, d = _point_at_walk(live, float(c1["lon"]), float(c1["lat"]), 350.0, lim)
    assert abs(d - lim) < 1e-6
    live.add_outlet("M-EDGE", lon, lat, ["breakfast"])
    after = assert_same(live, with_outlets(city, added(city.outlets, "M-EDGE", lon, lat, ["breakfast"])))
    assert after[q1]["coverage"]["breakfast"] > (before[q1]["coverage"]["breakfast"] or 0.0)
    live.remove_outlet("M-EDGE")
    lon, lat, d = _point_at_walk(live, float(c1["lon"]), float(c1["lat"]), 350.0, lim + 1.0)
    assert abs(d - lim - 1.0) < 1e-6
    live.add_outlet("M-BEYOND", lon, lat, ["breakfast"])
    after = assert_same(live, with_outlets(city, added(city.outlets, "M-BEYOND", lon, lat, ["breakfast"])))
    assert after[q1]["coverage"]["breakfast"] == before[q1]["coverage"]["breakfast"]
    live.remove_outlet("M-BEYOND")
    assert live_circles(live) == before
