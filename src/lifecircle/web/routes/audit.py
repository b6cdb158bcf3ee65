"""The audit log (the city admin and leaders): ``/api/audit`` and the audit page."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query
from fastapi.encoders import jsonable_encoder
from fastapi.responses import HTMLResponse

from lifecircle.platform import audit, service
from lifecircle.web.deps import ApiUser, Db, PageUser, Render

router = APIRouter()


@router.get("/api/audit", tags=["audit"])
def api_audit(user: ApiUser, s: Db, limit: int = Query(50, ge=1, le=1000), entity: str | None = None,
              entity_id: str | None = None) -> Any:
    return jsonable_encoder([audit.snapshot(a) for a in service.audit_log(s, user, limit, entity, entity_id)])


@router.get("/audit", include_in_schema=False, response_class=HTMLResponse)
def audit_page(user: PageUser, s: Db, render: Render) -> HTMLResponse:
    return render("audit.html", rows=service.audit_log(s, user, 200))
