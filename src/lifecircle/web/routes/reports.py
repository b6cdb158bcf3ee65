"""District reports: ``/api/reports...`` and the report list and report pages."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.encoders import jsonable_encoder
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from lifecircle.i18n import t
from lifecircle.platform import audit, permissions, service
from lifecircle.platform.db import District
from lifecircle.web import report_doc
from lifecircle.web.deps import ApiUser, Db, DbId, FormCsrf, Lang, PageUser, Prog, Render
from lifecircle.web.flash import redirect_with_flash
from lifecircle.web.schemas import ReportEditIn, ReportIn
from lifecircle.web.views import report_json

router = APIRouter()


@router.get("/api/reports", tags=["reports"])
def api_reports(user: ApiUser, s: Db) -> Any:
    return jsonable_encoder([audit.snapshot(r) for r in service.list_reports(s, user)])


@router.post("/api/reports", tags=["reports"], status_code=201)
def api_create_report(body: ReportIn, user: ApiUser, s: Db, prog: Prog) -> Any:
    rep = service.create_report(s, user, prog, body.district, body.period)
    return jsonable_encoder(report_json(s, rep))


@router.get("/api/reports/{report_id}", tags=["reports"])
def api_report(report_id: DbId, user: ApiUser, s: Db) -> Any:
    return jsonable_encoder(report_json(s, service.get_report(s, user, report_id)))


@router.post("/api/reports/{report_id}/versions", tags=["reports"], status_code=201)
def api_edit_report(report_id: DbId, body: ReportEditIn, user: ApiUser, s: Db) -> Any:
    return jsonable_encoder(audit.snapshot(service.edit_report(s, user, report_id, body.body)))


@router.get("/reports", include_in_schema=False, response_class=HTMLResponse)
def reports_page(user: PageUser, s: Db, render: Render) -> HTMLResponse:
    reps = service.list_reports(s, user)
    dists = service.visible_districts(s, user)
    names = {d.code: t(d.name_zh, d.name_en) for d in dists}
    return render("reports.html", reports=reps, districts=dists, names=names)


@router.post("/reports", include_in_schema=False)
def reports_create(
    user: PageUser,
    csrf: FormCsrf,
    s: Db,
    prog: Prog,
    district: Annotated[str, Form(max_length=16)],
    period: Annotated[str, Form(max_length=16)],
    csrf_token: Annotated[str, Form()],
) -> Response:
    csrf.check(csrf_token)
    rep = service.create_report(s, user, prog, district, period)
    return RedirectResponse(f"/reports/{rep.id}", status_code=303)


@router.get("/reports/{report_id}", include_in_schema=False, response_class=HTMLResponse)
def report_page(report_id: DbId, user: PageUser, s: Db, render: Render) -> HTMLResponse:
    rep = service.get_report(s, user, report_id)
    versions = service.report_versions(s, report_id)
    d = s.get(District, rep.district)
    can_edit = permissions.can_edit(user, rep.district)
    return render(
        "report.html",
        rep=rep,
        versions=versions,
        district=d,
        can_edit=can_edit,
        rendered=report_doc.blocks_html(report_doc.parse(versions[0].body)),
    )


def _report_document(s: Any, user: Any, report_id: int) -> tuple[list[report_doc.Block], str, str, str]:
    """The current version's blocks, title, metadata line and a file name stem."""
    rep = service.get_report(s, user, report_id)
    cur = service.report_versions(s, report_id)[0]
    d = s.get(District, rep.district)
    dname = t(d.name_zh, d.name_en) if d else rep.district
    blocks = report_doc.parse(cur.body)
    title = report_doc.title_of(blocks, f"{dname} {rep.period}")
    meta = report_doc.meta_line(dname, rep.period, cur.version, cur.generated)
    return blocks, title, meta, f"report-{rep.district}-{rep.period}-v{cur.version}"


@router.get("/reports/{report_id}/export.pdf", include_in_schema=False)
def report_pdf(report_id: DbId, user: PageUser, s: Db, lang: Lang) -> Response:
    blocks, title, meta, stem = _report_document(s, user, report_id)
    data = report_doc.to_pdf(blocks, title=title, meta=meta, lang=lang)
    return Response(
        data,
        media_type="application/pdf",
        headers={"Content-Disposition": f'attachment; filename="{stem}.pdf"', "Cache-Control": "no-store"},
    )


@router.get("/reports/{report_id}/export.docx", include_in_schema=False)
def report_docx(report_id: DbId, user: PageUser, s: Db) -> Response:
    blocks, title, meta, stem = _report_document(s, user, report_id)
    data = report_doc.to_docx(blocks, title=title, meta=meta)
    return Response(
        data,
        media_type="application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        headers={"Content-Disposition": f'attachment; filename="{stem}.docx"', "Cache-Control": "no-store"},
    )


@router.post("/reports/{report_id}", include_in_schema=False)
def report_edit(
    request: Request,
    report_id: DbId,
    user: PageUser,
    csrf: FormCsrf,
    s: Db,
    body: Annotated[str, Form(max_length=200_000)],
    csrf_token: Annotated[str, Form()],
) -> Response:
    csrf.check(csrf_token)
    service.edit_report(s, user, report_id, body)
    return redirect_with_flash(request, f"/reports/{report_id}", "已保存新版本", "new version saved")
