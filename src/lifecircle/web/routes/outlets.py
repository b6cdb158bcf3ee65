"""The outlet registry: ``/api/outlets...`` (register, list, read, edit, close, bulk import) and the
outlet list and outlet pages with the edit and close forms."""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, File, Form, Request, UploadFile
from fastapi.responses import HTMLResponse, Response
from sqlalchemy import select

from lifecircle.i18n import t
from lifecircle.platform import permissions
from lifecircle.platform.db import District
from lifecircle.platform.service import outlet_import, outlets
from lifecircle.web.deps import ApiUser, Db, FormCsrf, PageUser, Render, SettingsDep
from lifecircle.web.flash import redirect_with_flash
from lifecircle.web.schemas import OutletCloseIn, OutletIn, OutletPatchIn

router = APIRouter()


# ------------------------------------------------------------------ API


@router.get("/api/outlets", tags=["outlets"])
def api_outlets(
    user: ApiUser,
    s: Db,
    circle: str | None = None,
    format: str | None = None,
    status: str | None = None,
    district: str | None = None,
    limit: int = 200,
    offset: int = 0,
) -> dict[str, Any]:
    rows, total = outlets.list_outlets(
        s, user, circle=circle, format=format, status=status, district=district, limit=limit, offset=offset
    )
    return {"total": total, "limit": limit, "offset": offset, "items": [outlets.outlet_json(o) for o in rows]}


@router.post("/api/outlets", tags=["outlets"], status_code=201)
def api_register_outlet(body: OutletIn, user: ApiUser, s: Db) -> dict[str, Any]:
    return outlets.outlet_json(outlets.register_outlet(s, user, body.model_dump(exclude_unset=True)))


def _import(s: Db, user: Any, settings: Any, file: UploadFile, dry_run: bool, crs: str | None) -> Any:
    """Read the upload (at most the upload limit, bytes) and import it (a sync route: the thread pool)."""
    limit = settings.upload_max_bytes
    data = file.file.read(limit + 1)
    if len(data) > limit:
        from lifecircle.platform.service._common import _problems

        mb = limit / 1e6
        raise _problems(("file", f"文件过大（上限 {mb:g} MB）", f"the file is too large (limit {mb:g} MB)"))
    return outlet_import.import_outlets(s, user, file.filename or "", data, dry_run=dry_run, crs=crs or None)


@router.post("/api/outlets/import", tags=["outlets"])
def api_import_outlets(
    user: ApiUser,
    s: Db,
    settings: SettingsDep,
    file: Annotated[UploadFile, File(description="CSV or Excel (.xlsx); Amap POI exports too")],
    dry_run: Annotated[bool, Form()] = False,
    crs: Annotated[str | None, Form(max_length=8)] = None,
) -> dict[str, Any]:
    return _import(s, user, settings, file, dry_run, crs).to_json()


@router.get("/api/outlets/{outlet_id}", tags=["outlets"])
def api_outlet(outlet_id: str, user: ApiUser, s: Db) -> dict[str, Any]:
    return outlets.outlet_json(outlets.get_outlet(s, user, outlet_id))


@router.patch("/api/outlets/{outlet_id}", tags=["outlets"])
def api_update_outlet(outlet_id: str, body: OutletPatchIn, user: ApiUser, s: Db) -> dict[str, Any]:
    data = body.model_dump(exclude_unset=True, exclude={"version"})
    return outlets.outlet_json(outlets.update_outlet(s, user, outlet_id, data, body.version))


@router.post("/api/outlets/{outlet_id}/close", tags=["outlets"])
def api_close_outlet(outlet_id: str, body: OutletCloseIn, user: ApiUser, s: Db) -> dict[str, Any]:
    return outlets.outlet_json(outlets.close_outlet(s, user, outlet_id, body.reason, body.version))


# ------------------------------------------------------------------ pages


def _district_names(s: Any) -> dict[str, str]:
    """District code → name in the user's language (the pages show names, not codes)."""
    return {d.code: t(d.name_zh, d.name_en) for d in s.scalars(select(District))}


