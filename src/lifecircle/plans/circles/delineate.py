"""The delineation pipeline: a short :func:`delineate_circles` calling named steps that a test
can also call one by one (see :mod:`lifecircle.plans.circles` for the method):

1. inputs — :func:`prepare_communities`, :func:`district_shapes`, :func:`prepare_candidates`;
2. per district — :func:`district_candidates` (candidate pool, walking gains),
   :func:`choose_district_centres`, :func:`assign_district`, :func:`district_boundaries`,
   :func:`explain_centres`, gathered by :func:`delineate_district` into a :class:`DistrictPlan`;
3. the result — :func:`assemble_delineation` (tables and WGS-84 boundaries).

Distances in metres, populations in residents, walking times in minutes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd

from lifecircle.errors import ConfigError, InputError
from lifecircle.i18n import t
from lifecircle.network import WalkNetwork
from lifecircle.network.engine import within
from lifecircle.plans.circles.assign import DistrictAssignment, assign_district
from lifecircle.plans.circles.boundaries import DistrictBoundaries, district_boundaries, to_wgs84
from lifecircle.plans.circles.candidates import (
    INDUSTRIAL,
    CandidateTable,
    CommunityTable,
    DistrictCandidates,
    DistrictShapes,
    _check_inputs,
    _normalise_quotas,
    district_candidates,
    district_shapes,
    prepare_candidates,
    prepare_communities,
)
from lifecircle.plans.circles.choose import CentreChoice, choose_district_centres
from lifecircle.plans.circles.config import DelineationSettings
from lifecircle.plans.circles.explain import CentreExplanations, explain_centres, reason

CIRCLE_COLUMNS = [
    "id",
    "name",
    "district",
    "district_name",
    "phase",
    "order",
    "centre_id",
    "centre_name",
    "centre_kind",
    "centre_lon",
    "centre_lat",
    "population",
    "workers",
    "n_communities",
    "population_within",
    "share_within",
    "n_beyond_walk",
    "covers_within",
    "adds_within",
    "size_min",
    "size_max",
    "size_ok",
    "reason_zh",
    "reason_en",
    "reason",
    "status",
]


@dataclass
class Delineation:
    """Circles and the assignment of communities (all WGS-84 for geometry).

    ``circles``: GeoDataFrame, one row per circle: ``id, name, district, district_name, phase,
    order, centre_id, centre_name, centre_kind, population, workers, n_communities,
    population_within, share_within, n_beyond_walk, size_min, size_max, size_ok, reason_zh,
    reason_en, reason, status, source, geometry``.
    ``communities``: ``id, name, district, kind, population, circle_id, centre_id, walk_m,
    walk_min, within_walk, flag`` (``""``, ``beyond_walk``, ``unreachable``, ``no_quota``).
    ``centres``: every candidate with ``chosen``, ``circle_id``, ``covers_within`` (residents
    within the walk), ``rank_in_district``.
    ``districts``: per district: ``quota_<phase>``, ``quota``, ``circles``, ``communities``,
    ``population``, ``population_within``, ``share_within``, ``choice_method`` (exact / heuristic),
    ``assign_method``, ``objective``, ``bound``, ``gap`` (of the last phase's choice), ``size_min``,
    ``size_max`` (the range used), ``note``.
    """

    circles: gpd.GeoDataFrame
    communities: pd.DataFrame
    centres: pd.DataFrame
    districts: pd.DataFrame
    walk_m: float
    settings: DelineationSettings
    phases: tuple[str, ...]
    notes: list[str] = field(default_factory=list)

    def for_phase(self, phase: str) -> Delineation:
        """Only the circles of ``phase`` (``all`` = every phase). Communities of other circles keep
        their row with an empty ``circle_id`` (the plan as a whole is unchanged)."""
        if phase == "all":
            return self
        if phase not in self.phases:
            raise InputError(
                t(
                    f"未知阶段 '{phase}'；可用：all, {', '.join(self.phases)}",
                    f"unknown phase '{phase}'; use all, {', '.join(self.phases)}",
                )
            )
        keep = self.circles["phase"] == phase
        circles = self.circles[keep].reset_index(drop=True)
        ids = set(circles["id"])
        comm = self.communities.copy()
        out = ~comm["circle_id"].isin(ids)
        comm.loc[out, ["circle_id", "centre_id"]] = None
        cen = self.centres.copy()
        cen.loc[~cen["circle_id"].isin(ids), ["chosen"]] = False
        return Delineation(
            circles, comm, cen, self.districts, self.walk_m, self.settings, self.phases, list(self.notes)
        )


# ------------------------------------------------------------------------------- per district
@dataclass
class DistrictPlan:
    """Everything delineated for one district: the step results, its circles (rows of
    ``Delineation.circles`` without geometry, WGS-84 centre coordinates), its projected
    boundaries, its row of ``Delineation.districts`` and its notes in the order they arose."""

    candidates: DistrictCandidates
    choice: CentreChoice
    assignment: DistrictAssignment
    boundaries: DistrictBoundaries
    explanations: CentreExplanations
    circle_rows: list[dict[str, Any]]
    district_row: dict[str, Any]
    notes: list[str] = field(default_factory=list)


def _quota_row(code: str, label: str, phases: Sequence[str], qs: Sequence[int]) -> dict[str, Any]:
    drow: dict[str, Any] = {"district": code, "district_name": label}
    for p, q in zip(phases, qs, strict=True):
        drow[f"quota_{p}"] = q
    drow["quota"] = sum(qs)
    return drow


def _circle_rows(
    cands: DistrictCandidates,
    choice: CentreChoice,
    asg: DistrictAssignment,
    expl: CentreExplanations,
    comms: CommunityTable,
    ctab: CandidateTable,
    *,
    walk_m: float,
    walk_min: float,
) -> list[dict[str, Any]]:
    """One row per chosen centre: ids ``<district>-<P><nn>`` per phase, centre, sizes and reasons."""
    R = walk_m
    code, label = cands.code, cands.label
    w, kind, pop = cands.residents, comms.kind[cands.members], comms.population[cands.members]
    a, walk = asg.column, asg.walk_m
    lo, hi = asg.size_min, asg.size_max
    rows: list[dict[str, Any]] = []
    phase_count: dict[str, int] = {}
    for pos, (j, p) in enumerate(zip(choice.chosen, choice.phases, strict=True)):
        phase_count[p] = phase_count.get(p, 0) + 1
        cid = f"{code}-{p[:1].upper()}{phase_count[p]:02d}"
        s, src_i = cands.pool[j]
        if s == "cand":
            centre_id, centre_name, centre_kind = str(ctab.ids[src_i]), str(ctab.names[src_i]), str(ctab.kinds[src_i])
        else:
            centre_id, centre_name, centre_kind = (
                f"community:{comms.frame['id'].iloc[src_i]}",
                str(comms.names[src_i]),
                "community",
            )
        mem = a == pos
        cpop = float(w[mem].sum())
        cwithin = float(w[mem & within(walk, R)].sum())
        share = cwithin / cpop if cpop > 0 else np.nan
        reason_zh, reason_en = reason(
            p,
            phase_count[p],
            centre_kind,
            expl.marginal[pos],
            expl.best_alternative[pos],
            float(cands.cover[j]),
            int(expl.rank[j]),
            int(cands.is_real.sum()),
            expl.unique[pos],
            cpop,
            share,
            walk_min,
            s == "cand",
            pos == 0,
        )
        rows.append(
            {
                "id": cid,
                "name": f"{centre_name}生活圈" if centre_kind != "community" else f"{centre_name}（小区中心）生活圈",
                "district": code,
                "district_name": label,
                "phase": p,
                "order": pos + 1,
                "centre_id": centre_id,
                "centre_name": centre_name,
                "centre_kind": centre_kind,
                "centre_lon": float(ctab.lon[src_i]) if s == "cand" else float(comms.lon[src_i]),
                "centre_lat": float(ctab.lat[src_i]) if s == "cand" else float(comms.lat[src_i]),
                "population": int(round(cpop)),
                "workers": int(pop[mem & (kind == INDUSTRIAL)].sum()),
                "n_communities": int(mem.sum()),
                "population_within": int(round(cwithin)),
                "share_within": share,
                "n_beyond_walk": int((mem & ~within(walk, R)).sum()),
                "covers_within": int(round(cands.cover[j])),
                "adds_within": int(round(expl.marginal[pos])),
                "size_min": lo,
                "size_max": hi,
                "size_ok": bool(lo - 1e-6 <= cpop <= hi + 1e-6),
                "reason_zh": reason_zh,
                "reason_en": reason_en,
                "reason": t(reason_zh, reason_en),
                "status": "planned",
            }
        )
    return rows


def delineate_district(
    net: WalkNetwork,
    code: str,
    qs: Sequence[int],
    comms: CommunityTable,
    ctab: CandidateTable,
    shapes: DistrictShapes,
    *,
    phases: Sequence[str],
    walk_m: float,
    size_range: tuple[float, float],
    settings: DelineationSettings,
    method: str = "auto",
) -> DistrictPlan | None:
    """One district with communities: candidates -> centres per quota -> assignment -> boundaries
    -> explanations. None when the district has no communities (see :func:`_empty_district_row`)."""
    st = settings
    label = shapes.names.get(code, code)
    members = comms.members(code)
    if len(members) == 0:
        return None
    cands = district_candidates(net, code, label, qs, members, comms, ctab, walk_m=walk_m, settings=st)
    choice = choose_district_centres(cands, phases, settings=st, method=method)
    asg = assign_district(net, cands, choice, comms, walk_m=walk_m, size_range=size_range, settings=st)
    bnd = district_boundaries(cands, asg, len(choice), comms, shapes, radius_m=st.cell_radius_m)
    expl = explain_centres(cands, choice)
    rows = _circle_rows(cands, choice, asg, expl, comms, ctab, walk_m=walk_m, walk_min=st.walk_min)
    notes = list(cands.notes)
    if asg.size_note:
        notes.append(f"{label}: {asg.size_note}")
    notes += bnd.notes
    unreach_note = asg.unreachable_note(label)
    if unreach_note:
        notes.append(unreach_note)
    w = cands.residents
    tot_w = float(w.sum())
    wi = float(w[within(asg.walk_m, walk_m)].sum())
    objective, bound = choice.objective, choice.bound
    drow = {
        **_quota_row(code, label, phases, qs),
        "circles": len(choice),
        "communities": len(members),
        "population": int(round(tot_w)),
        "population_within": int(round(wi)),
        "share_within": wi / tot_w if tot_w > 0 else np.nan,
        "choice_method": "+".join(sorted(set(choice.methods))),
        "assign_method": asg.method,
        "objective": objective,
        "bound": bound,
        "gap": max(0.0, (bound - objective) / max(abs(bound), 1e-12)) if np.isfinite(bound) else np.nan,
        "size_min": asg.size_min,
        "size_max": asg.size_max,
        "note": asg.size_note,
    }
    return DistrictPlan(cands, choice, asg, bnd, expl, rows, drow, notes)


def _empty_district_row(code: str, label: str, phases: Sequence[str], qs: Sequence[int]) -> tuple[dict[str, Any], str]:
    """The districts row and note of a district with a quota but no communities."""
    note = t(
        f"区 {label} 有 {sum(qs)} 个生活圈配额，但没有小区数据，未形成生活圈",
        f"district {label} has a quota of {sum(qs)} circles but no communities; none formed",
    )
    row = {
        **_quota_row(code, label, phases, qs),
        "circles": 0,
        "communities": 0,
        "population": 0,
        "population_within": 0,
        "share_within": np.nan,
        "choice_method": "none",
        "assign_method": "none",
        "objective": np.nan,
        "bound": np.nan,
        "gap": np.nan,
        "size_min": np.nan,
        "size_max": np.nan,
        "note": t("无小区", "no communities"),
    }
    return row, note


def _no_quota_notes(comms: CommunityTable, q_all: Mapping[str, tuple[int, ...]]) -> tuple[list[str], list[str]]:
    """Districts with communities but no quota (sorted codes), and the note on each."""
    no_quota = sorted(set(comms.district) - {c for c, q in q_all.items() if sum(q) > 0})
    notes = []
    for code in no_quota:
        n = int((comms.district == code).sum())
        notes.append(
            t(
                f"区 {code} 没有生活圈配额，其 {n} 个小区未划入任何生活圈",
                f"district {code} has no circle quota; its {n} communities are in no circle",
            )
        )
    return no_quota, notes


# ---------------------------------------------------------------------------------- the result
def _is_synthetic(df: pd.DataFrame) -> bool:
    return "source" in df.columns and bool((df["source"].astype(str) == "synthetic").any())


def assemble_delineation(
    net: WalkNetwork,
    comms: CommunityTable,
    ctab: CandidateTable,
    plans: Sequence[DistrictPlan],
    district_rows: list[dict[str, Any]],
    no_quota: Sequence[str],
    notes: list[str],
    *,
    walk_m: float,
    settings: DelineationSettings,
    phases: tuple[str, ...],
    synthetic: bool,
) -> Delineation:
    """Step 7: the :class:`Delineation` from the districts' plans: circles with WGS-84 boundaries,
    every community with its circle and walk (metres, minutes), every candidate with its cover."""
    st = settings
    R = float(walk_m)
    n_c, n_k = len(comms), len(ctab)
    comm_circle = np.full(n_c, None, dtype=object)
    comm_centre = np.full(n_c, None, dtype=object)
    comm_walk = np.full(n_c, np.nan)
    comm_flag = np.full(n_c, "", dtype=object)
    cen_chosen = np.zeros(n_k, bool)
    cen_circle = np.full(n_k, None, dtype=object)
    cen_cover = np.zeros(n_k)
    cen_rank = np.zeros(n_k, dtype=np.int64)
    for code in no_quota:
        comm_flag[comms.district == code] = "no_quota"
    circle_rows: list[dict[str, Any]] = []
    circle_geoms: list[Any] = []
    for plan in plans:
        cands, asg = plan.candidates, plan.assignment
        members = cands.members
        for j, (s, src_i) in enumerate(cands.pool):
            if s == "cand":
                cen_cover[src_i] = cands.cover[j]
                cen_rank[src_i] = plan.explanations.rank[j]
        for pos, (row, j) in enumerate(zip(plan.circle_rows, plan.choice.chosen, strict=True)):
            s, src_i = cands.pool[j]
            if s == "cand":
                cen_chosen[src_i] = True
                cen_circle[src_i] = row["id"]
            mem = members[asg.column == pos]
            comm_circle[mem] = row["id"]
            comm_centre[mem] = row["centre_id"]
        comm_walk[members] = asg.walk_m
        comm_flag[members] = asg.flags(R)
        circle_rows += plan.circle_rows
        circle_geoms += plan.boundaries.geoms
    geoms = to_wgs84(circle_geoms, net.crs)
    circ = pd.DataFrame(circle_rows, columns=CIRCLE_COLUMNS)
    circ["source"] = "synthetic" if synthetic else "lifecircle"
    circles = gpd.GeoDataFrame(
        circ, geometry=gpd.GeoSeries(geoms, crs=4326) if geoms else gpd.GeoSeries([], crs=4326), crs=4326
    )
    speed_m_per_min = R / st.walk_min if st.walk_min else np.nan
    communities_out = pd.DataFrame(
        {
            "id": comms.frame["id"].astype(str).to_numpy(),
            "name": comms.names,
            "district": comms.district,
            "kind": comms.kind,
            "population": comms.population.astype(np.int64),
            "lon": comms.lon,
            "lat": comms.lat,
            "circle_id": comm_circle,
            "centre_id": comm_centre,
            "walk_m": comm_walk,
            "walk_min": comm_walk / speed_m_per_min,
            "within_walk": np.isfinite(comm_walk) & within(comm_walk, R),
            "flag": comm_flag,
        }
    )
    centres_out = pd.DataFrame(
        {
            "id": ctab.ids,
            "name": ctab.names,
            "kind": ctab.kinds,
            "district": ctab.district,
            "lon": ctab.lon,
            "lat": ctab.lat,
            "snapped": ctab.snap.ok,
            "chosen": cen_chosen,
            "circle_id": cen_circle,
            "covers_within": cen_cover.round().astype(np.int64),
            "rank_in_district": cen_rank,
        }
    )
    return Delineation(circles, communities_out, centres_out, pd.DataFrame(district_rows), R, st, phases, notes)


# ------------------------------------------------------------------------------- main entry
def delineate_circles(
    communities: pd.DataFrame,
    centres: pd.DataFrame,
    net: WalkNetwork,
    districts: pd.DataFrame | None,
    *,
    quotas: Mapping[str, int | Sequence[int]],
    max_walk_m: float,
    size_range: tuple[float, float] = (50_000, 100_000),
    phases: Sequence[str] = ("pilot", "rollout"),
    settings: DelineationSettings | None = None,
    snap_max_m: float = 300.0,
    district_names: Mapping[str, str] | None = None,
    method: str = "auto",
) -> Delineation:
    """Choose centres and form circles, district by district (see :mod:`lifecircle.plans.circles`).

    ``communities``: ``id, name, district, lon, lat, population`` (+ ``kind``); ``centres``: centre
    candidates ``id, name, kind, lon, lat`` (+ ``district``; if empty, the district polygon that
    contains the point); ``districts``: ``code, name_zh, geometry`` (WGS-84) or None (no clipping).
    ``quotas``: circles per district code, one number per phase in ``phases`` order (an int = all
    in the first phase). ``max_walk_m``: the walk (metres) that serves a community (15 minutes:
    1,000 m at 4 km/h). ``size_range``: residents per circle (GB 50180: 50,000–100,000).
    ``snap_max_m``: points farther from every street are not snapped (metres).
    """
    st = settings or DelineationSettings()
    phases = tuple(phases)
    q_all = _normalise_quotas(quotas, phases)
    _check_inputs(communities, centres, districts)
    if max_walk_m <= 0:
        raise ConfigError(t("步行距离 max_walk_m 须大于 0", "max_walk_m must be > 0"))
    if float(size_range[0]) > float(size_range[1]) or float(size_range[0]) < 0:
        raise ConfigError(t(f"规模区间 {size_range} 无效", f"size range {size_range} is invalid"))
    R = float(max_walk_m)
    comms = prepare_communities(communities, net, snap_max_m)
    shapes = district_shapes(districts, net, district_names)
    ctab = prepare_candidates(centres, net, shapes, snap_max_m)
    no_quota, notes = _no_quota_notes(comms, q_all)
    notes = ctab.notes + notes
    plans: list[DistrictPlan] = []
    district_rows: list[dict[str, Any]] = []
    for code, qs in q_all.items():
        if sum(qs) == 0:
            continue
        plan = delineate_district(
            net,
            code,
            qs,
            comms,
            ctab,
            shapes,
            phases=phases,
            walk_m=R,
            size_range=size_range,
            settings=st,
            method=method,
        )
        if plan is None:
            row, note = _empty_district_row(code, shapes.names.get(code, code), phases, qs)
            district_rows.append(row)
            notes.append(note)
            continue
        plans.append(plan)
        district_rows.append(plan.district_row)
        notes += plan.notes
    synthetic = _is_synthetic(communities) or _is_synthetic(centres)
    return assemble_delineation(
        net,
        comms,
        ctab,
        plans,
        district_rows,
        no_quota,
        notes,
        walk_m=R,
        settings=st,
        phases=phases,
        synthetic=synthetic,
    )
