"""Fairness of walking access across residents, from the walking-time surface.

Each resident takes the value of the cell they live in (see :mod:`lifecircle.indicators.surface`).
Per format, and for all basic formats together (``all_basic``: the walk to the farthest of the
nearest basic outlets, i.e. the time within which every basic format is reached):

- ``mean_min``: population-weighted mean walking time (minutes) of residents who reach one;
- ``f15``: share of residents within 15 minutes (unreachable = beyond);
- ``f_layer``: share within the format's own walking layer (``all_basic``: every basic format
  within its own layer);
- ``gini``: Gini index of access time across residents who reach one (0 = everyone equal), with
  the Lorenz curve (:func:`lorenz`);
- ``unreachable``: share of residents who reach no outlet of the format.

For everyone (group ``all``, the profile's speed) and for older residents (``elderly``: residents
× ``elderly_share``, at the older residents' speed); for the city, per district and per circle.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from lifecircle.indicators.surface import ALL_BASIC, Surface
from lifecircle.network.engine import metres, within
from lifecircle.profile import Profile

F15_MIN = 15.0
GROUPS = ("all", "elderly")


def lorenz(x: NDArray, w: NDArray | None = None) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Lorenz curve of ``x`` (finite, ≥ 0) weighted by ``w``: cumulative share of people ``p`` (sorted
    by ``x`` ascending) against their cumulative share of the total ``L``; both start at 0."""
    x = np.asarray(x, dtype=float)
    w = np.ones_like(x) if w is None else np.asarray(w, dtype=float)
    keep = w > 0
    x, w = x[keep], w[keep]
    order = np.argsort(x, kind="stable")
    x, w = x[order], w[order]
    p = np.concatenate([[0.0], np.cumsum(w)])
    L = np.concatenate([[0.0], np.cumsum(w * x)])
    if p[-1] > 0:
        p /= p[-1]
    L = L / L[-1] if L[-1] > 0 else p.copy()  # everyone at 0: the line of equality
    return p, L


def gini(x: NDArray, w: NDArray | None = None) -> float:
    """Gini index of ``x`` weighted by ``w`` (population): 1 − 2 × area under the Lorenz curve;
    0 when everyone is equal. NaN without people."""
    p, L = lorenz(x, w)
    if len(p) < 2:
        return float("nan")
    return float(1.0 - np.sum(np.diff(p) * (L[1:] + L[:-1])))


def resident_times(s: Surface, elderly: bool = False) -> tuple[NDArray[np.float64], list[str]]:
    """Minutes per resident row (the surface's residents table) and format, plus ``all_basic``
    as the last column (``inf`` = unreachable)."""
    m = s.minutes(elderly)[s.residents.table["cell"].to_numpy()]
    basic = m[:, s.basic].max(axis=1) if s.basic.any() else np.full(len(m), np.nan)
    return np.column_stack([m, basic]), [*s.codes, ALL_BASIC]


def _within_layer(s: Surface, elderly: bool) -> NDArray[np.bool_]:
    speed = s.elderly_speed_kmh if elderly else s.speed_kmh
    d = s.dist_m[s.residents.table["cell"].to_numpy()]
    inside = within(d, metres(s.layer_min, speed)[None, :])
    every = inside[:, s.basic].all(axis=1) if s.basic.any() else np.zeros(len(d), bool)
    return np.column_stack([inside, every])


def f15(times: NDArray, w: NDArray) -> float:
    """F15: the share (0..1) of residents (weights ``w``) whose walk ``times`` (minutes; inf =
    none reachable) is within 15 minutes; NaN without residents."""
    total = float(w.sum())
    return float(w[within(times, F15_MIN)].sum() / total) if total > 0 else np.nan


def city_f15(s: Surface, elderly: bool = False) -> float:
    """The city's F15 for every basic format (``all_basic``): :func:`f15` of each resident's walk
    (minutes) to the farthest of their nearest basic outlets, weighted by residents — older
    residents (``elderly``) at their own speed; 0..1, NaN without residents. The figure of
    :func:`fairness_table`'s city row for ``all_basic``."""
    times, _ = resident_times(s, elderly)
    return f15(times[:, -1], s.residents.table["elderly" if elderly else "population"].to_numpy(float))


