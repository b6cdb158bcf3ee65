"""Settings of the one-plan-per-circle policy (一圈一策): :class:`PolicySettings` and
:func:`load_policy` (``lifecircle/profiles/policy-*.toml``), the solver methods (:data:`METHODS`) and
the names of the candidate-site kinds (:data:`SITE_KIND_NAMES`).

Used by :mod:`lifecircle.plans.format_sites` (sites for one format), :mod:`lifecircle.plans.policy`
(the plan of a circle) and :mod:`lifecircle.plans.gapfill`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lifecircle.config import read_config, unknown_keys
from lifecircle.errors import ConfigError
from lifecircle.i18n import t

DEFAULT_POLICY = "policy-yichang-2022"
SITE_KIND_NAMES = {
    "idle_factory": ("闲置厂房", "idle factory"),
    "warehouse": ("仓库", "warehouse"),
    "public_housing": ("公有房屋", "public housing"),
    "vacant_shop": ("空置商铺", "vacant shop"),
    "public_building": ("公共建筑", "public building"),
}
METHODS = ("auto", "exact", "heuristic")


@dataclass(frozen=True)
class PolicySettings:
    """How a circle's plan is drawn up (see ``policy-yichang-2022.toml`` for each key)."""

    name: str = DEFAULT_POLICY
    title_zh: str = ""
    title_en: str = ""
    version: str = ""
    k_per_format: int = 1
    plan_classes: tuple[str, ...] = ("basic", "quality")
    max_formats: int = 12
    method: str = "auto"
    old_first_min_ratio: float = 0.8
    new_outlets_chain: bool = True


def load_policy(name_or_path: str | Path = DEFAULT_POLICY) -> PolicySettings:
    """Policy settings by built-in name or TOML path; every problem is reported at once."""
    raw, src = read_config(name_or_path, what_zh="一圈一策参数", what_en="policy", prefix="policy-")
    raw = raw.get("policy", {})
    problems: list[str] = []
    known = PolicySettings.__dataclass_fields__
    problems.extend(msg for _, msg in unknown_keys(raw, known, table="policy"))
    vals: dict[str, Any] = {}
    for key, fld in known.items():
        if key not in raw:
            continue
        v, default = raw[key], fld.default
        ok = True
        if isinstance(default, bool):
            ok = isinstance(v, bool)
        elif isinstance(default, int):
            ok = isinstance(v, int) and not isinstance(v, bool) and v >= (0 if key == "k_per_format" else 1)
        elif isinstance(default, float):
            ok = isinstance(v, int | float) and not isinstance(v, bool) and 0 <= float(v) <= 1
            v = float(v) if ok else v
        elif isinstance(default, tuple):
            ok = isinstance(v, list) and all(isinstance(x, str) for x in v)
            v = tuple(v) if ok else v
        else:
            ok = isinstance(v, str) and (key != "method" or v in METHODS)
        if ok:
            vals[key] = v
        else:
            problems.append(t(f"[policy] {key} = {v!r} 无效", f"[policy] {key} = {v!r} is invalid"))
    if problems:
        raise ConfigError(f"{src}: " + "; ".join(problems))
    return PolicySettings(**vals)
