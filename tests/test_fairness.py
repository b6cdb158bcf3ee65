"""Fairness of access (F15, Gini, Lorenz) checked by hand on a tiny city, and the scenario property:
adding an outlet makes the surface nowhere worse."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pyproj import CRS
from shapely.geometry import LineString, box

from lifecircle.city.demo import build_demo_city
from lifecircle.city.model import City
from lifecircle.indicators.fairness import city_f15, fairness_table, gini, histogram, lorenz, lorenz_table
from lifecircle.indicators.surface import ALL_BASIC, build_surface
from lifecircle.network.graph import WalkNetwork
from lifecircle.plans.scenarios import Scenario, apply_scenario, make_outlets
from lifecircle.profile import load_profile
from lifecircle.sources.network_loader import network_from_city

UTM49N = CRS.from_epsg(32649)
X0, Y0 = 300_000.0, 3_400_000.0  # near Yichang


def test_gini_of_an_equal_distribution_is_zero():
    assert gini(np.full(7, 12.5)) == pytest.approx(0.0, abs=1e-12)
    assert gini(np.array([3.0, 3.0, 3.0]), np.array([1.0, 50.0, 7.0])) == pytest.approx(0.0, abs=1e-12)
    assert gini(np.zeros(4)) == pytest.approx(0.0, abs=1e-12)
    p, L = lorenz(np.full(5, 2.0))
    np.testing.assert_allclose(p, L)


def test_gini_of_one_person_holding_everything():
    # n people, one with all of it: (n-1)/n
    assert gini(np.array([0.0, 0.0, 0.0, 10.0])) == pytest.approx(0.75)


@pytest.fixture(scope="module")
def tiny():
    """One street 3 km long (nodes at 0, 1000 and 3000 m), a wet market at 0 m, and three
    communities on the nodes: 100 residents at 0 m, 100 at 1000 m, 200 at 3000 m; half are older."""
    line = LineString([(X0, Y0), (X0 + 1000, Y0), (X0 + 3000, Y0)])
    net = WalkNetwork.from_lines(np.array([line], dtype=object), UTM49N, simplify=False)
    lon, lat = net.to_wgs84.transform(np.array([X0, X0 + 1000, X0 + 3000]), np.full(3, Y0))
    comm = pd.DataFrame(
        {
            "id": ["a", "b", "c"],
            "name": ["A", "B", "C"],
            "district": ["d1", "d1", "d2"],
            "lon": lon,
            "lat": lat,
            "population": [100, 100, 200],
            "households": [40, 40, 80],
            "elderly_share": [0.5, 0.5, 0.5],
            "kind": ["old"] * 3,
            "circle_id": ["c1", "c1", "c2"],
        }
    )
    outlets = pd.DataFrame({"id": ["m"], "name": ["M"], "formats": ["wet_market"], "lon": [lon[0]], "lat": [lat[0]]})
    districts = gpd.GeoDataFrame(
        {"code": ["d1", "d2"], "name_zh": ["一区", "二区"]},
        geometry=[
            box(lon[0] - 0.01, lat[0] - 0.01, lon[1] + 0.005, lat[0] + 0.01),
            box(lon[1] + 0.005, lat[0] - 0.01, lon[2] + 0.01, lat[0] + 0.01),
        ],
        crs=4326,
    )
    city = City("tiny", tables={"communities": comm, "outlets": outlets, "districts": districts})
    prof = load_profile("yichang-2022")
    return build_surface(city, net, prof), prof


def _row(t: pd.DataFrame, fmt: str, group: str, unit: str = "") -> dict:
    return t[(t["format"] == fmt) & (t["group"] == group) & (t["unit"] == unit)].iloc[0].to_dict()


def test_f15_mean_and_gini_by_hand(tiny):
    s, prof = tiny
    assert len(s.cells) == 3 and s.cells["population"].sum() == 400
    t = fairness_table(s, prof)
    # 4 km/h = 66.67 m/min: 0, 15 and 45 minutes
    r = _row(t, "wet_market", "all")
    assert r["mean_min"] == pytest.approx((0 * 100 + 15 * 100 + 45 * 200) / 400)
    assert r["f15"] == pytest.approx(0.5)  # exactly 15 minutes counts as within
    assert r["f_layer"] == pytest.approx(0.25)  # layer 10 minutes
    # pairwise: sum w_i w_j |x_i - x_j| / (2 W^2 mean) = 3.3e6 / 8.4e6
    assert r["gini"] == pytest.approx(3.3 / 8.4)
    assert r["unreachable"] == 0
    # older residents at 3 km/h (50 m/min): 0, 20, 60 minutes; Gini does not change with speed
    e = _row(t, "wet_market", "elderly")
    assert e["residents"] == pytest.approx(200)
    assert e["f15"] == pytest.approx(0.25)
    assert e["mean_min"] == pytest.approx((0 * 50 + 20 * 50 + 60 * 100) / 200)
    assert e["gini"] == pytest.approx(3.3 / 8.4)
    # no other basic format anywhere: nobody reaches all of them
    b = _row(t, ALL_BASIC, "all")
    assert b["unreachable"] == 1 and b["f15"] == 0


def test_city_f15_is_the_city_row_for_every_basic_format():
    """city_f15 (the province batch's F15) is the fairness table's city row for all_basic, for
    everyone and for older residents at their speed; on a city where it is neither 0 nor 1."""
    city = build_demo_city(2, 0.3)
    prof = load_profile(city.profile)
    s = build_surface(city, network_from_city(city), prof)
    t = fairness_table(s, prof)
    want = {g: _row(t, ALL_BASIC, g)["f15"] for g in ("all", "elderly")}
    assert city_f15(s) == want["all"] and city_f15(s, elderly=True) == want["elderly"]
    assert 0 < want["elderly"] < want["all"] < 1


def test_per_district_and_per_circle(tiny):
    s, prof = tiny
    d = fairness_table(s, prof, by="district")
    assert _row(d, "wet_market", "all", "d1")["f15"] == pytest.approx(1.0)
    assert _row(d, "wet_market", "all", "d1")["gini"] == pytest.approx(0.5)  # 0 and 15 minutes, equal weights
    assert _row(d, "wet_market", "all", "d2")["f15"] == 0
    c = fairness_table(s, prof, by="circle")
    assert set(c["unit"]) == {"c1", "c2"}
    assert _row(c, "wet_market", "all", "c2")["mean_min"] == pytest.approx(45)


def test_lorenz_and_histogram(tiny):
    s, _ = tiny
    lz = lorenz_table(s, ["wet_market"], points=5)
    allg = lz[lz["group"] == "all"]
    np.testing.assert_allclose(allg["p"], [0, 0.25, 0.5, 0.75, 1])
    np.testing.assert_allclose(allg["L"], [0, 0, 1 / 7, 1 / 7 + 0.5 * 6 / 7, 1], atol=1e-9)
    h = histogram(s, "wet_market", [0, 10, 30])
    assert h["residents"].tolist() == [100, 100, 200]


@pytest.fixture(scope="module")
def demo():
    city = build_demo_city(2022, 0.05)
    net = network_from_city(city)
    prof = load_profile(city.profile)
    return city, net, prof, build_surface(city, net, prof)


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(fx=st.floats(0, 1), fy=st.floats(0, 1), fmt=st.integers(0, 100))
def test_adding_an_outlet_makes_the_surface_nowhere_worse(demo, fx, fy, fmt):
    city, net, prof, base = demo
    lon, lat = net.node_lonlat()
    # a point among the streets (a node's position, nudged), so it snaps
    n = int(fx * (net.n_nodes - 1))
    code = prof.codes[fmt % len(prof.codes)]
    add = make_outlets(
        [{"id": "new-1", "name": "新店", "formats": code, "lon": lon[n] + (fy - 0.5) * 1e-3, "lat": lat[n]}]
    )
    c2, n2 = apply_scenario(city, net, Scenario("add", added_outlets=add), profile=prof)
    s2 = build_surface(c2, n2, prof)
    assert s2.cells["h3"].tolist() == base.cells["h3"].tolist()
    assert (s2.dist_m <= base.dist_m).all()
    assert (s2.dist_m < base.dist_m).any()
