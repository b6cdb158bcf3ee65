"""The first stages of :func:`lifecircle.indicators.evaluate.evaluate_city`, each a function with
typed inputs and a dataclass as output, so a test can run them one at a time:

1. :func:`access_stage` → :class:`AccessStage`: walking access of every community to every format
   (one engine pass), the points too far from a street, the network's islands;
2. :func:`community_stage` → :class:`CommunityStage`: the indicators of each community;
3. :func:`circle_stage` → :class:`CircleStage`: which circles there are and who belongs to them;
4. :func:`outlet_stage` → :class:`OutletStage`: each outlet's circle, district, and shop/chain flags.

The later stages (circle indicators, gaps and grades, districts, city, per-format coverage) are in
:mod:`lifecircle.indicators.levels`. Distances in metres, times in minutes, speeds in km/h,
populations in persons, floor areas in m², shares 0..1.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from lifecircle.city.model import City
from lifecircle.i18n import t
from lifecircle.indicators.access import CityAccess, Walks, compute_access, unsnapped_report
from lifecircle.indicators.aggregate import CommunityValues, codes, column, ratio
from lifecircle.indicators.grades import GradingRules
from lifecircle.indicators.membership import outlet_circles, point_in_polygons, valid_geom
from lifecircle.network import WalkNetwork
from lifecircle.network.engine import metres, within
from lifecircle.network.islands import Islands, network_islands
from lifecircle.profile import Profile

INDUSTRIAL = "industrial"
NEW = "new"


@dataclass(frozen=True)
class FormatClasses:
    """Which of the profile's formats (in ``profile.codes`` order) are basic, quality or smart."""

    basic: NDArray[np.bool_]
    quality: NDArray[np.bool_]
    smart: NDArray[np.bool_]

    @classmethod
    def of(cls, profile: Profile) -> FormatClasses:
        """The class masks of ``profile``'s formats."""
        c = np.array([f.cls for f in profile.formats])
        return cls(basic=c == "basic", quality=c == "quality", smart=c == "smart")


# ---------------------------------------------------------------------------- inputs
def district_aliases(districts: pd.DataFrame) -> dict[str, str]:
    """Every way a table may name a district → its code: the code itself, the Chinese name
    (西陵区) and the name without its 区 suffix (西陵). Data imported before the district
    boundaries keeps names like 西陵区; this is how they meet the codes again."""
    out: dict[str, str] = {}
    if not len(districts):
        return out
    for code, name in zip(districts["code"].astype(str), districts["name_zh"].astype(str), strict=True):
        out[name] = code
        if name.endswith("区") and len(name) > 2:
            out.setdefault(name[:-1], code)
    for code in districts["code"].astype(str):
        out[code] = code  # a code always wins over a name that looks the same
    return out


def with_district_codes(df: pd.DataFrame, aliases: dict[str, str]) -> pd.DataFrame:
    """A copy of ``df`` whose ``district`` values are district codes where a name was given."""
    if "district" not in df.columns or not aliases:
        return df
    out = df.copy()
    out["district"] = [aliases.get(str(v).strip(), v) if isinstance(v, str) else v for v in df["district"]]
    return out


def pieces_of(net: WalkNetwork, snapped: Any) -> NDArray[np.int64]:
    """Network piece of each snapped point (0 = the main network; -1 = not snapped)."""
    if len(snapped) == 0:
        return np.zeros(0, dtype=np.int64)
    piece = net.components[net.edge_u[snapped.edge]].astype(np.int64)
    return np.where(snapped.ok, piece, -1)


# ---------------------------------------------------------------------------- 1. access
@dataclass
class AccessStage:
    """Walking access of the city's communities to every format, and what the network left out.

    ``communities`` / ``outlets``: the city's tables, index reset, district names turned into
    codes; ``access``: the engine's matrices (rows in ``communities`` order); ``within_15``: the
    nearest outlet of each format is within ``quality_layer_min`` minutes (the largest walking
    layer, 15 by default) at the default speed, i.e. within ``quality_reach_m`` metres;
    ``community_piece``: network piece of each community (0 = main, -1 = not snapped)."""

    communities: pd.DataFrame
    outlets: pd.DataFrame
    aliases: dict[str, str]
    access: CityAccess
    unsnapped: pd.DataFrame
    islands: Islands
    community_piece: NDArray[np.int64]
    quality_layer_min: float
    quality_reach_m: float
    within_15: NDArray[np.bool_]
    notes: list[str] = field(default_factory=list)


