"""Credit-based supervision (M10): credit classes of the outlets, inspection plans by class,
inspections and their photos, integrity shops and circles (诚信商店 / 诚信便民生活圈).

The rules are data (:mod:`lifecircle.platform.credit`, ``data/credit/credit-yichang.toml``);
this module reads the records, applies the pure rule functions, stores the results on the
outlets and audits a summary in the same transaction. Who may do what is decided in
:mod:`lifecircle.platform.permissions`. Complaints are in :mod:`.complaints`.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter, defaultdict
from typing import Any

from sqlalchemy import and_, func, select
from sqlalchemy.orm import Session

from lifecircle.i18n import t
from lifecircle.platform import audit
from lifecircle.platform.credit import (
    CreditRules,
    InspectionRecord,
    classify,
    integrity_circle,
    integrity_shop,
    load_credit_rules,
    months_before,
    visits_for,
)
from lifecircle.platform.db import AuditLog, Circle, District, User, utcnow
from lifecircle.platform.db_operations import Complaint, Inspection, InspectionPlanItem, Outlet
from lifecircle.platform.errors import NotFoundError
from lifecircle.platform.permissions import (
    DISTRICT_BOUND,
    can_see_district,
    can_see_outlet,
    require_credit_admin,
    require_inspect,
    require_see_inspections,
    require_see_outlet,
)
from lifecircle.platform.programme import Programme
from lifecircle.platform.service._common import PERIOD_RE, _problems
from lifecircle.platform.service.attachments import attach
from lifecircle.platform.settings import Settings

ITEMS = {
    "food_safety": ("食品安全", "Food safety"),
    "price_publicity": ("明码标价", "Price publicity"),
    "licence": ("证照公示", "Licence"),
}
ITEM_RESULTS = {
    "pass": ("合格", "Pass"),
    "minor": ("一般问题", "Minor problem"),
    "serious": ("严重问题", "Serious problem"),
    "na": ("不适用", "Not applicable"),
}
MAX_FINDINGS = 5000


EARLIEST = dt.date(2000, 1, 1)  # no inspection of the programme is older


def today() -> dt.date:
    return utcnow().date()


def _rules(rules: CreditRules | None) -> CreditRules:
    return rules or load_credit_rules()


def period_bounds(period: str) -> tuple[dt.date, dt.date]:
    """The first and last day of ``2025``, ``2025H1``, ``2025Q3`` or ``2025M07`` (valid periods only)."""
    y, rest = int(period[:4]), period[4:]
    first, last = 1, 12
    if rest.startswith("H"):
        first, last = 6 * int(rest[1]) - 5, 6 * int(rest[1])
    elif rest.startswith("Q"):
        first, last = 3 * int(rest[1]) - 2, 3 * int(rest[1])
    elif rest.startswith("M"):
        first = last = int(rest[1:])
    end = dt.date(y + (last == 12), last % 12 + 1, 1) - dt.timedelta(days=1)
    return dt.date(y, first, 1), end


def current_period(day: dt.date | None = None) -> str:
    """The quarter of ``day`` (today), e.g. ``2026Q4``: the default inspection period."""
    d = day or today()
    return f"{d.year}Q{(d.month - 1) // 3 + 1}"


def _check_period(period: str) -> None:
    if not PERIOD_RE.match(period or ""):
        raise _problems(
            (
                "period",
                "周期格式应为 2025、2025H1、2025Q3 或 2025M07",
                "period must look like 2025, 2025H1, 2025Q3 or 2025M07",
            )
        )


def _check_district(s: Session, district: str | None, field: str = "district") -> None:
    if district is not None and s.get(District, district) is None:
        raise _problems((field, f"未知的区代码 '{district}'", f"unknown district code '{district}'"))


def _scope(user: User, district: str | None) -> str | None:
    """The district a listing is limited to: a district-bound user's own unless another is asked."""
    district = district or None
    if district is None and user.role in DISTRICT_BOUND:
        return user.district
    return district


def get_outlet(s: Session, outlet_id: str) -> Outlet:
    o = s.get(Outlet, outlet_id)
    if o is None:
        raise NotFoundError(t(f"没有网点 {outlet_id}", f"no outlet {outlet_id}"))
    return o


# ------------------------------------------------------------------ records the rules read


def _inspection_records(s: Session, outlet_ids: list[str], since: dt.date) -> dict[str, list[InspectionRecord]]:
    out: dict[str, list[InspectionRecord]] = defaultdict(list)
    if not outlet_ids:
        return out
    q = select(Inspection).where(Inspection.outlet_id.in_(outlet_ids), Inspection.date > since)
    for i in s.scalars(q):
        out[i.outlet_id].append(InspectionRecord(i.date, i.food_safety, i.price_publicity, i.licence))
    return out


