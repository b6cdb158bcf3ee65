"""Live indicators and precise gap-filling of a circle: ``/api/circles/{id}/indicators``,
``/api/circles/{id}/gapfill``, ``/api/live`` and the circle's gap-filling page."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.encoders import jsonable_encoder
from fastapi.responses import HTMLResponse

from lifecircle.platform.live import LiveCity
from lifecircle.platform.service import indicators
from lifecircle.web.deps import ApiUser, Db, PageUser, Render

router = APIRouter()


def get_live(request: Request) -> LiveCity:
    return request.app.state.live


Live = Annotated[LiveCity, Depends(get_live)]
Target = Annotated[str | None, Query(max_length=16, description="basic | upgraded | quality (default: see the docs)")]


@router.get("/api/circles/{circle_id}/indicators", tags=["live"])
def api_live_indicators(circle_id: str, user: ApiUser, s: Db, live: Live) -> Any:
    """The circle's indicators now: ``as_of`` (UTC), ``coverage`` {format code: share of the circle's
    residents reaching it within its layer}, ``grade``, ``gaps``; 503 while they are computed."""
    return jsonable_encoder(indicators.live_circle(s, user, live, circle_id))


@router.get("/api/live", tags=["live"])
def api_live_overview(user: ApiUser, s: Db, live: Live) -> Any:
    """Every visible circle's live grade and basic coverage with its time."""
    return jsonable_encoder(indicators.live_overview(s, user, live))


@router.get("/api/circles/{circle_id}/gapfill", tags=["live"])
def api_gapfill(circle_id: str, user: ApiUser, s: Db, live: Live, target: Target = None) -> Any:
    """精准补建: the least additions that bring the circle to ``target`` (default: back to its
    scorecard's grade after a closure, else its next grade), verified by the engine."""
    return jsonable_encoder(indicators.circle_gap_fill(s, user, live, circle_id, target or None))


@router.get("/circles/{circle_id}/gapfill", include_in_schema=False, response_class=HTMLResponse)
def gapfill_page(circle_id: str, user: PageUser, s: Db, live: Live, render: Render, target: Target = None) -> Any:
    from lifecircle.platform import service

    c = service.get_circle(s, user, circle_id)
    g = indicators.circle_gap_fill(s, user, live, circle_id, target or None)
    return render("gapfill.html", c=c, g=g)