def access_stage(city: City, net: WalkNetwork, profile: Profile, *, walks: Walks | None = None) -> AccessStage:
    """Stage 1: one engine pass for all formats of ``profile`` from every community of ``city``
    over ``net`` (metric CRS); notes unknown format codes, street repairs and islands. ``walks``
    replaces the engine pass (:data:`lifecircle.indicators.access.Walks`, e.g. computed in tiles)."""
    w = profile.walking
    aliases = district_aliases(city.districts)
    comm = with_district_codes(city.communities.reset_index(drop=True), aliases)
    outl = with_district_codes(city.outlets.reset_index(drop=True), aliases)
    notes: list[str] = []
    acc = compute_access(net, comm, outl, profile, walks=walks)
    if acc.exploded.unknown:
        bad = sorted({code for _, code in acc.exploded.unknown})
        notes.append(
            t(
                f"{len(acc.exploded.unknown)} 处网点业态代码不在配置 {profile.name} 中，已忽略：{', '.join(bad)}",
                f"{len(acc.exploded.unknown)} outlet format codes are not in profile {profile.name} and were ignored: "
                f"{', '.join(bad)}",
            )
        )
    unsnapped = unsnapped_report(acc, comm, outl, w.snap_max_m)
    islands = network_islands(net, {"communities": (comm, acc.communities), "outlets": (outl, acc.outlets)})
    if net.noding is not None and (net.noding.ends_joined or net.noding.t_joins):
        notes.append(net.noding.lines()[0])  # what was repaired in the street lines
    notes.extend(islands.lines())
    q_layer = max(w.layers_min) if w.layers_min else 15.0
    reach = metres(q_layer, w.speed_kmh)
    return AccessStage(
        communities=comm,
        outlets=outl,
        aliases=aliases,
        access=acc,
        unsnapped=unsnapped,
        islands=islands,
        community_piece=pieces_of(net, acc.communities),
        quality_layer_min=q_layer,
        quality_reach_m=float(reach),
        within_15=within(acc.nearest_m, reach),
        notes=notes,
    )


# ---------------------------------------------------------------------------- 2. communities
@dataclass
class CommunityStage:
    """The indicators of each community: ``table`` (one row per community, the
    ``Evaluation.communities`` table), ``values`` (the arrays every level sums), ``ids`` (community
    ids as text), ``population`` (persons, 0 where unknown; workers for industrial communities)
    and ``industrial`` (a mask of the industrial communities)."""

    table: pd.DataFrame
    values: CommunityValues
    ids: NDArray[np.object_]
    population: NDArray[np.float64]
    industrial: NDArray[np.bool_]


def access_flags(
    within: NDArray[np.bool_],
    within_elderly: NDArray[np.bool_],
    within_15: NDArray[np.bool_],
    cls: FormatClasses,
    rules: GradingRules,
) -> dict[str, NDArray[np.bool_]]:
    """The :class:`CommunityValues` fields that follow from walking access alone, for communities
    whose formats are (rows x ``profile.codes``) ``within`` their layer (at the default / older
    residents' speed) and ``within_15`` the largest walking layer: the access arrays themselves,
    basic completeness at both speeds, a smart facility within layer, and at least
    ``[targets].quality_min_formats`` quality formats within 15 minutes. The live indicators
    (:mod:`lifecircle.indicators.live`) call this for the communities an outlet change reaches."""
    n_c = len(within)
    none = np.zeros(0, bool)
    return {
        "within": within,
        "within_elderly": within_elderly,
        "within_15": within_15,
        "basic_complete": np.asarray(within[:, cls.basic].all(axis=1), bool) if n_c else none,
        "basic_complete_elderly": np.asarray(within_elderly[:, cls.basic].all(axis=1), bool) if n_c else none,
        "smart_any": np.asarray(within[:, cls.smart].any(axis=1), bool) if n_c else none,
        "quality_ok": within_15[:, cls.quality].sum(axis=1) >= rules.target("quality_min_formats", 5),
    }


