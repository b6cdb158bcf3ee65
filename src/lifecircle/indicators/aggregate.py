"""Small numeric helpers of the evaluation: reading table columns as arrays, sums per group,
safe ratios, and the population-weighted indicators of a grouping of communities (a circle, a
district, the city). Populations are residents (persons), floor areas m², shares 0..1."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from numpy.typing import NDArray


def group_sum(idx: NDArray[np.int64], n: int, values: NDArray) -> NDArray[np.float64]:
    """Sum of ``values`` (1-D or 2-D rows) per group ``idx`` (``-1`` = no group)."""
    ok = idx >= 0
    values = np.asarray(values, dtype=float)
    if values.ndim == 1:
        return np.bincount(idx[ok], weights=values[ok], minlength=n)[:n].astype(np.float64, copy=False)
    out = np.zeros((n, values.shape[1]))
    np.add.at(out, idx[ok], values[ok])
    return out


def ratio(num: NDArray | float, den: NDArray | float) -> NDArray:
    """``num / den`` where ``den > 0``, NaN elsewhere (no warnings)."""
    num = np.asarray(num, dtype=float)
    den = np.asarray(den, dtype=float)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, num / np.where(den > 0, den, 1.0), np.nan)


def column(df: pd.DataFrame, name: str, n: int, dtype: str = "float") -> NDArray:
    """Column ``name`` of ``df`` as an array of length ``n``: floats (NaN where missing or not a
    number) or objects (``dtype="object"``, None where the column is missing)."""
    if name not in df.columns:
        return np.full(n, np.nan) if dtype == "float" else np.full(n, None, dtype=object)
    if dtype == "float":
        return pd.to_numeric(df[name], errors="coerce").to_numpy(dtype=float, na_value=np.nan)
    return df[name].to_numpy(dtype=object, copy=True)


def codes(values: NDArray, ids: list[str]) -> NDArray[np.int64]:
    """Position of each value in ``ids`` (``-1`` for an empty, non-text or unknown value)."""
    index = {v: i for i, v in enumerate(ids)}
    return np.array([index.get(str(v), -1) if isinstance(v, str) and v else -1 for v in values], dtype=np.int64)


def count_per(idx: NDArray[np.int64], n: int, mask: NDArray[np.bool_] | None = None) -> NDArray[np.int64]:
    """Number of items per group ``idx`` (``-1`` = no group), only those in ``mask`` if given."""
    ok = idx >= 0 if mask is None else (idx >= 0) & mask
    return np.bincount(idx[ok], minlength=n)[:n]


@dataclass
class CommunityValues:
    """Per-community arrays (rows in the communities table's order, columns in ``profile.codes``
    order) that every level sums: ``weight`` = residents (0 for industrial communities), persons."""

    weight: NDArray[np.float64]
    within: NDArray[np.bool_]  # (n_communities, n_formats): nearest outlet within the format's layer
    within_elderly: NDArray[np.bool_]  # the same at the older residents' speed
    within_15: NDArray[np.bool_]  # within the largest walking layer (15 min) at the default speed
    basic_complete: NDArray[np.bool_]
    basic_complete_elderly: NDArray[np.bool_]
    smart_any: NDArray[np.bool_]
    quality_ok: NDArray[np.bool_]  # at least [targets].quality_min_formats quality formats within 15 min
    service_area_m2: NDArray[np.float64]  # NaN where not reported
    households: NDArray[np.float64]  # NaN where not reported
    commercial_share: NDArray[np.float64]  # new communities with floor area; NaN elsewhere
    commercial_ok: NDArray[np.bool_]


@dataclass
class Groups:
    """Population-weighted indicators for a grouping of communities (one row per group)."""

    pop: NDArray  # residents, persons
    n_comm: NDArray
    basic_coverage: NDArray
    elderly_basic_coverage: NDArray
    smart_coverage: NDArray
    quality_coverage: NDArray
    covered: NDArray  # residents within layer, (n_groups, n_formats)
    covered_old: NDArray
    any_within: NDArray  # (n_groups, n_formats) bool: some community reaches it within its layer
    any_within_15: NDArray
    service_area_per_100hh: NDArray  # m² per 100 households
    new_commercial_ok_share: NDArray


def group_indicators(idx: NDArray[np.int64], n: int, c: CommunityValues) -> Groups:
    """The indicators of ``n`` groups whose members are given by ``idx`` (group of each community,
    ``-1`` = none)."""
    w = c.weight
    pop = group_sum(idx, n, w)
    has_sa = np.isfinite(c.service_area_m2)
    sa = group_sum(np.where(has_sa, idx, -1), n, np.nan_to_num(c.service_area_m2))
    hh = group_sum(np.where(has_sa, idx, -1), n, np.nan_to_num(c.households))
    has_cs = np.isfinite(c.commercial_share)
    n_new = group_sum(np.where(has_cs, idx, -1), n, np.ones(len(idx)))
    n_ok = group_sum(np.where(has_cs, idx, -1), n, c.commercial_ok.astype(float))
    return Groups(
        pop=pop,
        n_comm=count_per(idx, n),
        basic_coverage=ratio(group_sum(idx, n, w * c.basic_complete), pop),
        elderly_basic_coverage=ratio(group_sum(idx, n, w * c.basic_complete_elderly), pop),
        smart_coverage=ratio(group_sum(idx, n, w * c.smart_any), pop),
        quality_coverage=ratio(group_sum(idx, n, w * c.quality_ok), pop),
        covered=group_sum(idx, n, w[:, None] * c.within),
        covered_old=group_sum(idx, n, w[:, None] * c.within_elderly),
        any_within=group_sum(idx, n, c.within) > 0,
        any_within_15=group_sum(idx, n, c.within_15) > 0,
        service_area_per_100hh=ratio(100.0 * sa, hh),
        new_commercial_ok_share=ratio(n_ok, n_new),
    )


def mean_share(covered: NDArray, pop: NDArray, mask: NDArray[np.bool_]) -> NDArray:
    """Mean over the formats in ``mask`` of the population share covered (NaN without residents)."""
    if not mask.any():
        return np.full(len(pop), np.nan)
    return ratio(covered[:, mask].mean(axis=1), pop)


def completeness(any_within: NDArray[np.bool_], basic: NDArray[np.bool_]) -> NDArray | float:
    """Share of the basic formats that some community of each group reaches within its layer."""
    n_basic = int(basic.sum())
    return (any_within[:, basic].sum(axis=1) / n_basic) if n_basic else np.nan
