"""Plan settings (``plan-*.toml``): phases, per-district circle quotas, and the ``[delineation]``
and ``[community_types]`` settings. Populations in residents, distances in metres, times in
minutes (walks) or seconds (solver time limits)."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lifecircle.config import builtin_configs, read_config, unknown_keys
from lifecircle.errors import ConfigError, ProblemCollector
from lifecircle.i18n import t

DEFAULT_PLAN = "plan-yichang-2022"


@dataclass(frozen=True)
class DistrictQuota:
    """Circles a district must form in each phase (``quotas[phase]``)."""

    code: str
    name_zh: str
    name_en: str
    quotas: dict[str, int]

    @property
    def total(self) -> int:
        return sum(self.quotas.values())


@dataclass(frozen=True)
class DelineationSettings:
    """How circles are delineated; see ``[delineation]`` of ``plan-yichang-2022.toml`` for the
    meaning of each key. Populations in residents, distances in metres, times in minutes/seconds."""

    walk_min: float = 15.0
    min_population: float = 50_000
    max_population: float = 100_000
    search_factor: float = 3.0
    closeness_weight: float = 0.05
    outside_penalty: float = 5.0
    size_penalty: float = 2.0
    exact_max_pairs: int = 200_000
    exact_time_limit_s: float = 10.0
    swap_max_rounds: int = 100
    cell_radius_m: float = 600.0


@dataclass(frozen=True)
class CommunityTypeSettings:
    """Community-type rules (M4); see ``[community_types]`` of the plan TOML."""

    new_commercial_share: float = 0.10
    old_commercial_m2_per_1000: float = 600.0
    old_site_kinds: tuple[str, ...] = ("idle_factory", "warehouse", "public_housing")
    old_site_walk_min: float = 10.0
    old_sites_per_community: int = 5
    over_supply_factor: float = 3.0
    over_supply_min: int = 6


@dataclass(frozen=True)
class PlanConfig:
    """A plan: phases, district quotas, delineation and community-type settings."""

    name: str
    title_zh: str
    title_en: str
    version: str
    source: str
    phases: tuple[str, ...]
    districts: tuple[DistrictQuota, ...]
    delineation: DelineationSettings
    community_types: CommunityTypeSettings

    def quotas(self) -> dict[str, tuple[int, ...]]:
        """Quota per district code, one number per phase (in ``phases`` order)."""
        return {d.code: tuple(d.quotas.get(p, 0) for p in self.phases) for d in self.districts}

    def district_names(self) -> dict[str, str]:
        return {d.code: t(d.name_zh, d.name_en) for d in self.districts}


def builtin_plans() -> list[str]:
    """Names of the plan files shipped with lifecircle."""
    return builtin_configs("plan-")


def _settings(cls: type, raw: Any, table: str, src: str, bag: ProblemCollector) -> Any:
    if raw is None:
        return cls()
    if not isinstance(raw, dict):
        bag.add(t(f"[{table}] 应为表", f"[{table}] must be a table"), field=table)
        return cls()
    known = {f.name: f for f in dataclasses.fields(cls)}
    for k, msg in unknown_keys(raw, known, table=table):
        bag.add(msg, field=f"{table}.{k}")
    vals: dict[str, Any] = {}
    for key, fld in known.items():
        if key not in raw:
            continue
        v = raw[key]
        default = fld.default
        try:
            if isinstance(default, tuple):
                if not isinstance(v, list) or not all(isinstance(x, str) for x in v):
                    raise ValueError
                vals[key] = tuple(v)
            elif isinstance(default, int) and not isinstance(default, bool):
                if isinstance(v, bool) or float(v) != int(v) or int(v) < 0:
                    raise ValueError
                vals[key] = int(v)
            else:
                if isinstance(v, bool) or not math.isfinite(float(v)) or float(v) < 0:
                    raise ValueError
                vals[key] = float(v)
        except (TypeError, ValueError):
            bag.add(
                t(
                    f"[{table}] {key} = {v!r} 无效（应为非负数字或字符串列表）",
                    f"[{table}] {key} = {v!r} is invalid (a non-negative number or list of strings)",
                ),
                field=f"{table}.{key}",
            )
    return cls(**vals)


def load_plan(name_or_path: str | Path = DEFAULT_PLAN) -> PlanConfig:
    """Load a plan by built-in name (``plan-yichang-2022``) or TOML path; every problem in the file
    is reported at once as a :class:`ConfigError`."""
    raw, src = read_config(name_or_path, what_zh="规划", what_en="plan", prefix="plan-")
    bag = ProblemCollector(file=src)
    meta = raw.get("plan", {})
    phases = tuple(str(p) for p in meta.get("phases", ["pilot", "rollout"]))
    if not phases or len(set(phases)) != len(phases):
        bag.add(
            t("[plan] phases 应为不重复的阶段名列表", "[plan] phases must be a list of distinct phase names"),
            field="plan.phases",
        )
    districts: list[DistrictQuota] = []
    seen: set[str] = set()
    for i, d in enumerate(raw.get("district", []), start=1):
        code = str(d.get("code", "")).strip()
        where = t(f"第 {i} 个 [[district]]", f"[[district]] #{i}")
        if not code:
            bag.add(t(f"{where}: 缺少 code", f"{where}: code is missing"), field="district.code")
            continue
        if code in seen:
            bag.add(t(f"{where}: 区代码 {code} 重复", f"{where}: district code {code} repeats"), field="district.code")
        seen.add(code)
        quotas: dict[str, int] = {}
        for p in phases:
            v = d.get(p, 0)
            if isinstance(v, bool) or not isinstance(v, int) or v < 0:
                bag.add(
                    t(
                        f"{where} ({code}): {p} 应为非负整数，而不是 {v!r}",
                        f"{where} ({code}): {p} must be a whole number >= 0, not {v!r}",
                    ),
                    field=f"district.{p}",
                )
                v = 0
            quotas[p] = int(v)
        districts.append(
            DistrictQuota(code, str(d.get("name_zh", code)), str(d.get("name_en", d.get("name_zh", code))), quotas)
        )
    if not districts:
        bag.add(t("规划中没有任何 [[district]] 配额", "the plan has no [[district]] quotas"), field="district")
    dl = _settings(DelineationSettings, raw.get("delineation"), "delineation", src, bag)
    ct = _settings(CommunityTypeSettings, raw.get("community_types"), "community_types", src, bag)
    if dl.min_population > dl.max_population:
        bag.add(
            t("min_population 大于 max_population", "min_population is above max_population"),
            field="delineation.min_population",
        )
    if dl.walk_min <= 0:
        bag.add(t("walk_min 须大于 0", "walk_min must be > 0"), field="delineation.walk_min")
    if bag.problems:
        raise ConfigError("; ".join(str(p) for p in bag.problems))
    return PlanConfig(
        name=str(meta.get("name", Path(src).stem)),
        title_zh=str(meta.get("title_zh", "")),
        title_en=str(meta.get("title_en", "")),
        version=str(meta.get("version", "")),
        source=str(meta.get("source", "")),
        phases=phases,
        districts=tuple(districts),
        delineation=dl,
        community_types=ct,
    )
