"""Indicators and grades on a tiny city whose every number can be checked by hand.

The city (metres in UTM zone 49N, EPSG:32649, origin X0, Y0; stored in WGS-84 like real data)::

    y=500                       D (unsnapped: 500 m from the street)
    y=20    A  E            B                        C              communities (20 m off the street)
    y=0   ──o7─o1─o6──o5─────o2───o3─────────────────o4──────────  street x = 0 .. 3000
    x:      100 150 300 400  800 900 1300  1500     2500 2600

Circle C1 (no boundary): A (1,000 residents, old), E (industrial, 700 workers), B (3,000, new).
Circle C2 (boundary x 1200..3000, y -100..100): C (2,000, new), D (500, unsnapped).
Outlets: o7 (120) convenience_store twice (chain), o1 (200) convenience_store;wet_market (chain),
o6 (150) parcel_locker, o5 (400) elderly_care;infant_care (chain unknown), o2 (900)
convenience_store, o3 (1300) supermarket (chain; inside C2's boundary), o4 (2600)
convenience_store, o8 (1500, 400) pharmacy — not in the test profile and 400 m from the street.
Speeds 4 km/h (5/10/15 min = 333/667/1000 m) and 3 km/h (250/500/750 m).
"""

from __future__ import annotations

import dataclasses
import math
import re
from importlib import resources

import numpy as np
import pandas as pd
import pytest
import shapely
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pyproj import CRS, Transformer

from lifecircle.city.model import City
from lifecircle.city.schema import validate_table
from lifecircle.errors import ConfigError
from lifecircle.indicators import evaluate_city, explode_outlets, load_rules, period_key
from lifecircle.indicators.grades import parse_rules
from lifecircle.network import WalkNetwork
from lifecircle.network.graph import local_metric_crs
from lifecircle.profile import load_profile

X0, Y0 = 520_000.0, 3_390_000.0
UTM = CRS.from_epsg(32649)
_to_wgs = Transformer.from_crs(UTM, 4326, always_xy=True)

PROFILE_TOML = """
[profile]
name = "test-mini"
[walking]
speed_kmh = 4.0
elderly_speed_kmh = 3.0
snap_max_m = 300.0
layers_min = [5, 10, 15]
[[format]]
code = "convenience_store"
zh = "便利店"
class = "basic"
layer_min = 5
[[format]]
code = "wet_market"
zh = "菜市场"
class = "basic"
layer_min = 10
[[format]]
code = "supermarket"
zh = "综合超市"
class = "basic"
layer_min = 15
[[format]]
code = "elderly_care"
zh = "社区养老服务中心"
class = "quality"
layer_min = 15
[[format]]
code = "infant_care"
zh = "婴幼儿照护服务中心"
class = "quality"
layer_min = 15
[[format]]
code = "parcel_locker"
zh = "智能快递柜"
class = "smart"
layer_min = 5
"""

RULES_TOML = """
[rules]
name = "test-rules"
[targets]
new_commercial_share = 0.10
quality_min_formats = 2
[gaps]
threshold = 0.8
classes = ["basic", "quality"]
priority_formats = ["convenience_store", "breakfast", "wet_market", "repair", "elderly_care", "infant_care"]
[[grade]]
code = "basic"
zh = "基础型"
en = "Basic"
conditions = [
  { indicator = "basic_coverage", op = ">=", value = 0.7 },
  { indicator = "chain_share", op = ">=", value = 0.3 },
]
[[grade]]
code = "upgraded"
zh = "提升型"
en = "Upgraded"
conditions = [
  { indicator = "quality_formats_present", op = ">=", value = 2 },
  { indicator = "service_area_per_100hh", op = ">=", value = 30 },
  { indicator = "new_commercial_ok_share", op = ">=", value = 1.0, if_missing = "pass" },
]
[[grade]]
code = "quality"
zh = "品质型"
en = "Quality"
conditions = [
  { indicator = "satisfaction", op = ">=", value = 0.9 },
  { indicator = "smart_coverage", op = ">=", value = 0.5 },
]
"""


