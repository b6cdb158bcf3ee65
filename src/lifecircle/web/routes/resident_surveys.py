"""Residents' satisfaction surveys (M16, residents' side): the bureau's questionnaires, one-time
codes of a circle (JSON, CSV or the printable sheet, shown once), the public ``/survey`` page and
``/api/public/survey/...`` (no sign-in), and the per-question breakdown.

The public writes are allowed without a session by :mod:`lifecircle.web.guard` (exact paths, small
body limit). TODO(ratelimit): the integrator wires the per-address limiter of ``web/ratelimit.py``
to the paths of :data:`lifecircle.web.guard.PUBLIC_SURVEY_WRITES` (see :func:`public_limit`); until
then a per-process counter of bad codes per address (:class:`BadCodeCounter`) answers 429 after too many.
"""

from __future__ import annotations

import csv
import io
import json
import threading
import time
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from pydantic import BaseModel, Field

from lifecircle.errors import InputError, Problem
from lifecircle.i18n import t
from lifecircle.platform import service
from lifecircle.platform.db import Circle, transaction
from lifecircle.platform.errors import ConflictError, NotFoundError, ThrottledError
from lifecircle.platform.permissions import can_edit_questionnaires, can_issue_codes
from lifecircle.platform.service import resident_surveys as rs
from lifecircle.web.deps import ApiUser, Db, DbId, Factory, FormCsrf, PageUser, Prog, Render, SettingsDep, client_ip
from lifecircle.web.flash import redirect_with_flash

router = APIRouter()

NO_STORE = {"Cache-Control": "no-store"}


# ------------------------------------------------------------------ bad codes per address


class BadCodeCounter:
    """Bad codes per client address in this process: after ``limit`` in ``window_s`` seconds the
    address waits for the window to end (429). A stop-gap until the shared rate limiter is wired."""

    def __init__(self, limit: int = 30, window_s: int = 600) -> None:
        self.limit, self.window_s = limit, window_s
        self._seen: dict[str, tuple[float, int]] = {}
        self._lock = threading.Lock()

    def check(self, address: str) -> None:
        with self._lock:
            start, n = self._seen.get(address, (0.0, 0))
            wait = start + self.window_s - time.monotonic()
            if n >= self.limit and wait > 0:
                raise ThrottledError(
                    t("错误的调查码过多，请稍后再试", "too many wrong survey codes; try again later"), int(wait) + 1
                )

    def failed(self, address: str) -> None:
        with self._lock:
            now = time.monotonic()
            start, n = self._seen.get(address, (now, 0))
            if now - start > self.window_s:
                start, n = now, 0
            self._seen[address] = (start, n + 1)
            if len(self._seen) > 100_000:  # keep memory bounded under a flood of addresses
                self._seen.clear()


def bad_codes(request: Request) -> BadCodeCounter:
    """The app's counter of bad codes per address (one per app, so two apps — or two test runs —
    never share their counts)."""
    state = request.app.state
    counter = getattr(state, "bad_codes", None)
    if counter is None:
        counter = state.bad_codes = BadCodeCounter()
    return counter


async def public_limit(request: Request) -> None:
    """Dependency of the public survey and feedback routes: the per-address rate limit of every
    public route (:func:`lifecircle.web.ratelimit.public_rate_limit`), then the bad-code counter."""
    from lifecircle.web.ratelimit import public_rate_limit

    await public_rate_limit(request)
    bad_codes(request).check(client_ip(request))


PublicLimit = Annotated[None, Depends(public_limit)]


# ------------------------------------------------------------------ bodies


class QuestionnaireIn(BaseModel):
    period: str = Field(min_length=4, max_length=16, description="2024, 2024H1, 2024Q3 or 2024M05")
    title_zh: str = Field("", max_length=128)
    title_en: str = Field("", max_length=128)
    questions: list[dict[str, Any]] = Field(
        description="questions: {id, text_zh, text_en, kind: scale|yesno|choice, min, max, choices, required}",
        max_length=rs.MAX_QUESTIONS,
    )
    key: str = Field(min_length=1, max_length=32, description="id of the question that counts for the target")
    satisfied: list[Any] = Field(description="answers to the key question that count as satisfied", max_length=20)


