"""Credit-based supervision (M10): credit classes, inspection plans, inspections and photos,
complaints, integrity shops and circles — ``/api/credit``, ``/api/inspection-plans``,
``/api/inspections``, ``/api/complaints``, ``/api/integrity`` and the pages ``/supervision``,
``/complaints``, ``/integrity``. (The request bodies are here, not in schemas.py, to keep this
area in one module.)"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from fastapi import APIRouter, File, Form, Request, UploadFile
from fastapi.encoders import jsonable_encoder
from fastapi.responses import HTMLResponse, Response
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from lifecircle.errors import InputError, Problem
from lifecircle.i18n import t
from lifecircle.platform import audit, permissions, service
from lifecircle.platform.db import Circle, District, User, transaction
from lifecircle.platform.db_operations import Inspection, Outlet
from lifecircle.platform.service.attachments import attachments
from lifecircle.platform.service.complaints import COMPLAINT_CATEGORIES, SOURCES, complaint_json
from lifecircle.platform.service.supervision import ITEM_RESULTS, ITEMS, current_period, today
from lifecircle.web import deps
from lifecircle.web.deps import ApiUser, Db, DbId, FormCsrf, PageUser, Render
from lifecircle.web.flash import redirect_with_flash

router = APIRouter()
Result = Literal["pass", "minor", "serious", "na"]


class RecomputeIn(BaseModel):
    district: str | None = Field(None, max_length=16, description="one district, or all when absent")


class PlanIn(BaseModel):
    period: str = Field(min_length=4, max_length=16, description="2025, 2025H1, 2025Q3 or 2025M07")
    district: str = Field(min_length=1, max_length=16)


class InspectionItemsIn(BaseModel):
    food_safety: Result = "na"
    price_publicity: Result = "na"
    licence: Result = "na"


class InspectionIn(BaseModel):
    outlet_id: str = Field(min_length=1, max_length=32)
    date: dt.date
    items: InspectionItemsIn
    findings: str = Field("", max_length=5000)


class ComplaintIn(BaseModel):
    text: str = Field(min_length=1, max_length=5000)
    category: str = Field("other", max_length=32)
    outlet_id: str | None = Field(None, min_length=1, max_length=32)
    lon: float | None = Field(None, ge=-180, le=180, description="WGS-84 longitude, degrees")
    lat: float | None = Field(None, ge=-90, le=90, description="WGS-84 latitude, degrees")
    source: Literal["hotline", "officer", "resident"] = "officer"


class AnswerIn(BaseModel):
    answer: str = Field(min_length=1, max_length=5000)
    substantiated: bool


def inspection_json(i: Inspection, o: Outlet | None = None) -> dict[str, Any]:
    d = audit.snapshot(i) or {}
    if o is not None:
        d["outlet_name"] = o.name
    return d


# ------------------------------------------------------------------ API: credit and plans


@router.post("/api/credit/recompute", tags=["supervision"])
def api_recompute_credit(user: ApiUser, s: Db, body: RecomputeIn | None = None) -> Any:
    return service.recompute_credit(s, user, body.district if body else None)


@router.get("/api/outlets/{outlet_id}/credit", tags=["supervision"])
def api_outlet_credit(outlet_id: str, user: ApiUser, s: Db) -> Any:
    return service.outlet_credit(s, user, outlet_id)


@router.post("/api/inspection-plans", tags=["supervision"], status_code=201)
def api_generate_plan(body: PlanIn, user: ApiUser, s: Db) -> Any:
    return service.generate_inspection_plan(s, user, body.period, body.district)


@router.get("/api/inspection-plans", tags=["supervision"])
def api_plan(user: ApiUser, s: Db, period: str | None = None, district: str | None = None) -> Any:
    return jsonable_encoder(service.inspector_plan(s, user, period or current_period(), district))


# ------------------------------------------------------------------ API: inspections


@router.post("/api/inspections", tags=["supervision"], status_code=201)
def api_record_inspection(body: InspectionIn, user: ApiUser, s: Db) -> Any:
    i = service.record_inspection(s, user, body.outlet_id, body.date, body.items.model_dump(), body.findings)
    return jsonable_encoder(inspection_json(i))


@router.get("/api/inspections", tags=["supervision"])
def api_inspections(user: ApiUser, s: Db, district: str | None = None, outlet: str | None = None) -> Any:
    return jsonable_encoder([inspection_json(i, o) for i, o in service.list_inspections(s, user, district, outlet)])


async def _save_photo(request: Request, user: User, inspection_id: int, file: UploadFile) -> Any:
    state = request.app.state
    data = await file.read(state.settings.upload_max_bytes + 1)

    def save() -> Any:
        with transaction(state.factory) as s:
            row = service.add_inspection_photo(
                s, user, state.settings, state.prog, inspection_id, filename=file.filename or "", data=data
            )
            return jsonable_encoder(audit.snapshot(row))

    return await run_in_threadpool(save)


@router.post("/api/inspections/{inspection_id}/photos", tags=["supervision"], status_code=201)
async def api_inspection_photo(inspection_id: DbId, request: Request, file: UploadFile = File(...)) -> Any:
    user = await run_in_threadpool(deps.api_user, request)
    return await _save_photo(request, user, inspection_id, file)


# ------------------------------------------------------------------ API: complaints and integrity


@router.post("/api/complaints", tags=["supervision"], status_code=201)
def api_file_complaint(body: ComplaintIn, user: ApiUser, s: Db) -> Any:
    c = service.file_complaint(
        s,
        user,
        text=body.text,
        category=body.category,
        outlet_id=body.outlet_id,
        lon=body.lon,
        lat=body.lat,
        source=body.source,
    )
    return jsonable_encoder(complaint_json(c))


@router.get("/api/complaints", tags=["supervision"])
def api_complaints(user: ApiUser, s: Db, status: str | None = None, district: str | None = None) -> Any:
    return jsonable_encoder([complaint_json(c, od) for c, od in service.list_complaints(s, user, status, district)])


@router.post("/api/complaints/{complaint_id}/answer", tags=["supervision"])
def api_answer_complaint(complaint_id: DbId, body: AnswerIn, user: ApiUser, s: Db) -> Any:
    c = service.answer_complaint(s, user, complaint_id, answer=body.answer, substantiated=body.substantiated)
    return jsonable_encoder(complaint_json(c))


@router.post("/api/integrity/designate", tags=["supervision"])
def api_designate_integrity(user: ApiUser, s: Db) -> Any:
    return service.designate_integrity(s, user)


@router.get("/api/integrity", tags=["supervision"])
def api_integrity(user: ApiUser, s: Db) -> Any:
    return service.integrity_list(s, user)


# ------------------------------------------------------------------ pages


def _names(s: Any) -> tuple[dict[str, str], dict[str, str]]:
    districts = {d.code: t(d.name_zh, d.name_en) for d in s.query(District)}
    circles = {c.id: c.name for c in s.query(Circle)}
    return districts, circles


@router.get("/supervision", include_in_schema=False, response_class=HTMLResponse)
def supervision_page(
    user: PageUser, s: Db, render: Render, period: str | None = None, district: str | None = None
) -> HTMLResponse:
    period = period or current_period()
    plan = service.inspector_plan(s, user, period, district)
    rows = service.list_inspections(s, user, plan["district"], limit=50)
    photos = {i.id: len(attachments(s, "inspection", i.id)) for i, _ in rows}
    districts, circles = _names(s)
    plan_districts = [d for d in service.visible_districts(s, user) if permissions.can_inspect(user, d.code)]
    return render(
        "supervision.html",
        period=period,
        plan=plan,
        inspections=rows,
        photos=photos,
        districts=districts,
        circles=circles,
        plan_districts=plan_districts,
        can_record=bool(plan_districts),
        items=ITEMS,
        results=ITEM_RESULTS,
        today=today().isoformat(),
    )


@router.post("/supervision/plan", include_in_schema=False)
def supervision_plan_form(
    request: Request,
    user: PageUser,
    csrf: FormCsrf,
    s: Db,
    period: Annotated[str, Form(max_length=16)],
    district: Annotated[str, Form(max_length=16)],
    csrf_token: Annotated[str, Form()],
) -> Response:
    csrf.check(csrf_token)
    r = service.generate_inspection_plan(s, user, period, district)
    return redirect_with_flash(
        request,
        f"/supervision?period={period}",
        f"检查计划已生成：新增 {r['created']} 项",
        f"plan generated: {r['created']} new item(s)",
    )


def _form_date(v: str) -> dt.date:
    try:
        return dt.date.fromisoformat((v or "").strip())
    except ValueError:
        raise InputError([Problem(t("日期格式应为 YYYY-MM-DD", "the date must be YYYY-MM-DD"), field="date")]) from None


@router.post("/supervision/inspections", include_in_schema=False)
async def supervision_record_form(
    request: Request,
    outlet_id: Annotated[str, Form(max_length=32)],
    date: Annotated[str, Form(max_length=10)],
    csrf_token: Annotated[str, Form()],
    food_safety: Annotated[str, Form(max_length=16)] = "na",
    price_publicity: Annotated[str, Form(max_length=16)] = "na",
    licence: Annotated[str, Form(max_length=16)] = "na",
    findings: Annotated[str, Form(max_length=5000)] = "",
    photo: UploadFile | None = File(None),
) -> Response:
    user = await run_in_threadpool(deps.page_user, request)
    deps.csrf_guard(request).check(csrf_token)
    state = request.app.state
    data = await photo.read(state.settings.upload_max_bytes + 1) if photo is not None and photo.filename else b""
    items = {"food_safety": food_safety, "price_publicity": price_publicity, "licence": licence}
    day = _form_date(date)

    def save() -> None:
        with transaction(state.factory) as s:
            i = service.record_inspection(s, user, outlet_id, day, items, findings)
            if data and photo is not None:
                service.add_inspection_photo(
                    s, user, state.settings, state.prog, i.id, filename=photo.filename or "", data=data
                )

    await run_in_threadpool(save)
    return redirect_with_flash(request, "/supervision", "检查记录已保存", "inspection recorded")


@router.get("/complaints", include_in_schema=False, response_class=HTMLResponse)
def complaints_page(user: PageUser, s: Db, render: Render, status: str | None = None) -> HTMLResponse:
    rows = service.list_complaints(s, user, status)
    districts, circles = _names(s)
    can_file = permissions.can_file_complaint(user)
    return render(
        "complaints.html",
        rows=rows,
        status=status or "",
        districts=districts,
        circles=circles,
        can_answer={c.id: permissions.can_answer_complaint(user, c.district) for c, _ in rows},
        can_file=can_file,
        categories=COMPLAINT_CATEGORIES,
        sources=SOURCES,
    )


@router.post("/complaints", include_in_schema=False)
def complaints_file_form(
    request: Request,
    user: PageUser,
    csrf: FormCsrf,
    s: Db,
    text: Annotated[str, Form(max_length=5000)],
    csrf_token: Annotated[str, Form()],
    category: Annotated[str, Form(max_length=32)] = "other",
    outlet_id: Annotated[str, Form(max_length=32)] = "",
    source: Annotated[str, Form(max_length=16)] = "hotline",
) -> Response:
    csrf.check(csrf_token)
    service.file_complaint(s, user, text=text, category=category, outlet_id=outlet_id or None, source=source)
    return redirect_with_flash(request, "/complaints", "投诉已登记", "complaint recorded")


@router.post("/complaints/{complaint_id}/answer", include_in_schema=False)
def complaints_answer_form(
    request: Request,
    complaint_id: DbId,
    user: PageUser,
    csrf: FormCsrf,
    s: Db,
    answer: Annotated[str, Form(max_length=5000)],
    substantiated: Annotated[Literal["yes", "no"], Form()],
    csrf_token: Annotated[str, Form()],
) -> Response:
    csrf.check(csrf_token)
    service.answer_complaint(s, user, complaint_id, answer=answer, substantiated=substantiated == "yes")
    return redirect_with_flash(request, "/complaints", "投诉已答复", "complaint answered")


@router.get("/integrity", include_in_schema=False, response_class=HTMLResponse)
def integrity_page(user: PageUser, s: Db, render: Render) -> HTMLResponse:
    districts, circles = _names(s)
    return render(
        "integrity.html",
        data=service.integrity_list(s, user),
        districts=districts,
        circles=circles,
        can_admin=permissions.can_credit_admin(user),
    )


@router.post("/integrity", include_in_schema=False)
def integrity_form(
    request: Request,
    user: PageUser,
    csrf: FormCsrf,
    s: Db,
    action: Annotated[Literal["recompute", "designate"], Form()],
    csrf_token: Annotated[str, Form()],
) -> Response:
    csrf.check(csrf_token)
    if action == "recompute":
        r = service.recompute_credit(s, user)
        return redirect_with_flash(
            request,
            "/integrity",
            f"信用等级已重算：{r['outlets']} 个网点",
            f"credit recomputed: {r['outlets']} outlets",
        )
    r = service.designate_integrity(s, user)
    return redirect_with_flash(
        request,
        "/integrity",
        f"诚信评定完成：诚信商店 {len(r['shops'])} 家",
        f"integrity designated: {len(r['shops'])} shop(s)",
    )
