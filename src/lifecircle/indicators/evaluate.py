"""Evaluate a city's living circles: indicators per community, circle, district and city, the gap
list of each circle (缺什么) and its grade (M4, M7, M13, M15, M16).

Definitions (population = residents; industrial communities count their workers separately and are
left out of resident-weighted indicators):

- *within layer*: the nearest outlet of a format is within the format's ``layer_min`` minutes at
  the default walking speed (``_elderly``: at the older residents' speed).
- community ``basic_complete``: every basic format within its layer.
- ``basic_coverage``: population share of residents whose community is basic-complete;
  ``elderly_basic_coverage`` the same at the older residents' speed.
- ``basic_format_coverage``: the mean over basic formats of the population share reaching the
  format within its layer (gentler than ``basic_coverage``, which needs all formats at once);
  ``elderly_basic_format_coverage`` the same at the older residents' speed.
- ``basic_completeness`` (circle): share of basic formats that at least one community of the
  circle reaches within the format's layer.
- ``quality_formats_present`` (circle): quality formats that at least one community reaches within
  15 minutes (the largest walking layer); ``quality_coverage``: residents reaching at least
  ``[targets].quality_min_formats`` quality formats within 15 minutes.
- ``chain_share``: outlets with ``is_chain`` true / outlets (an unknown flag counts as not chain;
  outlets that only hold smart facilities are not shops and are left out).
- ``commercial_share`` (new communities): commercial floor area / total floor area; the rule is
  ``>= [targets].new_commercial_share``; ``new_commercial_ok_share`` = share of new communities
  (with floor-area data) meeting it.
- ``service_area_per_100hh``: community service floor area per 100 households, m², over the
  communities that report ``service_floor_area_m2``.
- ``smart_coverage``: residents reaching at least one smart facility within its layer.
- ``satisfaction``: sum satisfied / sum respondents of each circle's latest survey period; for a
  district or the city, summed over their circles' latest periods.

Circle membership of outlets: see :mod:`lifecircle.indicators.membership`.

The evaluation runs as named stages (:mod:`lifecircle.indicators.stages` for access, communities,
circles and outlets; :mod:`lifecircle.indicators.levels` for circle indicators, gaps and grades,
districts, the city and per-format coverage), each a function a test can call on its own.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import geopandas as gpd
import pandas as pd

from lifecircle.city.check import check_city
from lifecircle.city.model import City
from lifecircle.indicators.access import Walks, access_table
from lifecircle.indicators.grades import GradingRules, load_rules
from lifecircle.indicators.levels import (
    circle_indicator_stage,
    city_stage,
    district_stage,
    format_coverage_table,
    grade_stage,
    latest_surveys,
    period_key,
)
from lifecircle.indicators.stages import (
    INDUSTRIAL,
    NEW,
    access_stage,
    circle_stage,
    community_stage,
    district_aliases,
    network_islands,
    outlet_stage,
    with_district_codes,
)
from lifecircle.network import WalkNetwork
from lifecircle.network.islands import Islands
from lifecircle.profile import Profile

__all__ = [
    "INDUSTRIAL",
    "NEW",
    "Evaluation",
    "district_aliases",
    "evaluate_city",
    "latest_surveys",
    "network_islands",
    "period_key",
    "resolve_rules",
    "with_district_codes",
]


@dataclass
class Evaluation:
    """Everything the reports need about one evaluated city (see the module docstring for the
    definitions; distances in metres, times in minutes, speeds in km/h, shares 0..1)."""

    synthetic: bool
    city_name: str
    profile: Profile
    speed_kmh: float
    elderly_speed_kmh: float
    access: pd.DataFrame
    communities: pd.DataFrame
    circles: gpd.GeoDataFrame
    districts: pd.DataFrame
    city: dict[str, Any]
    format_coverage: pd.DataFrame
    gaps: pd.DataFrame
    rules: GradingRules | None = None
    outlets: pd.DataFrame = field(default_factory=pd.DataFrame)  # outlets with circle_id, district, snapped
    unsnapped: pd.DataFrame = field(default_factory=pd.DataFrame)  # points too far from every street
    notes: list[str] = field(default_factory=list)  # data problems worth showing (unknown codes ...)
    islands: Islands | None = None  # network pieces apart from the main one, and who sits on them
    city_key: str = ""  # the city's store name (``City.name``); ``city_name`` is its display name
    city_provenance: dict[str, Any] = field(default_factory=dict)  # how the city was made (City.provenance)


def resolve_rules(rules: GradingRules | str | Path | None, profile: Profile) -> GradingRules:
    """The grading rules: given, named/path, the profile's ``grading = "..."`` entry, or the default."""
    if isinstance(rules, GradingRules):
        return rules
    if rules is None:
        rules = profile.extra.get("grading")
    return load_rules(rules)


def evaluate_city(
    city: City,
    net: WalkNetwork,
    profile: Profile,
    *,
    rules: GradingRules | str | Path | None = None,
    walks: Walks | None = None,
) -> Evaluation:
    """Evaluate every community, circle, district and the city; grade the circles.

    ``net`` is the city's walking network (metric CRS); ``profile`` gives the formats, their walking
    layers (minutes) and speeds (km/h); ``rules`` the grading rules (default: the profile's
    ``grading`` entry or ``grading-yichang-2022``). Runs the engine once for all formats;
    ``walks`` replaces that pass (the same figures computed in tiles on a cluster, see
    :mod:`lifecircle.scale.city_tiles`).
    """
    rules = resolve_rules(rules, profile)
    checked = check_city(city).indicator_notes()  # what a partial city cannot give yet, and why
    access = access_stage(city, net, profile, walks=walks)
    communities = community_stage(access, profile, rules)
    circles = circle_stage(city, access, communities)
    outlets = outlet_stage(city, net, access, circles, profile)
    indicators = circle_indicator_stage(city, net, communities, circles, outlets, profile, rules)
    graded = grade_stage(indicators, profile, rules)
    districts = district_stage(city, communities, outlets, indicators, graded, profile, rules)
    city_fig = city_stage(city, access, communities, outlets, indicators, graded, districts, profile, rules)
    return Evaluation(
        synthetic=bool(city.synthetic),
        city_name=city.display_name,
        profile=profile,
        speed_kmh=profile.walking.speed_kmh,
        elderly_speed_kmh=profile.walking.elderly_speed_kmh,
        access=access_table(access.access, communities.ids),
        communities=communities.table,
        circles=graded.circles,
        districts=districts.table,
        city=city_fig.figures,
        format_coverage=format_coverage_table(city, city_fig, districts, circles, indicators, profile),
        gaps=graded.gaps,
        rules=rules,
        outlets=outlets.table,
        unsnapped=access.unsnapped,
        notes=checked + access.notes + circles.notes + indicators.notes,
        islands=access.islands,
        city_key=city.name,
        city_provenance=dict(getattr(city, "provenance", None) or {}),
    )