def _substantiated(s: Session, outlet_ids: list[str], since: dt.date) -> dict[str, list[dt.date]]:
    out: dict[str, list[dt.date]] = defaultdict(list)
    if not outlet_ids:
        return out
    q = select(Complaint.outlet_id, Complaint.created_at).where(
        Complaint.outlet_id.in_(outlet_ids),
        Complaint.substantiated.is_(True),
        Complaint.created_at >= dt.datetime.combine(since, dt.time()),
    )
    for oid, at in s.execute(q):
        if oid is not None:
            out[oid].append(at.date())
    return out


def _open_outlets(s: Session, district: str | None = None) -> list[Outlet]:
    q = select(Outlet).where(Outlet.status == "open")
    if district is not None:
        q = q.where(Outlet.district == district)
    return list(s.scalars(q.order_by(Outlet.id)))


# ------------------------------------------------------------------ credit classes


def recompute_credit(
    s: Session,
    user: User,
    district: str | None = None,
    *,
    rules: CreditRules | None = None,
    as_of: dt.date | None = None,
) -> dict[str, Any]:
    """Classify every open outlet (of ``district``) with the rules, store class and reasons on the
    outlet and audit a summary (the classes counted, how many changed)."""
    require_credit_admin(user)
    district = district or None
    _check_district(s, district)
    r, day = _rules(rules), as_of or today()
    outlets = _open_outlets(s, district)
    ids = [o.id for o in outlets]
    since = months_before(day, r.window_months)
    insp, comp = _inspection_records(s, ids, since), _substantiated(s, ids, since)
    classes: Counter[str] = Counter()
    changed = 0
    for o in outlets:
        cls, reasons = classify(r, insp.get(o.id, []), comp.get(o.id, []), day)
        if cls != o.credit_class:
            changed += 1
        o.credit_class, o.credit_reasons = cls, reasons
        o.updated_at = utcnow()
        classes[cls] += 1
    summary = {
        "rules": r.version,
        "as_of": day.isoformat(),
        "district": district,
        "outlets": len(outlets),
        "classes": {c: classes.get(c, 0) for c in ("A", "B", "C", "D")},
        "changed": changed,
    }
    s.flush()
    audit.record(s, user, "recompute", "credit", district or "all", None, summary)
    return summary


def outlet_credit(s: Session, user: User, outlet_id: str) -> dict[str, Any]:
    """An outlet's credit class and reasons (a merchant sees its own outlet's)."""
    o = get_outlet(s, outlet_id)
    require_see_outlet(user, o.district, o.owner_id)
    return {
        "outlet_id": o.id,
        "name": o.name,
        "district": o.district,
        "credit_class": o.credit_class,
        "credit_reasons": o.credit_reasons or [],
        "integrity": o.integrity,
        "integrity_reasons": o.integrity_reasons or [],
    }


# ------------------------------------------------------------------ inspection plans


def _district_inspectors(s: Session, district: str) -> list[User]:
    q = select(User).where(User.role == "inspector", User.district == district, User.active.is_(True))
    return list(s.scalars(q.order_by(User.id)))


def generate_inspection_plan(
    s: Session, user: User, period: str, district: str, *, rules: CreditRules | None = None
) -> dict[str, Any]:
    """One plan item per open outlet of ``district`` for ``period``: visits from its credit class,
    due at the end of the period, assigned round-robin to the district's active inspectors.
    Idempotent: outlets already planned for the period are left as they are."""
    _check_period(period)
    if not district:
        raise _problems(("district", "请选择区", "choose a district"))
    _check_district(s, district)
    require_inspect(user, district)
    r = _rules(rules)
    due = period_bounds(period)[1]
    planned = set(s.scalars(select(InspectionPlanItem.outlet_id).where(InspectionPlanItem.period == period)))
    inspectors = _district_inspectors(s, district)
    n_before = s.scalar(
        select(func.count(InspectionPlanItem.id)).where(
            InspectionPlanItem.period == period, InspectionPlanItem.district == district
        )
    )
    created = 0
    for o in _open_outlets(s, district):
        if o.id in planned:
            continue
        who = inspectors[(int(n_before or 0) + created) % len(inspectors)].id if inspectors else None
        cls = o.credit_class or r.unclassified_as
        s.add(
            InspectionPlanItem(
                period=period,
                district=district,
                outlet_id=o.id,
                inspector_id=who,
                credit_class=cls,
                visits=visits_for(r, cls, period),
                due=due,
                at=utcnow(),
            )
        )
        created += 1
    s.flush()
    summary = {"period": period, "district": district, "created": created, "existing": int(n_before or 0)}
    audit.record(s, user, "generate", "inspection_plan", f"{period}/{district}", None, summary)
    return summary


