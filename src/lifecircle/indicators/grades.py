"""Grades of living circles (基础型 / 提升型 / 品质型) from an editable rule file.

The rules are data (``lifecircle/profiles/grading-yichang-2022.toml`` or a city's own TOML file):
grades from lowest to highest, each a list of conditions ``indicator op value`` on circle
indicators. Grades are cumulative: a circle gets the highest grade whose conditions hold together
with those of every lower grade, else 未达标 (``none``). Every grade keeps the conditions that
decided it — the met conditions of the grade reached and the unmet ones of the next grade — with
their values, in Chinese with English available.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lifecircle.config import builtin_configs, read_config
from lifecircle.errors import ConfigError
from lifecircle.i18n import t

DEFAULT_RULES = "grading-yichang-2022"
NONE_CODE = "none"
NONE_ZH = "未达标"
NONE_EN = "Not graded"

# Circle indicators a condition may use: code -> (Chinese name, English name, unit kind).
# Kinds: "share" (0..1, shown as %), "count", "m2" (m² per 100 households), "people".
INDICATORS: dict[str, tuple[str, str, str]] = {
    "basic_coverage": ("基本保障类业态全覆盖居民比例", "residents reaching every basic format", "share"),
    "elderly_basic_coverage": ("老年步速下基本业态全覆盖居民比例", "basic coverage at older residents' speed", "share"),
    "basic_format_coverage": ("基本保障类业态平均覆盖率", "mean coverage of the basic formats", "share"),
    "elderly_basic_format_coverage": (
        "老年步速下基本业态平均覆盖率",
        "mean basic-format coverage at older residents' speed",
        "share",
    ),
    "basic_completeness": ("基本保障类业态齐全度", "basic-format completeness", "share"),
    "quality_formats_present": ("15分钟内品质提升类业态数", "quality formats within 15 min", "count"),
    "quality_coverage": ("品质业态覆盖居民比例", "residents with enough quality formats", "share"),
    "chain_share": ("连锁网点占比", "chain share of outlets", "share"),
    "new_commercial_ok_share": (
        "新建小区商业面积达标比例",
        "new communities meeting the commercial floor-area rule",
        "share",
    ),
    "service_area_per_100hh": ("每百户社区服务设施面积", "service floor area per 100 households", "m2"),
    "smart_coverage": ("智能设施覆盖居民比例", "residents reaching a smart facility", "share"),
    "satisfaction": ("居民满意度", "resident satisfaction", "share"),
    "population": ("常住人口", "residents", "people"),
    "n_communities": ("小区数", "communities", "count"),
    "n_outlets": ("商业网点数", "outlets", "count"),
}

_OPS: dict[str, Callable[[float, float], bool]] = {
    ">=": operator.ge,
    ">": operator.gt,
    "<=": operator.le,
    "<": operator.lt,
    "==": operator.eq,
}
_NEGATE = {">=": "<", ">": "<=", "<=": ">", "<": ">=", "==": "≠"}


def indicator_name(code: str) -> str:
    """Display name of a circle indicator in the current language."""
    zh, en, _ = INDICATORS.get(code, (code, code, "count"))
    return t(zh, en)


def format_value(code: str, value: float | None) -> str:
    """A value of indicator ``code`` as text: shares in %, areas in m², counts as integers."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return t("无数据", "no data")
    kind = INDICATORS.get(code, ("", "", "count"))[2]
    if kind == "share":
        return f"{100 * value:.1f}%"
    if kind == "m2":
        return f"{value:.1f} m²"
    if float(value).is_integer():
        return f"{int(value)}"
    return f"{value:g}"


@dataclass(frozen=True)
class Condition:
    """``indicator op value``; ``if_missing`` says whether a NaN indicator passes or fails."""

    indicator: str
    op: str
    value: float
    if_missing: str = "fail"

    def holds(self, x: float | None) -> bool:
        if x is None or (isinstance(x, float) and math.isnan(x)):
            return self.if_missing == "pass"
        return bool(_OPS[self.op](float(x), self.value))

    def describe(self, x: float | None, met: bool) -> str:
        """One line for a grade's reasons, e.g. ``连锁网点占比 33.3% ≥ 30.0%``."""
        name = indicator_name(self.indicator)
        want = format_value(self.indicator, self.value)
        missing = x is None or (isinstance(x, float) and math.isnan(x))
        if missing:
            how = t("不适用", "not applicable") if met else t("无数据", "no data")
            return t(f"{name} {how}（要求 {self.op} {want}）", f"{name} {how} (needs {self.op} {want})")
        op = (
            self.op.replace(">=", "≥").replace("<=", "≤")
            if met
            else _NEGATE[self.op].replace(">=", "≥").replace("<=", "≤")
        )
        return f"{name} {format_value(self.indicator, x)} {op} {want}"