def lonlat(x: float, y: float) -> tuple[float, float]:
    lon, lat = _to_wgs.transform(X0 + x, Y0 + y)
    return float(lon), float(lat)


def line(*pts: tuple[float, float]) -> shapely.LineString:
    return shapely.LineString([lonlat(x, y) for x, y in pts])


def box(x0: float, y0: float, x1: float, y1: float) -> shapely.Polygon:
    return shapely.Polygon([lonlat(x0, y0), lonlat(x1, y0), lonlat(x1, y1), lonlat(x0, y1)])


def community(cid, x, y, pop, hh, kind, circle, floor=None, commercial=None, service=None):
    lon, lat = lonlat(x, y)
    return {
        "id": cid,
        "name": f"小区{cid}",
        "district": "420502",
        "lon": lon,
        "lat": lat,
        "population": pop,
        "households": hh,
        "kind": kind,
        "circle_id": circle,
        "floor_area_m2": floor,
        "commercial_floor_area_m2": commercial,
        "service_floor_area_m2": service,
    }


def outlet(oid, x, y, formats, chain):
    lon, lat = lonlat(x, y)
    return {"id": oid, "name": f"网点{oid}", "formats": formats, "lon": lon, "lat": lat, "is_chain": chain}


def make_city(communities=None, outlets=None) -> City:
    comms = communities or [
        community("A", 100, 20, 1000, 400, "old", "C1", service=150.0),
        community("E", 300, 20, 700, 0, "industrial", "C1"),
        community("B", 800, 20, 3000, 1000, "new", "C1", floor=100_000.0, commercial=12_000.0, service=300.0),
        community("C", 2500, 20, 2000, 800, "new", "C2", floor=50_000.0, commercial=3_000.0),
        community("D", 1500, 500, 500, 200, "old", "C2"),
    ]
    outs = outlets or [
        outlet("o7", 120, 0, "convenience_store；convenience_store", True),
        outlet("o1", 200, 0, "convenience_store;wet_market", True),
        outlet("o6", 150, 0, "parcel_locker", None),
        outlet("o5", 400, 0, "elderly_care;infant_care", None),
        outlet("o2", 900, 0, "convenience_store", False),
        outlet("o3", 1300, 0, "supermarket", True),
        outlet("o4", 2600, 0, "convenience_store", False),
        outlet("o8", 1500, 400, "pharmacy", True),
    ]
    tables = {
        "districts": validate_table(
            "districts",
            pd.DataFrame({"code": ["420502"], "name_zh": ["西陵区"], "geometry": [box(-500, -1000, 3500, 1000)]}),
        ),
        "communities": validate_table("communities", pd.DataFrame(comms)),
        "outlets": validate_table("outlets", pd.DataFrame(outs)),
        "circles": validate_table(
            "circles",
            pd.DataFrame(
                {
                    "id": ["C1", "C2"],
                    "name": ["一号圈", "二号圈"],
                    "district": ["420502", "420502"],
                    "phase": ["pilot", "pilot"],
                    "geometry": [None, box(1200, -100, 3000, 100)],
                }
            ),
        ),
        "surveys": validate_table(
            "surveys",
            pd.DataFrame(
                {
                    "circle_id": ["C1", "C1"],
                    "period": ["2024H1", "2024H2"],
                    "respondents": [100, 200],
                    "satisfied": [80, 190],
                }
            ),
        ),
        "streets": validate_table(
            "streets", pd.DataFrame({"geometry": [line((0, 0), (1000, 0), (2000, 0), (3000, 0))]})
        ),
    }
    return City(name="测试城（合成数据）", synthetic=True, tables=tables)


