"""The delineation pipeline step by step on a small city (the grid of ``test_circles``).

District A (west strip): two clusters of four communities, 36,000 and 32,000 residents, a
candidate at each cluster, one reaching nobody within the walk and one 2 km off every street.
District B (east strip): three communities of 5,000 and an industrial park of 2,000 workers,
no candidate (communities stand in). Walk 1,000 m; size range 50,000–100,000 residents.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import shapely

from lifecircle.plans.circles import (
    CentreChoice,
    DelineationSettings,
    DistrictCandidates,
    assemble_delineation,
    assign_district,
    choose_district_centres,
    delineate_circles,
    delineate_district,
    district_boundaries,
    district_candidates,
    district_shapes,
    effective_quotas,
    explain_centres,
    prepare_candidates,
    prepare_communities,
)
from test_circles import grid_net, strips, table

WALK_M = 1000.0
SIZES = (50_000.0, 100_000.0)
ST = DelineationSettings()
QUOTAS = {"A": (1, 1), "B": (1, 0)}


@pytest.fixture(scope="module")
def city():
    net = grid_net()
    cx = [200, 400, 200, 400, 1400, 1600, 1400, 1600, 3000, 3200, 3000, 3800]
    cy = [800, 800, 1000, 1000, 800, 800, 1000, 1000, 400, 400, 600, 1600]
    comm = table(
        "c",
        np.array(cx, float),
        np.array(cy, float),
        district=["A"] * 8 + ["B"] * 4,
        population=[9000] * 4 + [8000] * 4 + [5000] * 3 + [2000],
        kind=["old"] * 11 + ["industrial"],
    )
    cand = table(
        "k",
        np.array([300, 1500, 1000, 300], float),
        np.array([900, 900, 1800, -2000], float),
        district="A",
        kind=["community_service_centre", "health_centre", "culture_centre", "transit_hub"],
    )
    return net, comm, cand, strips(["A", "B"])


@pytest.fixture(scope="module")
def prepared(city):
    net, comm, cand, dist = city
    comms = prepare_communities(comm, net, 300.0)
    shapes = district_shapes(dist, net)
    ctab = prepare_candidates(cand, net, shapes, 300.0)
    return comms, shapes, ctab


@pytest.fixture(scope="module")
def steps_a(city, prepared):
    """Steps 2-4 for district A."""
    net = city[0]
    comms, _shapes, ctab = prepared
    cands = district_candidates(
        net, "A", "A区", QUOTAS["A"], comms.members("A"), comms, ctab, walk_m=WALK_M, settings=ST
    )
    choice = choose_district_centres(cands, ("pilot", "rollout"), settings=ST)
    asg = assign_district(net, cands, choice, comms, walk_m=WALK_M, size_range=SIZES, settings=ST)
    return cands, choice, asg


def _pool_ids(cands: DistrictCandidates, ctab, positions) -> list[str]:
    out = []
    for j in positions:
        s, i = cands.pool[j]
        out.append(str(ctab.ids[i]) if s == "cand" else f"community:{i}")
    return out


# ----------------------------------------------------------------------------------- step 1
def test_prepare_communities_counts_residents_not_workers(prepared):
    comms, _, _ = prepared
    assert len(comms) == 12
    assert list(comms.members("B")) == [8, 9, 10, 11]
    assert comms.population[11] == 2000 and comms.residents[11] == 0.0  # the industrial park
    assert comms.residents[:11].sum() == 36_000 + 32_000 + 15_000
    assert comms.snap.ok.all()


def test_district_shapes_project_polygons_to_metres(city, prepared):
    net = city[0]
    _, shapes, _ = prepared
    assert sorted(shapes.geoms) == ["A", "B"] and shapes.given
    assert shapes.names == {"A": "A区", "B": "B区"}
    # strip A is 2,150 m x 2,300 m in metres (the test grid's UTM zone), not degrees
    assert shapes.geoms["A"].area == pytest.approx(2150 * 2300, rel=0.01)
    none = district_shapes(None, net, {"A": "west"})
    assert none.geoms == {} and not none.given and none.names == {"A": "west"}


def test_prepare_candidates_notes_the_unsnapped_and_finds_districts_by_polygon(city, prepared):
    net, _, cand, _ = city
    _, shapes, ctab = prepared
    assert list(ctab.snap.ok) == [True, True, True, False]
    assert len(ctab.notes) == 1 and "k3" in ctab.notes[0]
    by_polygon = prepare_candidates(cand.drop(columns="district"), net, shapes, 300.0)
    assert list(by_polygon.district[:3]) == ["A", "A", "A"]


@pytest.mark.parametrize(
    ("quotas", "n", "expected"), [((2, 3), 4, [2, 2]), ((3, 0), 2, [2, 0]), ((1, 1), 5, [1, 1]), ((2, 2), 1, [1, 0])]
)
def test_effective_quotas_cut_the_last_phase_first(quotas, n, expected):
    assert effective_quotas(quotas, n) == expected


# ----------------------------------------------------------------------------------- step 2
def test_district_candidates_cover_residents_within_the_walk(steps_a, prepared):
    cands, _, _ = steps_a
    _, _, ctab = prepared
    assert _pool_ids(cands, ctab, range(len(cands.pool))) == ["k0", "k1", "k2"]  # k3 is not snapped
    assert not cands.short and cands.is_real.all() and cands.notes == []
    assert list(cands.cover) == [36_000, 32_000, 0]
    assert cands.in_walk.shape == (8, 3)
    assert (cands.gain >= cands.residents[:, None] * cands.in_walk).all()


def test_district_without_candidates_lets_its_communities_stand_in(city, prepared):
    net = city[0]
    comms, _, ctab = prepared
    cands = district_candidates(
        net, "B", "B区", QUOTAS["B"], comms.members("B"), comms, ctab, walk_m=WALK_M, settings=ST
    )
    assert cands.short and not cands.is_real.any()
    assert [s for s, _ in cands.pool] == ["comm"] * 4
    assert len(cands.notes) == 1 and "B区" in cands.notes[0]
    choice = choose_district_centres(cands, ("pilot", "rollout"), settings=ST)
    assert choice.phases == ["pilot"]
    assert cands.pool[choice.chosen[0]][1] in (8, 9, 10)  # a community with residents, not the park


# ----------------------------------------------------------------------------------- step 3
def test_choose_district_centres_fills_each_phase(steps_a, prepared):
    cands, choice, _ = steps_a
    _, _, ctab = prepared
    assert isinstance(choice, CentreChoice) and len(choice) == 2
    assert _pool_ids(cands, ctab, choice.chosen) == ["k0", "k1"]
    assert choice.phases == ["pilot", "rollout"] and choice.methods == ["exact", "exact"]
    # both clusters covered: 68,000 residents plus a closeness credit below 5 % of them
    assert 68_000 <= choice.objective <= 68_000 * (1 + ST.closeness_weight)
    assert choice.bound >= choice.objective - 1e-6


# ----------------------------------------------------------------------------------- step 4
def test_assign_district_keeps_each_cluster_with_its_centre(steps_a):
    _, _, asg = steps_a
    assert list(asg.column) == [0, 0, 0, 0, 1, 1, 1, 1]
    assert not asg.unreachable.any() and asg.unreachable_note("A区") is None
    assert (asg.walk_m <= WALK_M).all() and list(asg.flags(WALK_M)) == [""] * 8
    # 68,000 residents in 2 circles: 34,000 each, below 50,000, so the range is scaled and said so
    assert asg.size_max < 50_000 and asg.size_min == pytest.approx(34_000 / 75_000 * 50_000)
    assert "34,000" in asg.size_note


# ----------------------------------------------------------------------------------- step 5
def test_district_boundaries_are_disjoint_polygons_inside_the_district(steps_a, prepared):
    cands, choice, asg = steps_a
    comms, shapes, _ = prepared
    bnd = district_boundaries(cands, asg, len(choice), comms, shapes, radius_m=ST.cell_radius_m)
    assert len(bnd.geoms) == 2 and bnd.notes == []
    a, b = bnd.geoms
    assert all(shapely.get_type_id(g) in (3, 6) and g.is_valid and not g.is_empty for g in (a, b))
    assert a.intersection(b).area < 1e-6
    assert shapes.geoms["A"].buffer(1e-6).contains(a) and shapes.geoms["A"].buffer(1e-6).contains(b)
    # every community lies in its own circle's boundary (coordinates in metres)
    for i, col in zip(cands.members, asg.column, strict=True):
        assert bnd.geoms[col].buffer(1e-6).contains(shapely.Point(comms.snap.x[i], comms.snap.y[i]))
    no_polygon = type(shapes)({}, shapes.names, True)
    unclipped = district_boundaries(cands, asg, len(choice), comms, no_polygon, radius_m=ST.cell_radius_m)
    assert len(unclipped.notes) == 1 and "A区" in unclipped.notes[0]


# ----------------------------------------------------------------------------------- step 6
def test_explain_centres_gives_the_figures_the_reasons_quote(steps_a):
    cands, choice, _ = steps_a
    expl = explain_centres(cands, choice)
    assert expl.marginal == [36_000, 32_000]
    assert expl.best_alternative == [32_000, 0]
    assert expl.unique == [36_000, 32_000]
    assert list(expl.rank) == [1, 2, 3]


# ------------------------------------------------------------------------------ the pipeline
def test_steps_one_by_one_give_what_delineate_circles_gives(city, prepared):
    net, comm, cand, dist = city
    comms, shapes, ctab = prepared
    kw = {"phases": ("pilot", "rollout"), "walk_m": WALK_M, "size_range": SIZES, "settings": ST}
    plans = [delineate_district(net, code, q, comms, ctab, shapes, **kw) for code, q in QUOTAS.items()]
    assert [p.candidates.code for p in plans] == ["A", "B"]
    assert [r["id"] for r in plans[0].circle_rows] == ["A-P01", "A-R01"]
    notes = ctab.notes + [n for p in plans for n in p.notes]
    by_steps = assemble_delineation(
        net,
        comms,
        ctab,
        plans,
        [p.district_row for p in plans],
        [],
        notes,
        walk_m=WALK_M,
        settings=ST,
        phases=("pilot", "rollout"),
        synthetic=False,
    )
    whole = delineate_circles(comm, cand, net, dist, quotas=QUOTAS, max_walk_m=WALK_M, size_range=SIZES)
    pd.testing.assert_frame_equal(by_steps.circles, whole.circles)
    pd.testing.assert_frame_equal(by_steps.communities, whole.communities)
    pd.testing.assert_frame_equal(by_steps.centres, whole.centres)
    pd.testing.assert_frame_equal(by_steps.districts, whole.districts)
    assert by_steps.notes == whole.notes
    assert whole.communities.set_index("id").loc["c11", "circle_id"] == "B-P01"  # the park is assigned


def test_district_with_a_quota_but_no_communities_gives_no_plan(city, prepared):
    net = city[0]
    comms, shapes, ctab = prepared
    assert (
        delineate_district(
            net,
            "C",
            (1, 0),
            comms,
            ctab,
            shapes,
            phases=("pilot", "rollout"),
            walk_m=WALK_M,
            size_range=SIZES,
            settings=ST,
        )
        is None
    )
