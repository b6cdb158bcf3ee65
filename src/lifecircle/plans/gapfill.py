"""Precise gap-filling (精准补建): the fewest outlets to add so that a circle reaches a grade.

For one circle, :func:`gap_fill` finds the (format, candidate site) additions that bring it to its
next grade (未达标 → 基础型 → 提升型 → 品质型), or to a given grade — e.g. the grade it held before
an outlet closed. It runs as named steps:

1. :func:`target_of` — the target grade (the next one above the circle's grade by default) and
   every condition of it and of the grades below it (grades are cumulative);
2. :func:`split_conditions` — which conditions outlets can fix (format presence and coverage:
   ``basic_completeness``, ``basic_coverage``, ``basic_format_coverage`` and their elderly forms,
   ``quality_formats_present``, ``quality_coverage``, ``smart_coverage``) and which they cannot
   (satisfaction, chain share, service floor area per 100 households, …);
3. :func:`circle_model` — the circle's communities with their walking distance (metres) to the
   nearest outlet of every format (from the evaluation) and to every candidate site (one bounded
   Dijkstra per site, :func:`~lifecircle.plans.sites.coverage_matrix`); the circle indicators
   are recomputed from these distances with the evaluation's own formulas;
4. :func:`greedy_additions` — **greedy**: each step adds the (format, site) pair that most reduces
   the circle's shortfall on the failing fixable conditions (each condition's distance to its
   threshold, as a fraction of the threshold, summed), ties and steps that move no threshold
   decided by the residents newly within the format's walking layer. A site takes a format only
   if its floor area left holds the format's ``typical_floor_area_m2`` (profile; :func:`fits`,
   the rule of the 一圈一策 plan); a site of unknown area is not limited (面积未知);
5. :func:`prune_additions` — drops every addition the others make unnecessary, so the set is
   *irredundant*: removing any one addition leaves a fixable condition unmet. It is not proven to
   be the smallest possible set (that is a set-cover problem); greedy + pruning is the claim.
   When the candidate sites cannot meet every fixable condition, nothing is pruned: the additions
   are the greedy's best effort (each one moved a resident or a format into reach), listed as
   still worth doing, with the formats no candidate site brings within reach;
6. :func:`verify_additions` — applies the additions to a copy of the city as a
   :class:`~lifecircle.plans.scenarios.Scenario` and re-evaluates it with the real engine: the
   grade after is the engine's, never assumed. New outlets are chain-run when the policy says so
   (``new_outlets_chain``, as in the 一圈一策 plan).

Conditions that additions cannot fix are listed with their value now, after and the value
needed, never hidden; when the target cannot be reached the result says why. Residents are
people, distances metres, floor areas m², shares 0..1, coordinates WGS-84 degrees.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from lifecircle.city.model import City
from lifecircle.errors import InputError, Problem
from lifecircle.i18n import t
from lifecircle.indicators.evaluate import Evaluation, evaluate_city, resolve_rules
from lifecircle.indicators.grades import NONE_CODE, NONE_EN, NONE_ZH, Condition, GradingRules, format_value
from lifecircle.network import WalkNetwork
from lifecircle.network.engine import within
from lifecircle.plans.format_sites import fits
from lifecircle.plans.gapfill_search import (
    FIXABLE,
    MAX_ADDITIONS,
    CircleModel,
    circle_model,
    distinct_gain,
    gained,
    greedy_additions,
    need_m2,
    prune_additions,
)
from lifecircle.plans.policy_settings import PolicySettings, load_policy
from lifecircle.plans.scenarios import Scenario, apply_scenario, make_outlets
from lifecircle.profile import Profile


# ------------------------------------------------------------------------------------ results
@dataclass(frozen=True)
class Addition:
    """One format added at one candidate site. ``residents_added``: residents of the circle newly
    within the format's walking layer thanks to this addition (after the additions listed before
    it). ``need_m2``: the format's typical floor area (m², None = not set); ``site_area_m2``: the
    site's floor area (m², None = unknown); ``area_ok``: the site holds this format together with
    the formats listed before it at the same site (None = area unknown, not checked)."""

    format: str
    format_zh: str
    format_en: str
    site_id: str
    site_name: str
    lon: float
    lat: float
    residents_added: float
    need_m2: float | None
    site_area_m2: float | None
    area_ok: bool | None

    @property
    def name(self) -> str:
        return t(self.format_zh, self.format_en)

    def area_check(self) -> str:
        """The floor-area check as text, e.g. ``需 750 m²，场地 2,340 m²：满足``."""
        if self.area_ok is None:
            return t("面积未知，未核对", "floor area unknown (面积未知); not checked")
        need = f"{self.need_m2:,.0f}" if self.need_m2 is not None else "—"
        return t(
            f"需 {need} m²，场地 {self.site_area_m2:,.0f} m²：{'满足' if self.area_ok else '不足'}",
            f"needs {need} m², site {self.site_area_m2:,.0f} m²: {'fits' if self.area_ok else 'too small'}",
        )


@dataclass(frozen=True)
class ConditionCheck:
    """One condition of the target grade (or of a grade below it): the value now and after the
    additions (verified by the engine), the value needed, and whether adding outlets can fix it."""

    grade: str
    condition: Condition
    now: float | None
    after: float | None
    met_now: bool
    met_after: bool
    fixable: bool

    @property
    def indicator(self) -> str:
        return self.condition.indicator

    @property
    def needed(self) -> float:
        return self.condition.value

    def describe(self) -> str:
        """E.g. ``每百户社区服务设施面积 26.5 m² < 30.0 m²（不能靠新增网点解决）``."""
        text = self.condition.describe(self.after, self.met_after)
        if self.met_after:
            return text
        why = (
            t("候选场地不足以达到", "the candidate sites cannot reach it")
            if self.fixable
            else t("不能靠新增网点解决", "not fixable by adding outlets")
        )
        return text + t(f"（{why}）", f" ({why})")


@dataclass
class GapFill:
    """The gap-filling plan of one circle (see the module docstring). Grades are ``(code, 中文,
    English)``; ``grade_after`` is the engine's grade with the additions applied. ``residents_added``:
    distinct residents of the circle newly within the layer of at least one added format (people;
    the additions' own figures count a resident once per format). ``conditions``: every condition of
    the target grade and the grades below it; ``reached``: the verified grade after is the target or
    higher."""

    circle_id: str
    circle_name: str
    grade_now: tuple[str, str, str]
    target: tuple[str, str, str]
    explicit_target: bool
    additions: list[Addition]
    residents_added: float
    grade_after: tuple[str, str, str]
    conditions: list[ConditionCheck]
    reached: bool = False
    scenario: Scenario | None = None
    circle_after: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    @property
    def unfixable(self) -> list[ConditionCheck]:
        """Conditions not met after the additions that adding outlets cannot fix."""
        return [c for c in self.conditions if not c.met_after and not c.fixable]

    @property
    def unmet_fixable(self) -> list[ConditionCheck]:
        """Fixable conditions the candidate sites could not bring to their threshold."""
        return [c for c in self.conditions if not c.met_after and c.fixable]

    def sentence(self) -> str:
        """One sentence, e.g. ``升至提升型：在 P0031 新增菜市场、在 P0096 新增药店，可新增覆盖 4,210 名居民``."""
        zh, en = self.target[1], self.target[2]
        verb_zh, verb_en = ("达到", "Reaching") if self.explicit_target else ("升至", "Up to")
        if not self.additions and self.reached:
            return t(f"已达到{zh}，无需补建", f"Already {en}: nothing to add")
        adds_zh, adds_en = self.additions_text()
        n = f"{self.residents_added:,.0f}"
        if self.reached:
            return t(
                f"{verb_zh}{zh}：{adds_zh}，可新增覆盖 {n} 名居民",
                f"{verb_en} {en}: {adds_en}; {n} residents newly served",
            )
        why = t("；", "; ").join(c.describe() for c in self.conditions if not c.met_after)
        head = t(f"无法仅靠新增网点{verb_zh}{zh}：{why}", f"Cannot reach {en} by adding outlets alone: {why}")
        if not self.additions:
            return head
        return head + t(
            f"。仍可补建：{adds_zh}，可新增覆盖 {n} 名居民",
            f". Still worth doing: {adds_en}; {n} residents newly served",
        )

    def additions_text(self) -> tuple[str, str]:
        """The additions grouped by site, in Chinese and in English: ``在 P0073 新增综合超市、维修点；在 …``."""
        by_site: dict[str, list[Addition]] = {}
        for a in self.additions:
            by_site.setdefault(a.site_id, []).append(a)
        several = any(len(v) > 1 for v in by_site.values())
        zh = ("；" if several else "、").join(
            f"在 {sid} 新增{'、'.join(a.format_zh for a in v)}" for sid, v in by_site.items()
        )
        en = ("; " if several else ", ").join(
            f"add {_and([a.format_en.lower() for a in v])} at {sid}" for sid, v in by_site.items()
        )
        return zh, en

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (for the platform): plain numbers and text in the current language."""
        return {
            "circle_id": self.circle_id,
            "circle_name": self.circle_name,
            "grade_now": list(self.grade_now),
            "target": list(self.target),
            "grade_after": list(self.grade_after),
            "reached": self.reached,
            "residents_added": round(self.residents_added),
            "sentence": self.sentence(),
            "additions": [
                {
                    "format": a.format,
                    "format_zh": a.format_zh,
                    "format_en": a.format_en,
                    "site_id": a.site_id,
                    "site_name": a.site_name,
                    "lon": a.lon,
                    "lat": a.lat,
                    "residents_added": round(a.residents_added),
                    "need_m2": a.need_m2,
                    "site_area_m2": a.site_area_m2,
                    "area_ok": a.area_ok,
                    "area_check": a.area_check(),
                }
                for a in self.additions
            ],
            "conditions": [
                {
                    "grade": c.grade,
                    "indicator": c.indicator,
                    "op": c.condition.op,
                    "needed": c.needed,
                    "now": _clean(c.now),
                    "after": _clean(c.after),
                    "met_now": c.met_now,
                    "met_after": c.met_after,
                    "fixable": c.fixable,
                    "text": c.describe(),
                }
                for c in self.conditions
            ],
            "notes": list(self.notes),
        }


def _and(items: list[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def _clean(v: float | None) -> float | None:
    return None if v is None or (isinstance(v, float) and math.isnan(v)) else float(v)


# ------------------------------------------------------------------------------------ 1-2. conditions
def target_of(rules: GradingRules, grade_now: str, target_grade: str | None) -> tuple[int, int]:
    """(rank now, rank of the target) in ``rules.grades`` (-1 = 未达标). ``target_grade``: a grade
    code or Chinese name; None = the next grade above ``grade_now`` (the top grade stays itself)."""
    codes = [g.code for g in rules.grades]
    now = codes.index(grade_now) if grade_now in codes else -1
    if target_grade is None:
        return now, min(now + 1, len(codes) - 1)
    for i, g in enumerate(rules.grades):
        if str(target_grade) in (g.code, g.zh, g.en):
            return now, i
    known_zh = "、".join(f"{g.code}（{g.zh}）" for g in rules.grades)
    known_en = ", ".join(f"{g.code} ({g.en})" for g in rules.grades)
    raise InputError(
        Problem(
            t(
                f"未知目标等级 '{target_grade}'；可用：{known_zh}",
                f"unknown target grade '{target_grade}'; known: {known_en}",
            ),
            field="target_grade",
        )
    )


def split_conditions(
    rules: GradingRules, target: int
) -> tuple[list[tuple[str, Condition]], list[tuple[str, Condition]]]:
    """Every condition of the grades up to ``target`` (rank), split into (fixable, not fixable):
    fixable = a format presence/coverage indicator (:data:`FIXABLE`) that must be at least a value."""
    fix: list[tuple[str, Condition]] = []
    other: list[tuple[str, Condition]] = []
    for g in rules.grades[: target + 1]:
        for c in g.conditions:
            (fix if c.indicator in FIXABLE and c.op in (">=", ">") else other).append((g.code, c))
    return fix, other


# ------------------------------------------------------------------------------------ 6. verify
def additions_scenario(
    city: City, circle_id: str, m: CircleModel, adds: list[tuple[int, int]], policy: PolicySettings
) -> Scenario:
    """The additions as a scenario: one new outlet per site, serving every format added there."""
    by_site: dict[int, list[str]] = {}
    for f, s in adds:
        by_site.setdefault(s, []).append(m.profile.formats[f].code)
    rows = []
    for s, codes in by_site.items():
        site = m.sites.iloc[s]
        row = {
            "id": f"GAPFILL-{circle_id}-{site['id']}",
            "name": str(site.get("name", site["id"])),
            "formats": ";".join(codes),
            "lon": float(site["lon"]),
            "lat": float(site["lat"]),
            "is_chain": policy.new_outlets_chain,
            "source": "gapfill",
        }
        if isinstance(site.get("district"), str) and site.get("district"):
            row["district"] = site["district"]
        rows.append(row)
    return Scenario(
        name=f"gapfill-{circle_id}",
        description=t(
            f"{circle_id} 精准补建：新增 {len(rows)} 处网点", f"gap-filling of {circle_id}: {len(rows)} outlets"
        ),
        added_outlets=make_outlets(rows, file=f"gapfill {circle_id}"),
        city=city.name,
        origin=f"gapfill {circle_id}",
        city_provenance=dict(city.provenance),
    )


def verify_additions(
    city: City, net: WalkNetwork, profile: Profile, rules: GradingRules, scenario: Scenario
) -> Evaluation:
    """The city evaluated by the engine with the scenario applied (on a copy)."""
    city_after, net_after = apply_scenario(city, net, scenario, profile=profile)
    return evaluate_city(city_after, net_after, profile, rules=rules)


def _additions(m: CircleModel, adds: list[tuple[int, int]]) -> list[Addition]:
    """The additions in their final order, each with the residents it adds and its area check."""
    out, state, room = [], m.nearest.copy(), m.room.copy()
    for f, s in adds:
        fmt, site = m.profile.formats[f], m.sites.iloc[s]
        after = state.copy()
        after[:, f] = np.fmin(state[:, f], m.dist[:, s])
        need = fmt.typical_floor_area_m2
        area = None if np.isnan(m.room[s]) else float(m.room[s])
        ok = None if area is None else bool(fits(room[s : s + 1], need)[0])
        if area is not None:
            room[s] -= need_m2(m.profile, f)
        out.append(
            Addition(
                format=fmt.code,
                format_zh=fmt.zh,
                format_en=fmt.en,
                site_id=str(site["id"]),
                site_name=str(site.get("name", site["id"])),
                lon=float(site["lon"]),
                lat=float(site["lat"]),
                residents_added=gained(m, state, after, f),
                need_m2=None if need is None else float(need),
                site_area_m2=area,
                area_ok=ok,
            )
        )
        state = after
    return out


def _grade_of(rec: dict[str, Any]) -> tuple[str, str, str]:
    return (
        str(rec.get("grade_code", NONE_CODE)),
        str(rec.get("grade", NONE_ZH)),
        str(rec.get("grade_en", NONE_EN)),
    )


def _value(rec: dict[str, Any], key: str) -> float | None:
    v = rec.get(key)
    try:
        return None if v is None else float(v)
    except (TypeError, ValueError):
        return None


def _circle_row(ev: Evaluation, circle_id: str) -> dict[str, Any]:
    rows = ev.circles[ev.circles["id"].astype(str) == circle_id]
    if not len(rows):
        known = sorted(ev.circles["id"].astype(str))
        sample = "、".join(known[:12]) + (" …" if len(known) > 12 else "")
        raise InputError(
            Problem(
                t(f"未知生活圈 '{circle_id}'；已有：{sample}", f"unknown circle '{circle_id}'; known: {sample}"),
                field="circle_id",
            )
        )
    return rows.iloc[0].to_dict()


# ------------------------------------------------------------------------------------ the pipeline
def gap_fill(
    city: City,
    net: WalkNetwork,
    profile: Profile,
    circle_id: str,
    *,
    target_grade: str | None = None,
    rules: GradingRules | str | None = None,
    evaluation: Evaluation | None = None,
    policy: PolicySettings | None = None,
    max_additions: int = MAX_ADDITIONS,
) -> GapFill:
    """The fewest (format, candidate site) additions that bring circle ``circle_id`` to
    ``target_grade`` (a grade code or Chinese name; default: the next grade above its own), found
    greedily and pruned to an irredundant set, then verified by re-evaluating the city with them
    (see the module docstring). ``evaluation``: :func:`evaluate_city` of ``city`` on ``net`` (made
    when None; its rules win over ``rules``). To restore a grade lost to a closure, pass the city
    after the closure and the grade it had. ``city`` and ``net`` are not modified.

    Raises :class:`InputError` (field ``circle_id`` or ``target_grade``) for an unknown circle or grade.
    """
    pol = policy or load_policy()
    ev = (
        evaluation if evaluation is not None else evaluate_city(city, net, profile, rules=resolve_rules(rules, profile))
    )
    grading = ev.rules if ev.rules is not None else resolve_rules(rules, profile)
    cid = str(circle_id)
    base = _circle_row(ev, cid)
    now_code = _grade_of(base)
    rank_now, rank_target = target_of(grading, now_code[0], target_grade)
    tg = grading.grades[rank_target]
    fixable, other = split_conditions(grading, rank_target)
    notes: list[str] = []
    adds: list[tuple[int, int]] = []
    m: CircleModel | None = None
    if not _value(base, "n_communities"):
        notes.append(
            t("圈内没有小区，无法评定，也无从补建", "no communities in the circle: it cannot be graded or filled")
        )
    elif rank_now < rank_target or not all(c.holds(_value(base, c.indicator)) for _, c in fixable + other):
        m, adds = search_additions(city, net, profile, ev, base, fixable, max_additions, notes)
    scenario, after = None, base
    if adds and m is not None:
        scenario = additions_scenario(city, cid, m, adds, pol)
        after = _circle_row(verify_additions(city, net, profile, grading, scenario), cid)
        _compare(m.values(m.with_additions(adds)), after, notes, after_adds=True)
    items = _additions(m, adds) if m is not None else []
    if items and pol.new_outlets_chain:
        notes.append(t("测算假定新增网点由品牌连锁企业经营", "new outlets are assumed to be run by brand chains"))
    checks = condition_checks(grading, rank_target, fixable, base, after)
    return GapFill(
        circle_id=cid,
        circle_name=str(base.get("name") or cid),
        grade_now=now_code,
        target=(tg.code, tg.zh, tg.en),
        explicit_target=target_grade is not None,
        additions=items,
        residents_added=distinct_gain(m, adds),
        grade_after=_grade_of(after),
        conditions=checks,
        reached=_rank(grading, _grade_of(after)[0]) >= rank_target,
        scenario=scenario,
        circle_after=after,
        notes=notes,
    )


def search_additions(
    city: City,
    net: WalkNetwork,
    profile: Profile,
    ev: Evaluation,
    base: dict[str, Any],
    fixable: list[tuple[str, Condition]],
    max_additions: int,
    notes: list[str],
) -> tuple[CircleModel, list[tuple[int, int]]]:
    """Steps 3-5: the circle's model, the greedy additions and their pruning; notes appended."""
    m = circle_model(net, profile, ev, str(base["id"]), city.candidate_sites)
    _compare(m.values(), base, notes, after_adds=False)
    adds = prune_additions(m, fixable, greedy_additions(m, fixable, max_additions=max_additions))
    if len(adds) >= max_additions:
        notes.append(t(f"新增数达到上限 {max_additions}", f"stopped at {max_additions} additions"))
    if not len(m.sites):
        notes.append(t("城市没有候选场地（candidate_sites）", "the city has no candidate sites"))
    notes.extend(_out_of_reach(m, fixable, adds))
    return m, adds


def condition_checks(
    rules: GradingRules,
    target: int,
    fixable: list[tuple[str, Condition]],
    base: dict[str, Any],
    after: dict[str, Any],
) -> list[ConditionCheck]:
    """Every condition of the grades up to ``target`` (rank), in the rules' order, now and after."""
    fix_set = set(fixable)
    return [
        ConditionCheck(
            grade=g.code,
            condition=c,
            now=_value(base, c.indicator),
            after=_value(after, c.indicator),
            met_now=c.holds(_value(base, c.indicator)),
            met_after=c.holds(_value(after, c.indicator)),
            fixable=(g.code, c) in fix_set,
        )
        for g in rules.grades[: target + 1]
        for c in g.conditions
    ]


def _compare(model: dict[str, float], rec: dict[str, Any], notes: list[str], *, after_adds: bool) -> None:
    """A note when the model's indicators differ from the engine's (before or after the additions)."""
    off = [k for k, v in model.items() if not _close(v, _value(rec, k))]
    if not off:
        return
    what = (
        t("补建模型的预测与引擎复核", "the model's forecast and the engine's check")
        if after_adds
        else t("补建模型与评估结果", "the gap-filling model and the evaluation")
    )
    notes.append(
        t(
            f"{what}不一致（{', '.join(off)}）：以引擎复核为准",
            f"{what} differ ({', '.join(off)}); the engine's check decides",
        )
    )


def _out_of_reach(m: CircleModel, fixable: list[tuple[str, Condition]], adds: list[tuple[int, int]]) -> list[str]:
    """A note naming the formats of an unmet fixable condition's class that no community of the
    circle reaches within the format's layer even with the additions."""
    after = m.with_additions(adds)
    vals = m.values(after)
    classes = {FIXABLE[c.indicator] for _, c in fixable if not c.holds(vals[c.indicator])}
    fmts = [
        f
        for i, f in enumerate(m.profile.formats)
        if f.cls in classes and len(m.weight) and not within(after[:, i], m.radius[i]).any()
    ]
    if not fmts:
        return []
    return [
        t(
            f"没有候选场地能把这些业态带到圈内小区的步行层内：{'、'.join(f.zh for f in fmts)}",
            f"no candidate site brings these formats within their walking layer of the circle's communities: "
            f"{', '.join(f.en for f in fmts)}",
        )
    ]


def _rank(rules: GradingRules, code: str) -> int:
    codes = [g.code for g in rules.grades]
    return codes.index(code) if code in codes else -1


def _close(a: float, b: float | None) -> bool:
    if b is None or (isinstance(b, float) and math.isnan(b)):
        return math.isnan(a)
    return abs(a - b) <= 1e-9 * max(1.0, abs(b))


def format_condition(c: ConditionCheck) -> str:
    """``indicator: now → after (needs op value)`` for tables."""
    return (
        f"{format_value(c.indicator, c.now)} → {format_value(c.indicator, c.after)} "
        f"({c.condition.op} {format_value(c.indicator, c.needed)})"
    )