def community_stage(access: AccessStage, profile: Profile, rules: GradingRules) -> CommunityStage:
    """Stage 2: formats within layer, basic completeness (at both speeds), quality formats within
    15 minutes, smart facilities, and the commercial floor-area rule of new communities
    (``[targets].new_commercial_share``, default 0.10)."""
    comm, acc = access.communities, access.access
    n_c = len(comm)
    cls = FormatClasses.of(profile)
    kind = column(comm, "kind", n_c, "object")
    population = np.nan_to_num(column(comm, "population", n_c))
    floor = column(comm, "floor_area_m2", n_c)
    commercial = column(comm, "commercial_floor_area_m2", n_c)
    commercial_share = np.where((kind == NEW) & (floor > 0), ratio(commercial, floor), np.nan)
    commercial_ok = np.where(
        np.isfinite(commercial_share), commercial_share >= rules.target("new_commercial_share", 0.10), False
    )
    basic_n = acc.within[:, cls.basic].sum(axis=1)
    quality_n = access.within_15[:, cls.quality].sum(axis=1)
    values = CommunityValues(
        weight=np.where(kind == INDUSTRIAL, 0.0, population),
        **access_flags(acc.within, acc.within_elderly, access.within_15, cls, rules),
        service_area_m2=column(comm, "service_floor_area_m2", n_c),
        households=column(comm, "households", n_c),
        commercial_share=commercial_share,
        commercial_ok=commercial_ok,
    )
    ids = comm["id"].astype(str).to_numpy(dtype=object) if n_c else np.zeros(0, dtype=object)
    piece = access.community_piece
    table = pd.DataFrame(
        {
            "id": ids,
            "name": column(comm, "name", n_c, "object"),
            "district": column(comm, "district", n_c, "object"),
            "circle_id": column(comm, "circle_id", n_c, "object"),
            "kind": kind,
            "population": population.astype(np.int64),
            "households": np.nan_to_num(values.households).astype(np.int64),
            "lon": column(comm, "lon", n_c),
            "lat": column(comm, "lat", n_c),
            "snapped": acc.communities.ok,
            "network_piece": piece,
            "on_island": piece > 0,
            "basic_formats_within_layer": basic_n.astype(np.int64),
            "basic_complete": values.basic_complete,
            "basic_complete_elderly": values.basic_complete_elderly,
            "quality_formats_within_15": quality_n.astype(np.int64),
            "smart_within_layer": values.smart_any,
            "commercial_share": commercial_share,
            "commercial_rule_ok": pd.array(
                np.where(np.isfinite(commercial_share), commercial_ok, np.array(None)), dtype="boolean"
            ),
        }
    )
    return CommunityStage(table=table, values=values, ids=ids, population=population, industrial=kind == INDUSTRIAL)


# ---------------------------------------------------------------------------- 3. circles
@dataclass
class CircleStage:
    """The circles: the rows of the circles ``table`` (district names as codes), then ``extra`` ids
    named by communities but missing from the table. ``ids`` = table ids + extra; ``member``:
    circle of each community (position in ``ids``, -1 = none); ``given``: each circle's drawn
    boundary (WGS-84) or None."""

    table: pd.DataFrame
    ids: list[str]
    extra: list[str]
    member: NDArray[np.int64]
    given: list[Any]
    notes: list[str] = field(default_factory=list)

    @property
    def n(self) -> int:
        """Number of circles (table rows and extra ids)."""
        return len(self.ids)

    @property
    def n_listed(self) -> int:
        """Number of circles from the circles table."""
        return len(self.ids) - len(self.extra)


