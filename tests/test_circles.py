"""Circle delineation (M2) and community types (M4) on small hand-made cities.

The grid fixture: a street grid in UTM zone 49N (Yichang's zone), 200 m blocks, 4 km x 2 km,
split into districts by vertical strips. Every community / candidate is a point on or near it.
"""

from __future__ import annotations

import functools
import itertools

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from hypothesis import given, settings
from hypothesis import strategies as st
from pyproj import CRS, Transformer

from lifecircle.errors import ConfigError, InputError
from lifecircle.network import WalkNetwork
from lifecircle.plans.circles import (
    DelineationSettings,
    assign_to_given_circles,
    choose_centres,
    delineate_circles,
    load_plan,
)

CRS_M = CRS.from_epsg(32649)
X0, Y0 = 500_000.0, 3_400_000.0
BACK = Transformer.from_crs(CRS_M, 4326, always_xy=True)


@functools.cache
def grid_net(width: float = 4000.0, height: float = 2000.0, step: float = 200.0) -> WalkNetwork:
    """A street grid; lines carry a vertex at every crossing so the streets connect there."""
    xs = np.arange(0, width + 1, step)
    ys = np.arange(0, height + 1, step)
    lines = [shapely.LineString([(X0 + a, Y0 + b) for a in xs]) for b in ys]
    lines += [shapely.LineString([(X0 + a, Y0 + b) for b in ys]) for a in xs]
    return WalkNetwork.from_lines(np.array(lines, dtype=object), CRS_M, source="test grid")


