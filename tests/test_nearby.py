""" "Within 15 minutes of me" (issue 12, M12): the answers of :class:`NearbyIndex` equal the ``access``
command's table (:func:`lifecircle.network.table.access_table`) for the same points, outlets and
speed; invariants under hypothesis (the older residents' speed never reaches more; 5 ⊆ 10 ⊆ 15);
outlets added and removed one at a time equal an index built afresh; a point off the streets is
refused with a message; and the opening-hours reader."""

from __future__ import annotations

import datetime as dt
import itertools

import numpy as np
import pandas as pd
import pytest
import shapely
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lifecircle.errors import InputError
from lifecircle.indicators.nearby import NearbyIndex, NearbyOutlet
from lifecircle.indicators.opening_hours import is_open, parse
from lifecircle.network.engine import WITHIN_RTOL, metres
from lifecircle.network.table import access_table
from lifecircle.platform.outlet_rows import split_formats

LAYERS = (5, 10, 15)


@pytest.fixture(scope="module")
def city_net():
    from lifecircle.city.demo import build_demo_city
    from lifecircle.profile import load_profile
    from lifecircle.sources.network_loader import network_from_city

    city = build_demo_city(scale=0.05)
    prof = load_profile(city.profile)
    w = prof.walking
    net = network_from_city(city, tolerance_m=w.join_ends_m, min_piece_m=w.min_piece_m)
    return city, net, prof


def outlets_of(city) -> list[NearbyOutlet]:
    return [
        NearbyOutlet(str(r.id), split_formats(r.formats), float(r.lon), float(r.lat), {"name": str(r.name)})
        for r in city.outlets.itertuples()
    ]


def exploded(outlets: list[NearbyOutlet]) -> pd.DataFrame:
    rows = [
        {"id": o.id, "name": o.info["name"], "format": f, "lon": o.lon, "lat": o.lat}
        for o in outlets
        for f in o.formats
    ]
    return pd.DataFrame(rows, columns=["id", "name", "format", "lon", "lat"])


@pytest.fixture(scope="module")
def index(city_net):
    city, net, prof = city_net
    return NearbyIndex(net, prof, outlets_of(city))


def street_points(net, n: int, seed: int) -> pd.DataFrame:
    """``n`` points on random streets, up to 40 m off them (WGS-84)."""
    rng = np.random.default_rng(seed)
    e = rng.integers(net.n_edges, size=n)
    pts = shapely.line_interpolate_point(net.edge_geom[e], rng.random(n), normalized=True)
    x = shapely.get_x(pts) + rng.uniform(-40, 40, n)
    y = shapely.get_y(pts) + rng.uniform(-40, 40, n)
    lon, lat = net.to_wgs84.transform(x, y)
    return pd.DataFrame({"id": [f"P{i}" for i in range(n)], "lon": lon, "lat": lat})


def assert_equal_to_access(index, net, prof, origins: pd.DataFrame, outlets: pd.DataFrame, speed: float) -> int:
    """Every origin's answer equals the access table's rows: nearest metres (where within the
    search bound) and the counts within each layer. Returns the (origin, format) pairs compared."""
    tab = access_table(net, origins, outlets, prof, speed_kmh=speed).table
    bound = float(metres(max(LAYERS), speed)) * (1 + WITHIN_RTOL)
    n = 0
    for o in origins.itertuples():
        ans = index.query(float(o.lon), float(o.lat), speed, isochrone=False)
        ref = tab[tab["origin_id"] == str(o.id)].set_index("format")
        assert len(ref) == len(ans["formats"])
        for f in ans["formats"]:
            r = ref.loc[f["code"]]
            if np.isfinite(r["nearest_m"]) and r["nearest_m"] <= bound:
                assert f["nearest_m"] == pytest.approx(r["nearest_m"], abs=0.051), (o.id, f["code"])
                assert f["walk_min"] == pytest.approx(r["nearest_min"], abs=0.051)
            else:
                assert f["nearest_m"] is None and f["walk_min"] is None, (o.id, f["code"], r["nearest_m"])
            for m in LAYERS:
                assert f[f"n_{m}min"] == int(r[f"n_{m}min"]), (o.id, f["code"], m)
            n += 1
    return n