@dataclass(frozen=True)
class Grade:
    code: str
    zh: str
    en: str
    conditions: tuple[Condition, ...]

    def name(self) -> str:
        return t(self.zh, self.en)


@dataclass
class GradingRules:
    """Grades (lowest first), targets, gap settings and circle drawing settings from a rule file."""

    name: str
    grades: list[Grade]
    targets: dict[str, float] = field(default_factory=dict)
    gap_threshold: float = 0.8
    gap_classes: tuple[str, ...] = ("basic", "quality")
    priority_formats: tuple[str, ...] = ()
    hull_buffer_m: float = 200.0
    title_zh: str = ""
    title_en: str = ""
    version: str = ""
    source: str = ""

    def target(self, key: str, default: float) -> float:
        """A target value (``[targets]`` table) or ``default`` when the file does not set it."""
        return float(self.targets.get(key, default))

    def grade_names(self) -> dict[str, tuple[str, str]]:
        """code -> (Chinese, English) for every grade including ``none``."""
        names = {g.code: (g.zh, g.en) for g in self.grades}
        names[NONE_CODE] = (NONE_ZH, NONE_EN)
        return names


@dataclass
class GradeResult:
    """The grade of one circle and the conditions that decided it.

    ``met``: conditions of the grade reached (with values); ``unmet``: conditions of the next grade
    that failed (for ``none``: the failed 基础型 conditions). Each entry is
    ``(grade_code, condition, value)``.
    """

    code: str
    zh: str
    en: str
    met: list[tuple[str, Condition, float | None]]
    unmet: list[tuple[str, Condition, float | None]]
    next_zh: str = ""
    next_en: str = ""

    def reasons(self, lang: str | None = None) -> str:
        """The deciding indicators as one line (Chinese by default, ``lang="en"`` for English)."""
        from lifecircle.i18n import get_lang, set_lang

        old = get_lang()
        if lang is not None:
            set_lang(lang)
        try:
            parts = []
            if self.met:
                parts.append(
                    t("达到", "meets")
                    + f" {t(self.zh, self.en)}: "
                    + t("；", "; ").join(c.describe(v, True) for _, c, v in self.met)
                )
            if self.unmet:
                parts.append(
                    t("未达到", "misses")
                    + f" {t(self.next_zh, self.next_en)}: "
                    + t("；", "; ").join(c.describe(v, False) for _, c, v in self.unmet)
                )
            return t("。", ". ").join(parts)
        finally:
            if lang is not None:
                set_lang(old)


def grade_circle(values: Mapping[str, Any], rules: GradingRules) -> GradeResult:
    """Grade one circle from its indicator values (a mapping indicator -> number or NaN)."""
    reached: Grade | None = None
    nxt: Grade | None = None
    met_so_far: list[tuple[str, Condition, float | None]] = []
    unmet: list[tuple[str, Condition, float | None]] = []
    for g in rules.grades:
        checks = [(g.code, c, _value(values, c.indicator)) for c in g.conditions]
        failed = [x for x in checks if not x[1].holds(x[2])]
        if failed:
            unmet, nxt = failed, g
            break
        reached = g
        met_so_far = checks
    nz, ne = (nxt.zh, nxt.en) if nxt else ("", "")
    if reached is None:
        return GradeResult(NONE_CODE, NONE_ZH, NONE_EN, [], unmet, nz, ne)
    return GradeResult(reached.code, reached.zh, reached.en, met_so_far, unmet, nz, ne)


def _value(values: Mapping[str, Any], key: str) -> float | None:
    v = values.get(key)
    if v is None:
        return None
    try:
        return float(v)
    except (TypeError, ValueError):
        return None


# ---------------------------------------------------------------------------- loading
def builtin_rules() -> list[str]:
    """Names of the grading rule files shipped with lifecircle."""
    return builtin_configs("grading-")


def load_rules(name_or_path: str | Path | None = None) -> GradingRules:
    """Load grading rules by built-in name (``grading-yichang-2022``) or TOML path.

    Raises :class:`ConfigError` listing every problem in the file (unknown indicator, operator ...).
    """
    name_or_path = name_or_path or DEFAULT_RULES
    raw, src = read_config(name_or_path, what_zh="评定规则", what_en="grading rules", prefix="grading-")
    return parse_rules(raw, src)