@router.get("/outlets", include_in_schema=False, response_class=HTMLResponse)
def outlets_page(
    user: PageUser,
    s: Db,
    render: Render,
    circle: str | None = None,
    format: str | None = None,
    status: str | None = None,
    offset: int = 0,
) -> HTMLResponse:
    circle, format, status = circle or None, format or None, status or None
    rows, total = outlets.list_outlets(s, user, circle=circle, format=format, status=status, offset=offset)
    return render(
        "outlets.html",
        outlets=rows,
        total=total,
        offset=offset,
        circle=circle,
        format=format,
        status=status,
        catalogue=outlets.catalogue().formats,
        can_import=permissions.can_import_outlets(user),
        districts=_district_names(s),
    )


@router.post("/outlets/import", include_in_schema=False)
def outlets_import_form(
    request: Request,
    user: PageUser,
    csrf: FormCsrf,
    s: Db,
    settings: SettingsDep,
    csrf_token: Annotated[str, Form()],
    file: Annotated[UploadFile, File()],
    dry_run: Annotated[bool, Form()] = False,
    crs: Annotated[str, Form(max_length=8)] = "",
) -> Response:
    csrf.check(csrf_token)
    res = _import(s, user, settings, file, dry_run, crs or None).to_json()
    counts = f"新增 {res['added']}，更新 {res['updated']}，未变 {res['unchanged']}"
    zh = f"{'试导入（未保存）' if dry_run else '已导入'} {res['file']}：{counts}"
    en = (
        f"{'dry run (nothing saved)' if dry_run else 'imported'} {res['file']}: "
        f"{res['added']} added, {res['updated']} updated, {res['unchanged']} unchanged"
    )
    return redirect_with_flash(request, "/outlets", zh, en)


@router.get("/outlets/{outlet_id}", include_in_schema=False, response_class=HTMLResponse)
def outlet_page(outlet_id: str, user: PageUser, s: Db, render: Render) -> HTMLResponse:
    o = outlets.get_outlet(s, user, outlet_id)
    can_edit = o.status != "closed" and permissions.can_edit_outlet(user, o.district, o.owner_id)
    return render(
        "outlet.html",
        o=o,
        can_edit=can_edit,
        catalogue=outlets.catalogue().formats,
        bool_fields=outlets.BOOL_FIELDS,
        districts=_district_names(s),
    )


@router.post("/outlets/{outlet_id}", include_in_schema=False)
def outlet_edit_form(
    request: Request,
    outlet_id: str,
    user: PageUser,
    csrf: FormCsrf,
    s: Db,
    version: Annotated[int, Form(ge=1)],
    csrf_token: Annotated[str, Form()],
    name: Annotated[str, Form(max_length=128)],
    formats: Annotated[list[str], Form()],
    flags: Annotated[list[str], Form(description="the yes/no fields checked")] = [],  # noqa: B006
    address: Annotated[str, Form(max_length=255)] = "",
    opening_hours: Annotated[str, Form(max_length=128)] = "",
    floor_area_m2: Annotated[float | None, Form(ge=0, lt=1e7)] = None,
) -> Response:
    csrf.check(csrf_token)
    data: dict[str, Any] = {
        "name": name,
        "formats": formats,
        "address": address,
        "opening_hours": opening_hours,
        "floor_area_m2": floor_area_m2,
    } | {f: f in flags for f in outlets.BOOL_FIELDS}
    outlets.update_outlet(s, user, outlet_id, data, version)
    return redirect_with_flash(request, f"/outlets/{quote(outlet_id)}", "网点已更新", "outlet updated")


@router.post("/outlets/{outlet_id}/close", include_in_schema=False)
def outlet_close_form(
    request: Request,
    outlet_id: str,
    user: PageUser,
    csrf: FormCsrf,
    s: Db,
    reason: Annotated[str, Form(max_length=2000)],
    version: Annotated[int, Form(ge=1)],
    csrf_token: Annotated[str, Form()],
) -> Response:
    csrf.check(csrf_token)
    outlets.close_outlet(s, user, outlet_id, reason, version)
    return redirect_with_flash(request, f"/outlets/{quote(outlet_id)}", "网点已关闭", "outlet closed")