def network_of(city: City) -> WalkNetwork:
    """What the network loader does: project the streets to the local UTM zone, split at vertices."""
    streets = city.streets
    c = streets.geometry.union_all().centroid
    crs = local_metric_crs(c.x, c.y)
    tr = Transformer.from_crs(4326, crs, always_xy=True)
    lines = shapely.transform(streets.geometry.to_numpy(), lambda xy: np.column_stack(tr.transform(xy[:, 0], xy[:, 1])))
    return WalkNetwork.from_lines(lines, crs, source="test")


@pytest.fixture(scope="module")
def profile(tmp_path_factory):
    p = tmp_path_factory.mktemp("cfg") / "mini.toml"
    p.write_text(PROFILE_TOML, encoding="utf-8")
    return load_profile(p)


@pytest.fixture(scope="module")
def rules():
    import tomllib

    return parse_rules(tomllib.loads(RULES_TOML), "test-rules.toml")


@pytest.fixture(scope="module")
def ev(profile, rules):
    city = make_city()
    return evaluate_city(city, network_of(city), profile, rules=rules)


def acc_row(ev, cid, fmt):
    a = ev.access
    return a[(a.community_id == cid) & (a.format == fmt)].iloc[0]


def circle(ev, cid):
    return ev.circles.set_index("id").loc[cid]


# ---------------------------------------------------------------------------- access
def test_network_is_the_known_street(ev):
    net = network_of(make_city())
    assert net.crs.to_epsg() == 32649
    assert net.edge_len.sum() == pytest.approx(3000.0, abs=1e-3)


def test_nearest_distances_include_the_walk_to_the_street(ev):
    assert acc_row(ev, "A", "convenience_store").nearest_m == pytest.approx(40.0, abs=1e-3)  # o7 20 + 20
    assert acc_row(ev, "B", "wet_market").nearest_m == pytest.approx(620.0, abs=1e-3)  # o1 600 + 20
    r = acc_row(ev, "B", "supermarket")
    assert r.nearest_m == pytest.approx(520.0, abs=1e-3)
    assert r.nearest_min == pytest.approx(520.0 / (4000 / 60), rel=1e-9)
    assert r.nearest_min_elderly == pytest.approx(520.0 / 50.0, rel=1e-9)
    assert acc_row(ev, "A", "supermarket").nearest_m == pytest.approx(1220.0, abs=1e-3)


def test_layers_at_default_and_elderly_speed(ev):
    b_wet = acc_row(ev, "B", "wet_market")  # 620 m: <= 667 m (10 min at 4 km/h), > 500 m (at 3 km/h)
    assert bool(b_wet.within_layer) and not bool(b_wet.within_layer_elderly)
    assert not bool(acc_row(ev, "A", "supermarket").within_layer)  # 1,220 m > 1,000 m
    assert not bool(acc_row(ev, "B", "parcel_locker").within_layer)  # 670 m > 333 m


def test_multi_format_outlet_counts_once_per_format(ev, profile):
    city = make_city()
    ex = explode_outlets(city.outlets, profile)
    per_outlet = np.bincount(ex.outlet, minlength=len(city.outlets))
    # o7 names one format twice -> once; o1 and o5 hold two formats each; o8's pharmacy is unknown here
    assert per_outlet.tolist() == [1, 2, 1, 2, 1, 1, 1, 0]
    assert ex.unknown == [("o8", "pharmacy")]
    # counts: B reaches convenience stores o2 (120 m) in 5 min; + o1 (620 m) in 10; + o7 (700 m) in 15
    b = acc_row(ev, "B", "convenience_store")
    assert (b.n_5min, b.n_10min, b.n_15min) == (1, 2, 3)
    # o1 is also B's wet market within 10 minutes
    assert acc_row(ev, "B", "wet_market").n_10min == 1
    # o5 is both elderly care and infant care for A (320 m)
    assert acc_row(ev, "A", "elderly_care").n_15min == 1 and acc_row(ev, "A", "infant_care").n_15min == 1