def inspector_plan(s: Session, user: User, period: str, district: str | None = None) -> dict[str, Any]:
    """The plan of ``period`` of the user's district (or ``district``): every outlet with its class,
    visits, inspections done in the period and visits remaining."""
    _check_period(period)
    district = _scope(user, district)
    _check_district(s, district)
    require_see_inspections(user, district)
    start, end = period_bounds(period)
    q = (
        select(InspectionPlanItem, Outlet, User.username)
        .join(Outlet, Outlet.id == InspectionPlanItem.outlet_id)
        .outerjoin(User, User.id == InspectionPlanItem.inspector_id)
        .where(InspectionPlanItem.period == period)
    )
    if district is not None:
        q = q.where(InspectionPlanItem.district == district)
    rows = s.execute(q.order_by(InspectionPlanItem.id)).all()
    done_q = (
        select(Inspection.outlet_id, func.count(Inspection.id))
        .where(and_(Inspection.date >= start, Inspection.date <= end))
        .group_by(Inspection.outlet_id)
    )
    done = {oid: int(n) for oid, n in s.execute(done_q)}
    items: list[dict[str, Any]] = []
    for item, o, inspector in rows:
        n = done.get(o.id, 0)
        items.append(
            {
                "id": item.id,
                "outlet_id": o.id,
                "outlet_name": o.name,
                "address": o.address,
                "district": item.district,
                "circle_id": o.circle_id,
                "credit_class": item.credit_class,
                "visits": item.visits,
                "done": n,
                "remaining": max(0, item.visits - n),
                "due": item.due,
                "inspector": inspector,
            }
        )
    return {
        "period": period,
        "district": district,
        "items": items,
        "visits": sum(i["visits"] for i in items),
        "done": sum(min(i["done"], i["visits"]) for i in items),
        "remaining": sum(i["remaining"] for i in items),
    }


# ------------------------------------------------------------------ inspections


def _worst(results: dict[str, str]) -> str:
    rank = {"pass": 0, "na": 0, "minor": 1, "serious": 2}
    return ("pass", "minor", "serious")[max(rank[v] for v in results.values())]


def _inspection_problems(items: dict[str, str], date: dt.date, findings: str) -> list[tuple[str, str, str]]:
    problems = []
    for k, v in items.items():
        if k not in ITEMS:
            problems.append((f"items.{k}", f"未知的检查项目 '{k}'", f"unknown inspection item '{k}'"))
        elif v not in ITEM_RESULTS:
            problems.append(
                (f"items.{k}", "结果应为 pass、minor、serious 或 na", "result must be pass, minor, serious or na")
            )
    if not problems and all(items.get(k, "na") == "na" for k in ITEMS):
        problems.append(("items", "至少填写一个检查项目的结果", "give the result of at least one item"))
    if date > today():
        problems.append(("date", "检查日期不能晚于今天", "the inspection date cannot be in the future"))
    elif date < EARLIEST:  # a mistyped year (0025, 1025): its period would not even be a period
        problems.append(("date", f"检查日期不能早于 {EARLIEST}", f"the inspection date cannot be before {EARLIEST}"))
    if len(findings) > MAX_FINDINGS:
        problems.append(
            ("findings", f"检查发现不能超过 {MAX_FINDINGS} 字", f"findings exceed {MAX_FINDINGS} characters")
        )
    elif not problems and not findings and any(items.get(k) in ("minor", "serious") for k in ITEMS):
        problems.append(("findings", "发现问题时须填写检查发现", "describe the findings when there is a problem"))
    return problems


def record_inspection(
    s: Session, user: User, outlet_id: str, date: dt.date, items: dict[str, str], findings: str = ""
) -> Inspection:
    """Record an inspection of an open outlet by an inspector of its district (or the city admin)."""
    o = get_outlet(s, outlet_id)
    require_inspect(user, o.district)
    findings = (findings or "").strip()
    problems = _inspection_problems(items, date, findings)
    if o.status != "open":
        problems.insert(0, ("outlet_id", "只能检查在营网点", "only an open outlet can be inspected"))
    if problems:
        raise _problems(*problems)
    results = {k: items.get(k, "na") for k in ITEMS}
    row = Inspection(
        outlet_id=o.id,
        inspector_id=user.id,
        district=o.district,
        date=date,
        period=current_period(date),
        findings=findings,
        result=_worst(results),
        at=utcnow(),
        **results,
    )
    s.add(row)
    s.flush()
    audit.record(s, user, "record", "inspection", row.id, None, audit.snapshot(row))
    return row


def get_inspection(s: Session, user: User, inspection_id: int) -> Inspection:
    row = s.get(Inspection, inspection_id)
    if row is None:
        raise NotFoundError(t("没有这条检查记录", "no such inspection"))
    require_see_inspections(user, row.district)
    return row


