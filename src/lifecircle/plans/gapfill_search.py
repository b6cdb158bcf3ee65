"""The search of precise gap-filling (精准补建, :mod:`lifecircle.plans.gapfill`): a model of one
circle as walking distances, and the greedy choice of (format, candidate site) additions pruned to
an irredundant set.

:class:`CircleModel` holds, for the circle's communities, the walking distance (metres) to the
nearest outlet of every format (from the evaluation's access table) and to every candidate site
(:func:`~lifecircle.plans.sites.coverage_matrix`, one bounded Dijkstra per site). Adding format
``f`` at site ``s`` lowers column ``f`` to the site's distance; the circle's format presence and
coverage indicators are then recomputed with the evaluation's own formulas
(:mod:`lifecircle.indicators.aggregate`) and the engine's ``within`` rule, so the model agrees
with :func:`~lifecircle.indicators.evaluate.evaluate_city` (the gap-filling still re-evaluates
its answer with the engine). Residents are people, distances metres, floor areas m².
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from lifecircle.errors import InputError
from lifecircle.i18n import t
from lifecircle.indicators.aggregate import CommunityValues, column, completeness, group_indicators, mean_share
from lifecircle.indicators.evaluate import Evaluation
from lifecircle.indicators.grades import Condition
from lifecircle.indicators.stages import INDUSTRIAL, FormatClasses
from lifecircle.network import WalkNetwork
from lifecircle.network.engine import metres, within
from lifecircle.network.snap import snap_lonlat
from lifecircle.plans.format_sites import fits, site_room
from lifecircle.plans.sites import coverage_matrix
from lifecircle.profile import Profile

# Indicators that adding outlets can raise, and the format classes that raise them.
FIXABLE: dict[str, str] = {
    "basic_completeness": "basic",
    "basic_coverage": "basic",
    "elderly_basic_coverage": "basic",
    "basic_format_coverage": "basic",
    "elderly_basic_format_coverage": "basic",
    "quality_formats_present": "quality",
    "quality_coverage": "quality",
    "smart_coverage": "smart",
}
MAX_ADDITIONS = 40


# ------------------------------------------------------------------------------------ 3. the local model
@dataclass
class CircleModel:
    """The circle's communities and the candidate sites, as distances. ``nearest``: metres from
    each community to the nearest outlet of each format (``profile.codes`` order; NaN = none in
    reach); ``dist``: metres from each community to each candidate site (inf = beyond the largest
    radius that matters); ``weight``: residents (0 for industrial communities); ``radius`` /
    ``radius_old``: each format's layer in metres at the default / older residents' speed;
    ``reach_15``: the largest walking layer in metres; ``room``: each site's floor area (m², NaN
    unknown)."""

    profile: Profile
    weight: NDArray[np.float64]
    nearest: NDArray[np.float64]
    dist: NDArray[np.float64]
    sites: pd.DataFrame
    room: NDArray[np.float64]
    radius: NDArray[np.float64]
    radius_old: NDArray[np.float64]
    reach_15: float
    quality_min: float
    classes: FormatClasses

    def values(self, nearest: NDArray[np.float64] | None = None) -> dict[str, float]:
        """The fixable circle indicators for ``nearest`` (default: now), with the evaluation's formulas."""
        d = self.nearest if nearest is None else nearest
        n_c, cls = len(self.weight), self.classes
        inside, inside_old, inside_15 = within(d, self.radius), within(d, self.radius_old), within(d, self.reach_15)
        nan = np.full(n_c, np.nan)
        v = CommunityValues(
            weight=self.weight,
            within=inside,
            within_elderly=inside_old,
            within_15=inside_15,
            basic_complete=np.asarray(inside[:, cls.basic].all(axis=1), dtype=bool),
            basic_complete_elderly=np.asarray(inside_old[:, cls.basic].all(axis=1), dtype=bool),
            smart_any=np.asarray(inside[:, cls.smart].any(axis=1), dtype=bool),
            quality_ok=inside_15[:, cls.quality].sum(axis=1) >= self.quality_min,
            service_area_m2=nan,
            households=nan,
            commercial_share=nan,
            commercial_ok=np.zeros(n_c, dtype=bool),
        )
        G = group_indicators(np.zeros(n_c, dtype=np.int64), 1, v)
        return {
            "basic_completeness": float(np.asarray(completeness(G.any_within, cls.basic)).reshape(-1)[0]),
            "basic_coverage": float(G.basic_coverage[0]),
            "elderly_basic_coverage": float(G.elderly_basic_coverage[0]),
            "basic_format_coverage": float(mean_share(G.covered, G.pop, cls.basic)[0]),
            "elderly_basic_format_coverage": float(mean_share(G.covered_old, G.pop, cls.basic)[0]),
            "quality_formats_present": float(G.any_within_15[0, cls.quality].sum()),
            "quality_coverage": float(G.quality_coverage[0]),
            "smart_coverage": float(G.smart_coverage[0]),
        }

    def with_additions(self, adds: list[tuple[int, int]]) -> NDArray[np.float64]:
        """``nearest`` with the (format position, site position) additions."""
        d = self.nearest.copy()
        for f, s in adds:
            d[:, f] = np.fmin(d[:, f], self.dist[:, s])
        return d