def test_points_far_from_streets_are_reported_and_reach_nothing(ev):
    u = ev.unsnapped
    assert sorted(zip(u.table, u.id, strict=True)) == [("communities", "D"), ("outlets", "o8")]
    d = ev.access[ev.access.community_id == "D"]
    assert d.nearest_m.isna().all() and not d.within_layer.any()
    assert ev.city["n_unsnapped_communities"] == 1 and ev.city["n_unsnapped_outlets"] == 1
    assert any("pharmacy" in n for n in ev.notes)


# ---------------------------------------------------------------------------- communities
def test_community_indicators(ev):
    c = ev.communities.set_index("id")
    assert c.loc["A", "basic_formats_within_layer"] == 2 and not c.loc["A", "basic_complete"]
    assert c.loc["B", "basic_formats_within_layer"] == 3 and c.loc["B", "basic_complete"]
    assert c.loc["A", "quality_formats_within_15"] == 2 and c.loc["C", "quality_formats_within_15"] == 0
    assert c.loc["B", "commercial_share"] == pytest.approx(0.12)
    assert bool(c.loc["B", "commercial_rule_ok"]) is True
    assert c.loc["C", "commercial_share"] == pytest.approx(0.06)
    assert bool(c.loc["C", "commercial_rule_ok"]) is False
    assert pd.isna(c.loc["A", "commercial_rule_ok"]) and math.isnan(c.loc["A", "commercial_share"])


# ---------------------------------------------------------------------------- circles
def test_circle_indicators_by_hand(ev):
    c1, c2 = circle(ev, "C1"), circle(ev, "C2")
    assert c1.population == 4000 and c1.n_communities == 3  # E's workers are not residents
    assert c1.basic_coverage == pytest.approx(3000 / 4000)  # only B reaches all three
    assert c1.elderly_basic_coverage == 0.0  # B's wet market is 620 m > 500 m
    assert c1.basic_completeness == 1.0
    assert c1.quality_formats_present == 2
    assert c1.smart_coverage == pytest.approx(1000 / 4000)  # locker o6 is 70 m from A, 670 m from B
    assert c1.service_area_per_100hh == pytest.approx(450 / 1400 * 100)
    assert c1.new_commercial_ok_share == 1.0
    assert c1.satisfaction == pytest.approx(190 / 200)  # latest period only
    assert c2.population == 2500 and c2.basic_coverage == 0.0
    assert c2.basic_completeness == pytest.approx(1 / 3)
    assert c2.quality_formats_present == 0
    assert c2.new_commercial_ok_share == 0.0
    assert math.isnan(c2.satisfaction) and math.isnan(c2.service_area_per_100hh)


def test_outlet_membership_boundary_first_then_nearest_community(ev):
    o = ev.outlets.set_index("id")
    # o3 is nearest to B (C1) but lies inside C2's drawn boundary
    assert o.loc["o3", "circle_id"] == "C2"
    assert [o.loc[k, "circle_id"] for k in ("o7", "o1", "o6", "o5", "o2", "o4")] == ["C1"] * 5 + ["C2"]
    c1, c2 = circle(ev, "C1"), circle(ev, "C2")
    # shops of C1: o7 (chain), o1 (chain), o5 (unknown), o2 (no); the locker o6 is not a shop
    assert c1.n_outlets == 4 and c1.chain_share == pytest.approx(2 / 4)
    assert c2.n_outlets == 2 and c2.chain_share == pytest.approx(1 / 2)
    assert ev.city["chain_share"] == pytest.approx(3 / 6)
    assert o.loc["o3", "district"] == "420502"  # from the district polygon


def test_circle_boundaries_given_or_drawn(ev):
    g = ev.circles.set_index("id").geometry
    assert ev.circles.crs.to_epsg() == 4326
    assert g["C2"].equals(box(1200, -100, 3000, 100))
    assert bool(circle(ev, "C2").boundary_given) and not bool(circle(ev, "C1").boundary_given)
    for x, y in ((100, 20), (300, 20), (800, 20)):  # C1 is drawn around its communities
        assert g["C1"].contains(shapely.Point(lonlat(x, y)))


