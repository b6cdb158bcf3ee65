"""Co-governance and the environment (M11): a circle's joint committee and meetings
(``/api/circles/{id}/committee|meetings``, ``/api/committee-members/{id}/deactivate``), environment
issues (``/api/env-issues...``), the circle's governance page and the list of environment issues."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Annotated, Any, TypeVar
from urllib.parse import quote

from fastapi import APIRouter, File, Form, Query, Request, UploadFile
from fastapi.encoders import jsonable_encoder
from fastapi.responses import FileResponse, HTMLResponse, Response
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from lifecircle.i18n import t
from lifecircle.platform import audit, permissions
from lifecircle.platform.db import User, transaction
from lifecircle.platform.db_operations import COMMITTEE_ROLES, ENV_CATEGORIES, ENV_STATUSES
from lifecircle.platform.errors import NotFoundError
from lifecircle.platform.service import governance as gov
from lifecircle.platform.service import visible_districts
from lifecircle.platform.service.attachments import attachment_file
from lifecircle.web import deps
from lifecircle.web.deps import ApiUser, Db, DbId, FormCsrf, PageUser, Render
from lifecircle.web.flash import redirect_with_flash

router = APIRouter()
T = TypeVar("T")


# ------------------------------------------------------------------ bodies and answers


class MemberIn(BaseModel):
    role: str = Field(min_length=1, max_length=32, description="operator, street_office, community, property, ...")
    name: str = Field(min_length=1, max_length=64)
    organisation: str = Field("", max_length=128)


class MeetingIn(BaseModel):
    date: dt.date
    title: str = Field(min_length=1, max_length=128)
    minutes: str = Field("", max_length=20000)
    decisions: list[str] = Field(default_factory=list, max_length=100)
    attendees: list[str] = Field(default_factory=list, max_length=100)


class EnvIssueIn(BaseModel):
    circle_id: str | None = Field(None, max_length=32, description="omitted: the circle containing the point")
    category: str = Field(min_length=1, max_length=32, description="discharge, street_vending, signboard, ...")
    description: str = Field(min_length=1, max_length=5000)
    lon: float = Field(ge=-180, le=180, description="WGS-84 longitude, degrees")
    lat: float = Field(ge=-90, le=90, description="WGS-84 latitude, degrees")


class AssignIn(BaseModel):
    assignee: str = Field(min_length=1, max_length=128)
    due: dt.date | None = None


def member_json(m: Any) -> dict[str, Any]:
    return {**jsonable_encoder(audit.snapshot(m)), "role_label": t(*COMMITTEE_ROLES.get(m.role, (m.role, m.role)))}


def committee_json(c: gov.Committee) -> dict[str, Any]:
    return {
        "circle_id": c.circle.id,
        "members": [member_json(m) for m in c.members],
        "missing_roles": c.missing,
        "warning": gov.missing_roles_text(c.missing),
    }


def issue_json(r: gov.IssueRow) -> dict[str, Any]:
    i = r.issue
    photos = [
        {"id": a.id, "purpose": a.purpose, "filename": a.filename, "url": f"/api/env-issues/{i.id}/photos/{a.id}"}
        for a in r.photos
    ]
    label = t(*ENV_CATEGORIES.get(i.category, (i.category, i.category)))
    return {**jsonable_encoder(audit.snapshot(i)), "category_label": label, "age_days": r.age_days, "photos": photos}


async def _upload(request: Request, file: UploadFile | None) -> gov.Upload | None:
    """The upload's name and bytes (at most one byte over the limit), or None when none was sent."""
    if file is None or not (file.filename or ""):
        return None
    data = await file.read(request.app.state.settings.upload_max_bytes + 1)
    return gov.Upload(file.filename or "", data)


async def _in_transaction(request: Request, work: Callable[[Any], T]) -> T:
    """Run ``work(session)`` in one transaction in the thread pool (the multipart routes)."""

    def run() -> T:
        with transaction(request.app.state.factory) as s:
            return work(s)

    return await run_in_threadpool(run)


# ------------------------------------------------------------------ API: committee and meetings


@router.get("/api/circles/{circle_id}/committee", tags=["governance"])
def api_committee(circle_id: str, user: ApiUser, s: Db) -> dict[str, Any]:
    return committee_json(gov.committee(s, user, circle_id))


@router.post("/api/circles/{circle_id}/committee", tags=["governance"], status_code=201)
def api_add_member(circle_id: str, body: MemberIn, user: ApiUser, s: Db) -> dict[str, Any]:
    m = gov.add_committee_member(s, user, circle_id, role=body.role, name=body.name, organisation=body.organisation)
    return member_json(m)


@router.post("/api/committee-members/{member_id}/deactivate", tags=["governance"])
def api_deactivate_member(member_id: DbId, user: ApiUser, s: Db) -> dict[str, Any]:
    return member_json(gov.deactivate_committee_member(s, user, member_id))


