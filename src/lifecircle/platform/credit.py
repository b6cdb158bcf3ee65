"""The credit rules of supervision (M10) as versioned data, and the pure rule functions.

The rules live in ``lifecircle/data/credit/<name>.toml`` (``credit-yichang`` by default). Every
number there is a configurable default of the platform, not a national standard. This module
loads them into typed, frozen objects (:func:`load_credit_rules`, a clear :class:`CreditRulesError`
naming the key when the file is wrong) and applies them without a database:

- :func:`classify` — an outlet's class A–D with the reasons, from its inspections and
  substantiated complaints;
- :func:`visits_for` — inspections of a class in a period;
- :func:`integrity_shop` / :func:`integrity_circle` — 诚信商店 and 诚信便民生活圈 with reasons.

Reasons are JSON-ready dicts ``{"code", "zh", "en"}``, stored on the outlet and shown on pages.
"""

from __future__ import annotations

import datetime as dt
import math
import tomllib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

CLASSES = ("A", "B", "C", "D")
ITEM_RESULTS = ("pass", "minor", "serious", "na")
CONDITIONS = {  # condition key → (zh, en) of the reason, {n} the count found, {k} the threshold
    "serious_inspections": ("{n} 次检查存在严重问题", "{n} inspection(s) with a serious problem"),
    "minor_inspections": ("{n} 次检查存在一般问题", "{n} inspection(s) with a minor problem"),
    "substantiated_complaints": ("{n} 件投诉经查属实", "{n} substantiated complaint(s)"),
    "licence_problems": ("{n} 次检查证照存在问题", "{n} inspection(s) with a licence problem"),
    "licence_serious": ("{n} 次检查证照存在严重问题", "{n} inspection(s) with a serious licence problem"),
    "no_inspection": ("统计期内没有检查记录", "no inspection in the window"),
}
RANK = {"pass": 0, "na": 0, "minor": 1, "serious": 2}


class CreditRulesError(ValueError):
    """The rules file is missing, not TOML, or a key has a wrong value (the message names it)."""


@dataclass(frozen=True)
class IntegrityShopRules:
    classes: tuple[str, ...]
    clean_months: int
    min_passed_inspections: int
    min_open_months: int


@dataclass(frozen=True)
class IntegrityCircleRules:
    min_share: float
    min_open_outlets: int
    no_overdue_complaints: bool


@dataclass(frozen=True)
class CreditRules:
    """The loaded rules (see the TOML file for what each number means)."""

    version: str
    window_months: int
    conditions: dict[str, dict[str, int]]  # class (D, C, B) → condition → threshold (bool as 1)
    visits_per_year: dict[str, int]
    unclassified_as: str
    answer_days: int
    shop: IntegrityShopRules
    circle: IntegrityCircleRules


@dataclass(frozen=True)
class InspectionRecord:
    """One inspection as the rules see it: its date and the three item results."""

    date: dt.date
    food_safety: str = "na"
    price_publicity: str = "na"
    licence: str = "na"

    @property
    def worst(self) -> str:
        """``pass``, ``minor`` or ``serious`` (all items ``na`` counts as pass)."""
        r = max(RANK[v] for v in (self.food_safety, self.price_publicity, self.licence))
        return ("pass", "minor", "serious")[r]


def reason(code: str, zh: str, en: str) -> dict[str, str]:
    return {"code": code, "zh": zh, "en": en}


# ------------------------------------------------------------------ loading


def _int(d: dict[str, Any], key: str, where: str, lo: int = 0) -> int:
    v = d.get(key)
    if not isinstance(v, int) or isinstance(v, bool) or v < lo:
        raise CreditRulesError(f"{where}.{key}: expected a whole number ≥ {lo}, got {v!r}")
    return v


def _table(d: dict[str, Any], key: str) -> dict[str, Any]:
    v = d.get(key)
    if not isinstance(v, dict):
        raise CreditRulesError(f"[{key}]: missing table")
    return v


def _conditions(credit: dict[str, Any]) -> dict[str, dict[str, int]]:
    out: dict[str, dict[str, int]] = {}
    for cls in ("D", "C", "B"):
        table = credit.get(cls, {})
        if not isinstance(table, dict):
            raise CreditRulesError(f"credit.{cls}: expected a table")
        conds: dict[str, int] = {}
        for key, v in table.items():
            if key not in CONDITIONS:
                raise CreditRulesError(f"credit.{cls}.{key}: unknown condition; use one of {', '.join(CONDITIONS)}")
            if key == "no_inspection":
                if not isinstance(v, bool):
                    raise CreditRulesError(f"credit.{cls}.no_inspection: expected true or false, got {v!r}")
                if v:
                    conds[key] = 1
            else:
                conds[key] = _int(table, key, f"credit.{cls}", lo=1)
        out[cls] = conds
    return out