def add_inspection_photo(
    s: Session, user: User, settings: Settings, prog: Programme, inspection_id: int, *, filename: str, data: bytes
) -> Any:
    """Attach a photo (jpg/png; the one upload rule) to an inspection of the user's district."""
    row = get_inspection(s, user, inspection_id)
    require_inspect(user, row.district)
    return attach(s, user, settings, prog, "inspection", row.id, filename=filename, data=data, purpose="photo")


def list_inspections(
    s: Session, user: User, district: str | None = None, outlet_id: str | None = None, limit: int = 200
) -> list[tuple[Inspection, Outlet]]:
    """Inspections, newest first, of the user's district (or ``district`` / one outlet)."""
    q = select(Inspection, Outlet).join(Outlet, Outlet.id == Inspection.outlet_id)
    if outlet_id:
        o = get_outlet(s, outlet_id)
        require_see_inspections(user, o.district)
        q = q.where(Inspection.outlet_id == o.id)
    district = _scope(user, district)
    _check_district(s, district)
    require_see_inspections(user, district)
    if district is not None:
        q = q.where(Inspection.district == district)
    return [(i, o) for i, o in s.execute(q.order_by(Inspection.date.desc(), Inspection.id.desc()).limit(limit))]


# ------------------------------------------------------------------ integrity shops and circles


def _overdue_by_circle(s: Session, day: dt.date) -> Counter[str]:
    q = select(Complaint.circle_id).where(
        Complaint.status == "open", Complaint.due.is_not(None), Complaint.due < day, Complaint.circle_id.is_not(None)
    )
    return Counter(cid for cid in s.scalars(q) if cid is not None)


def designate_integrity(
    s: Session, user: User, *, rules: CreditRules | None = None, as_of: dt.date | None = None
) -> dict[str, Any]:
    """Designate integrity shops (stored on the outlets with the reasons) and integrity circles
    (kept in the audit row's ``after`` and returned) by the rules; the city admin only."""
    require_credit_admin(user)
    r, day = _rules(rules), as_of or today()
    outlets = _open_outlets(s)
    ids = [o.id for o in outlets]
    since = min(months_before(day, r.window_months), months_before(day, r.shop.clean_months))
    insp, comp = _inspection_records(s, ids, since), _substantiated(s, ids, since)
    by_circle: dict[str, list[Outlet]] = defaultdict(list)
    shops = []
    for o in outlets:
        opened = (o.opened_at or o.created_at).date() if (o.opened_at or o.created_at) else None
        ok, reasons = integrity_shop(r, o.credit_class, insp.get(o.id, []), comp.get(o.id, []), opened, day)
        o.integrity, o.integrity_reasons = ok, reasons
        if o.circle_id:
            by_circle[o.circle_id].append(o)
        if ok:
            shops.append({"outlet_id": o.id, "name": o.name, "district": o.district, "circle_id": o.circle_id})
    overdue = _overdue_by_circle(s, day)
    circles = []
    for c in s.scalars(select(Circle).order_by(Circle.id)):
        members = by_circle.get(c.id, [])
        n_shops = sum(1 for o in members if o.integrity)
        ok, reasons = integrity_circle(r, len(members), n_shops, overdue.get(c.id, 0))
        circles.append({"circle_id": c.id, "name": c.name, "district": c.district, "integrity": ok, "reasons": reasons})
    s.flush()
    result = {
        "rules": r.version,
        "as_of": day.isoformat(),
        "outlets": len(outlets),
        "shops": shops,
        "circles": circles,
    }
    audit.record(s, user, "designate", "integrity", "all", None, result)
    return result


def integrity_list(s: Session, user: User) -> dict[str, Any]:
    """Integrity shops (from the outlets) and circles (from the latest designation) the user may see,
    with the reasons."""
    shops = [
        {
            "outlet_id": o.id,
            "name": o.name,
            "address": o.address,
            "district": o.district,
            "circle_id": o.circle_id,
            "credit_class": o.credit_class,
            "reasons": o.integrity_reasons or [],
        }
        for o in s.scalars(
            select(Outlet).where(Outlet.integrity.is_(True), Outlet.status == "open").order_by(Outlet.id)
        )
        if can_see_outlet(user, o.district, o.owner_id)
    ]
    last = s.scalars(
        select(AuditLog)
        .where(AuditLog.entity == "integrity", AuditLog.action == "designate")
        .order_by(AuditLog.id.desc())
        .limit(1)
    ).first()
    after = (last.after or {}) if last else {}
    circles = [c for c in after.get("circles", []) if c.get("integrity") and can_see_district(user, c.get("district"))]
    return {"as_of": after.get("as_of"), "rules": after.get("rules"), "shops": shops, "circles": circles}
