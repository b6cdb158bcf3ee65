"""Delineate living circles (M2, 科学划定): choose circle centres among the candidates and assign
every community to one centre by walking distance, inside its own district.

Per district, in plan order of phases (pilot 试点, then roll-out 推广, each with the district's quota):

1. **Choice of centres** — exactly ``quota`` centres among the district's candidates that
   maximise *residents within the walk* (``walk_min`` minutes on the network, 1,000 m at 4 km/h)
   plus a small closeness credit (``closeness_weight`` x residents x ``(1 - d / search_m)``) that
   separates equal covers. Centres of earlier phases are fixed. Exact integer programme (HiGHS via
   :func:`scipy.optimize.milp`, its bound and gap reported) when the district is small; greedy then
   swap improvement beyond. A district with too few candidates uses all of them and completes its
   quota with communities as centres (said in the explanation).
2. **Assignment** — every community of the district to one chosen centre, minimising walking
   distance with a penalty for leaving the walk and for circle sizes outside the size range
   (GB 50180: 50,000–100,000 residents; scaled for a district whose residents per circle fall
   outside it). Every circle gets at least one community. A community beyond the walk from every
   centre is still assigned (to the cheapest) and flagged ``beyond_walk``; one the network cannot
   reach (not snapped, or a disconnected piece) is assigned by straight-line distance and flagged
   ``unreachable``.
3. **Boundary** — the union of its communities' Voronoi cells (per district), each cut to
   ``cell_radius_m`` around its community and to the district polygon, so circles never overlap
   and never cross a district boundary.

Residents: ``population`` of communities whose ``kind`` is not ``industrial`` (parks count workers;
they are assigned but do not weigh in choice or size). Distances in metres, walking minutes at the
profile speed (km/h). Settings and quotas come from a versioned TOML (``plan-yichang-2022``).

The package is a pipeline of named steps (:mod:`.delineate`): ``config`` (plan TOML, quotas),
``candidates`` (inputs, candidate pool per district), ``choose`` (centres per quota), ``assign``
(communities by walking distance with size balancing), ``boundaries`` (Voronoi cells, valid
polygons), ``explain`` (reasons zh/en); ``given`` assigns communities to user-given boundaries.
"""

from __future__ import annotations

from lifecircle.network.snap import snap_lonlat
from lifecircle.plans.circles.assign import DistrictAssignment, assign_communities, assign_district
from lifecircle.plans.circles.boundaries import (
    DistrictBoundaries,
    district_boundaries,
    to_wgs84,
    valid_polygonal,
)
from lifecircle.plans.circles.candidates import (
    INDUSTRIAL,
    CandidateTable,
    CommunityTable,
    DistrictCandidates,
    DistrictShapes,
    district_candidates,
    district_shapes,
    effective_quotas,
    prepare_candidates,
    prepare_communities,
)
from lifecircle.plans.circles.choose import (
    CentreChoice,
    ChoiceResult,
    choose_centres,
    choose_district_centres,
)
from lifecircle.plans.circles.config import (
    DEFAULT_PLAN,
    CommunityTypeSettings,
    DelineationSettings,
    DistrictQuota,
    PlanConfig,
    builtin_plans,
    load_plan,
)
from lifecircle.plans.circles.delineate import (
    CIRCLE_COLUMNS,
    Delineation,
    DistrictPlan,
    assemble_delineation,
    delineate_circles,
    delineate_district,
)
from lifecircle.plans.circles.explain import (
    KIND_EN,
    KIND_ZH,
    PHASE_EN,
    PHASE_ZH,
    CentreExplanations,
    explain_centres,
)
from lifecircle.plans.circles.given import GivenAssignment, assign_to_given_circles
from lifecircle.plans.circles.walking import walk_matrix

__all__ = [
    "CIRCLE_COLUMNS",
    "DEFAULT_PLAN",
    "INDUSTRIAL",
    "KIND_EN",
    "KIND_ZH",
    "PHASE_EN",
    "PHASE_ZH",
    "CandidateTable",
    "CentreChoice",
    "CentreExplanations",
    "ChoiceResult",
    "CommunityTable",
    "CommunityTypeSettings",
    "Delineation",
    "DelineationSettings",
    "DistrictAssignment",
    "DistrictBoundaries",
    "DistrictCandidates",
    "DistrictPlan",
    "DistrictQuota",
    "DistrictShapes",
    "GivenAssignment",
    "PlanConfig",
    "assemble_delineation",
    "assign_communities",
    "assign_district",
    "assign_to_given_circles",
    "builtin_plans",
    "choose_centres",
    "choose_district_centres",
    "delineate_circles",
    "delineate_district",
    "district_boundaries",
    "district_candidates",
    "district_shapes",
    "effective_quotas",
    "explain_centres",
    "load_plan",
    "prepare_candidates",
    "prepare_communities",
    "snap_lonlat",
    "to_wgs84",
    "valid_polygonal",
    "walk_matrix",
]