def lonlat(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return BACK.transform(X0 + np.asarray(x, float), Y0 + np.asarray(y, float))


def strips(codes: list[str], width: float = 4000.0, height: float = 2000.0) -> gpd.GeoDataFrame:
    """Districts as vertical strips of equal width (WGS-84 polygons)."""
    edges = np.linspace(0, width, len(codes) + 1)
    edges[0], edges[-1] = -150.0, width + 150.0
    geoms = []
    for a, b in itertools.pairwise(edges):
        box = shapely.segmentize(shapely.box(X0 + a, Y0 - 150, X0 + b, Y0 + height + 150), 50.0)
        geoms.append(shapely.transform(box, lambda xy: np.column_stack(BACK.transform(xy[:, 0], xy[:, 1]))))
    return gpd.GeoDataFrame({"code": codes, "name_zh": [f"{c}区" for c in codes]}, geometry=geoms, crs=4326)


def table(prefix: str, x, y, **cols) -> pd.DataFrame:
    lon, lat = lonlat(x, y)
    n = len(lon)
    return pd.DataFrame(
        {
            "id": [f"{prefix}{i}" for i in range(n)],
            "name": [f"{prefix}{i}" for i in range(n)],
            "lon": lon,
            "lat": lat,
            **cols,
        }
    )


@pytest.fixture(scope="module")
def net() -> WalkNetwork:
    return grid_net()


# ------------------------------------------------------------------------------ hand-made case
def test_obvious_centres_are_chosen_at_the_two_clusters(net):
    """Two clusters of communities 3.6 km apart; candidates at each cluster, one in between
    (reaches nobody within 1,000 m) and one at a cluster's edge. Two circles: the two cluster
    centres, each cluster wholly in its own circle."""
    cx = np.array([200, 400, 200, 400, 3600, 3800, 3600, 3800], float)
    cy = np.array([800, 800, 1000, 1000, 800, 800, 1000, 1000], float)
    comm = table("c", cx, cy, district="A", population=[9000] * 4 + [8000] * 4, kind="old")
    cand = table(
        "k",
        [300, 2000, 3700, 1400],
        [900, 900, 900, 1800],
        district="A",
        kind=["community_service_centre", "transit_hub", "health_centre", "culture_centre"],
    )
    d = delineate_circles(
        comm, cand, net, strips(["A"]), quotas={"A": (2, 0)}, max_walk_m=1000, size_range=(50_000, 100_000)
    )
    assert sorted(d.circles["centre_id"]) == ["k0", "k2"]
    by = d.communities.set_index("id")["centre_id"]
    assert set(by[[f"c{i}" for i in range(4)]]) == {"k0"}
    assert set(by[[f"c{i}" for i in range(4, 8)]]) == {"k2"}
    assert d.communities["within_walk"].all()
    first = d.circles.sort_values("order").iloc[0]
    assert first["centre_id"] == "k0" and first["covers_within"] == 36_000
    assert "36,000" in first["reason_zh"] and "最多" in first["reason_zh"]
    assert "the most of any candidate" in first["reason_en"]
    assert d.districts.iloc[0]["choice_method"] == "exact" and d.districts.iloc[0]["gap"] < 1e-9
    # 68,000 residents in 2 circles: 34,000 per circle, below 50,000 -> range scaled and said so
    assert d.districts.iloc[0]["size_max"] < 50_000 and any("规模区间" in n for n in d.notes)


def test_choice_matches_brute_force_on_small_gain_matrices():
    rng = np.random.default_rng(7)
    for _ in range(25):
        n_i, n_j, k = int(rng.integers(2, 9)), int(rng.integers(2, 7)), int(rng.integers(1, 4))
        G = rng.uniform(0, 10, (n_i, n_j)) * (rng.uniform(size=(n_i, n_j)) < 0.5)
        k = min(k, n_j)
        best = max(G[:, list(S)].max(axis=1).sum() for S in itertools.combinations(range(n_j), k))
        ex = choose_centres(G, k, method="exact")
        he = choose_centres(G, k, method="heuristic")
        assert len(ex.chosen) == k and len(set(ex.chosen)) == k
        assert ex.objective == pytest.approx(best, rel=1e-9) and ex.optimal
        assert he.objective <= best + 1e-9 and he.bound >= best - 1e-9  # honest bound


def test_choice_keeps_fixed_centres_of_earlier_phases():
    G = np.array([[5.0, 0, 0], [0, 4, 0], [0, 0, 3]])
    res = choose_centres(G, 1, fixed=[2])
    assert res.chosen == [0] and res.objective == pytest.approx(8.0)


# ------------------------------------------------------------------------------ invariants
def check_invariants(d, comm: pd.DataFrame, districts: gpd.GeoDataFrame, quotas: dict[str, tuple[int, int]]) -> None:
    circles = d.circles
    cd = d.communities.set_index("id")
    # every community of a district with a quota is in exactly one circle of its own district
    for code, q in quotas.items():
        members = comm[comm["district"] == code]
        if sum(q) == 0:
            assert cd.loc[members["id"], "circle_id"].isna().all()
            continue
        assert cd.loc[members["id"], "circle_id"].notna().all()
        formed = circles[circles["district"] == code]
        # quotas met exactly when the district has at least as many communities as circles
        if len(members) >= sum(q):
            for phase, n in zip(("pilot", "rollout"), q, strict=True):
                assert int((formed["phase"] == phase).sum()) == n
        else:
            assert len(formed) == len(members)
    joined = cd.dropna(subset=["circle_id"]).merge(
        circles[["id", "district"]], left_on="circle_id", right_on="id", suffixes=("", "_circle")
    )
    assert (joined["district"] == joined["district_circle"]).all()
    assert circles["id"].is_unique
    assert (circles["n_communities"] >= 1).all()
    assert circles["n_communities"].sum() == cd["circle_id"].notna().sum()
    # boundaries stay inside their district and do not overlap
    dg = districts.set_index("code").geometry
    geoms = list(circles.geometry)
    for g, code in zip(geoms, circles["district"], strict=True):
        if g is not None and not g.is_empty:
            assert g.difference(dg[code]).area <= 1e-6 * max(g.area, 1e-12)
    for a, b in itertools.combinations([g for g in geoms if g is not None], 2):
        assert a.intersection(b).area <= 1e-6 * min(a.area, b.area) + 1e-15


def random_city(seed: int, n_comm: int, codes: list[str], n_cand: int):
    rng = np.random.default_rng(seed)
    x, y = rng.uniform(0, 4000, n_comm), rng.uniform(0, 2000, n_comm)
    edges = np.linspace(0, 4000, len(codes) + 1)

    def dist_of(xx):
        return np.asarray(codes, dtype=object)[np.clip(np.searchsorted(edges, xx, side="right") - 1, 0, len(codes) - 1)]

    comm = table(
        "c",
        x,
        y,
        district=dist_of(x),
        population=rng.integers(0, 6000, n_comm),
        kind=rng.choice(["old", "new", "complete", "industrial"], n_comm),
    )
    kx, ky = rng.uniform(0, 4000, n_cand), rng.uniform(0, 2000, n_cand)
    cand = table("k", kx, ky, district=dist_of(kx), kind="community_service_centre")
    return comm, cand


@settings(max_examples=20, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    n_comm=st.integers(1, 25),
    n_dist=st.integers(1, 3),
    n_cand=st.integers(0, 10),
    q=st.lists(st.tuples(st.integers(0, 3), st.integers(0, 3)), min_size=3, max_size=3),
    heuristic=st.booleans(),
)
def test_invariants_hold_on_random_small_cities(seed, n_comm, n_dist, n_cand, q, heuristic):
    codes = ["A", "B", "C"][:n_dist]
    comm, cand = random_city(seed, n_comm, codes, n_cand)
    districts = strips(codes)
    quotas = {c: q[i] for i, c in enumerate(codes)}
    st_ = DelineationSettings(exact_max_pairs=0) if heuristic else DelineationSettings()
    d = delineate_circles(
        comm, cand, grid_net(), districts, quotas=quotas, max_walk_m=1000, size_range=(50_000, 100_000), settings=st_
    )
    check_invariants(d, comm, districts, quotas)


def test_delineation_is_deterministic(net):
    comm, cand = random_city(3, 40, ["A", "B"], 12)
    districts = strips(["A", "B"])
    runs = [
        delineate_circles(
            comm, cand, net, districts, quotas={"A": (2, 2), "B": (1, 2)}, max_walk_m=1000, size_range=(5_000, 40_000)
        )
        for _ in range(2)
    ]
    pd.testing.assert_frame_equal(runs[0].communities, runs[1].communities)
    pd.testing.assert_frame_equal(runs[0].circles.drop(columns="geometry"), runs[1].circles.drop(columns="geometry"))
    assert all(a.equals(b) for a, b in zip(runs[0].circles.geometry, runs[1].circles.geometry, strict=True))


# ------------------------------------------------------------------------------ degraded cases
def test_too_few_candidates_lets_communities_stand_in(net):
    comm, _ = random_city(5, 12, ["A"], 0)
    cand = table("k", [2000], [1000], district="A", kind="transit_hub")
    d = delineate_circles(comm, cand, net, strips(["A"]), quotas={"A": (1, 2)}, max_walk_m=1000, size_range=(1, 1e9))
    assert len(d.circles) == 3
    assert "k0" in set(d.circles["centre_id"])  # the real candidate is always used
    assert (d.circles["centre_kind"] == "community").sum() == 2
    assert any("补足" in n for n in d.notes)


def test_unreachable_community_is_assigned_and_flagged():
    # two separate street pieces; one community only on the far piece, no candidate there
    a = [shapely.LineString([(X0 + x, Y0) for x in range(0, 2001, 100)])]
    b = [shapely.LineString([(X0 + x, Y0 + 1500) for x in range(3000, 4001, 100)])]
    net2 = WalkNetwork.from_lines(np.array(a + b, dtype=object), CRS_M)
    comm = table("c", [100, 500, 3500], [10, 10, 1510], district="A", population=[1000, 1000, 500], kind="old")
    cand = table("k", [300], [0], district="A", kind="health_centre")
    d = delineate_circles(comm, cand, net2, None, quotas={"A": 1}, max_walk_m=1000, size_range=(1, 1e9))
    flags = d.communities.set_index("id")["flag"]
    assert flags["c2"] == "unreachable" and flags["c0"] == "" and d.communities["circle_id"].notna().all()


def test_community_beyond_walk_is_flagged(net):
    comm = table("c", [100, 3900], [100, 1900], district="A", population=[1000, 1000], kind="old")
    cand = table("k", [200], [200], district="A", kind="health_centre")
    d = delineate_circles(comm, cand, net, strips(["A"]), quotas={"A": 1}, max_walk_m=1000, size_range=(1, 1e9))
    row = d.communities.set_index("id").loc["c1"]
    assert row["flag"] == "beyond_walk" and row["walk_m"] > 1000 and row["circle_id"] == "A-P01"
    assert d.circles.iloc[0]["share_within"] == pytest.approx(0.5)


def test_district_without_quota_or_communities_is_reported(net):
    comm, cand = random_city(9, 10, ["A", "B"], 4)
    d = delineate_circles(
        comm, cand, net, strips(["A", "B"]), quotas={"A": (1, 0), "Z": (1, 0)}, max_walk_m=1000, size_range=(1, 1e9)
    )
    cd = d.communities
    assert (cd.loc[cd["district"] == "B", "flag"] == "no_quota").all()
    assert cd.loc[cd["district"] == "B", "circle_id"].isna().all()
    assert any("Z" in n for n in d.notes)


def test_phase_filter_keeps_the_plan(net):
    comm, cand = random_city(11, 30, ["A", "B"], 10)
    d = delineate_circles(
        comm, cand, net, strips(["A", "B"]), quotas={"A": (1, 2), "B": (1, 1)}, max_walk_m=1000, size_range=(1, 1e9)
    )
    p = d.for_phase("pilot")
    assert set(p.circles["phase"]) == {"pilot"} and len(p.circles) == 2
    assert set(p.communities["circle_id"].dropna()) == set(p.circles["id"])
    with pytest.raises(InputError):
        d.for_phase("later")


def test_bad_inputs_are_reported_together(net):
    comm = table("c", [100, 200], [100, 100], district="A", population=[-5, 10], kind="old")
    comm.loc[1, "id"] = "c0"
    with pytest.raises(InputError) as e:
        delineate_circles(comm, comm.iloc[:0], net, None, quotas={"A": 1}, max_walk_m=1000)
    assert len(e.value.problems) == 2
    with pytest.raises(InputError):
        delineate_circles(comm.iloc[:1], comm.iloc[:0], net, None, quotas={"A": (1, -1)}, max_walk_m=1000)


# ------------------------------------------------------------------------------ the plan file
def test_plan_quotas_are_the_yichang_plan():
    plan = load_plan()
    q = plan.quotas()
    order = ["420502", "420503", "420506", "420504", "420505", "gaoxin"]
    assert [q[c][0] for c in order] == [3, 3, 1, 1, 1, 1]
    assert [q[c][1] for c in order] == [6, 6, 2, 2, 2, 2]
    assert sum(sum(v) for v in q.values()) == 30
    assert plan.delineation.min_population == 50_000 and plan.delineation.max_population == 100_000
    assert plan.community_types.new_commercial_share == pytest.approx(0.10)


def test_bad_plan_file_lists_every_problem(tmp_path):
    p = tmp_path / "plan.toml"
    p.write_text('[[district]]\ncode = "x"\npilot = -1\n[delineation]\nwalk_min = "a"\nfoo = 1\n', encoding="utf-8")
    with pytest.raises(ConfigError) as e:
        load_plan(p)
    msg = str(e.value)
    assert "pilot" in msg and "walk_min" in msg and "foo" in msg


# ------------------------------------------------------------------------------ given boundaries
def test_given_boundaries_assign_by_point_in_polygon():
    comm = table("c", [100, 1500, 3900], [100, 100, 1900], district="A", population=[10, 20, 30], kind="old")
    lon, lat = lonlat([0, 1000], [0, 1000])
    lon2, lat2 = lonlat([900, 2000], [0, 1000])
    circles = gpd.GeoDataFrame(
        {"id": ["X", "Y"], "district": ["A", "B"]},
        geometry=[shapely.box(lon[0], lat[0], lon[1], lat[1]), shapely.box(lon2[0], lat2[0], lon2[1], lat2[1])],
        crs=4326,
    )
    g = assign_to_given_circles(comm, circles)
    by = g.communities.set_index("id")
    assert by.loc["c0", "circle_id"] == "X" and by.loc["c1", "circle_id"] == "Y"
    assert bool(by.loc["c1", "district_mismatch"])
    assert list(g.outside["id"]) == ["c2"] and any("30" in n or "1 " in n for n in g.notes)
    # another CRS is reprojected
    g2 = assign_to_given_circles(comm, circles.to_crs(CRS_M))
    assert list(g2.communities["circle_id"].fillna("-")) == ["X", "Y", "-"]


# ------------------------------------------------------------------------------ community types (M4)
def test_new_community_ten_percent_rule_gives_the_figures():
    from lifecircle.plans.community_types import new_commercial_rule

    comm = pd.DataFrame(
        {
            "id": ["n1", "n2", "n3", "o1"],
            "name": ["甲", "乙", "丙", "丁"],
            "district": "A",
            "kind": ["new", "new", "new", "old"],
            "floor_area_m2": [10_000, 50_000, np.nan, 1000],
            "commercial_floor_area_m2": [900, 5_000, 100, 0],
        }
    )
    r = new_commercial_rule(comm, min_share=0.10).set_index("id")
    assert list(r.index) == ["n1", "n2", "n3"]  # only new communities
    assert r.loc["n1", "commercial_share"] == pytest.approx(0.09)
    assert r.loc["n1", "required_m2"] == pytest.approx(1000) and r.loc["n1", "shortfall_m2"] == pytest.approx(100)
    assert not r.loc["n1", "ok"] and "9.0%" in r.loc["n1", "message_zh"] and "100 m²" in r.loc["n1", "message_zh"]
    assert r.loc["n2", "ok"] and r.loc["n2", "shortfall_m2"] == 0  # exactly 10% meets the rule
    assert pd.isna(r.loc["n3", "ok"]) and "无法核对" in r.loc["n3", "message_zh"]


def test_old_communities_get_sites_within_walking_reach_short_ones_first(net):
    from lifecircle.plans.circles import CommunityTypeSettings
    from lifecircle.plans.community_types import old_community_sites

    comm = table(
        "c",
        [100, 2100, 3800],
        [0, 0, 1900],
        district="A",
        population=[2000, 2000, 1000],
        kind="old",
        commercial_floor_area_m2=[2000.0, 100.0, np.nan],
    )
    sites = table(
        "s",
        [300, 2300, 2200, 3400],
        [0, 0, 100, 1500],
        district="A",
        kind=["warehouse", "idle_factory", "vacant_shop", "public_housing"],
        floor_area_m2=[500, 800, 50, 300],
    )
    st_ = CommunityTypeSettings(old_site_walk_min=10)  # 666.7 m at 4 km/h
    space, long = old_community_sites(comm, sites, net, settings=st_, speed_kmh=4.0)
    sp = space.set_index("id")
    assert not sp.loc["c0", "short"] and sp.loc["c1", "short"] and pd.isna(sp.loc["c2", "short"])
    assert sp.loc["c1", "shortfall_m2"] == pytest.approx(1200 - 100)
    # the short community is listed first; the vacant shop is not an old-community site kind
    assert long.iloc[0]["community_id"] == "c1" and list(long.loc[long["community_id"] == "c1", "site_id"]) == ["s1"]
    assert long.loc[long["community_id"] == "c1", "walk_m"].iloc[0] == pytest.approx(200.0)
    assert list(long.loc[long["community_id"] == "c0", "site_id"]) == ["s0"]
    # s3 is 566 m from c2 in a straight line but 800 m on the streets: out of walking reach
    assert "c2" not in set(long["community_id"]) and sp.loc["c2", "n_sites_within"] == 0


def test_complete_mix_and_industrial_workers(net):
    from lifecircle.plans.circles import CommunityTypeSettings
    from lifecircle.plans.community_types import community_types
    from lifecircle.profile import load_profile

    profile = load_profile()
    comm = table(
        "c",
        [200, 2000, 3800, 1000],
        [200, 1000, 1800, 1800],
        district="A",
        population=[3000, 3000, 3000, 800],
        kind=["complete", "complete", "complete", "industrial"],
        households=1000,
    )
    # eight convenience stores next to c0, one next to c1, none near c2; a pharmacy next to the park
    ox = [200] * 8 + [2000, 1000]
    oy = [250] * 8 + [1050, 1850]
    outlets = table("o", ox, oy, formats=["convenience_store"] * 9 + ["pharmacy;convenience_store"])
    sites = table("s", [0], [0], kind="warehouse")
    rep = community_types(
        comm,
        net,
        profile,
        outlets=outlets,
        sites=sites,
        settings=CommunityTypeSettings(over_supply_factor=3, over_supply_min=6),
    )
    mix = rep.complete.set_index(["community_id", "format"])
    assert (
        mix.loc[("c0", "convenience_store"), "status"] == "over"
        and mix.loc[("c0", "convenience_store"), "n_within_layer"] == 8
    )
    assert mix.loc[("c1", "convenience_store"), "status"] == "ok"
    assert mix.loc[("c2", "convenience_store"), "status"] == "under"
    assert set(rep.complete["community_id"]) == {"c0", "c1", "c2"}  # the park is not a complete community
    park = rep.industrial.set_index("id").loc["c3"]
    assert park["workers"] == 800 and park["basic_within_layer"] == 2 and not park["basic_complete"]
    assert "pharmacy" not in park["missing_basic"] and "supermarket" in park["missing_basic"]
    s = rep.summary.set_index("kind")
    assert s.loc["industrial", "population"] == 800 and "0%" in s.loc["industrial", "headline_zh"]
    assert s.loc["complete", "communities"] == 3


# ------------------------------------------------------------------------------ CLI
def test_cli_plan_circles_on_the_demo_city(cli, tmp_path):
    pytest.importorskip("lifecircle.city.demo")
    import pyogrio

    out = tmp_path / "circles.gpkg"
    code, stdout, _ = cli("plan", "circles", "--demo", "--scale", "0.1", "--out", out)
    assert code == 0, stdout
    assert "合成数据" in stdout and "西陵区" in stdout and "合计" in stdout
    layers = dict(pyogrio.list_layers(out))
    assert set(layers) == {"circles", "communities", "centres"}
    circles = gpd.read_file(out, layer="circles")
    comm = gpd.read_file(out, layer="communities")
    assert len(circles) == 30 and (circles["source"] == "synthetic").all()
    assert circles.groupby("district").size().to_dict() == {
        "420502": 9,
        "420503": 9,
        "420504": 3,
        "420505": 3,
        "420506": 3,
        "gaoxin": 3,
    }
    assert comm["circle_id"].notna().all() and set(comm["circle_id"]) == set(circles["id"])

    # pilots only: 10 circles, as in the full plan
    pil = tmp_path / "pilot.geojson"
    code, stdout, _ = cli(
        "--lang", "en", "plan", "circles", "--demo", "--scale", "0.1", "--phase", "pilot", "--out", pil
    )
    assert code == 0 and "total" in stdout
    p = gpd.read_file(pil)
    assert len(p) == 10 and set(p["id"]) <= set(circles["id"])
    assert (tmp_path / "pilot.communities.geojson").exists()

    # bring your own boundaries: the pilot polygons; the other communities are outside
    own = tmp_path / "own.gpkg"
    code, stdout, stderr = cli(
        "--lang", "zh", "plan", "circles", "--demo", "--scale", "0.1", "--boundaries", pil, "--out", own
    )
    assert code == 0, stderr
    given = gpd.read_file(own, layer="communities")
    assert given["circle_id"].notna().any() and given["circle_id"].isna().any()
    assert "边界外" in stdout


def test_cli_plan_circles_user_errors_are_one_line(cli, tmp_path):
    code, _, err = cli("plan", "circles", "--out", tmp_path / "x.gpkg")
    assert code == 2 and "--demo" in err and "Traceback" not in err
    code, _, err = cli("plan", "circles", "--demo", "--phase", "later", "--out", tmp_path / "x.gpkg")
    assert code == 2 and "--phase" in err
    code, _, err = cli("plan", "circles", "--demo", "--out", tmp_path / "x.csv")
    assert code == 2 and ".csv" in err


def test_district_codes_match_whatever_their_type(net):
    """Codes read from Excel come as numbers (420502 or 420502.0); they still match the quota."""
    comm = table("c", [100, 300], [0, 0], district=[420502, 420502], population=[100, 200], kind="old")
    cand = table("k", [200], [0], district=[420502.0], kind="health_centre")
    districts = strips(["420502"])
    districts["code"] = [420502]
    d = delineate_circles(comm, cand, net, districts, quotas={"420502": (1, 0)}, max_walk_m=1000, size_range=(1, 1e9))
    assert list(d.circles["centre_id"]) == ["k0"] and d.communities["circle_id"].notna().all()
    assert d.circles.geometry.iloc[0] is not None