def _figures(times: NDArray, in_layer: NDArray, w: NDArray) -> dict[str, float]:
    total = float(w.sum())
    reach = np.isfinite(times)
    wr = w[reach]
    return {
        "residents": total,
        "mean_min": float(np.average(times[reach], weights=wr)) if wr.sum() > 0 else np.nan,
        "f15": f15(times, w),
        "f_layer": float(w[in_layer].sum() / total) if total > 0 else np.nan,
        "gini": gini(times[reach], wr) if wr.sum() > 0 else np.nan,
        "unreachable": float(w[~reach].sum() / total) if total > 0 else np.nan,
    }


def _units(s: Surface, by: str | None) -> NDArray[np.object_]:
    r = s.residents.table
    if by is None:
        return np.full(len(r), "", dtype=object)
    if by == "district":
        own = r["district"].astype(str).to_numpy()
        of_cell = s.cells["district"].to_numpy()[r["cell"].to_numpy()]
        return np.where(own != "", own, of_cell)
    if by == "circle":
        return r["circle_id"].astype(str).to_numpy()
    raise ValueError(f"by must be None, 'district' or 'circle', not {by!r}")


def fairness_table(s: Surface, profile: Profile, by: str | None = None) -> pd.DataFrame:
    """Fairness figures, one row per unit × format (and ``all_basic``) × group: ``level`` (city,
    district, circle), ``unit``, ``format``, ``format_zh``, ``group``, and the figures of the
    module's notes. ``by``: None (the city), ``"district"`` or ``"circle"`` (residents outside
    every circle are left out)."""
    r = s.residents.table
    units = _units(s, by)
    names = {f.code: f.zh for f in profile.formats} | {ALL_BASIC: "全部基础业态"}
    rows = []
    for group in GROUPS:
        old = group == "elderly"
        times, codes = resident_times(s, old)
        in_layer = _within_layer(s, old)
        weight = r["elderly" if old else "population"].to_numpy(float)
        for unit in sorted(set(units)) if by else [""]:
            if by == "circle" and unit == "":
                continue
            m = units == unit
            for j, code in enumerate(codes):
                fig = _figures(times[m, j], in_layer[m, j], weight[m])
                rows.append(
                    {
                        "level": by or "city",
                        "unit": unit,
                        "format": code,
                        "format_zh": names[code],
                        "group": group,
                        **fig,
                    }
                )
    return pd.DataFrame(rows)


def lorenz_table(s: Surface, formats: list[str] | None = None, points: int = 21) -> pd.DataFrame:
    """Lorenz curves of access time across the city's residents, sampled at ``points`` evenly
    spaced population shares: format, group, p (share of residents), L (share of total time)."""
    grid = np.linspace(0.0, 1.0, points)
    rows: list[dict[str, object]] = []
    for group in GROUPS:
        old = group == "elderly"
        times, codes = resident_times(s, old)
        w = s.residents.table["elderly" if old else "population"].to_numpy(float)
        for j, code in enumerate(codes):
            if formats and code not in formats:
                continue
            reach = np.isfinite(times[:, j])
            p, L = lorenz(times[reach, j], w[reach])
            Lg = np.interp(grid, p, L) if len(p) > 1 else np.full(points, np.nan)
            rows.extend({"format": code, "group": group, "p": a, "L": b} for a, b in zip(grid, Lg, strict=True))
    return pd.DataFrame(rows)


def histogram(s: Surface, code: str, bins_min: NDArray | None = None, elderly: bool = False) -> pd.DataFrame:
    """Residents by walking time to ``code`` (or ``all_basic``): ``from_min, to_min, residents``;
    the last bin is open (to ``inf``) and holds the unreachable too."""
    edges = np.asarray(bins_min if bins_min is not None else [0, 5, 10, 15, 20, 30, 45, 60], dtype=float)
    times, codes = resident_times(s, elderly)
    x = times[:, codes.index(code)]
    x = np.where(np.isfinite(x), x, np.inf)
    w = s.residents.table["elderly" if elderly else "population"].to_numpy(float)
    full = np.concatenate([edges, [np.inf]])
    idx = np.clip(np.searchsorted(full, x, side="right") - 1, 0, len(edges) - 1)
    counts = np.bincount(idx, weights=w, minlength=len(edges))
    return pd.DataFrame({"from_min": edges, "to_min": full[1:], "residents": counts})