def parse_credit_rules(data: dict[str, Any]) -> CreditRules:
    """Typed rules from the parsed TOML ``data`` (:class:`CreditRulesError` naming a wrong key)."""
    credit, insp, comp = _table(data, "credit"), _table(data, "inspection"), _table(data, "complaints")
    shop, circ = _table(data, "integrity_shop"), _table(data, "integrity_circle")
    visits = insp.get("visits_per_year")
    if not isinstance(visits, dict) or set(visits) != set(CLASSES):
        raise CreditRulesError("inspection.visits_per_year: give A, B, C and D")
    visits_per_year = {c: _int(visits, c, "inspection.visits_per_year", lo=1) for c in CLASSES}
    unclassified = insp.get("unclassified_as", "B")
    if unclassified not in CLASSES:
        raise CreditRulesError(f"inspection.unclassified_as: expected one of A–D, got {unclassified!r}")
    classes = shop.get("classes")
    if not isinstance(classes, list) or not classes or any(c not in CLASSES for c in classes):
        raise CreditRulesError(f"integrity_shop.classes: expected a list of A–D, got {classes!r}")
    share = circ.get("min_share")
    if not isinstance(share, int | float) or isinstance(share, bool) or not 0 <= share <= 1:
        raise CreditRulesError(f"integrity_circle.min_share: expected a number 0…1, got {share!r}")
    return CreditRules(
        version=str(data.get("version", "")),
        window_months=_int(credit, "window_months", "credit", lo=1),
        conditions=_conditions(credit),
        visits_per_year=visits_per_year,
        unclassified_as=unclassified,
        answer_days=_int(comp, "answer_days", "complaints", lo=1),
        shop=IntegrityShopRules(
            classes=tuple(classes),
            clean_months=_int(shop, "clean_months", "integrity_shop"),
            min_passed_inspections=_int(shop, "min_passed_inspections", "integrity_shop"),
            min_open_months=_int(shop, "min_open_months", "integrity_shop"),
        ),
        circle=IntegrityCircleRules(
            min_share=float(share),
            min_open_outlets=_int(circ, "min_open_outlets", "integrity_circle", lo=1),
            no_overdue_complaints=bool(circ.get("no_overdue_complaints", True)),
        ),
    )


def load_credit_rules_file(path: Path) -> CreditRules:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as e:
        raise CreditRulesError(f"{path}: cannot read the credit rules ({e})") from e
    except tomllib.TOMLDecodeError as e:
        raise CreditRulesError(f"{path}: not valid TOML ({e})") from e
    try:
        return parse_credit_rules(data)
    except CreditRulesError as e:
        raise CreditRulesError(f"{path.name}: {e}") from None


@lru_cache(maxsize=8)
def load_credit_rules(name: str = "credit-yichang") -> CreditRules:
    """The bundled rules ``lifecircle/data/credit/<name>.toml``."""
    res = resources.files("lifecircle.data") / "credit" / f"{name}.toml"
    return load_credit_rules_file(Path(str(res)))


# ------------------------------------------------------------------ the rules


def months_before(day: dt.date, months: int) -> dt.date:
    """``day`` moved back ``months`` calendar months (the day clipped to the month's end)."""
    y, m = divmod(day.year * 12 + day.month - 1 - months, 12)
    m += 1
    last = (dt.date(y + (m == 12), m % 12 + 1, 1) - dt.timedelta(days=1)).day
    return dt.date(y, m, min(day.day, last))


def _counts(inspections: Sequence[InspectionRecord], complaints: int) -> dict[str, int]:
    return {
        "serious_inspections": sum(1 for i in inspections if i.worst == "serious"),
        "minor_inspections": sum(1 for i in inspections if i.worst == "minor"),
        "substantiated_complaints": complaints,
        "licence_problems": sum(1 for i in inspections if i.licence in ("minor", "serious")),
        "licence_serious": sum(1 for i in inspections if i.licence == "serious"),
        "no_inspection": int(not inspections),
    }


