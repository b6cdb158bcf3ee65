"""Residents' feedback that reaches someone (issue 12, part 4): the public entry to the complaints
and environment issues of the supervision and co-governance services.

A resident (no account) reports, with an optional photo and a spot on the map:

- ``missing`` — a format missing nearby (a complaint of category ``missing_format`` naming the
  format, routed to the district and circle of the spot);
- ``complaint`` — a problem with a shop or a service (a complaint, routed by the outlet if given,
  else by the spot);
- ``environment`` — an environment problem (乱排乱放、占道经营、招牌、垃圾分类: an environment issue
  of the circle containing the spot).

The answer is a receipt (what was filed, its number and the district it went to), never the
internal record. Coordinates are WGS-84 after the caller's conversion (GCJ-02/BD-09 from maps).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from lifecircle.i18n import t
from lifecircle.platform.db import District
from lifecircle.platform.db_operations import ENV_CATEGORIES
from lifecircle.platform.programme import Programme
from lifecircle.platform.service import complaints, governance
from lifecircle.platform.service._common import _problems
from lifecircle.platform.service.attachments import attach, checked_file
from lifecircle.platform.settings import Settings

KINDS = {
    "missing": ("附近缺少某类服务", "A service is missing nearby"),
    "complaint": ("投诉商户或服务", "A complaint about a shop or service"),
    "environment": ("环境问题", "An environment problem"),
}


@dataclass(frozen=True)
class Photo:
    """An uploaded photo: its file name and bytes (checked by the one upload rule)."""

    filename: str
    data: bytes


def _format_name(code: str) -> str | None:
    """The format's display name in the registry's catalogue (cached), None for an unknown code."""
    from lifecircle.platform.service.outlets import catalogue

    return next((f.name() for f in catalogue().formats if f.code == code), None)


def _receipt(s: Session, kind: str, number: str, district: str | None, circle_id: str | None) -> dict[str, Any]:
    d = s.get(District, district) if district else None
    where = t(d.name_zh, d.name_en) if d is not None else (district or "")
    return {
        "kind": kind,
        "kind_name": t(*KINDS[kind]),
        "number": number,
        "district": where,
        "circle_id": circle_id,
        "message": t(
            f"已收到，编号 {number}，已转 {where} 处理", f"received as {number}; sent to {where} to be handled"
        ),
    }


def submit_feedback(
    s: Session,
    settings: Settings,
    prog: Programme,
    *,
    kind: str,
    text: str,
    lon: float | None,
    lat: float | None,
    format_code: str | None = None,
    category: str | None = None,
    outlet_id: str | None = None,
    photo: Photo | None = None,
) -> dict[str, Any]:
    """File a resident's feedback (see the module docstring) in the caller's transaction; every
    problem of the input at once as :class:`InputError` naming the field."""
    if kind not in KINDS:
        kinds = ", ".join(KINDS)
        raise _problems(("kind", f"未知的反馈类型 '{kind}'；可选：{kinds}", f"unknown kind '{kind}'; one of {kinds}"))
    if photo is not None:
        checked_file(settings, prog, photo.filename, photo.data, field="photo")  # before anything is written
    if kind == "environment":
        cat = category or "other"
        if cat not in ENV_CATEGORIES:
            cats = ", ".join(ENV_CATEGORIES)
            raise _problems(
                ("category", f"未知的问题类别 '{cat}'；可选：{cats}", f"unknown category '{cat}'; one of {cats}")
            )
        if lon is None or lat is None:
            raise _problems(("lon", "请在地图上选择问题地点", "pick the place on the map"))
        up = governance.Upload(photo.filename, photo.data) if photo is not None else None
        issue = governance.report_env_issue(s, None, None, cat, text, lon, lat, up, settings=settings, prog=prog)
        return _receipt(s, kind, f"E{issue.id}", issue.district, issue.circle_id)
    if kind == "missing":
        name = _format_name(format_code or "")
        if name is None:
            raise _problems(("format", "请选择缺少的服务类型", "choose the kind of service that is missing"))
        text = f"{name}：{(text or '').strip()}" if (text or "").strip() else name
        c = complaints.file_complaint(s, None, text=text, category="missing_format", lon=lon, lat=lat)
    else:
        c = complaints.file_complaint(
            s, None, text=text, category=category or "other", outlet_id=outlet_id or None, lon=lon, lat=lat
        )
    if photo is not None:
        attach(s, None, settings, prog, "complaint", c.id, filename=photo.filename, data=photo.data, purpose="photo")
    return _receipt(s, kind, f"C{c.id}", c.district, c.circle_id)
