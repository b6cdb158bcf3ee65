"""The programme and its progress: ``/api/programme``, ``/api/dashboard``, the dashboard page, the
site root and the health check."""

from __future__ import annotations

import datetime as dt
from typing import Any

from fastapi import APIRouter, Request
from fastapi.encoders import jsonable_encoder
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response

from lifecircle.platform import permissions, service
from lifecircle.web.deps import ApiUser, Db, PageUser, Prog, Render
from lifecircle.web.templating import HERE
from lifecircle.web.views import live_overview_block

router = APIRouter()


@router.get("/api/programme", tags=["programme"])
def api_programme(user: ApiUser, prog: Prog) -> dict[str, Any]:
    return {
        "city": prog.city,
        "target_circles": prog.target_circles,
        "satisfaction_target": prog.satisfaction_target,
        "phases": [
            {"code": p.code, "name_zh": p.name_zh, "name_en": p.name_en, "start": p.start, "end": p.end}
            for p in prog.phases
        ],
        "districts": [
            {
                "code": d.code,
                "name_zh": d.name_zh,
                "name_en": d.name_en,
                "quota_pilot": d.pilot,
                "quota_rollout": d.rollout,
            }
            for d in prog.districts
        ],
        "statuses": list(prog.statuses),
        "transitions": [{"from": a, "to": b, "roles": list(r)} for (a, b), r in prog.transitions.items()],
    }


@router.get("/api/dashboard", tags=["programme"])
def api_dashboard(user: ApiUser, s: Db, prog: Prog, today: dt.date | None = None) -> Any:
    return jsonable_encoder(service.dashboard(s, user, prog, today))


@router.get("/healthz", include_in_schema=False)
def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/favicon.ico", include_in_schema=False)
def favicon() -> FileResponse:
    return FileResponse(
        HERE / "static" / "favicon.ico", media_type="image/x-icon", headers={"Cache-Control": "public, max-age=86400"}
    )


@router.get("/", include_in_schema=False)
def root() -> RedirectResponse:
    return RedirectResponse("/dashboard", status_code=303)


@router.get("/dashboard", include_in_schema=False, response_class=HTMLResponse)
def dashboard_page(request: Request, user: PageUser, s: Db, prog: Prog, render: Render) -> Response:
    home = permissions.home_page(user)
    if home != "/dashboard":
        return RedirectResponse(home, status_code=303)
    return render(
        "dashboard.html", d=service.dashboard(s, user, prog), live=live_overview_block(s, user, request.app.state.live)
    )