@router.get("/api/circles/{circle_id}/meetings", tags=["governance"])
def api_meetings(circle_id: str, user: ApiUser, s: Db) -> Any:
    return jsonable_encoder([audit.snapshot(m) for m in gov.meetings(s, user, circle_id)])


@router.post("/api/circles/{circle_id}/meetings", tags=["governance"], status_code=201)
def api_create_meeting(circle_id: str, body: MeetingIn, user: ApiUser, s: Db) -> Any:
    mt = gov.create_meeting(s, user, circle_id, **body.model_dump())
    return jsonable_encoder(audit.snapshot(mt))


# ------------------------------------------------------------------ API: environment issues


@router.get("/api/env-issues", tags=["governance"])
def api_env_issues(
    user: ApiUser,
    s: Db,
    circle: Annotated[str | None, Query(max_length=32)] = None,
    status: Annotated[str | None, Query(max_length=16)] = None,
    district: Annotated[str | None, Query(max_length=16)] = None,
) -> list[dict[str, Any]]:
    rows = gov.list_env_issues(s, user, circle=circle or None, status=status or None, district=district or None)
    return [issue_json(r) for r in rows]


@router.post("/api/env-issues", tags=["governance"], status_code=201)
def api_report_env_issue(body: EnvIssueIn, user: ApiUser, s: Db, settings: deps.SettingsDep, prog: deps.Prog) -> Any:
    issue = gov.report_env_issue(
        s,
        user,
        body.circle_id or None,
        body.category,
        body.description,
        body.lon,
        body.lat,
        None,
        settings=settings,
        prog=prog,
    )
    return issue_json(gov.issue_row(s, issue))


@router.post("/api/env-issues/{issue_id}/photos", tags=["governance"], status_code=201)
async def api_env_issue_photo(issue_id: DbId, request: Request, file: UploadFile | None = File(None)) -> Any:
    user = await run_in_threadpool(deps.api_user, request)
    photo = await _upload(request, file) or gov.Upload("", b"")
    st = request.app.state
    a = await _in_transaction(
        request, lambda s: gov.add_env_issue_photo(s, user, st.settings, st.prog, issue_id, photo)
    )
    return jsonable_encoder(audit.snapshot(a))


@router.get("/api/env-issues/{issue_id}/photos/{photo_id}", tags=["governance"], response_class=FileResponse)
def api_env_issue_photo_file(
    issue_id: DbId, photo_id: DbId, user: ApiUser, s: Db, settings: deps.SettingsDep
) -> FileResponse:
    gov.get_env_issue(s, user, issue_id)
    row, path = attachment_file(s, settings, photo_id)
    if row.entity != gov.ENTITY or row.entity_id != str(issue_id):
        raise NotFoundError(f"photo {photo_id}")
    return FileResponse(path, media_type=row.content_type, headers={"X-Content-Type-Options": "nosniff"})


@router.post("/api/env-issues/{issue_id}/assign", tags=["governance"])
def api_assign_env_issue(issue_id: DbId, body: AssignIn, user: ApiUser, s: Db) -> Any:
    return issue_json(gov.issue_row(s, gov.assign_env_issue(s, user, issue_id, body.assignee, body.due)))


async def _close(request: Request, user: User, issue_id: int, note: str, file: UploadFile | None) -> Any:
    photo = await _upload(request, file)
    st = request.app.state

    def work(s: Any) -> Any:
        return issue_json(gov.issue_row(s, gov.close_env_issue(s, user, st.settings, st.prog, issue_id, note, photo)))

    return await _in_transaction(request, work)


@router.post("/api/env-issues/{issue_id}/close", tags=["governance"])
async def api_close_env_issue(
    issue_id: DbId,
    request: Request,
    note: Annotated[str, Form(max_length=5000)] = "",
    photo: UploadFile | None = File(None),
) -> Any:
    """Close with ``note`` and ``photo`` (multipart; both required: 422 naming the missing one)."""
    user = await run_in_threadpool(deps.api_user, request)
    return await _close(request, user, issue_id, note, photo)


# ------------------------------------------------------------------ pages


def _back(request: Request, url: str, zh: str, en: str) -> Response:
    return redirect_with_flash(request, url, zh, en)


@router.get("/circles/{circle_id}/governance", include_in_schema=False, response_class=HTMLResponse)
def governance_page(circle_id: str, user: PageUser, s: Db, render: Render) -> HTMLResponse:
    com = gov.committee(s, user, circle_id)
    c = com.circle
    return render(
        "governance.html",
        c=c,
        committee=com,
        warning=gov.missing_roles_text(com.missing),
        meetings=gov.meetings(s, user, circle_id),
        issues=[issue_json(r) for r in gov.list_env_issues(s, user, circle=c.id)],
        can_govern=permissions.can_govern_circle(user, c.id, c.district),
        roles=COMMITTEE_ROLES,
        categories=ENV_CATEGORIES,
    )


