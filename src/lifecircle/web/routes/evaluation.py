"""Evaluation: scorecards, evaluator scores, evidence files and grade decisions
(``/api/circles/{id}/scorecards|scores|evidence|grades``, ``/api/evidence/{id}``) and the circle
page's score, evidence and grade forms."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, File, Form, Request, UploadFile
from fastapi.encoders import jsonable_encoder
from fastapi.responses import FileResponse, Response
from starlette.concurrency import run_in_threadpool

from lifecircle.platform import audit, service
from lifecircle.platform.db import User, transaction
from lifecircle.web import deps
from lifecircle.web.deps import ApiUser, Db, DbId, FormCsrf, PageUser
from lifecircle.web.routes.circles import back_to_circle
from lifecircle.web.schemas import GradeIn, ScorecardIn, ScoreIn

router = APIRouter()


async def save_upload(request: Request, user: User, circle_id: str, file: UploadFile) -> Any:
    """Read the upload (at most one byte over the limit) and store it in one transaction."""
    state = request.app.state
    data = await file.read(state.settings.upload_max_bytes + 1)

    def save() -> Any:
        with transaction(state.factory) as s:
            ev = service.save_evidence(
                s, user, state.settings, state.prog, circle_id, filename=file.filename or "", data=data
            )
            return jsonable_encoder(audit.snapshot(ev))

    return await run_in_threadpool(save)


# ------------------------------------------------------------------ API


@router.get("/api/circles/{circle_id}/scorecards", tags=["evaluation"])
def api_scorecards(circle_id: str, user: ApiUser, s: Db) -> Any:
    service.get_circle(s, user, circle_id)
    return jsonable_encoder([audit.snapshot(c) for c in service.scorecards(s, circle_id)])


@router.post("/api/circles/{circle_id}/scorecards", tags=["evaluation"], status_code=201)
def api_put_scorecard(circle_id: str, body: ScorecardIn, user: ApiUser, s: Db) -> Any:
    c = service.put_scorecard(
        s, user, circle_id, body.as_of, body.indicators, body.grade_code, body.synthetic, source="api"
    )
    return jsonable_encoder(audit.snapshot(c))


@router.post("/api/circles/{circle_id}/scores", tags=["evaluation"], status_code=201)
def api_add_score(circle_id: str, body: ScoreIn, user: ApiUser, s: Db) -> Any:
    return jsonable_encoder(
        audit.snapshot(service.add_score(s, user, circle_id, score=body.score, comment=body.comment))
    )


@router.post("/api/circles/{circle_id}/evidence", tags=["evaluation"], status_code=201)
async def api_evidence(circle_id: str, request: Request, file: UploadFile = File(...)) -> Any:
    # The user is looked up after the form is parsed (a missing file is a 422 before a 401).
    user = await run_in_threadpool(deps.api_user, request)
    return await save_upload(request, user, circle_id, file)


@router.get("/api/evidence/{evidence_id}", tags=["evaluation"], response_class=FileResponse)
def api_evidence_file(evidence_id: DbId, user: ApiUser, s: Db, settings: deps.SettingsDep) -> FileResponse:
    ev, path = service.evidence_file(s, user, settings, evidence_id)
    return FileResponse(
        path, media_type=ev.content_type, filename=ev.filename, headers={"X-Content-Type-Options": "nosniff"}
    )


@router.post("/api/circles/{circle_id}/grades", tags=["evaluation"], status_code=201)
def api_grade(circle_id: str, body: GradeIn, user: ApiUser, s: Db) -> Any:
    g = service.record_grade(s, user, circle_id, grade_code=body.grade_code, decision=body.decision, reason=body.reason)
    return jsonable_encoder(audit.snapshot(g))


# ------------------------------------------------------------------ the circle page's forms


@router.post("/circles/{circle_id}/scores", include_in_schema=False)
def circle_score_form(
    request: Request,
    circle_id: str,
    user: PageUser,
    csrf: FormCsrf,
    s: Db,
    score: Annotated[float, Form()],
    csrf_token: Annotated[str, Form()],
    comment: Annotated[str, Form(max_length=5000)] = "",
) -> Response:
    csrf.check(csrf_token)
    service.add_score(s, user, circle_id, score=score, comment=comment)
    return back_to_circle(request, circle_id, "评分已保存", "score saved")


@router.post("/circles/{circle_id}/evidence", include_in_schema=False)
async def circle_evidence_form(
    request: Request, circle_id: str, csrf_token: Annotated[str, Form()], file: UploadFile = File(...)
) -> Response:
    # As the API: the user is looked up after the form is parsed.
    user = await run_in_threadpool(deps.page_user, request)
    deps.csrf_guard(request).check(csrf_token)
    await save_upload(request, user, circle_id, file)
    return back_to_circle(request, circle_id, "证明材料已上传", "evidence uploaded")


@router.post("/circles/{circle_id}/grades", include_in_schema=False)
def circle_grade_form(
    request: Request,
    circle_id: str,
    user: PageUser,
    csrf: FormCsrf,
    s: Db,
    grade_code: Annotated[str, Form()],
    decision: Annotated[str, Form()],
    csrf_token: Annotated[str, Form()],
    reason: Annotated[str, Form(max_length=5000)] = "",
) -> Response:
    csrf.check(csrf_token)
    service.record_grade(s, user, circle_id, grade_code=grade_code, decision=decision, reason=reason)
    return back_to_circle(request, circle_id, "评定已记录", "grade recorded")