def circle_model(
    net: WalkNetwork, profile: Profile, evaluation: Evaluation, circle_id: str, sites: pd.DataFrame
) -> CircleModel:
    """The circle's :class:`CircleModel` from ``evaluation`` (of the city on ``net``) and the city's
    candidate ``sites``."""
    comm = evaluation.communities
    mine = (comm["circle_id"].astype(object) == str(circle_id)).to_numpy()
    n_f = len(profile.codes)
    acc = evaluation.access
    if len(acc) != len(comm) * n_f or (len(comm) and list(acc["format"].iloc[:n_f]) != list(profile.codes)):
        raise InputError(t("评估结果与业态配置不一致", "the evaluation does not match the profile"))
    nearest = acc["nearest_m"].to_numpy(float).reshape(len(comm), n_f)[mine]
    c = comm[mine].reset_index(drop=True)
    w = profile.walking
    kind = column(c, "kind", len(c), "object")
    weight = np.where(kind == INDUSTRIAL, 0.0, np.nan_to_num(column(c, "population", len(c))))
    layer = np.array([f.layer_min for f in profile.formats], dtype=float)
    q_layer = max(w.layers_min) if w.layers_min else 15.0
    radius, reach_15 = metres(layer, w.speed_kmh), float(metres(q_layer, w.speed_kmh))
    far = max(float(radius.max()) if n_f else 0.0, reach_15) * 1.001
    sites = sites.reset_index(drop=True)
    dist = np.full((len(c), len(sites)), np.inf)
    if len(c) and len(sites):
        demand = snap_lonlat(net, column(c, "lon", len(c)), column(c, "lat", len(c)), w.snap_max_m)
        cand = snap_lonlat(net, column(sites, "lon", len(sites)), column(sites, "lat", len(sites)), w.snap_max_m)
        cov = coverage_matrix(net, demand, cand, far).tocoo()
        dist[cov.row, cov.col] = cov.data
    rules = evaluation.rules
    return CircleModel(
        profile=profile,
        weight=weight.astype(float),
        nearest=nearest,
        dist=dist,
        sites=sites,
        room=site_room(sites),
        radius=radius,
        radius_old=metres(layer, w.elderly_speed_kmh),
        reach_15=reach_15,
        quality_min=rules.target("quality_min_formats", 5) if rules is not None else 5.0,
        classes=FormatClasses.of(profile),
    )


# ------------------------------------------------------------------------------------ 4-5. search
def shortfall(conds: list[tuple[str, Condition]], values: dict[str, float]) -> float:
    """How far the fixable conditions are from holding: per unmet condition, the distance to its
    threshold as a fraction of the threshold, plus 0.001 (so that meeting it exactly counts)."""
    total = 0.0
    for _, c in conds:
        x = values[c.indicator]
        if not c.holds(x):
            gap = c.value - x if math.isfinite(x) else c.value
            total += max(gap, 0.0) / max(abs(c.value), 1e-9) + 1e-3
    return total


