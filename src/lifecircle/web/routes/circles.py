"""Circles, their status and funds: ``/api/circles...`` and the circle list and circle pages with
the status and funds forms."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Form, Request
from fastapi.encoders import jsonable_encoder
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from lifecircle.platform import audit, service
from lifecircle.web.deps import ApiUser, Db, FormCsrf, PageUser, Prog, Render
from lifecircle.web.flash import redirect_with_flash
from lifecircle.web.schemas import CircleIn, FundIn, StatusIn
from lifecircle.web.views import circle_detail, circle_json, live_block

router = APIRouter()


def back_to_circle(request: Request, circle_id: str, zh: str, en: str) -> RedirectResponse:
    """The redirect after a circle page's form: back to the circle with a (flash) notice."""
    return redirect_with_flash(request, f"/circles/{quote(circle_id)}", zh, en)


# ------------------------------------------------------------------ API


@router.get("/api/circles", tags=["circles"])
def api_circles(
    user: ApiUser, s: Db, prog: Prog, district: str | None = None, status: str | None = None
) -> list[dict[str, Any]]:
    return [circle_json(c) for c in service.list_circles(s, user, prog, district=district, status=status)]


@router.post("/api/circles", tags=["circles"], status_code=201)
def api_create_circle(body: CircleIn, user: ApiUser, s: Db, prog: Prog) -> dict[str, Any]:
    c = service.create_circle(
        s, user, prog, id=body.id, name=body.name, district=body.district, phase=body.phase, lon=body.lon, lat=body.lat
    )
    return circle_json(c)


@router.get("/api/circles/{circle_id}", tags=["circles"])
def api_circle(circle_id: str, user: ApiUser, s: Db, prog: Prog) -> Any:
    return jsonable_encoder(circle_detail(s, user, prog, circle_id))


@router.post("/api/circles/{circle_id}/status", tags=["circles"])
def api_status(circle_id: str, body: StatusIn, user: ApiUser, s: Db, prog: Prog) -> dict[str, Any]:
    return circle_json(service.change_status(s, user, prog, circle_id, body.status, body.note, seen=body.from_))


@router.get("/api/circles/{circle_id}/funds", tags=["circles"])
def api_funds(circle_id: str, user: ApiUser, s: Db) -> Any:
    service.get_circle(s, user, circle_id)
    return jsonable_encoder([audit.snapshot(f) for f in service.funds(s, circle_id)])


@router.post("/api/circles/{circle_id}/funds", tags=["circles"], status_code=201)
def api_add_fund(circle_id: str, body: FundIn, user: ApiUser, s: Db) -> Any:
    f = service.add_fund(
        s,
        user,
        circle_id,
        kind=body.kind,
        amount_yuan=body.amount_yuan,
        date=body.date,
        source=body.source,
        note=body.note,
    )
    return jsonable_encoder(audit.snapshot(f))


# ------------------------------------------------------------------ pages


@router.get("/circles", include_in_schema=False, response_class=HTMLResponse)
def circles_page(
    user: PageUser, s: Db, prog: Prog, render: Render, district: str | None = None, status: str | None = None
) -> HTMLResponse:
    district, status = district or None, status or None
    rows = service.list_circles(s, user, prog, district=district, status=status)
    dists = service.visible_districts(s, user)
    return render("circles.html", circles=rows, districts=dists, district=district, status=status)


@router.get("/circles/{circle_id}", include_in_schema=False, response_class=HTMLResponse)
def circle_page(circle_id: str, request: Request, user: PageUser, s: Db, prog: Prog, render: Render) -> HTMLResponse:
    d = circle_detail(s, user, prog, circle_id)
    live = live_block(s, user, request.app.state.live, circle_id)
    return render("circle.html", c=d["circle"], d=d, live=live)


@router.post("/circles/{circle_id}/status", include_in_schema=False)
def circle_status_form(
    request: Request,
    circle_id: str,
    user: PageUser,
    csrf: FormCsrf,
    s: Db,
    prog: Prog,
    status: Annotated[str, Form(max_length=16)],
    csrf_token: Annotated[str, Form()],
    note: Annotated[str, Form(max_length=2000)] = "",
    seen: Annotated[str, Form(alias="from", max_length=16)] = "",
) -> Response:
    csrf.check(csrf_token)
    service.change_status(s, user, prog, circle_id, status, note, seen=seen or None)
    return back_to_circle(request, circle_id, "状态已更新", "status updated")


@router.post("/circles/{circle_id}/funds", include_in_schema=False)
def circle_fund_form(
    request: Request,
    circle_id: str,
    user: PageUser,
    csrf: FormCsrf,
    s: Db,
    kind: Annotated[str, Form()],
    amount_yuan: Annotated[float, Form()],
    date: Annotated[dt.date, Form()],
    csrf_token: Annotated[str, Form()],
    source: Annotated[str, Form(max_length=128)] = "",
    note: Annotated[str, Form(max_length=2000)] = "",
) -> Response:
    csrf.check(csrf_token)
    service.add_fund(s, user, circle_id, kind=kind, amount_yuan=amount_yuan, date=date, source=source, note=note)
    return back_to_circle(request, circle_id, "资金已登记", "funds recorded")
