"""Residents' satisfaction: survey campaigns and their results, the satisfaction trend, and the
circle page's survey form."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.encoders import jsonable_encoder
from fastapi.responses import Response

from lifecircle.errors import InputError, Problem
from lifecircle.i18n import t
from lifecircle.platform import service
from lifecircle.web.deps import ApiUser, Db, DbId, FormCsrf, PageUser, Prog
from lifecircle.web.routes.circles import back_to_circle
from lifecircle.web.schemas import SurveyIn, SurveyResultsIn
from lifecircle.web.views import survey_json

router = APIRouter()


def optional_int(v: str, name: str) -> int | None:
    """A form's optional whole number ('' → None); anything else is a 422 naming the field."""
    v = (v or "").strip()
    if not v:
        return None
    try:
        return int(v)
    except ValueError:
        raise InputError([Problem(t(f"'{v}' 不是整数", f"'{v}' is not a whole number"), field=name)]) from None


@router.get("/api/circles/{circle_id}/surveys", tags=["satisfaction"])
def api_surveys(circle_id: str, user: ApiUser, s: Db, prog: Prog) -> Any:
    service.get_circle(s, user, circle_id)
    return jsonable_encoder([survey_json(v, prog) for v in service.surveys(s, circle_id)])


@router.post("/api/circles/{circle_id}/surveys", tags=["satisfaction"], status_code=201)
def api_add_survey(circle_id: str, body: SurveyIn, user: ApiUser, s: Db, prog: Prog) -> Any:
    v = service.create_survey(
        s,
        user,
        circle_id,
        period=body.period,
        start=body.start,
        end=body.end,
        respondents=body.respondents,
        satisfied=body.satisfied,
    )
    return jsonable_encoder(survey_json(v, prog))


@router.post("/api/surveys/{survey_id}/results", tags=["satisfaction"])
def api_survey_results(survey_id: DbId, body: SurveyResultsIn, user: ApiUser, s: Db, prog: Prog) -> Any:
    v = service.record_survey_results(s, user, survey_id, respondents=body.respondents, satisfied=body.satisfied)
    return jsonable_encoder(survey_json(v, prog))


@router.get("/api/satisfaction", tags=["satisfaction"])
def api_satisfaction(
    user: ApiUser, s: Db, prog: Prog, district: str | None = None, circle_id: str | None = None
) -> Any:
    return service.satisfaction_trend(s, user, prog, circle_id=circle_id, district=district)


@router.post("/circles/{circle_id}/surveys", include_in_schema=False)
def circle_survey_form(
    request: Request,
    circle_id: str,
    user: PageUser,
    csrf: FormCsrf,
    s: Db,
    period: Annotated[str, Form(max_length=16)],
    csrf_token: Annotated[str, Form()],
    respondents: Annotated[str, Form()] = "",
    satisfied: Annotated[str, Form()] = "",
) -> Response:
    csrf.check(csrf_token)
    r, sat = optional_int(respondents, "respondents"), optional_int(satisfied, "satisfied")
    service.create_survey(s, user, circle_id, period=period, respondents=r, satisfied=sat)
    return back_to_circle(request, circle_id, "满意度调查已登记", "survey recorded")
