"""Two surfaces of the same city compared (a scenario against the base, or two scenarios): a
gain/loss surface and before/after histograms of residents by walking time (as Conveyal draws).

Both surfaces must be built on the same cells (a scenario that only adds or closes outlets keeps
the base network; new links can add cells, which are compared where both have a value)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from lifecircle.indicators.fairness import histogram
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
