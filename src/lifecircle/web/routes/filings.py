"""Filings (备案承诺): ``/api/filings...`` (submit, list, read, documents, accept, return, resubmit)
and the ``/filings`` page — a merchant's filings and its new-filing form, a district's queue."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, File, Form, Request, UploadFile
from fastapi.responses import HTMLResponse, Response

from lifecircle.platform import permissions
from lifecircle.platform.service import filings, outlets
from lifecircle.web.deps import ApiUser, Db, DbId, FormCsrf, PageUser, Prog, Render, SettingsDep
from lifecircle.web.flash import redirect_with_flash
from lifecircle.web.schemas import FilingIn, ResubmitIn, ReturnIn

router = APIRouter()
COMMITMENT = {"commitment_accepted", "commitment_version"}


# ------------------------------------------------------------------ API


@router.get("/api/filings", tags=["filings"])
def api_filings(user: ApiUser, s: Db, status: str | None = None) -> list[dict[str, Any]]:
    return [filings.filing_json(s, f) for f in filings.list_filings(s, user, status=status)]


@router.get("/api/filings/commitment", tags=["filings"])
def api_commitment(user: ApiUser) -> dict[str, Any]:
    c = filings.commitment()
    return {"version": c.version, "text_zh": c.text_zh, "text_en": c.text_en, "working_days": c.decision_working_days}


@router.post("/api/filings", tags=["filings"], status_code=201)
def api_submit_filing(body: FilingIn, user: ApiUser, s: Db) -> dict[str, Any]:
    f = filings.submit_filing(
        s,
        user,
        body.model_dump(exclude_unset=True, exclude=COMMITMENT),
        commitment_accepted=body.commitment_accepted,
        commitment_version=body.commitment_version,
    )
    return filings.filing_json(s, f)


@router.get("/api/filings/{filing_id}", tags=["filings"])
def api_filing(filing_id: DbId, user: ApiUser, s: Db) -> dict[str, Any]:
    return filings.filing_json(s, filings.get_filing(s, user, filing_id))


@router.post("/api/filings/{filing_id}/documents", tags=["filings"], status_code=201)
def api_filing_document(
    filing_id: DbId, user: ApiUser, s: Db, settings: SettingsDep, prog: Prog, file: Annotated[UploadFile, File()]
) -> dict[str, Any]:
    data = file.file.read(settings.upload_max_bytes + 1)  # a sync route: runs in the thread pool
    a = filings.add_document(s, user, settings, prog, filing_id, file.filename or "", data)
    return {"id": a.id, "filename": a.filename, "size_bytes": a.size_bytes, "sha256": a.sha256}


@router.post("/api/filings/{filing_id}/accept", tags=["filings"])
def api_accept_filing(filing_id: DbId, user: ApiUser, s: Db) -> dict[str, Any]:
    return filings.filing_json(s, filings.accept_filing(s, user, filing_id))


@router.post("/api/filings/{filing_id}/return", tags=["filings"])
def api_return_filing(filing_id: DbId, body: ReturnIn, user: ApiUser, s: Db) -> dict[str, Any]:
    return filings.filing_json(s, filings.return_filing(s, user, filing_id, body.reasons))


@router.post("/api/filings/{filing_id}/resubmit", tags=["filings"])
def api_resubmit_filing(filing_id: DbId, body: ResubmitIn, user: ApiUser, s: Db) -> dict[str, Any]:
    f = filings.resubmit_filing(
        s,
        user,
        filing_id,
        body.model_dump(exclude_unset=True, exclude=COMMITMENT),
        commitment_accepted=body.commitment_accepted,
        commitment_version=body.commitment_version,
    )
    return filings.filing_json(s, f)


# ------------------------------------------------------------------ the page


@router.get("/filings", include_in_schema=False, response_class=HTMLResponse)
def filings_page(user: PageUser, s: Db, render: Render) -> HTMLResponse:
    rows = [filings.filing_json(s, f) for f in filings.list_filings(s, user)]
    for r in rows:
        r["can_decide"] = r["status"] == "submitted" and permissions.can_decide_filing(user, r["district"])
    return render(
        "filings.html",
        filings=rows,
        commitment=filings.commitment(),
        catalogue=outlets.catalogue().formats,
        can_file=permissions.can_file(user),
    )


def _back(request: Request, zh: str, en: str) -> Response:
    return redirect_with_flash(request, "/filings", zh, en)


@router.post("/filings", include_in_schema=False)
def filing_form(
    request: Request,
    user: PageUser,
    csrf: FormCsrf,
    s: Db,
    settings: SettingsDep,
    prog: Prog,
    csrf_token: Annotated[str, Form()],
    name: Annotated[str, Form(max_length=128)],
    formats: Annotated[list[str], Form()],
    lon: Annotated[float, Form(ge=-180, le=180)],
    lat: Annotated[float, Form(ge=-90, le=90)],
    commitment_version: Annotated[str, Form(max_length=32)],
    commitment_accepted: Annotated[str, Form(max_length=8)] = "",
    crs: Annotated[str, Form(max_length=8)] = "wgs84",
    address: Annotated[str, Form(max_length=255)] = "",
    opening_hours: Annotated[str, Form(max_length=128)] = "",
    document: Annotated[UploadFile | None, File()] = None,
) -> Response:
    csrf.check(csrf_token)
    data = {"name": name, "formats": formats, "lon": lon, "lat": lat, "crs": crs}
    data |= {"address": address, "opening_hours": opening_hours}
    f = filings.submit_filing(
        s, user, data, commitment_accepted=commitment_accepted == "1", commitment_version=commitment_version
    )
    if document is not None and document.filename:
        blob = document.file.read(settings.upload_max_bytes + 1)
        filings.add_document(s, user, settings, prog, f.id, document.filename, blob)
    return _back(request, "备案已提交", "filing submitted")


@router.post("/filings/{filing_id}/documents", include_in_schema=False)
def filing_document_form(
    request: Request,
    filing_id: DbId,
    user: PageUser,
    csrf: FormCsrf,
    s: Db,
    settings: SettingsDep,
    prog: Prog,
    csrf_token: Annotated[str, Form()],
    document: Annotated[UploadFile, File()],
) -> Response:
    csrf.check(csrf_token)
    blob = document.file.read(settings.upload_max_bytes + 1)
    filings.add_document(s, user, settings, prog, filing_id, document.filename or "", blob)
    return _back(request, "材料已上传", "document uploaded")


@router.post("/filings/{filing_id}/accept", include_in_schema=False)
def filing_accept_form(
    request: Request, filing_id: DbId, user: PageUser, csrf: FormCsrf, s: Db, csrf_token: Annotated[str, Form()]
) -> Response:
    csrf.check(csrf_token)
    filings.accept_filing(s, user, filing_id)
    return _back(request, "备案已通过，网点已开业", "filing accepted; the outlet is open")


@router.post("/filings/{filing_id}/return", include_in_schema=False)
def filing_return_form(
    request: Request,
    filing_id: DbId,
    user: PageUser,
    csrf: FormCsrf,
    s: Db,
    csrf_token: Annotated[str, Form()],
    reasons: Annotated[str, Form(max_length=5000)] = "",
) -> Response:
    csrf.check(csrf_token)
    filings.return_filing(s, user, filing_id, reasons)
    return _back(request, "备案已退回", "filing returned")


@router.post("/filings/{filing_id}/resubmit", include_in_schema=False)
def filing_resubmit_form(
    request: Request,
    filing_id: DbId,
    user: PageUser,
    csrf: FormCsrf,
    s: Db,
    csrf_token: Annotated[str, Form()],
    commitment_version: Annotated[str, Form(max_length=32)],
    commitment_accepted: Annotated[str, Form(max_length=8)] = "",
) -> Response:
    csrf.check(csrf_token)
    filings.resubmit_filing(
        s, user, filing_id, {}, commitment_accepted=commitment_accepted == "1", commitment_version=commitment_version
    )
    return _back(request, "备案已重新提交", "filing resubmitted")