class CodesIn(BaseModel):
    count: int = Field(ge=1, le=rs.MAX_CODES, description="how many household codes")


class CodeIn(BaseModel):
    code: str = Field(min_length=1, max_length=32)


class AnswersIn(BaseModel):
    code: str = Field(min_length=1, max_length=32)
    answers: dict[str, Any] = Field(description="{question id: answer}", max_length=rs.MAX_QUESTIONS + 10)


# ------------------------------------------------------------------ officials' API


@router.get("/api/questionnaires", tags=["satisfaction"])
def api_questionnaires(user: ApiUser, s: Db, period: str | None = None) -> Any:
    return [
        rs.questionnaire_json(q, answers=rs.n_answers(s, q.id)) for q in service.list_questionnaires(s, user, period)
    ]


@router.post("/api/questionnaires", tags=["satisfaction"], status_code=201)
def api_create_questionnaire(body: QuestionnaireIn, user: ApiUser, s: Db) -> Any:
    return rs.questionnaire_json(service.create_questionnaire(s, user, body.period, body.model_dump()))


@router.put("/api/questionnaires/{qid}", tags=["satisfaction"])
def api_update_questionnaire(qid: DbId, body: QuestionnaireIn, user: ApiUser, s: Db) -> Any:
    return rs.questionnaire_json(service.update_questionnaire(s, user, qid, body.model_dump()))


def codes_csv(circle: Circle, period: str, codes: list[str], status_code: int = 200) -> Response:
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(["code", "circle_id", "circle_name", "period"])
    for k in codes:
        w.writerow([rs.pretty_code(k), circle.id, circle.name, period])
    name = f"survey-codes-{circle.id}-{period}.csv"
    return Response(
        "\ufeff" + buf.getvalue(),
        status_code=status_code,
        media_type="text/csv; charset=utf-8",
        headers={**NO_STORE, "Content-Disposition": f'attachment; filename="{name}"'},
    )


@router.post("/api/circles/{circle_id}/surveys/{period}/codes", tags=["satisfaction"], status_code=201)
def api_issue_codes(
    circle_id: str,
    period: str,
    body: CodesIn,
    user: ApiUser,
    s: Db,
    settings: SettingsDep,
    fmt: Annotated[Literal["json", "csv"], Query(alias="format")] = "json",
) -> Any:
    """One-time household codes, returned only here (stored hashed). ``?format=csv`` for a CSV file."""
    codes = service.issue_codes(s, user, settings.secret_key, circle_id, period, body.count)
    circle = s.get(Circle, circle_id)
    assert circle is not None
    if fmt == "csv":
        return codes_csv(circle, period, codes, 201)
    data = {"circle_id": circle.id, "circle_name": circle.name, "period": period, "codes": codes}
    return JSONResponse(data, status_code=201, headers=NO_STORE)


@router.get("/api/circles/{circle_id}/surveys/{period}/breakdown", tags=["satisfaction"])
def api_breakdown(circle_id: str, period: str, user: ApiUser, s: Db, prog: Prog) -> Any:
    return service.breakdown(s, user, prog, circle_id, period)


# ------------------------------------------------------------------ public API (no sign-in)


def _public_questionnaire(circle: Circle | None, row: Any, qn: Any) -> dict[str, Any]:
    return {
        "circle_name": circle.name if circle else "",
        "period": row.period,
        "title_zh": qn.title_zh,
        "title_en": qn.title_en,
        "questions": qn.questions,
    }


def _remember_failure(request: Request, exc: Exception) -> None:
    if isinstance(exc, NotFoundError):
        bad_codes(request).failed(client_ip(request))