def circle_stage(city: City, access: AccessStage, communities: CommunityStage) -> CircleStage:
    """Stage 3: the circles of ``city`` and the circle of each community; circles that only the
    communities name are added (and noted)."""
    ctab = with_district_codes(city.circles.reset_index(drop=True), access.aliases)
    circle_ids = [str(x) for x in ctab["id"]] if len(ctab) else []
    named = communities.table["circle_id"]
    extra = sorted({str(x) for x in named if isinstance(x, str) and x and str(x) not in set(circle_ids)})
    notes = []
    if extra:
        notes.append(
            t(
                f"小区引用了圈表中没有的生活圈：{', '.join(extra)}（已按小区补出）",
                f"communities name circles missing from the circles table: {', '.join(extra)} (added from the "
                "communities)",
            )
        )
    all_ids = circle_ids + extra
    given = [ctab["geometry"].iloc[i] if "geometry" in ctab.columns else None for i in range(len(ctab))] + [None] * len(
        extra
    )
    return CircleStage(
        table=ctab,
        ids=all_ids,
        extra=extra,
        member=codes(named.to_numpy(dtype=object), all_ids),
        given=[g if valid_geom(g) else None for g in given],
        notes=notes,
    )


# ---------------------------------------------------------------------------- 4. outlets
@dataclass
class OutletStage:
    """Each outlet's circle and district: ``table`` (the ``Evaluation.outlets`` table), ``circle``
    (position in ``CircleStage.ids``, -1 = none), ``district`` (code or None), ``is_shop`` (holds a
    format that is not smart), ``has_format`` (holds a format of the profile), ``is_chain``."""

    table: pd.DataFrame
    circle: NDArray[np.int64]
    district: NDArray[np.object_]
    is_shop: NDArray[np.bool_]
    has_format: NDArray[np.bool_]
    is_chain: NDArray[np.bool_]


def outlet_stage(
    city: City, net: WalkNetwork, access: AccessStage, circles: CircleStage, profile: Profile
) -> OutletStage:
    """Stage 4: circle membership of outlets (see :mod:`lifecircle.indicators.membership`; an
    outlet is matched to communities within ``access.quality_reach_m`` metres), the district of
    outlets without one (from the district polygons), shops, smart-only facilities, chains."""
    outl, acc = access.outlets, access.access
    n_o = len(outl)
    smart = FormatClasses.of(profile).smart
    o_lon, o_lat = column(outl, "lon", n_o), column(outl, "lat", n_o)
    o_circle = outlet_circles(
        net, (o_lon, o_lat), acc.outlets, acc.communities, circles.member, circles.given, access.quality_reach_m
    )
    ex = acc.exploded
    has_shop = np.zeros(n_o, dtype=bool)
    has_fmt = np.zeros(n_o, dtype=bool)
    if len(ex):
        has_shop[ex.outlet[~smart[ex.cat]]] = True
        has_fmt[ex.outlet] = True
    is_chain = np.zeros(n_o, dtype=bool)
    if "is_chain" in outl.columns and n_o:
        is_chain = outl["is_chain"].fillna(False).astype(bool).to_numpy()
    dtab = city.districts.reset_index(drop=True)
    o_district = column(outl, "district", n_o, "object")
    missing_d = np.array([not (isinstance(v, str) and v) for v in o_district], dtype=bool)
    if missing_d.any() and len(dtab):
        pos = point_in_polygons(o_lon[missing_d], o_lat[missing_d], dtab["geometry"])
        o_district[missing_d] = np.where(
            pos >= 0, dtab["code"].astype(str).to_numpy(dtype=object)[np.maximum(pos, 0)], None
        )
    table = pd.DataFrame(
        {
            "id": column(outl, "id", n_o, "object"),
            "name": column(outl, "name", n_o, "object"),
            "formats": column(outl, "formats", n_o, "object"),
            "is_chain": is_chain,
            "is_shop": has_shop,
            "lon": o_lon,
            "lat": o_lat,
            "district": o_district,
            "circle_id": np.array([circles.ids[i] if i >= 0 else None for i in o_circle], dtype=object),
            "snapped": acc.outlets.ok,
        }
    )
    return OutletStage(
        table=table, circle=o_circle, district=o_district, is_shop=has_shop, has_format=has_fmt, is_chain=is_chain
    )