@router.get("/env-issues", include_in_schema=False, response_class=HTMLResponse)
def env_issues_page(
    user: PageUser, s: Db, render: Render, district: str | None = None, status: str | None = None
) -> HTMLResponse:
    district, status = district or None, status or None
    rows = gov.list_env_issues(s, user, district=district, status=status)
    return render(
        "env_issues.html",
        issues=[issue_json(r) for r in rows],
        districts=visible_districts(s, user),
        district=district,
        status=status,
        statuses=ENV_STATUSES,
    )


def _gov_url(circle_id: str) -> str:
    return f"/circles/{quote(circle_id)}/governance"


@router.post("/circles/{circle_id}/governance/members", include_in_schema=False)
def member_form(
    request: Request,
    circle_id: str,
    user: PageUser,
    csrf: FormCsrf,
    s: Db,
    role: Annotated[str, Form(max_length=32)],
    name: Annotated[str, Form(max_length=64)],
    csrf_token: Annotated[str, Form()],
    organisation: Annotated[str, Form(max_length=128)] = "",
) -> Response:
    csrf.check(csrf_token)
    gov.add_committee_member(s, user, circle_id, role=role, name=name, organisation=organisation)
    return _back(request, _gov_url(circle_id), "成员已添加", "member added")


@router.post("/committee-members/{member_id}/deactivate", include_in_schema=False)
def deactivate_form(
    request: Request, member_id: DbId, user: PageUser, csrf: FormCsrf, s: Db, csrf_token: Annotated[str, Form()]
) -> Response:
    csrf.check(csrf_token)
    m = gov.deactivate_committee_member(s, user, member_id)
    return _back(request, _gov_url(m.circle_id), "成员已退出", "member deactivated")


@router.post("/circles/{circle_id}/governance/meetings", include_in_schema=False)
def meeting_form(
    request: Request,
    circle_id: str,
    user: PageUser,
    csrf: FormCsrf,
    s: Db,
    date: Annotated[dt.date, Form()],
    title: Annotated[str, Form(max_length=128)],
    csrf_token: Annotated[str, Form()],
    minutes: Annotated[str, Form(max_length=20000)] = "",
    decisions: Annotated[str, Form(max_length=20000)] = "",
    attendees: Annotated[str, Form(max_length=5000)] = "",
) -> Response:
    csrf.check(csrf_token)
    gov.create_meeting(
        s,
        user,
        circle_id,
        date=date,
        title=title,
        minutes=minutes,
        decisions=decisions.splitlines(),
        attendees=[a for part in attendees.splitlines() for a in part.replace("，", ",").split(",")],
    )
    return _back(request, _gov_url(circle_id), "会议已记录", "meeting recorded")


@router.post("/circles/{circle_id}/governance/issues", include_in_schema=False)
async def issue_form(
    request: Request,
    circle_id: str,
    category: Annotated[str, Form(max_length=32)],
    description: Annotated[str, Form(max_length=5000)],
    lon: Annotated[float, Form(ge=-180, le=180)],
    lat: Annotated[float, Form(ge=-90, le=90)],
    csrf_token: Annotated[str, Form()],
    photo: UploadFile | None = File(None),
) -> Response:
    user = await run_in_threadpool(deps.page_user, request)
    deps.csrf_guard(request).check(csrf_token)
    up, st = await _upload(request, photo), request.app.state
    await _in_transaction(
        request,
        lambda s: gov.report_env_issue(
            s, user, circle_id, category, description, lon, lat, up, settings=st.settings, prog=st.prog
        ),
    )
    return _back(request, _gov_url(circle_id), "问题已上报", "issue reported")


@router.post("/env-issues/{issue_id}/assign", include_in_schema=False)
def assign_form(
    request: Request,
    issue_id: DbId,
    user: PageUser,
    csrf: FormCsrf,
    s: Db,
    assignee: Annotated[str, Form(max_length=128)],
    csrf_token: Annotated[str, Form()],
    due: Annotated[dt.date | None, Form()] = None,
) -> Response:
    csrf.check(csrf_token)
    issue = gov.assign_env_issue(s, user, issue_id, assignee, due)
    return _back(request, _gov_url(issue.circle_id or ""), "已交办", "issue assigned")


@router.post("/env-issues/{issue_id}/close", include_in_schema=False)
async def close_form(
    request: Request,
    issue_id: DbId,
    csrf_token: Annotated[str, Form()],
    note: Annotated[str, Form(max_length=5000)] = "",
    photo: UploadFile | None = File(None),
) -> Response:
    user = await run_in_threadpool(deps.page_user, request)
    deps.csrf_guard(request).check(csrf_token)
    out = await _close(request, user, issue_id, note, photo)
    return _back(request, _gov_url(out["circle_id"] or ""), "问题已办结", "issue closed")