@router.post("/api/public/survey/questionnaire", tags=["public"])
def api_public_questionnaire(
    body: CodeIn, request: Request, _: PublicLimit, factory: Factory, settings: SettingsDep
) -> Any:
    """The questionnaire a (valid, unused) code answers, with its circle's name; the code stays unused."""
    try:
        with transaction(factory) as s:
            row, qn = rs.find_code(s, settings.secret_key, body.code)
            return _public_questionnaire(s.get(Circle, row.circle_id), row, qn)
    except NotFoundError as exc:
        _remember_failure(request, exc)
        raise


@router.post("/api/public/survey/answers", tags=["public"], status_code=201)
def api_public_answers(
    body: AnswersIn, request: Request, _: PublicLimit, factory: Factory, settings: SettingsDep
) -> Any:
    """A household's answers with its one-time code: 201 once; the same code again is 409."""
    try:
        with transaction(factory) as s:
            return service.submit_answers(s, settings.secret_key, body.code, body.answers)
    except NotFoundError as exc:
        _remember_failure(request, exc)
        raise


# ------------------------------------------------------------------ public pages


async def form_fields(request: Request) -> dict[str, str]:
    form = await request.form()
    return {k: v for k, v in form.items() if isinstance(v, str)}


FormFields = Annotated[dict[str, str], Depends(form_fields)]


def _status(exc: Exception) -> int:
    return 404 if isinstance(exc, NotFoundError) else 409 if isinstance(exc, ConflictError) else 422


@router.get("/survey", include_in_schema=False, response_class=HTMLResponse)
def survey_page(render: Render) -> HTMLResponse:
    return render("survey.html", step="code", code="")


@router.post("/survey", include_in_schema=False, response_class=HTMLResponse)
def survey_code_form(
    request: Request, _: PublicLimit, fields: FormFields, factory: Factory, settings: SettingsDep, render: Render
) -> HTMLResponse:
    code = (fields.get("code") or "")[:32]
    try:
        with transaction(factory) as s:
            row, qn = rs.find_code(s, settings.secret_key, code)
            q = _public_questionnaire(s.get(Circle, row.circle_id), row, qn)
    except (NotFoundError, ConflictError) as exc:
        _remember_failure(request, exc)
        return render("survey.html", _status(exc), step="code", code=code, error=str(exc))
    return render("survey.html", step="questions", code=code, q=q, answers={}, problems={})


@router.post("/survey/answer", include_in_schema=False, response_class=HTMLResponse)
def survey_answer_form(
    request: Request, _: PublicLimit, fields: FormFields, factory: Factory, settings: SettingsDep, render: Render
) -> HTMLResponse:
    code = (fields.get("code") or "")[:32]
    answers: dict[str, Any] = {}
    q: dict[str, Any] | None = None
    try:
        with transaction(factory) as s:
            row, qn = rs.find_code(s, settings.secret_key, code)
            q = _public_questionnaire(s.get(Circle, row.circle_id), row, qn)
            answers = rs.coerce_form_answers(qn, fields)
            service.submit_answers(s, settings.secret_key, code, answers)
    except InputError as exc:
        problems = {p.field.split(".", 1)[-1]: p.message for p in exc.problems if p.field}
        msg = t("请检查标出的问题", "please check the questions marked")
        return render(
            "survey.html", 422, step="questions", code=code, q=q, answers=answers, problems=problems, error=msg
        )
    except (NotFoundError, ConflictError) as exc:
        _remember_failure(request, exc)
        return render("survey.html", _status(exc), step="code", code="", error=str(exc))
    return render("survey.html", 201, step="thanks", q=q)


# ------------------------------------------------------------------ officials' pages


