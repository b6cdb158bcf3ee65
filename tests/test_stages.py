"""The stages of ``evaluate_city`` called one at a time on the hand-checkable city of
``test_indicators.py`` (its drawing and distances are in that module's docstring).

Speeds 4 km/h (5/10/15 min = 333/667/1000 m) and 3 km/h (250/500/750 m). Communities in table
order: A (1,000 residents, old), E (industrial, 700 workers), B (3,000, new), C (2,000, new),
D (500, unsnapped). Outlets: o7, o1, o6, o5, o2, o3, o4, o8.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pandas as pd
import pytest

from lifecircle.indicators import evaluate_city
from lifecircle.indicators.levels import (
    circle_indicator_stage,
    city_stage,
    district_stage,
    format_coverage_table,
    grade_stage,
)
from lifecircle.indicators.stages import (
    FormatClasses,
    access_stage,
    circle_stage,
    community_stage,
    outlet_stage,
)
from test_indicators import box, community, make_city, network_of, profile, rules  # noqa: F401 - fixtures


@pytest.fixture(scope="module")
def stages(profile, rules):  # noqa: F811 - the fixtures of test_indicators
    """Every stage of the test city, in order."""
    city = make_city()
    net = network_of(city)
    s = {"city": city, "net": net}
    s["access"] = access_stage(city, net, profile)
    s["communities"] = community_stage(s["access"], profile, rules)
    s["circles"] = circle_stage(city, s["access"], s["communities"])
    s["outlets"] = outlet_stage(city, net, s["access"], s["circles"], profile)
    s["indicators"] = circle_indicator_stage(city, net, s["communities"], s["circles"], s["outlets"], profile, rules)
    s["graded"] = grade_stage(s["indicators"], profile, rules)
    s["districts"] = district_stage(city, s["communities"], s["outlets"], s["indicators"], s["graded"], profile, rules)
    s["city_fig"] = city_stage(
        city, s["access"], s["communities"], s["outlets"], s["indicators"], s["graded"], s["districts"], profile, rules
    )
    return s


def test_format_classes_follow_the_profile(profile):  # noqa: F811
    cls = FormatClasses.of(profile)  # convenience, wet market, supermarket, elderly, infant, locker
    assert cls.basic.tolist() == [True, True, True, False, False, False]
    assert cls.quality.tolist() == [False, False, False, True, True, False]
    assert cls.smart.tolist() == [False] * 5 + [True]


def test_access_stage(stages):
    a = stages["access"]
    assert a.aliases == {"西陵区": "420502", "西陵": "420502", "420502": "420502"}
    assert list(a.communities["id"]) == ["A", "E", "B", "C", "D"]
    assert a.quality_layer_min == 15.0 and a.quality_reach_m == pytest.approx(1000.0)  # 15 min at 4 km/h
    assert a.community_piece.tolist() == [0, 0, 0, 0, -1]  # D is not on the network
    # A: supermarket o3 is 1,220 m away (> 1,000 m); C reaches only its convenience store o4 (120 m)
    assert a.within_15.astype(int).tolist() == [
        [1, 1, 0, 1, 1, 1],
        [1, 1, 0, 1, 1, 1],
        [1, 1, 1, 1, 1, 1],
        [1, 0, 0, 0, 0, 0],
        [0, 0, 0, 0, 0, 0],
    ]
    assert a.access.nearest_m[2, 1] == pytest.approx(620.0, abs=1e-3)  # B → wet market o1
    assert sorted(zip(a.unsnapped["table"], a.unsnapped["id"], strict=True)) == [
        ("communities", "D"),
        ("outlets", "o8"),
    ]
    assert len(a.notes) == 1 and "pharmacy" in a.notes[0]
    assert a.islands.n_islands == 0


def test_community_stage(stages):
    c = stages["communities"]
    v = c.values
    assert c.ids.tolist() == ["A", "E", "B", "C", "D"]
    assert v.weight.tolist() == [1000, 0, 3000, 2000, 500]  # E's 700 are workers, not residents
    assert c.population.tolist() == [1000, 700, 3000, 2000, 500]
    assert c.industrial.tolist() == [False, True, False, False, False]
    assert v.basic_complete.tolist() == [False, False, True, False, False]  # only B reaches all three
    assert not v.basic_complete_elderly.any()  # B's wet market 620 m > 500 m at 3 km/h
    assert v.smart_any.tolist() == [True, True, False, False, False]  # locker o6: 70 / 170 / 670 m
    assert v.quality_ok.tolist() == [True, True, True, False, False]  # o5 within 1,000 m of A, E, B
    assert v.commercial_share[2:4].tolist() == pytest.approx([0.12, 0.06])
    assert np.isnan(v.commercial_share[[0, 1, 4]]).all()
    assert v.commercial_ok.tolist() == [False, False, True, False, False]
    assert v.service_area_m2[0] == 150.0 and v.service_area_m2[2] == 300.0 and np.isnan(v.service_area_m2[1])
    t = c.table.set_index("id")
    assert t.loc["B", "basic_formats_within_layer"] == 3 and t.loc["A", "quality_formats_within_15"] == 2
    assert not t["on_island"].any() and t.loc["D", "network_piece"] == -1


def test_circle_stage(stages):
    k = stages["circles"]
    assert k.ids == ["C1", "C2"] and k.extra == [] and k.n == 2 and k.n_listed == 2
    assert k.member.tolist() == [0, 0, 0, 1, 1]  # A, E, B in C1; C, D in C2
    assert k.given[0] is None and k.given[1].equals(box(1200, -100, 3000, 100))
    assert k.notes == []


def test_circle_stage_adds_circles_only_communities_name(profile, rules):  # noqa: F811
    comms = [community("A", 100, 20, 1000, 400, "old", "C1"), community("B", 800, 20, 3000, 1000, "new", "C9")]
    city = make_city(comms)
    a = access_stage(city, network_of(city), profile)
    k = circle_stage(city, a, community_stage(a, profile, rules))
    assert k.ids == ["C1", "C2", "C9"] and k.extra == ["C9"] and k.n_listed == 2
    assert k.member.tolist() == [0, 2]
    assert len(k.notes) == 1 and "C9" in k.notes[0]


def test_outlet_stage(stages):
    o = stages["outlets"]
    assert o.table["id"].tolist() == ["o7", "o1", "o6", "o5", "o2", "o3", "o4", "o8"]
    # o3 lies inside C2's drawn boundary; o8 is off the network and in no circle
    assert o.circle.tolist() == [0, 0, 0, 0, 0, 1, 1, -1]
    assert o.is_shop.tolist() == [True, True, False, True, True, True, True, False]  # o6 only a locker
    assert o.has_format.tolist() == [True] * 7 + [False]  # o8's pharmacy is not in the profile
    assert o.is_chain.tolist() == [True, True, False, False, False, True, False, True]  # unknown = not chain
    assert set(o.district) == {"420502"}  # from the district polygon


def test_circle_indicator_stage(stages):
    i = stages["indicators"]
    assert i.respondents.tolist() == [200, 0] and i.satisfied.tolist() == [190, 0]  # C1's 2024H2 only
    g = i.groups
    assert g.pop.tolist() == [4000, 2500] and g.n_comm.tolist() == [3, 2]
    # residents within layer per format (C1: A and B; E has no residents)
    assert g.covered.tolist() == [[4000, 4000, 3000, 4000, 4000, 1000], [2000, 0, 0, 0, 0, 0]]
    assert g.covered_old[0].tolist() == [4000, 1000, 3000, 4000, 4000, 1000]
    t = i.table.set_index("id")
    assert t.loc["C1", "basic_format_coverage"] == pytest.approx((4000 + 4000 + 3000) / 3 / 4000)
    assert t.loc["C1", "elderly_basic_format_coverage"] == pytest.approx((4000 + 1000 + 3000) / 3 / 4000)
    assert t.loc["C2", "basic_format_coverage"] == pytest.approx(2000 / 2500 / 3)
    assert t.loc["C1", "quality_coverage"] == 1.0  # A and B each reach both quality formats
    assert (t.loc["C1", "n_outlets"], t.loc["C1", "n_chain_outlets"]) == (4, 2)
    assert t.loc["C1", "satisfaction"] == pytest.approx(0.95) and math.isnan(t.loc["C2", "satisfaction"])
    assert "grade_code" not in t.columns and "gaps" not in t.columns  # the next stage adds them
    assert len(i.boundaries) == 2 and i.boundaries[1].equals(box(1200, -100, 3000, 100))


def test_grade_stage(stages, profile, rules):  # noqa: F811
    g = stages["graded"]
    assert g.circles.crs.to_epsg() == 4326
    assert g.circles["grade_code"].tolist() == ["upgraded", "none"]
    assert g.circles["gaps"].tolist() == ["supermarket", "wet_market;elderly_care;infant_care;supermarket"]
    assert g.gaps["residents_uncovered"].tolist() == [1000, 2500, 2500, 2500, 2500]
    # the stage grades whatever indicators it is given: C1 with 60% smart coverage is 品质型
    ind = stages["indicators"]
    table = ind.table.copy()
    table.loc[0, "smart_coverage"] = 0.6
    better = grade_stage(dataclasses.replace(ind, table=table), profile, rules)
    assert better.circles["grade_code"].tolist() == ["quality", "none"]
    assert better.circles["grade"].iloc[0] == "品质型"
    assert stages["indicators"].table.loc[0, "smart_coverage"] == 0.25  # the input is left as it was


def test_district_stage(stages):
    d = stages["districts"]
    assert d.codes == ["420502"]
    r = d.table.iloc[0]
    assert (r.population, r.n_communities, r.n_circles, r.n_outlets) == (6500, 5, 2, 6)
    assert r.basic_coverage == pytest.approx(3000 / 6500)
    assert r.quality_coverage == pytest.approx(4000 / 6500)
    assert r.smart_coverage == pytest.approx(1000 / 6500)
    assert r.chain_share == pytest.approx(3 / 6)  # o7, o1, o3 of six shops
    assert r.new_commercial_ok_share == pytest.approx(1 / 2)  # B meets 10%, C does not
    assert r.service_area_per_100hh == pytest.approx(450 / 1400 * 100)
    assert (r.n_basic, r.n_upgraded, r.n_quality, r.n_none) == (0, 1, 0, 1)


def test_city_stage(stages):
    f = stages["city_fig"].figures
    assert (f["population"], f["workers"], f["population_in_circles"]) == (6500, 700, 6500)
    assert (f["n_communities"], f["n_outlets"], f["n_smart_facilities"]) == (5, 6, 1)
    assert (f["n_circles"], f["n_districts"], f["n_gaps"]) == (2, 1, 5)
    assert f["basic_coverage"] == pytest.approx(3000 / 6500)
    assert f["elderly_basic_format_coverage"] == pytest.approx((6000 + 1000 + 3000) / 3 / 6500)
    assert f["satisfaction"] == pytest.approx(190 / 200)
    assert f["grade_counts"] == {"basic": 0, "upgraded": 1, "quality": 0, "none": 1}
    assert f["n_upgraded"] == 1 and f["n_unsnapped_communities"] == 1 and f["n_unsnapped_outlets"] == 1
    assert stages["city_fig"].groups.pop.tolist() == [6500]


def test_format_coverage_table(stages, profile):  # noqa: F811
    s = stages
    fc = format_coverage_table(s["city"], s["city_fig"], s["districts"], s["circles"], s["indicators"], profile)
    assert len(fc) == (1 + 1 + 2) * 6  # city, one district, two circles; six formats each
    city = fc[fc.level == "city"].set_index("format")
    assert city.loc["convenience_store", "share_within_layer"] == pytest.approx(6000 / 6500)
    assert city.loc["supermarket", "residents_uncovered"] == 3500  # only B (3,000) reaches it
    c2 = fc[(fc.level == "circle") & (fc.unit_id == "C2")].set_index("format")
    assert c2["residents_uncovered"].tolist() == [500, 2500, 2500, 2500, 2500, 2500]


def test_stages_in_order_are_evaluate_city(stages, profile, rules):  # noqa: F811
    s = stages
    ev = evaluate_city(s["city"], s["net"], profile, rules=rules)
    pd.testing.assert_frame_equal(ev.communities, s["communities"].table)
    pd.testing.assert_frame_equal(ev.circles, s["graded"].circles)
    pd.testing.assert_frame_equal(ev.districts, s["districts"].table)
    pd.testing.assert_frame_equal(ev.outlets, s["outlets"].table)
    pd.testing.assert_frame_equal(ev.gaps, s["graded"].gaps)
    assert ev.city == s["city_fig"].figures
