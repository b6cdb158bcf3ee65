"""The audit log (the city admin and leaders): ``/api/audit`` and the audit page."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Query
from fastapi.encoders import jsonable_encoder
from fastapi.responses import HTMLResponse

from lifecircle.errors import InputError, Problem
from lifecircle.i18n import t
from lifecircle.platform import audit, service
from lifecircle.web.deps import ApiUser, Db, PageUser, Prog, Render, SettingsDep
from lifecircle.web.views import audit_row

router = APIRouter()


KIND_HELP = (
    "all | changes (no sign-ins) | sign_in (sign-ins and sign-outs) | failed_logins (kept apart from the audit log)"
)


@router.get("/api/audit", tags=["audit"])
def api_audit(
    user: ApiUser,
    s: Db,
    limit: int = Query(50, ge=1, le=1000),
    entity: str | None = None,
    entity_id: str | None = None,
    kind: str = Query("all", max_length=16, description=KIND_HELP),
    offset: int = Query(0, ge=0, le=10_000_000),
) -> Any:
    rows = service.audit_log(s, user, limit, entity, entity_id, kind=kind, offset=offset)
    return jsonable_encoder([audit.snapshot(a) for a in rows])


PER_PAGE = 50


def _date(v: str | None, field: str) -> dt.date | None:
    v = (v or "").strip()
    if not v:
        return None
    try:
        return dt.date.fromisoformat(v)
    except ValueError:
        raise InputError(
            [Problem(t(f"日期格式应为 YYYY-MM-DD：'{v}'", f"dates are written YYYY-MM-DD: '{v}'"), field=field)]
        ) from None


@router.get("/audit", include_in_schema=False, response_class=HTMLResponse)
def audit_page(
    user: PageUser,
    s: Db,
    render: Render,
    settings: SettingsDep,
    prog: Prog,
    who: Annotated[str, Query(alias="user", max_length=64)] = "",
    action: Annotated[str, Query(max_length=64)] = "",
    circle: Annotated[str, Query(max_length=64)] = "",
    date_from: Annotated[str, Query(alias="from", max_length=10)] = "",
    date_to: Annotated[str, Query(alias="to", max_length=10)] = "",
    page: Annotated[int, Query(ge=1, le=100_000)] = 1,
) -> HTMLResponse:
    d0, d1 = _date(date_from, "from"), _date(date_to, "to")
    rows, total = service.audit_search(
        s,
        user,
        username=who or None,
        action=action or None,
        circle=circle.strip() or None,
        date_from=d0,
        date_to=d1,
        tz=settings.timezone,
        page=page,
        per_page=PER_PAGE,
    )
    filters = {"user": who, "action": action, "circle": circle, "from": date_from, "to": date_to}
    return render(
        "audit.html",
        rows=[audit_row(a, prog) for a in rows],
        total=total,
        page=page,
        pages=max(1, -(-total // PER_PAGE)),
        filters=filters,
        query=urlencode({k: v for k, v in filters.items() if v}),
        users=audit.usernames(s),
        actions=audit.ACTIONS,
        tz=settings.timezone,
    )