@router.post("/circles/{circle_id}/survey-codes", include_in_schema=False)
def circle_codes_form(
    circle_id: str,
    user: PageUser,
    csrf: FormCsrf,
    s: Db,
    settings: SettingsDep,
    render: Render,
    period: Annotated[str, Form(max_length=16)],
    count: Annotated[int, Form(ge=1, le=rs.MAX_CODES)],
    csrf_token: Annotated[str, Form()],
    fmt: Annotated[Literal["sheet", "csv"], Form(alias="format")] = "sheet",
) -> Response:
    """Generate codes from the circle page: the printable sheet (or CSV), shown this once."""
    csrf.check(csrf_token)
    codes = service.issue_codes(s, user, settings.secret_key, circle_id, period, count)
    circle = s.get(Circle, circle_id)
    assert circle is not None
    if fmt == "csv":
        return codes_csv(circle, period, codes)
    resp = render("survey_codes.html", circle=circle, period=period, codes=[rs.pretty_code(k) for k in codes])
    resp.headers.update(NO_STORE)
    return resp


@router.get("/circles/{circle_id}/surveys/{period}", include_in_schema=False, response_class=HTMLResponse)
def circle_survey_page(circle_id: str, period: str, user: PageUser, s: Db, prog: Prog, render: Render) -> HTMLResponse:
    b = service.breakdown(s, user, prog, circle_id, period)
    circle = s.get(Circle, circle_id)
    assert circle is not None
    qn = rs.current_questionnaire(s, period)
    return render(
        "survey_breakdown.html",
        circle=circle,
        b=b,
        can_issue=can_issue_codes(user, circle.id, circle.district) and qn is not None,
    )


@router.get("/questionnaires", include_in_schema=False, response_class=HTMLResponse)
def questionnaires_page(user: PageUser, s: Db, render: Render) -> HTMLResponse:
    rows = service.list_questionnaires(s, user)
    latest = rows[-1] if rows else None
    example = rs.questionnaire_json(latest) if latest else {k: v for k, v in EXAMPLE_QN.items() if k != "period"}
    draft = {k: example[k] for k in ("title_zh", "title_en", "questions", "key", "satisfied")}
    return render(
        "questionnaires.html",
        rows=[(q, rs.n_answers(s, q.id)) for q in rows],
        draft=json.dumps(draft, ensure_ascii=False, indent=2),
        period=latest.period if latest else "",
        can_edit=can_edit_questionnaires(user),
    )


@router.post("/questionnaires", include_in_schema=False)
def questionnaire_form(
    request: Request,
    user: PageUser,
    csrf: FormCsrf,
    s: Db,
    period: Annotated[str, Form(max_length=16)],
    body: Annotated[str, Form(max_length=200_000)],
    csrf_token: Annotated[str, Form()],
) -> Response:
    """Publish a new version from the page's JSON (title_zh, title_en, questions, key, satisfied)."""
    csrf.check(csrf_token)
    try:
        data = json.loads(body)
    except ValueError:
        data = None
    if not isinstance(data, dict):
        raise InputError([Problem(t("问卷须为 JSON 对象", "the questionnaire must be a JSON object"), field="body")])
    row = service.create_questionnaire(s, user, period, data)
    return redirect_with_flash(
        request,
        "/questionnaires",
        f"已发布 {row.period} 问卷第 {row.version} 版",
        f"published {row.period} v{row.version}",
    )


EXAMPLE_QN: dict[str, Any] = {
    "title_zh": "居民满意度调查",
    "title_en": "Residents' satisfaction survey",
    "questions": [
        {
            "id": "overall",
            "text_zh": "您对本社区一刻钟便民生活圈总体满意吗？",
            "text_en": "Overall, how satisfied are you?",
            "kind": "scale",
            "min": 1,
            "max": 5,
        },
        {
            "id": "walk",
            "text_zh": "步行 15 分钟内能买到日常用品吗？",
            "text_en": "Can you buy daily goods within a 15-minute walk?",
            "kind": "yesno",
        },
    ],
    "key": "overall",
    "satisfied": [4, 5],
}
