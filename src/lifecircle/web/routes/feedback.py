"""Residents' feedback, no sign-in (issue 12, part 4): ``POST /api/public/feedback`` (multipart: kind,
text, lon/lat with ``crs``, format, category, outlet, photo) and the ``/feedback`` page. The record
is routed by :mod:`lifecircle.platform.service.feedback`; the answer is a receipt only."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, File, Form, Request, UploadFile
from fastapi.responses import HTMLResponse

from lifecircle.platform.db_operations import ENV_CATEGORIES
from lifecircle.platform.service import feedback
from lifecircle.platform.service.complaints import COMPLAINT_CATEGORIES
from lifecircle.web.deps import Db, Prog, Render, SettingsDep
from lifecircle.web.routes.resident_surveys import PublicLimit

router = APIRouter()
Crs = Literal["wgs84", "gcj02", "bd09"]


async def _photo(file: UploadFile | None) -> feedback.Photo | None:
    if file is None or not file.filename:
        return None
    return feedback.Photo(file.filename, await file.read())


def _wgs84(lon: float | None, lat: float | None, crs: str) -> tuple[float | None, float | None]:
    if lon is None or lat is None or crs == "wgs84":
        return lon, lat
    from lifecircle.sources.coords import to_wgs84

    x, y = to_wgs84(lon, lat, crs)
    return float(x), float(y)


@router.post("/api/public/feedback", tags=["public"], status_code=201)
async def api_feedback(
    request: Request,
    _limit: PublicLimit,
    kind: Annotated[Literal["missing", "complaint", "environment"], Form()],
    text: Annotated[str, Form(max_length=5000)] = "",
    lon: Annotated[float | None, Form(ge=-180, le=180)] = None,
    lat: Annotated[float | None, Form(ge=-90, le=90)] = None,
    crs: Annotated[Crs, Form()] = "wgs84",
    format: Annotated[str, Form(max_length=64)] = "",
    category: Annotated[str, Form(max_length=32)] = "",
    outlet_id: Annotated[str, Form(max_length=32)] = "",
    photo: Annotated[UploadFile | None, File()] = None,
) -> Any:
    """A resident's report: ``missing`` (a format missing nearby: ``format``), ``complaint`` (about a
    shop: ``outlet_id``, or a place) or ``environment`` (``category``); routed to the district and
    circle of the spot. Answers a receipt (number, district), never the internal record."""
    from starlette.concurrency import run_in_threadpool

    pic = await _photo(photo)
    x, y = _wgs84(lon, lat, crs)
    return await run_in_threadpool(_submit, request, kind, text, x, y, format, category, outlet_id, pic)


def _submit(
    request: Request, kind: str, text: str, lon: Any, lat: Any, fmt: str, cat: str, outlet: str, pic: Any
) -> Any:
    from lifecircle.platform.db import transaction

    state = request.app.state
    with transaction(state.factory) as s:
        return feedback.submit_feedback(
            s,
            state.settings,
            state.prog,
            kind=kind,
            text=text,
            lon=lon,
            lat=lat,
            format_code=fmt or None,
            category=cat or None,
            outlet_id=outlet or None,
            photo=pic,
        )


def _page_context(s: Db) -> dict[str, Any]:
    from lifecircle.web.templating import catalogue

    return {
        "kinds": feedback.KINDS,
        "formats": catalogue().formats,
        "env_categories": ENV_CATEGORIES,
        "complaint_categories": {k: v for k, v in COMPLAINT_CATEGORIES.items() if k != "missing_format"},
    }


@router.get("/feedback", include_in_schema=False, response_class=HTMLResponse)
def feedback_page(
    s: Db, render: Render, lon: float | None = None, lat: float | None = None, kind: str = "missing"
) -> HTMLResponse:
    form = {"lon": lon, "lat": lat, "kind": kind}
    return render("feedback.html", form=form, receipt=None, problems=[], **_page_context(s))


@router.post("/feedback", include_in_schema=False, response_class=HTMLResponse)
async def feedback_form(
    request: Request,
    _limit: PublicLimit,
    s: Db,
    settings: SettingsDep,
    prog: Prog,
    render: Render,
    kind: Annotated[str, Form(max_length=16)],
    text: Annotated[str, Form(max_length=5000)] = "",
    lon: Annotated[str, Form(max_length=32)] = "",
    lat: Annotated[str, Form(max_length=32)] = "",
    format: Annotated[str, Form(max_length=64)] = "",
    category: Annotated[str, Form(max_length=32)] = "",
    photo: Annotated[UploadFile | None, File()] = None,
) -> HTMLResponse:
    from starlette.concurrency import run_in_threadpool

    from lifecircle.errors import InputError
    from lifecircle.i18n import t

    form = {"kind": kind, "lon": lon, "lat": lat}
    try:
        x = float(lon) if lon.strip() else None
        y = float(lat) if lat.strip() else None
    except ValueError:
        msg = t("经纬度应为数字，或点“使用我的位置”", "lon/lat must be numbers, or press 'Use my location'")
        return render("feedback.html", 422, form=form, receipt=None, problems=[msg], **_page_context(s))
    pic = await _photo(photo)
    try:
        receipt = await run_in_threadpool(_submit, request, kind, text, x, y, format, category, "", pic)
    except InputError as exc:
        problems = [p.message for p in exc.problems]
        return render("feedback.html", 422, form=form, receipt=None, problems=problems, **_page_context(s))
    return render("feedback.html", form={"kind": kind}, receipt=receipt, **_page_context(s))