@pytest.mark.parametrize("elderly", [False, True])
def test_answers_equal_the_access_table(city_net, index, elderly):
    city, net, prof = city_net
    speed = prof.walking.elderly_speed_kmh if elderly else prof.walking.speed_kmh
    comm = city.communities[["id", "lon", "lat"]].head(25).reset_index(drop=True)
    pts = pd.concat([comm, street_points(net, 25, 7)], ignore_index=True)
    n = assert_equal_to_access(index, net, prof, pts, exploded(outlets_of(city)), speed)
    assert n == 50 * len(prof.formats)


def test_outlets_listed_nearest_first_with_their_fields(city_net, index):
    city = city_net[0]
    c = city.communities.iloc[0]
    ans = index.query(float(c.lon), float(c.lat), 4.0, now=dt.datetime(2026, 11, 30, 12, 0))
    some = [f for f in ans["formats"] if f["outlets"]]
    assert some
    for f in some:
        walks = [o["walk_m"] for o in f["outlets"]]
        assert walks == sorted(walks) and walks[0] == f["nearest_m"]
        assert len(f["outlets"]) <= min(5, f["n_15min"])
        for o in f["outlets"]:
            assert o["walk_min"] <= 15 and o["name"]
    feats = ans["isochrone"]["features"]
    assert [ft["properties"]["minutes"] for ft in feats] == [5, 10, 15]


def test_a_point_off_the_streets_is_refused(index):
    with pytest.raises(InputError, match="300"):
        index.query(100.0, 10.0, 4.0)
    with pytest.raises(InputError):
        index.query(float("nan"), 30.0, 4.0)


def test_outlets_added_and_removed_one_at_a_time_equal_a_fresh_index(city_net):
    city, net, prof = city_net
    all_outlets = outlets_of(city)
    idx = NearbyIndex(net, prof, all_outlets[:200])
    for o in all_outlets[200:260]:
        idx.put(o)
    for o in all_outlets[:150]:
        idx.remove(o.id)  # compacts once fewer than half are left
    old = all_outlets[160]
    moved = NearbyOutlet(old.id, ["pharmacy"], old.lon + 0.002, old.lat, old.info)
    idx.put(moved)  # moved and its formats changed: replaced
    expected = [o for o in all_outlets[150:260] if o.id != moved.id] + [moved]
    fresh = NearbyIndex(net, prof, expected)
    assert sorted(o.id for o in idx.outlets()) == sorted(o.id for o in expected) and len(expected) == 110
    for p in street_points(net, 10, 3).itertuples():
        a = idx.query(float(p.lon), float(p.lat), 4.0, isochrone=False)
        b = fresh.query(float(p.lon), float(p.lat), 4.0, isochrone=False)
        assert a == b
    pts = street_points(net, 8, 5)
    assert_equal_to_access(idx, net, prof, pts, exploded(idx.outlets()), 4.0)


@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
@given(seed=st.integers(0, 10_000), minutes=st.sampled_from([5.0, 7.5, 15.0]))
def test_invariants(city_net, index, seed, minutes):
    _, net, prof = city_net
    p = street_points(net, 1, seed).iloc[0]
    w = prof.walking
    fast = index.query(float(p.lon), float(p.lat), w.speed_kmh, max_minutes=minutes)
    slow = index.query(float(p.lon), float(p.lat), w.elderly_speed_kmh, max_minutes=minutes)
    for f, g in zip(fast["formats"], slow["formats"], strict=True):
        assert f["n_5min"] <= f["n_10min"] <= f["n_15min"]
        for m in LAYERS:  # the slower walk never reaches more
            assert g[f"n_{m}min"] <= f[f"n_{m}min"]
        if g["nearest_m"] is not None:  # the same outlet is nearest whatever the speed; it takes longer
            assert g["nearest_m"] == f["nearest_m"] and g["walk_min"] >= f["walk_min"]
        assert {o["id"] for o in g["outlets"]} <= {o["id"] for o in f["outlets"]} or len(f["outlets"]) == 5
    for ans in (fast, slow):
        polys = [shapely.geometry.shape(ft["geometry"]) for ft in ans["isochrone"]["features"]]
        mins = [ft["properties"]["minutes"] for ft in ans["isochrone"]["features"]]
        assert mins == sorted(mins) and mins[-1] == minutes
        for a, b in itertools.pairwise(polys):  # nested, to the outlines' simplification (7.5 m each)
            assert a.difference(b.buffer(2e-4)).area <= 1e-3 * max(a.area, 1e-12)
    fa = [shapely.geometry.shape(ft["geometry"]) for ft in fast["isochrone"]["features"]][-1]
    sl = [shapely.geometry.shape(ft["geometry"]) for ft in slow["isochrone"]["features"]][-1]
    assert sl.difference(fa.buffer(2e-4)).area <= 1e-3 * max(sl.area, 1e-12)


