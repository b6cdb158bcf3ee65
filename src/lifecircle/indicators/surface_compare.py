"""Two surfaces of the same city compared (a scenario against the base, or two scenarios): a
gain/loss surface and before/after histograms of residents by walking time (as Conveyal draws).

Both surfaces must be built on the same cells (a scenario that only adds or closes outlets keeps
the base network; new links can add cells, which are compared where both have a value)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from lifecircle.indicators.fairness import f15, histogram, resident_times
from lifecircle.indicators.surface import ALL_BASIC, Surface, surface_table


def gain_loss(before: Surface, after: Surface, formats: list[str] | None = None):  # -> GeoDataFrame
    """Per cell of ``after`` and format: ``before_<code>``, ``after_<code>`` (minutes) and
    ``gain_<code>`` = before − after (minutes saved; negative = a loss; a cell that now reaches a
    format it did not is given ``inf``, one that no longer does ``-inf``; NaN where neither does)."""
    codes = formats or after.codes
    g = surface_table(after, codes)
    keep = ["h3", "district", "population", "elderly", "n_nodes", "geometry"]
    g = g[keep].copy()
    pos = pd.Series(np.arange(len(before.cells)), index=before.cells["h3"])
    idx = pos.reindex(after.cells["h3"]).to_numpy()
    known = np.isfinite(idx)
    mb, ma = before.minutes(), after.minutes()
    for code in codes:
        f = after.column(code)
        b = np.full(len(after.cells), np.nan)
        b[known] = mb[idx[known].astype(int), before.column(code)]
        a = ma[:, f]
        with np.errstate(invalid="ignore"):
            gain = b - a
        gain = np.where(np.isinf(b) & np.isinf(a), np.nan, gain)
        g[f"before_{code}"] = np.where(np.isfinite(b), b, np.nan)
        g[f"after_{code}"] = np.where(np.isfinite(a), a, np.nan)
        g[f"gain_{code}"] = gain
    return g


def histograms(
    before: Surface, after: Surface, formats: list[str] | None = None, elderly: bool = False
) -> pd.DataFrame:
    """Residents by walking time before and after: format, from_min, to_min, before, after."""
    parts = []
    for code in formats or [*after.codes, ALL_BASIC]:
        hb = histogram(before, code, elderly=elderly)
        ha = histogram(after, code, elderly=elderly)
        parts.append(
            pd.DataFrame(
                {
                    "format": code,
                    "from_min": hb["from_min"],
                    "to_min": hb["to_min"],
                    "before": hb["residents"],
                    "after": ha["residents"],
                }
            )
        )
    return pd.concat(parts, ignore_index=True)


GAIN_TOL_MIN = 0.05  # minutes: a smaller change of walking time counts as no change


@dataclass
class Comparison:
    """Two surfaces of the same city to compare in the reports: ``before`` (the base, or a
    scenario) named ``before_name`` and ``after`` (a scenario) named ``after_name``; ``format``: the
    format whose gain/loss surface is drawn (None: :func:`most_gaining_format`)."""

    before: Surface
    after: Surface
    before_name: str
    after_name: str
    format: str | None = None
    _g: Any = field(default=None, repr=False)

    def gain_loss(self):  # -> GeoDataFrame
        """:func:`gain_loss` of every format of ``after`` (computed once)."""
        if self._g is None:
            self._g = gain_loss(self.before, self.after)
        return self._g

    def changes(self) -> pd.DataFrame:
        """:func:`format_changes` of the two surfaces."""
        return format_changes(self.before, self.after, self.gain_loss())

    def shown_format(self) -> str:
        """The format drawn: ``format``, else the one with the most residents gaining."""
        if self.format is not None:
            self.after.column(self.format)  # unknown code: one line naming the known ones
            return self.format
        return most_gaining_format(self.changes())


def format_changes(before: Surface, after: Surface, g=None) -> pd.DataFrame:
    """Per format of ``after``: ``gaining`` and ``losing`` (residents of cells whose walk gets
    shorter / longer by more than :data:`GAIN_TOL_MIN` minutes, or who now reach / no longer reach
    an outlet of it), ``mean_saved_min`` (population-weighted mean minutes saved by the residents
    whose walk changed and who reach it both before and after; NaN when none), ``f15_before`` and
    ``f15_after`` (share 0..1 of residents within 15 minutes). ``g``: a :func:`gain_loss` table
    already computed (of every format)."""
    g = gain_loss(before, after) if g is None else g
    pop = g["population"].to_numpy(float)
    shares: dict[str, dict[str, float]] = {}
    for name, s in (("before", before), ("after", after)):
        times, codes = resident_times(s)
        w = s.residents.table["population"].to_numpy(float)
        shares[name] = {c: f15(times[:, j], w) for j, c in enumerate(codes)}
    rows = []
    for code in after.codes:
        gain = g[f"gain_{code}"].to_numpy(float)
        up, down = np.nan_to_num(gain, nan=0.0) > GAIN_TOL_MIN, np.nan_to_num(gain, nan=0.0) < -GAIN_TOL_MIN
        moved = (up | down) & np.isfinite(gain)
        w = pop[moved]
        rows.append(
            {
                "format": code,
                "gaining": float(pop[up].sum()),
                "losing": float(pop[down].sum()),
                "mean_saved_min": float(np.average(gain[moved], weights=w)) if w.sum() > 0 else np.nan,
                "f15_before": shares["before"].get(code, np.nan),
                "f15_after": shares["after"][code],
            }
        )
    return pd.DataFrame(rows)


def most_gaining_format(changes: pd.DataFrame) -> str:
    """The format with the most residents gaining (a :func:`format_changes` table); ties and no
    gain at all: the first in the table (the profile's order)."""
    return str(changes["format"].iloc[int(np.argmax(changes["gaining"].to_numpy(float)))])