def parse_rules(raw: dict[str, Any], src: str = "rules") -> GradingRules:
    """Build :class:`GradingRules` from a parsed TOML mapping, checking every entry."""
    problems: list[str] = []
    grades: list[Grade] = []
    seen: set[str] = set()
    for i, g in enumerate(raw.get("grade", []), start=1):
        code = str(g.get("code", "")).strip()
        where = t(f"第 {i} 个等级", f"grade #{i}") + (f" ({code})" if code else "")
        if not code:
            problems.append(t(f"{where}: 缺少 code", f"{where}: code is missing"))
        elif code in seen or code == NONE_CODE:
            problems.append(t(f"{where}: code 重复或保留", f"{where}: code repeats or is reserved"))
        seen.add(code)
        conds: list[Condition] = []
        for j, c in enumerate(g.get("conditions", []), start=1):
            cw = t(f"{where} 第 {j} 个条件", f"{where} condition #{j}")
            ind = c.get("indicator")
            if ind not in INDICATORS:
                problems.append(
                    t(
                        f"{cw}: 未知指标 '{ind}'；可用：{', '.join(INDICATORS)}",
                        f"{cw}: unknown indicator '{ind}'; known: {', '.join(INDICATORS)}",
                    )
                )
                continue
            op = c.get("op", ">=")
            if op not in _OPS:
                problems.append(
                    t(f"{cw}: op 须为 {', '.join(_OPS)} 之一", f"{cw}: op must be one of {', '.join(_OPS)}")
                )
                continue
            try:
                val = float(c.get("value"))
                if not math.isfinite(val):
                    raise ValueError
            except (TypeError, ValueError):
                problems.append(t(f"{cw}: value 须为数字", f"{cw}: value must be a number"))
                continue
            miss = c.get("if_missing", "fail")
            if miss not in ("fail", "pass"):
                problems.append(t(f"{cw}: if_missing 须为 fail 或 pass", f"{cw}: if_missing must be fail or pass"))
                continue
            conds.append(Condition(str(ind), str(op), val, str(miss)))
        if not conds and not any(where in p for p in problems):
            problems.append(t(f"{where}: 没有任何条件", f"{where}: has no conditions"))
        grades.append(Grade(code, str(g.get("zh", code)), str(g.get("en", code)), tuple(conds)))
    if not grades:
        problems.append(t("没有定义任何等级 [[grade]]", "no [[grade]] is defined"))
    targets: dict[str, float] = {}
    for k, v in raw.get("targets", {}).items():
        try:
            targets[k] = float(v)
        except (TypeError, ValueError):
            problems.append(t(f"[targets] {k} 须为数字", f"[targets] {k} must be a number"))
    gaps = raw.get("gaps", {})
    try:
        gap_threshold = float(gaps.get("threshold", 0.8))
        if not 0 <= gap_threshold <= 1:
            raise ValueError
    except (TypeError, ValueError):
        problems.append(t("[gaps] threshold 须为 0 到 1 之间的数", "[gaps] threshold must be a number from 0 to 1"))
        gap_threshold = 0.8
    classes = tuple(str(c) for c in gaps.get("classes", ("basic", "quality")))
    for c in classes:
        if c not in ("basic", "quality", "smart"):
            problems.append(t(f"[gaps] classes: 未知类别 '{c}'", f"[gaps] classes: unknown class '{c}'"))
    try:
        hull = float(raw.get("circles", {}).get("hull_buffer_m", 200.0))
    except (TypeError, ValueError):
        problems.append(
            t("[circles] hull_buffer_m 须为数字（米）", "[circles] hull_buffer_m must be a number of metres")
        )
        hull = 200.0
    if problems:
        raise ConfigError(f"{src}: " + "; ".join(problems))
    meta = raw.get("rules", {})
    return GradingRules(
        name=str(meta.get("name", Path(src).stem)),
        grades=grades,
        targets=targets,
        gap_threshold=gap_threshold,
        gap_classes=classes,
        priority_formats=tuple(str(x) for x in gaps.get("priority_formats", ())),
        hull_buffer_m=hull,
        title_zh=str(meta.get("title_zh", "")),
        title_en=str(meta.get("title_en", "")),
        version=str(meta.get("version", "")),
        source=str(meta.get("source", "")),
    )
