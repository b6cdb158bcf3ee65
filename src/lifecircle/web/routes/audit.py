"""The audit log (the city admin and leaders): ``/api/audit`` and the audit page."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query
from fastapi.encoders import jsonable_encoder
from fastapi.responses import HTMLResponse

from lifecircle.platform import audit, service
from lifecircle.web.deps import ApiUser, Db, PageUser, Render

router = APIRouter()


KIND_HELP = ("all | changes (no sign-ins) | sign_in (sign-ins and sign-outs) | "
             "failed_logins (kept apart from the audit log)")


@router.get("/api/audit", tags=["audit"])
def api_audit(user: ApiUser, s: Db, limit: int = Query(50, ge=1, le=1000), entity: str | None = None,
              entity_id: str | None = None, kind: str = Query("all", max_length=16, description=KIND_HELP),
              offset: int = Query(0, ge=0, le=10_000_000)) -> Any:
    rows = service.audit_log(s, user, limit, entity, entity_id, kind=kind, offset=offset)
    return jsonable_encoder([audit.snapshot(a) for a in rows])


@router.get("/audit", include_in_schema=False, response_class=HTMLResponse)
def audit_page(user: PageUser, s: Db, render: Render, kind: str = Query("all", max_length=16),
               page: int = Query(1, ge=1, le=100_000)) -> HTMLResponse:
    # ``kind`` and ``page`` (200 rows a page) are read here; the page's controls are the pages' business.
    rows = service.audit_log(s, user, 200, kind=kind, offset=(page - 1) * 200)
    return render("audit.html", rows=rows, kind=kind, page=page)