def _holds(conds: list[tuple[str, Condition]], values: dict[str, float]) -> bool:
    return all(c.holds(values[c.indicator]) for _, c in conds)


def need_m2(profile: Profile, f: int) -> float:
    a = profile.formats[f].typical_floor_area_m2
    return float(a) if a is not None and np.isfinite(a) else 0.0


def gained(m: CircleModel, before: NDArray[np.float64], after: NDArray[np.float64], f: int) -> float:
    """Residents newly within format ``f``'s layer (default speed) between two ``nearest`` states."""
    new = within(after[:, f], m.radius[f]) & ~within(before[:, f], m.radius[f])
    return float(m.weight[new].sum())


def greedy_additions(
    m: CircleModel, conds: list[tuple[str, Condition]], *, max_additions: int = MAX_ADDITIONS
) -> list[tuple[int, int]]:
    """(format position, site position) pairs chosen greedily until the fixable conditions ``conds``
    hold in the model (see the module docstring, step 4); stops early when no pair helps."""
    unmet = [(g, c) for g, c in conds if not c.holds(m.values()[c.indicator])]
    classes = {FIXABLE[c.indicator] for _, c in unmet}
    fmts = [i for i, f in enumerate(m.profile.formats) if f.cls in classes]
    room = m.room.copy()
    chosen: list[tuple[int, int]] = []
    state = m.nearest.copy()
    while len(chosen) < max_additions and not _holds(conds, m.values(state)):
        base = shortfall(conds, m.values(state))
        best: tuple[float, ...] | None = None
        for f in fmts:
            reach = max(m.radius[f], m.reach_15)
            ok_sites = np.flatnonzero(fits(room, need_m2(m.profile, f)) & (m.dist <= reach).any(axis=0))
            for j in ok_sites:
                s = int(j)
                if (f, s) in chosen:
                    continue
                col = np.fmin(state[:, f], m.dist[:, s])
                moved = (
                    (within(col, m.radius[f]) != within(state[:, f], m.radius[f]))
                    | (within(col, m.radius_old[f]) != within(state[:, f], m.radius_old[f]))
                    | (within(col, m.reach_15) != within(state[:, f], m.reach_15))
                )
                if not moved.any():
                    continue
                trial = state.copy()
                trial[:, f] = col
                gain = base - shortfall(conds, m.values(trial))
                res = gained(m, state, trial, f)
                key = (round(gain, 12), res, float(m.weight[moved].sum()), -need_m2(m.profile, f), -f, -s)
                if best is None or key > best:
                    best = key
        if best is None or max(best[:3]) <= 0:
            break
        add = (-int(best[4]), -int(best[5]))
        chosen.append(add)
        state[:, add[0]] = np.fmin(state[:, add[0]], m.dist[:, add[1]])
        if np.isfinite(room[add[1]]):
            room[add[1]] -= need_m2(m.profile, add[0])
    return chosen


def prune_additions(
    m: CircleModel, conds: list[tuple[str, Condition]], chosen: list[tuple[int, int]]
) -> list[tuple[int, int]]:
    """Drop every addition the others make unnecessary (smallest residents gain tried first), so
    that removing any one of those left breaks a fixable condition. Only when they all hold."""
    if not _holds(conds, m.values(m.with_additions(chosen))):
        return chosen
    keep = list(chosen)

    def alone(p: tuple[int, int]) -> float:
        return gained(m, m.nearest, m.with_additions([p]), p[0])

    for p in sorted(chosen, key=alone):
        rest = [q for q in keep if q != p]
        if _holds(conds, m.values(m.with_additions(rest))):
            keep = rest
    return keep


def distinct_gain(m: CircleModel | None, adds: list[tuple[int, int]]) -> float:
    """Residents newly within the layer of at least one added format (people)."""
    if m is None or not adds:
        return 0.0
    after = m.with_additions(adds)
    fs = sorted({f for f, _ in adds})
    new = (within(after[:, fs], m.radius[fs]) & ~within(m.nearest[:, fs], m.radius[fs])).any(axis=1)
    return float(m.weight[new].sum())