# ---------------------------------------------------------------------- opening hours
MON_9 = dt.datetime(2026, 11, 30, 9, 0)  # a Monday


@pytest.mark.parametrize(
    ("hours", "at", "expected"),
    [
        ("24/7", MON_9, True),
        ("Mo-Su 07:00-22:00", MON_9, True),
        ("Mo-Su 07:00-22:00", MON_9.replace(hour=22), False),
        ("Mo-Su 07:00-22:00", MON_9.replace(hour=6, minute=59), False),
        ("Mo-Fr 09:00-18:00; Sa 09:00-17:00", MON_9 + dt.timedelta(days=6), False),  # Sunday: not listed
        ("Mo-Fr 09:00-18:00; Sa 09:00-17:00", MON_9 + dt.timedelta(days=5), True),
        ("Mo-Su 08:00-20:00; Mo off", MON_9, False),  # a later rule replaces the earlier for its days
        ("Mo,We 08:00-12:00, 14:00-18:00", MON_9.replace(hour=13), False),
        ("Mo,We 08:00-12:00, 14:00-18:00", MON_9.replace(hour=14), True),
        ("Fr 22:00-02:00", MON_9 + dt.timedelta(days=5, hours=-8), True),  # Saturday 01:00, from Friday
        ("Fr-Mo 10:00-11:00", MON_9.replace(hour=10), True),  # a range over the week's end
        ("Mo-Su 06:00-24:00", MON_9.replace(hour=23, minute=59), True),
        ("08:00-20:00", MON_9, True),
        ("Mo-Fr 08:00-18:00; PH off", MON_9, None),
        ("sunrise-sunset", MON_9, None),
        ("Jan-Mar Mo 08:00-12:00", MON_9, None),
        ("", MON_9, None),
        (None, MON_9, None),
        ("Mo-Su 25:00-26:00", MON_9, None),
    ],
)
def test_opening_hours(hours, at, expected):
    assert is_open(hours, at) is expected


@given(h=st.text(max_size=40))
def test_opening_hours_never_raises(h):
    week = parse(h)
    assert week is None or len(week) == 7


def test_isochrones_match_the_isochrone_command_to_the_grid(city_net, index):
    """The grid outline agrees with :func:`lifecircle.network.isochrone.isochrones` (the buffered
    streets) to about a cell: each inside the other grown by two cells (30 m)."""
    from lifecircle.network.isochrone import isochrones

    net = city_net[1]
    for p in street_points(net, 5, 11).itertuples():
        ans = index.query(float(p.lon), float(p.lat), 4.0)
        ours = [shapely.geometry.shape(ft["geometry"]) for ft in ans["isochrone"]["features"]]
        ref = isochrones(net, float(p.lon), float(p.lat), [5, 10, 15], speed_kmh=4.0, buffer_m=40.0)
        for wgs, b in zip(ours, ref.to_crs(net.crs).geometry, strict=True):
            a = shapely.transform(wgs, lambda xy: np.column_stack(net.from_wgs84.transform(xy[:, 0], xy[:, 1])))
            assert a.difference(b.buffer(30)).area <= 1e-3 * b.area
            assert b.difference(a.buffer(30)).area <= 1e-3 * b.area
            assert a.area == pytest.approx(b.area, rel=0.15)


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 10_000), density=st.floats(0.2, 0.8))
def test_cells_outlined_exactly(seed, density):
    """Any set of cells (corners touching diagonally, holes, islands in holes) outlined exactly:
    the polygon is valid, its area the number of cells, and it holds every cell's centre."""
    from lifecircle.network.nearby import mask_polygon

    rng = np.random.default_rng(seed)
    inside = np.zeros((14, 17), dtype=bool)
    inside[1:-1, 1:-1] = rng.random((12, 15)) < density
    poly = mask_polygon(inside)
    assert poly.is_valid and poly.area == inside.sum()
    j, i = np.nonzero(inside)
    assert shapely.contains_xy(poly, i + 0.5, j + 0.5).all()
    j, i = np.nonzero(~inside)
    assert not shapely.contains_xy(poly, i + 0.5, j + 0.5).any()