def classify(
    rules: CreditRules,
    inspections: Iterable[InspectionRecord],
    substantiated_complaints: Iterable[dt.date],
    as_of: dt.date,
) -> tuple[str, list[dict[str, str]]]:
    """The credit class (A–D) and its reasons from the records of the last ``window_months``
    months up to ``as_of``: the worst class one of whose conditions holds, else A."""
    start = months_before(as_of, rules.window_months)
    insp = [i for i in inspections if start < i.date <= as_of]
    n_comp = sum(1 for d in substantiated_complaints if start < d <= as_of)
    counts = _counts(insp, n_comp)
    window = (f"近 {rules.window_months} 个月", f"last {rules.window_months} months")
    for cls in ("D", "C", "B"):
        hits = [(k, counts[k]) for k, need in rules.conditions[cls].items() if counts[k] >= need]
        if hits:
            out = []
            for k, n in hits:
                zh, en = CONDITIONS[k]
                out.append(reason(k, f"{window[0]}{zh.format(n=n)}", f"{en.format(n=n)} ({window[1]})"))
            return cls, out
    passed = sum(1 for i in insp if i.worst == "pass")
    return "A", [
        reason(
            "clean",
            f"{window[0]}{passed} 次检查全部合格，无属实投诉",
            f"{passed} inspection(s) all passed and no substantiated complaint ({window[1]})",
        )
    ]


def period_months(period: str) -> int:
    """Months of a period ``2025``, ``2025H1``, ``2025Q3``, ``2025M07``."""
    return {"H": 6, "Q": 3, "M": 1}.get(period[4:5], 12)


def visits_for(rules: CreditRules, credit_class: str | None, period: str) -> int:
    """Inspections of an outlet of ``credit_class`` in ``period``: ceil(per year × months / 12), ≥ 1."""
    per_year = rules.visits_per_year[credit_class or rules.unclassified_as]
    return max(1, math.ceil(per_year * period_months(period) / 12))


def integrity_shop(
    rules: CreditRules,
    credit_class: str | None,
    inspections: Iterable[InspectionRecord],
    substantiated_complaints: Iterable[dt.date],
    opened: dt.date | None,
    as_of: dt.date,
) -> tuple[bool, list[dict[str, Any]]]:
    """Whether an open outlet is an integrity shop (诚信商店), with the reasons (all rules, met or not)."""
    r = rules.shop
    start = months_before(as_of, rules.window_months)
    passed = sum(1 for i in inspections if start < i.date <= as_of and i.worst == "pass")
    clean_from = months_before(as_of, r.clean_months)
    complaints = sum(1 for d in substantiated_complaints if clean_from < d <= as_of)
    open_ok = opened is not None and opened <= months_before(as_of, r.min_open_months)
    checks = [
        (
            credit_class in r.classes,
            "class",
            f"信用等级 {credit_class or '未评定'}（要求 {'/'.join(r.classes)}）",
            f"credit class {credit_class or 'none'} (needs {'/'.join(r.classes)})",
        ),
        (
            complaints == 0,
            "complaints",
            f"近 {r.clean_months} 个月属实投诉 {complaints} 件（要求 0）",
            f"{complaints} substantiated complaint(s) in {r.clean_months} months (needs 0)",
        ),
        (
            passed >= r.min_passed_inspections,
            "inspections",
            f"合格检查 {passed} 次（要求至少 {r.min_passed_inspections} 次）",
            f"{passed} passed inspection(s) (needs ≥ {r.min_passed_inspections})",
        ),
        (
            open_ok,
            "open_months",
            f"开业时间{'满' if open_ok else '不足'} {r.min_open_months} 个月",
            f"open {'for' if open_ok else 'less than'} {r.min_open_months} months",
        ),
    ]
    return all(ok for ok, *_ in checks), [{**reason(code, zh, en), "met": ok} for ok, code, zh, en in checks]


def integrity_circle(
    rules: CreditRules, open_outlets: int, integrity_shops: int, overdue_complaints: int
) -> tuple[bool, list[dict[str, Any]]]:
    """Whether a circle is an integrity circle (诚信便民生活圈), with the reasons."""
    r = rules.circle
    share = integrity_shops / open_outlets if open_outlets else 0.0
    checks = [
        (
            open_outlets >= r.min_open_outlets,
            "outlets",
            f"在营网点 {open_outlets} 个（要求至少 {r.min_open_outlets} 个）",
            f"{open_outlets} open outlet(s) (needs ≥ {r.min_open_outlets})",
        ),
        (
            share >= r.min_share,
            "share",
            f"诚信商店 {integrity_shops} 个，占 {share:.0%}（要求至少 {r.min_share:.0%}）",
            f"{integrity_shops} integrity shop(s), {share:.0%} (needs ≥ {r.min_share:.0%})",
        ),
    ]
    if r.no_overdue_complaints:
        checks.append(
            (
                overdue_complaints == 0,
                "overdue",
                f"超期未答复投诉 {overdue_complaints} 件（要求 0）",
                f"{overdue_complaints} overdue unanswered complaint(s) (needs 0)",
            )
        )
    return all(ok for ok, *_ in checks), [{**reason(code, zh, en), "met": ok} for ok, code, zh, en in checks]
