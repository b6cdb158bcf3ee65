"""Complaints about outlets and places (M10): filed by residents (the public entry, ``user=None``),
the hotline or officers; routed to a district and circle; answered by the district with a
substantiated / not substantiated finding before the deadline of the credit rules."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from lifecircle.i18n import t
from lifecircle.platform import audit
from lifecircle.platform.credit import CreditRules, load_credit_rules
from lifecircle.platform.db import Circle, MapLayer, User, utcnow
from lifecircle.platform.db_operations import COMPLAINT_STATUSES, Complaint, Outlet
from lifecircle.platform.errors import ConflictError, NotFoundError
from lifecircle.platform.permissions import (
    DISTRICT_BOUND,
    require_answer_complaint,
    require_file_complaint,
    require_see_complaints,
)
from lifecircle.platform.service._common import _problems
from lifecircle.platform.service.supervision import _check_district, today

COMPLAINT_CATEGORIES = {
    "food_safety": ("食品安全", "Food safety"),
    "price": ("价格", "Prices"),
    "quality": ("商品质量", "Quality of goods"),
    "service": ("服务态度", "Service"),
    "licence": ("证照", "Licence"),
    "environment": ("环境卫生", "Environment"),
    "missing_format": ("缺少业态", "A format is missing nearby"),
    "other": ("其他", "Other"),
}
SOURCES = {"resident": ("居民", "Resident"), "hotline": ("热线", "Hotline"), "officer": ("工作人员", "Officer")}
MAX_TEXT = 5000


def route_point(s: Session, lon: float, lat: float) -> tuple[str | None, str | None]:
    """(district, circle) of a point: the circle whose boundary polygon covers it (and its district),
    else the district whose outline in the ``districts`` map layer covers it; (None, None) outside."""
    from shapely.geometry import Point, shape

    pt = Point(lon, lat)
    for c in s.scalars(select(Circle).where(Circle.boundary.is_not(None)).order_by(Circle.id)):
        try:
            if shape(c.boundary).covers(pt):
                return c.district, c.id
        except (ValueError, TypeError, AttributeError, KeyError):
            continue  # a malformed boundary routes nothing
    layer = s.get(MapLayer, "districts")
    for f in (layer.geojson or {}).get("features", []) if layer else []:
        code = (f.get("properties") or {}).get("code")
        if code and f.get("geometry") and shape(f["geometry"]).covers(pt):
            return str(code), None
    return None, None


def _complaint_problems(text: str, category: str, source: str, user: User | None) -> list[tuple[str, str, str]]:
    problems = []
    if not text:
        problems.append(("text", "请填写投诉内容", "describe the complaint"))
    elif len(text) > MAX_TEXT:
        problems.append(("text", f"投诉内容不能超过 {MAX_TEXT} 字", f"the text exceeds {MAX_TEXT} characters"))
    if category not in COMPLAINT_CATEGORIES:
        problems.append(("category", f"未知的投诉类别 '{category}'", f"unknown category '{category}'"))
    if source not in SOURCES or (user is None and source != "resident"):
        problems.append(("source", f"未知的来源 '{source}'", f"unknown source '{source}'"))
    return problems


def file_complaint(
    s: Session,
    user: User | None,
    *,
    text: str,
    category: str = "other",
    outlet_id: str | None = None,
    lon: float | None = None,
    lat: float | None = None,
    source: str | None = None,
    rules: CreditRules | None = None,
) -> Complaint:
    """File a complaint about an outlet (routed to its district and circle) or a place (routed by
    the circles' boundaries, else the district outlines). ``user=None`` is the residents' public
    entry (source ``resident``); officials record hotline and officers' complaints of their district."""
    text = (text or "").strip()
    source = source or ("resident" if user is None else "officer")
    problems = _complaint_problems(text, category, source, user)
    district = circle_id = None
    if outlet_id:
        o = s.get(Outlet, outlet_id)
        if o is None:
            problems.append(("outlet_id", f"没有网点 {outlet_id}", f"no outlet {outlet_id}"))
        else:
            district, circle_id = o.district, o.circle_id
            if lon is None or lat is None:
                lon, lat = o.lon, o.lat
    elif lon is None or lat is None:
        problems.append(("lon", "请指明网点或投诉地点（经纬度）", "give the outlet or the place (lon, lat)"))
    else:
        district, circle_id = route_point(s, lon, lat)
        if district is None:
            problems.append(("lon", "该地点不在本市各区范围内", "the place is outside the city's districts"))
    if problems:
        raise _problems(*problems)
    if user is not None:
        require_file_complaint(user, district)
    now = utcnow()
    row = Complaint(
        district=district,
        circle_id=circle_id,
        outlet_id=outlet_id or None,
        category=category,
        text=text,
        lon=lon,
        lat=lat,
        source=source,
        status="open",
        created_by=user.id if user else None,
        created_at=now,
        due=now.date() + dt.timedelta(days=(rules or load_credit_rules()).answer_days),
    )
    s.add(row)
    s.flush()
    audit.record(s, user, "file", "complaint", row.id, None, audit.snapshot(row))
    return row


def is_overdue(c: Complaint, day: dt.date | None = None) -> bool:
    """An open complaint past its answer deadline."""
    return c.status == "open" and c.due is not None and c.due < (day or today())


def list_complaints(
    s: Session, user: User, status: str | None = None, district: str | None = None, limit: int = 500
) -> list[tuple[Complaint, bool]]:
    """Complaints (newest first) of the user's district (or ``district``), each with its overdue flag;
    ``status`` is ``open``, ``answered`` or ``overdue``."""
    status = status or None
    if status is not None and status not in (*COMPLAINT_STATUSES, "overdue"):
        raise _problems(("status", "状态应为 open、answered 或 overdue", "status must be open, answered or overdue"))
    district = district or None
    if district is None and user.role in DISTRICT_BOUND:
        district = user.district
    _check_district(s, district)
    require_see_complaints(user, district)
    q = select(Complaint)
    if district is not None:
        q = q.where(Complaint.district == district)
    if status == "overdue":
        q = q.where(Complaint.status == "open", Complaint.due < today())
    elif status is not None:
        q = q.where(Complaint.status == status)
    rows = s.scalars(q.order_by(Complaint.created_at.desc(), Complaint.id.desc()).limit(limit))
    day = today()
    return [(c, is_overdue(c, day)) for c in rows]


def answer_complaint(s: Session, user: User, complaint_id: int, *, answer: str, substantiated: bool) -> Complaint:
    """Answer an open complaint (text required) with the finding substantiated (属实) or not; the
    district's officer or inspector, or the city admin."""
    c = s.get(Complaint, complaint_id)
    if c is None:
        raise NotFoundError(t("没有这件投诉", "no such complaint"))
    require_answer_complaint(user, c.district)
    answer = (answer or "").strip()
    if not answer:
        raise _problems(("answer", "请填写答复内容", "write the answer"))
    if len(answer) > MAX_TEXT:
        raise _problems(("answer", f"答复不能超过 {MAX_TEXT} 字", f"the answer exceeds {MAX_TEXT} characters"))
    if c.status != "open":
        raise ConflictError(t("该投诉已答复", "the complaint has been answered already"), current=c.status)
    before = audit.snapshot(c)
    c.status, c.answer, c.substantiated = "answered", answer, bool(substantiated)
    c.answered_by, c.answered_at = user.id, utcnow()
    s.flush()
    audit.record(s, user, "answer", "complaint", c.id, before, audit.snapshot(c))
    return c


def complaint_json(c: Complaint, overdue: bool | None = None) -> dict[str, Any]:
    d = audit.snapshot(c) or {}
    d["overdue"] = is_overdue(c) if overdue is None else overdue
    return d