def test_gaps_listed_by_priority(ev):
    assert circle(ev, "C1").gaps == "supermarket"
    # C2: convenience stores reach 2000/2500 = 0.8, not below the threshold; the rest reach nobody.
    # 一菜 (wet market) and 一老一小 first, in the order of the priority list, then the supermarket.
    assert circle(ev, "C2").gaps == "wet_market;elderly_care;infant_care;supermarket"
    g2 = ev.gaps[ev.gaps.circle_id == "C2"]
    assert g2.priority.tolist() == [1, 2, 3, 4]
    assert g2.residents_uncovered.tolist() == [2500] * 4
    g1 = ev.gaps[ev.gaps.circle_id == "C1"].iloc[0]
    assert g1.residents_uncovered == 1000 and g1.share_within_layer == pytest.approx(0.75)


def test_format_coverage_levels(ev):
    fc = ev.format_coverage
    city_conv = fc[(fc.level == "city") & (fc.format == "convenience_store")].iloc[0]
    assert city_conv.share_within_layer == pytest.approx(6000 / 6500)  # A, B, C; not D
    assert city_conv.residents_uncovered == 500
    c1_wet = fc[(fc.level == "circle") & (fc.unit_id == "C1") & (fc.format == "wet_market")].iloc[0]
    assert c1_wet.share_within_layer == 1.0
    assert c1_wet.share_within_layer_elderly == pytest.approx(1000 / 4000)
    assert set(fc.level) == {"city", "district", "circle"}


def test_district_and_city_figures(ev):
    d = ev.districts.set_index("code").loc["420502"]
    assert d.name_zh == "西陵区" and d.population == 6500 and d.n_circles == 2
    assert d.basic_coverage == pytest.approx(3000 / 6500)
    assert d.satisfaction == pytest.approx(0.95)
    c = ev.city
    assert c["population"] == 6500 and c["workers"] == 700 and c["n_circles"] == 2
    assert c["basic_coverage"] == pytest.approx(3000 / 6500)
    assert c["n_outlets"] == 6 and c["n_smart_facilities"] == 1
    assert c["grade_counts"] == {"basic": 0, "upgraded": 1, "quality": 0, "none": 1}
    assert ev.synthetic and c["synthetic"]


# ---------------------------------------------------------------------------- grades
def test_grades_and_reasons(ev):
    c1, c2 = circle(ev, "C1"), circle(ev, "C2")
    assert (c1.grade_code, c1.grade) == ("upgraded", "提升型")
    assert "智能设施覆盖居民比例 25.0% < 50.0%" in c1.grade_reasons  # why not 品质型
    assert "每百户社区服务设施面积 32.1 m² ≥ 30.0 m²" in c1.grade_reasons  # why 提升型
    assert "smart facility 25.0% < 50.0%" in c1.grade_reasons_en
    assert (c2.grade_code, c2.grade) == ("none", "未达标")
    assert "基本保障类业态全覆盖居民比例 0.0% < 70.0%" in c2.grade_reasons


def test_editing_a_threshold_changes_the_grade(profile, tmp_path):
    path = tmp_path / "rules.toml"
    path.write_text(
        RULES_TOML.replace(
            'indicator = "smart_coverage", op = ">=", value = 0.5',
            'indicator = "smart_coverage", op = ">=", value = 0.2',
        ),
        encoding="utf-8",
    )
    city = make_city()
    ev2 = evaluate_city(city, network_of(city), profile, rules=path)
    assert circle(ev2, "C1").grade_code == "quality"
    assert circle(ev2, "C1").grade == "品质型"


def test_builtin_rules_file_can_be_copied_and_edited(profile, tmp_path):
    text = (resources.files("lifecircle") / "profiles" / "grading-yichang-2022.toml").read_text(encoding="utf-8")
    city = make_city()
    net = network_of(city)
    base = evaluate_city(city, net, profile)  # default rules: C1 is 基础型 (chain share 50% >= 30%)
    assert circle(base, "C1").grade_code == "basic"
    assert circle(base, "C1").basic_format_coverage == pytest.approx((1 + 1 + 0.75) / 3)
    edited, n = re.subn(
        r'\{ indicator = "chain_share", op = ">=", value = 0\.30 \}',
        '{ indicator = "chain_share", op = ">=", value = 0.60 }',
        text,
    )
    assert n == 1
    path = tmp_path / "yichang-edited.toml"
    path.write_text(edited, encoding="utf-8")
    ev2 = evaluate_city(city, net, profile, rules=path)
    assert circle(ev2, "C1").grade_code == "none"
    assert "连锁网点占比 50.0% < 60.0%" in circle(ev2, "C1").grade_reasons


def test_bad_rules_file_names_every_problem(tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text(
        '[[grade]]\ncode = "basic"\nconditions = [{ indicator = "nope", op = ">=", value = 1 },'
        ' { indicator = "chain_share", op = "~", value = 1 }]\n',
        encoding="utf-8",
    )
    with pytest.raises(ConfigError) as exc:
        load_rules(path)
    assert "nope" in str(exc.value) and "op" in str(exc.value)


def test_missing_indicator_fails_unless_rule_says_pass(rules):
    from lifecircle.indicators import grade_circle

    vals = {
        "basic_coverage": 0.9,
        "chain_share": 0.5,
        "quality_formats_present": 3,
        "service_area_per_100hh": 40.0,
        "new_commercial_ok_share": float("nan"),
        "satisfaction": float("nan"),
        "smart_coverage": 0.9,
    }
    g = grade_circle(vals, rules)
    assert g.code == "upgraded"  # no new communities: the floor-area rule does not apply
    assert "居民满意度 无数据" in g.reasons("zh")


def test_period_order():
    periods = ["2024H2", "2024Q1", "2023", "2024H1", "2024-07"]
    assert sorted(periods, key=period_key) == ["2023", "2024Q1", "2024H1", "2024-07", "2024H2"]


# ---------------------------------------------------------------------------- properties
_net_cache: dict[str, WalkNetwork] = {}


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    comm_x=st.lists(st.floats(0, 3000), min_size=1, max_size=6),
    out=st.lists(
        st.tuples(
            st.floats(0, 3000),
            st.sampled_from(["convenience_store", "wet_market", "supermarket", "elderly_care", "parcel_locker"]),
        ),
        min_size=1,
        max_size=8,
    ),
    speed=st.floats(2.0, 6.0),
    slower=st.floats(0.3, 1.0),
)
def test_elderly_coverage_never_exceeds_normal(profile, rules, comm_x, out, speed, slower):
    comms = [community(f"c{i}", x, 10, 100 + i, 50, "old", "C1") for i, x in enumerate(comm_x)]
    outs = [outlet(f"o{i}", x, 0, f, False) for i, (x, f) in enumerate(out)]
    city = make_city(comms, outs)
    net = _net_cache.setdefault("net", network_of(city))
    w = dataclasses.replace(profile.walking, speed_kmh=speed, elderly_speed_kmh=speed * slower)
    prof = dataclasses.replace(profile, walking=w)
    ev = evaluate_city(city, net, prof, rules=rules)
    fc = ev.format_coverage.dropna(subset=["share_within_layer"])  # C2 has no residents here
    assert len(fc) and (fc.share_within_layer_elderly <= fc.share_within_layer + 1e-12).all()
    assert (ev.access.within_layer | ~ev.access.within_layer_elderly).all()
    c1 = circle(ev, "C1")
    assert c1.elderly_basic_coverage <= c1.basic_coverage
