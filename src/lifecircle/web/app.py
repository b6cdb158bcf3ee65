"""The officials' web application: a JSON API under ``/api`` (OpenAPI at ``/api/docs``) and
server-rendered pages in Chinese (English with ``?lang=en`` or the ``lang`` cookie).

The routes are thin: they authenticate, parse, open one transaction and call
:mod:`lifecircle.platform.service`; the audit row commits in the same transaction.

Errors: not signed in → 401 (pages redirect to the login page), wrong role or district → 403,
bad input → 422 naming the field, too many failed logins → 429, unknown id → 404.
"""

from __future__ import annotations

import datetime as dt
import functools
import math
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import quote

from fastapi import Depends, FastAPI, File, Form, Query, Request, UploadFile
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from pydantic import BaseModel, Field
from sqlalchemy import select
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Receive, Scope, Send

from lifecircle.errors import InputError, LifecircleError, Problem
from lifecircle.i18n import get_lang, t, use_lang
from lifecircle.platform import audit, auth, service
from lifecircle.platform.db import (
    ROLE_LABELS,
    ROLES,
    District,
    User,
    make_engine,
    session_factory,
    transaction,
)
from lifecircle.platform.errors import (
    AuthRequiredError,
    NotFoundError,
    PermissionDeniedError,
    ThrottledError,
)
from lifecircle.platform.programme import load_programme
from lifecircle.platform.seed import init_platform
from lifecircle.platform.settings import Settings, load_settings
from lifecircle.profile import Profile, load_profile
from lifecircle.reports.common import gap_names

HERE = Path(__file__).resolve().parent
SESSION_COOKIE = "lc_session"
LOGIN_NONCE_COOKIE = "lc_login_nonce"
LANG_COOKIE = "lang"


# ------------------------------------------------------------------ language middleware

class LanguageMiddleware:
    """Pick the language per request: ``?lang=`` (and remember it in a cookie) or the cookie."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        from urllib.parse import parse_qs

        qs = parse_qs(scope.get("query_string", b"").decode("latin-1"))
        lang = (qs.get("lang") or [None])[0]
        set_cookie = lang in ("zh", "en")
        if not set_cookie:
            cookies = dict(scope.get("headers", []))
            raw = cookies.get(b"cookie", b"").decode("latin-1")
            for part in raw.split(";"):
                k, _, v = part.strip().partition("=")
                if k == LANG_COOKIE and v in ("zh", "en"):
                    lang = v
        lang = lang if lang in ("zh", "en") else "zh"

        async def send_wrapper(message: Any) -> None:
            if set_cookie and message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                headers.append((b"set-cookie", f"{LANG_COOKIE}={lang}; Path=/; Max-Age=31536000; SameSite=Lax".encode()))
                message["headers"] = headers
            await send(message)

        with use_lang(lang):
            await self.app(scope, receive, send_wrapper)


# ------------------------------------------------------------------ authentication dependencies

def _token(request: Request) -> tuple[str | None, bool]:
    """The session token from ``Authorization: Bearer`` or the session cookie (and which it was)."""
    h = request.headers.get("authorization", "")
    if h.lower().startswith("bearer "):
        return h[7:].strip(), False
    return request.cookies.get(SESSION_COOKIE), True


def current(request: Request) -> tuple[User, str]:
    """The signed-in user and the session's CSRF token; API writes by cookie need X-CSRF-Token."""
    token, by_cookie = _token(request)
    with transaction(request.app.state.factory) as s:
        user, sess = auth.session_user(s, token)
        csrf = sess.csrf_token
    unsafe = request.method not in ("GET", "HEAD", "OPTIONS") and request.url.path.startswith("/api/")
    if by_cookie and unsafe and not auth.check_csrf(csrf, request.headers.get("x-csrf-token")):
        raise PermissionDeniedError(t("缺少或错误的 CSRF 令牌（X-CSRF-Token）", "missing or wrong CSRF token (X-CSRF-Token)"))
    request.state.user, request.state.csrf = user, csrf
    return user, csrf


def api_user(request: Request) -> User:
    """Dependency: the signed-in user (401 when not signed in)."""
    return current(request)[0]


def page_user(request: Request) -> User:
    """Dependency of pages: the signed-in user (pages redirect to the login page otherwise)."""
    return current(request)[0]


ApiUser = Annotated[User, Depends(api_user)]
PageUser = Annotated[User, Depends(page_user)]


# ------------------------------------------------------------------ API models

class LoginIn(BaseModel):
    username: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=256)


class StatusIn(BaseModel):
    status: str = Field(min_length=1, max_length=16, description="new status: building, self_assessed, ...")
    note: str = Field("", max_length=2000)


class CircleIn(BaseModel):
    id: str = Field(min_length=1, max_length=32)
    name: str = Field(min_length=1, max_length=128)
    district: str = Field(min_length=1, max_length=16)
    phase: Literal["pilot", "rollout"]
    lon: float | None = Field(None, ge=-180, le=180, description="WGS-84 longitude, degrees")
    lat: float | None = Field(None, ge=-90, le=90, description="WGS-84 latitude, degrees")


class FundIn(BaseModel):
    kind: Literal["fund", "award"]
    amount_yuan: float = Field(gt=0, lt=1e11, description="amount in yuan (元)")
    date: dt.date
    source: str = Field("", max_length=128)
    note: str = Field("", max_length=2000)


class ScorecardIn(BaseModel):
    as_of: dt.date
    indicators: dict[str, Any]
    grade_code: Literal["basic", "upgraded", "quality", "none"] | None = None
    synthetic: bool = False


class ScoreIn(BaseModel):
    score: float = Field(ge=0, le=100, description="evaluator's score, 0–100")
    comment: str = Field("", max_length=5000)


class GradeIn(BaseModel):
    grade_code: Literal["basic", "upgraded", "quality", "none"]
    decision: Literal["recommend", "accept", "return"]
    reason: str = Field("", max_length=5000)


class SurveyIn(BaseModel):
    period: str = Field(min_length=4, max_length=16, description="2024, 2024H1, 2024Q3 or 2024M05")
    start: dt.date | None = None
    end: dt.date | None = None
    respondents: int | None = Field(None, ge=1, le=10_000_000)
    satisfied: int | None = Field(None, ge=0, le=10_000_000)


class SurveyResultsIn(BaseModel):
    respondents: int = Field(ge=1, le=10_000_000)
    satisfied: int = Field(ge=0, le=10_000_000)


class ReportIn(BaseModel):
    district: str = Field(min_length=1, max_length=16)
    period: str = Field(min_length=4, max_length=16)


class ReportEditIn(BaseModel):
    body: str = Field(min_length=1, max_length=200_000)


class UserIn(BaseModel):
    username: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=256)
    role: Literal["city_admin", "district_officer", "evaluator", "leader"]
    district: str | None = Field(None, max_length=16)
    display_name: str = Field("", max_length=128)


# ------------------------------------------------------------------ the app

def create_app(settings: Settings | None = None, *, migrate: bool = True) -> FastAPI:
    """Build the application for ``settings`` (default: from the environment). With ``migrate``
    the database is brought to the newest schema and the programme written at creation."""
    settings = settings or load_settings()
    prog = load_programme(settings.programme)
    if settings.db_url.startswith("sqlite"):
        settings.data_dir.mkdir(parents=True, exist_ok=True)
    engine = make_engine(settings.db_url)
    factory = session_factory(engine)
    if migrate:
        init_platform(engine, factory, prog)

    app = FastAPI(title="lifecircle — 一刻钟便民生活圈 officials' platform", version="1",
                  docs_url="/api/docs", openapi_url="/api/openapi.json", redoc_url=None)
    app.state.settings, app.state.engine, app.state.factory, app.state.prog = settings, engine, factory, prog
    app.add_middleware(LanguageMiddleware)
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
    templates = Jinja2Templates(directory=HERE / "templates")
    templates.env.globals.update(t=t, get_lang=get_lang, role_label=lambda r: t(*ROLE_LABELS.get(r, (r, r))),
                                 grade_label=lambda g: t(*service.GRADES.get(g, (g or "—", g or "—"))),
                                 decision_label=lambda d: t(*service.DECISIONS.get(d, (d, d))),
                                 fund_label=lambda k: t(*service.FUND_KINDS.get(k, (k, k))),
                                 status_label=prog.status_label, fmt_pct=_pct, fmt_num=_num, quote=quote,
                                 format_names=_format_names)
    app.state.templates = templates

    # -------------------------------------------------------------- plumbing

    @contextmanager
    def tx() -> Iterator[Session]:
        with transaction(factory) as s:
            yield s

    def check_form_csrf(request: Request, csrf_token: str) -> None:
        if not auth.check_csrf(getattr(request.state, "csrf", None), csrf_token):
            raise PermissionDeniedError(t("表单已过期或 CSRF 令牌错误，请刷新页面后重试", "the form expired or its CSRF token is wrong; reload and retry"))

    def render(request: Request, name: str, status_code: int = 200, **ctx: Any) -> HTMLResponse:
        user = getattr(request.state, "user", None)
        ctx.update(request=request, user=user, csrf=getattr(request.state, "csrf", ""), lang=get_lang(),
                   prog=prog, settings=settings, path=request.url.path, msg=request.query_params.get("msg"))
        return templates.TemplateResponse(request, name, ctx, status_code=status_code)

    def is_api(request: Request) -> bool:
        return request.url.path.startswith("/api/")

    # -------------------------------------------------------------- errors

    def _error_page(request: Request, code: int, message: str, problems: list[dict[str, Any]] | None = None) -> Response:
        try:
            return render(request, "error.html", status_code=code, code=code, message=message, problems=problems or [])
        except Exception:  # noqa: BLE001 - never fail while reporting an error
            return HTMLResponse(f"<h1>{code}</h1><p>{message}</p>", status_code=code)

    @app.exception_handler(InputError)
    async def _input_error(request: Request, exc: InputError) -> Response:
        detail = [{"loc": ["body", p.field or "input"], "msg": p.message, "type": "value_error"} for p in exc.problems]
        if is_api(request):
            return JSONResponse({"detail": detail}, status_code=422)
        return _error_page(request, 422, str(exc), detail)

    @app.exception_handler(RequestValidationError)
    async def _validation_error(request: Request, exc: RequestValidationError) -> Response:
        detail = [{"loc": list(e.get("loc", [])), "msg": e.get("msg", ""), "type": e.get("type", ""),
                   "message": validation_message(e)} for e in exc.errors()]
        if is_api(request):
            return JSONResponse({"detail": jsonable_encoder(detail)}, status_code=422)
        fields = t("；", "; ").join(f"{d['loc'][-1]}: {d['message']}" for d in detail if d["loc"])
        return _error_page(request, 422, t(f"输入有误：{fields}", f"invalid input: {fields}"), detail)

    @app.exception_handler(AuthRequiredError)
    async def _auth_error(request: Request, exc: AuthRequiredError) -> Response:
        if is_api(request):
            return JSONResponse({"detail": str(exc)}, status_code=401, headers={"WWW-Authenticate": "Bearer"})
        if request.url.path == "/login":
            return _error_page(request, 401, str(exc))
        return RedirectResponse(f"/login?next={quote(str(request.url.path))}", status_code=303)

    @app.exception_handler(PermissionDeniedError)
    async def _perm_error(request: Request, exc: PermissionDeniedError) -> Response:
        if is_api(request):
            return JSONResponse({"detail": str(exc)}, status_code=403)
        return _error_page(request, 403, str(exc))

    @app.exception_handler(NotFoundError)
    async def _nf_error(request: Request, exc: NotFoundError) -> Response:
        if is_api(request):
            return JSONResponse({"detail": str(exc)}, status_code=404)
        return _error_page(request, 404, str(exc))

    @app.exception_handler(ThrottledError)
    async def _throttled(request: Request, exc: ThrottledError) -> Response:
        headers = {"Retry-After": str(exc.retry_after_s)}
        if is_api(request):
            return JSONResponse({"detail": str(exc)}, status_code=429, headers=headers)
        r = _error_page(request, 429, str(exc))
        r.headers.update(headers)
        return r

    @app.exception_handler(LifecircleError)
    async def _other_user_error(request: Request, exc: LifecircleError) -> Response:
        if is_api(request):
            return JSONResponse({"detail": str(exc)}, status_code=422)
        return _error_page(request, 422, str(exc))

    # -------------------------------------------------------------- API: session

    def _set_session_cookie(resp: Response, res: auth.LoginResult) -> None:
        resp.set_cookie(SESSION_COOKIE, res.token, max_age=settings.session_minutes * 60, httponly=True,
                        samesite="lax", secure=settings.cookie_secure, path="/")

    def _ip(request: Request) -> str:
        return request.client.host if request.client else "-"

    @app.post("/api/login", tags=["session"], summary="Sign in; returns a bearer token and sets the session cookie")
    def api_login(body: LoginIn, request: Request) -> JSONResponse:
        res = auth.login(factory, settings, body.username, body.password, _ip(request))
        resp = JSONResponse({"token": res.token, "csrf_token": res.csrf_token, "expires_at": res.expires_at.isoformat() + "Z",
                             "user": _user_json(res.user)})
        _set_session_cookie(resp, res)
        return resp

    @app.post("/api/logout", tags=["session"])
    def api_logout(request: Request, user: ApiUser) -> JSONResponse:
        auth.logout(factory, _token(request)[0])
        resp = JSONResponse({"ok": True})
        resp.delete_cookie(SESSION_COOKIE, path="/")
        return resp

    @app.get("/api/me", tags=["session"])
    def api_me(user: ApiUser) -> dict[str, Any]:
        return _user_json(user)

    @app.get("/api/users", tags=["accounts"])
    def api_users(user: ApiUser) -> list[dict[str, Any]]:
        with tx() as s:
            return [_user_json(r.user) | {"active": r.user.active, "last_login": r.last_login}
                    for r in service.list_users(s, user)]

    @app.post("/api/users", tags=["accounts"], status_code=201)
    def api_create_user(body: UserIn, user: ApiUser) -> dict[str, Any]:
        with tx() as s:
            u = auth.create_user(s, user, settings, username=body.username, password=body.password, role=body.role,
                                 district=body.district, display_name=body.display_name)
            return _user_json(u)

    # -------------------------------------------------------------- API: programme and circles

    @app.get("/api/programme", tags=["programme"])
    def api_programme(user: ApiUser) -> dict[str, Any]:
        return {
            "city": prog.city, "target_circles": prog.target_circles, "satisfaction_target": prog.satisfaction_target,
            "phases": [{"code": p.code, "name_zh": p.name_zh, "name_en": p.name_en, "start": p.start, "end": p.end} for p in prog.phases],
            "districts": [{"code": d.code, "name_zh": d.name_zh, "name_en": d.name_en, "quota_pilot": d.pilot,
                           "quota_rollout": d.rollout} for d in prog.districts],
            "statuses": list(prog.statuses),
            "transitions": [{"from": a, "to": b, "roles": list(r)} for (a, b), r in prog.transitions.items()],
        }

    @app.get("/api/dashboard", tags=["programme"])
    def api_dashboard(user: ApiUser, today: dt.date | None = None) -> Any:
        with tx() as s:
            d = service.dashboard(s, user, prog, today)
        return jsonable_encoder(d)

    @app.get("/api/circles", tags=["circles"])
    def api_circles(user: ApiUser, district: str | None = None, status: str | None = None) -> list[dict[str, Any]]:
        with tx() as s:
            return [_circle_json(c) for c in service.list_circles(s, user, prog, district=district, status=status)]

    @app.post("/api/circles", tags=["circles"], status_code=201)
    def api_create_circle(body: CircleIn, user: ApiUser) -> dict[str, Any]:
        with tx() as s:
            c = service.create_circle(s, user, prog, id=body.id, name=body.name, district=body.district,
                                      phase=body.phase, lon=body.lon, lat=body.lat)
            return _circle_json(c)

    @app.get("/api/circles/{circle_id}", tags=["circles"])
    def api_circle(circle_id: str, user: ApiUser) -> Any:
        with tx() as s:
            return jsonable_encoder(_circle_detail(s, user, circle_id))

    @app.post("/api/circles/{circle_id}/status", tags=["circles"])
    def api_status(circle_id: str, body: StatusIn, user: ApiUser) -> dict[str, Any]:
        with tx() as s:
            return _circle_json(service.change_status(s, user, prog, circle_id, body.status, body.note))

    @app.get("/api/circles/{circle_id}/funds", tags=["circles"])
    def api_funds(circle_id: str, user: ApiUser) -> Any:
        with tx() as s:
            service.get_circle(s, user, circle_id)
            return jsonable_encoder([audit.snapshot(f) for f in service.funds(s, circle_id)])

    @app.post("/api/circles/{circle_id}/funds", tags=["circles"], status_code=201)
    def api_add_fund(circle_id: str, body: FundIn, user: ApiUser) -> Any:
        with tx() as s:
            f = service.add_fund(s, user, circle_id, kind=body.kind, amount_yuan=body.amount_yuan, date=body.date,
                                 source=body.source, note=body.note)
            return jsonable_encoder(audit.snapshot(f))

    @app.get("/api/circles/{circle_id}/scorecards", tags=["evaluation"])
    def api_scorecards(circle_id: str, user: ApiUser) -> Any:
        with tx() as s:
            service.get_circle(s, user, circle_id)
            return jsonable_encoder([audit.snapshot(c) for c in service.scorecards(s, circle_id)])

    @app.post("/api/circles/{circle_id}/scorecards", tags=["evaluation"], status_code=201)
    def api_put_scorecard(circle_id: str, body: ScorecardIn, user: ApiUser) -> Any:
        with tx() as s:
            c = service.put_scorecard(s, user, circle_id, body.as_of, body.indicators, body.grade_code, body.synthetic,
                                      source="api")
            return jsonable_encoder(audit.snapshot(c))

    @app.post("/api/circles/{circle_id}/scores", tags=["evaluation"], status_code=201)
    def api_add_score(circle_id: str, body: ScoreIn, user: ApiUser) -> Any:
        with tx() as s:
            return jsonable_encoder(audit.snapshot(service.add_score(s, user, circle_id, score=body.score, comment=body.comment)))

    @app.post("/api/circles/{circle_id}/evidence", tags=["evaluation"], status_code=201)
    async def api_evidence(circle_id: str, request: Request, file: UploadFile = File(...)) -> Any:
        user = await run_in_threadpool(api_user, request)
        data = await file.read(settings.upload_max_bytes + 1)

        def save() -> Any:
            with tx() as s:
                ev = service.save_evidence(s, user, settings, prog, circle_id, filename=file.filename or "", data=data)
                return jsonable_encoder(audit.snapshot(ev))

        return await run_in_threadpool(save)

    @app.get("/api/evidence/{evidence_id}", tags=["evaluation"], response_class=FileResponse)
    def api_evidence_file(evidence_id: int, user: ApiUser) -> FileResponse:
        with tx() as s:
            ev, path = service.evidence_file(s, user, settings, evidence_id)
        return FileResponse(path, media_type=ev.content_type, filename=ev.filename,
                            headers={"X-Content-Type-Options": "nosniff"})

    @app.post("/api/circles/{circle_id}/grades", tags=["evaluation"], status_code=201)
    def api_grade(circle_id: str, body: GradeIn, user: ApiUser) -> Any:
        with tx() as s:
            g = service.record_grade(s, user, circle_id, grade_code=body.grade_code, decision=body.decision, reason=body.reason)
            return jsonable_encoder(audit.snapshot(g))

    @app.get("/api/circles/{circle_id}/surveys", tags=["satisfaction"])
    def api_surveys(circle_id: str, user: ApiUser) -> Any:
        with tx() as s:
            service.get_circle(s, user, circle_id)
            return jsonable_encoder([_survey_json(v, prog) for v in service.surveys(s, circle_id)])

    @app.post("/api/circles/{circle_id}/surveys", tags=["satisfaction"], status_code=201)
    def api_add_survey(circle_id: str, body: SurveyIn, user: ApiUser) -> Any:
        with tx() as s:
            v = service.create_survey(s, user, circle_id, period=body.period, start=body.start, end=body.end,
                                      respondents=body.respondents, satisfied=body.satisfied)
            return jsonable_encoder(_survey_json(v, prog))

    @app.post("/api/surveys/{survey_id}/results", tags=["satisfaction"])
    def api_survey_results(survey_id: int, body: SurveyResultsIn, user: ApiUser) -> Any:
        with tx() as s:
            v = service.record_survey_results(s, user, survey_id, respondents=body.respondents, satisfied=body.satisfied)
            return jsonable_encoder(_survey_json(v, prog))

    @app.get("/api/satisfaction", tags=["satisfaction"])
    def api_satisfaction(user: ApiUser, district: str | None = None, circle_id: str | None = None) -> Any:
        with tx() as s:
            if district is not None and s.get(District, district) is None:
                raise InputError([Problem(t(f"未知的区代码 '{district}'", f"unknown district code '{district}'"), field="district")])
            return service.satisfaction_trend(s, user, prog, circle_id=circle_id, district=district)

    # -------------------------------------------------------------- API: reports, map, audit

    @app.get("/api/reports", tags=["reports"])
    def api_reports(user: ApiUser) -> Any:
        with tx() as s:
            return jsonable_encoder([audit.snapshot(r) for r in service.list_reports(s, user)])

    @app.post("/api/reports", tags=["reports"], status_code=201)
    def api_create_report(body: ReportIn, user: ApiUser) -> Any:
        with tx() as s:
            rep = service.create_report(s, user, prog, body.district, body.period)
            return jsonable_encoder(_report_json(s, rep))

    @app.get("/api/reports/{report_id}", tags=["reports"])
    def api_report(report_id: int, user: ApiUser) -> Any:
        with tx() as s:
            return jsonable_encoder(_report_json(s, service.get_report(s, user, report_id)))

    @app.post("/api/reports/{report_id}/versions", tags=["reports"], status_code=201)
    def api_edit_report(report_id: int, body: ReportEditIn, user: ApiUser) -> Any:
        with tx() as s:
            return jsonable_encoder(audit.snapshot(service.edit_report(s, user, report_id, body.body)))

    @app.get("/api/map/{layer}", tags=["map"])
    def api_map(layer: Literal["streets", "districts", "circles"], user: ApiUser) -> Any:
        with tx() as s:
            if layer == "circles":
                return service.circles_geojson(s, user, prog)
            return service.map_layer(s, layer)

    @app.get("/api/audit", tags=["audit"])
    def api_audit(user: ApiUser, limit: int = Query(50, ge=1, le=1000), entity: str | None = None,
                  entity_id: str | None = None) -> Any:
        service.require_role(user, "city_admin", "leader")
        with tx() as s:
            return jsonable_encoder([audit.snapshot(a) for a in audit.recent(s, limit, entity, entity_id)])

    @app.get("/healthz", include_in_schema=False)
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    # -------------------------------------------------------------- pages

    @app.get("/", include_in_schema=False)
    def root() -> RedirectResponse:
        return RedirectResponse("/dashboard", status_code=303)

    @app.get("/login", include_in_schema=False, response_class=HTMLResponse)
    def login_page(request: Request, next: str = "/dashboard") -> HTMLResponse:
        nonce = request.cookies.get(LOGIN_NONCE_COOKIE) or secrets.token_urlsafe(24)
        resp = render(request, "login.html", login_csrf=auth.login_form_token(settings, nonce), next=_safe_next(next), error=None)
        resp.set_cookie(LOGIN_NONCE_COOKIE, nonce, httponly=True, samesite="lax", secure=settings.cookie_secure, path="/login")
        return resp

    @app.post("/login", include_in_schema=False)
    def login_submit(request: Request, username: Annotated[str, Form(max_length=64)],
                     password: Annotated[str, Form(max_length=256)], csrf_token: Annotated[str, Form()],
                     next: Annotated[str, Form()] = "/dashboard") -> Response:
        nonce = request.cookies.get(LOGIN_NONCE_COOKIE)
        if not auth.check_login_form_token(settings, nonce, csrf_token):
            raise PermissionDeniedError(t("登录表单已过期，请刷新页面后重试", "the login form expired; reload the page and retry"))
        try:
            res = auth.login(factory, settings, username, password, _ip(request))
        except AuthRequiredError as exc:
            return render(request, "login.html", status_code=401, login_csrf=csrf_token, next=_safe_next(next), error=str(exc))
        resp = RedirectResponse(_safe_next(next), status_code=303)
        _set_session_cookie(resp, res)
        return resp

    @app.post("/logout", include_in_schema=False)
    def logout_submit(request: Request, user: PageUser, csrf_token: Annotated[str, Form()]) -> Response:
        check_form_csrf(request, csrf_token)
        auth.logout(factory, request.cookies.get(SESSION_COOKIE))
        resp = RedirectResponse("/login", status_code=303)
        resp.delete_cookie(SESSION_COOKIE, path="/")
        return resp

    @app.get("/dashboard", include_in_schema=False, response_class=HTMLResponse)
    def dashboard_page(request: Request, user: PageUser) -> HTMLResponse:
        with tx() as s:
            d = service.dashboard(s, user, prog)
        return render(request, "dashboard.html", d=d)

    @app.get("/circles", include_in_schema=False, response_class=HTMLResponse)
    def circles_page(request: Request, user: PageUser, district: str | None = None, status: str | None = None) -> HTMLResponse:
        district, status = district or None, status or None
        with tx() as s:
            rows = service.list_circles(s, user, prog, district=district, status=status)
            dists = [d for d in s.scalars(select(District).order_by(District.seq)) if service.can_see_district(user, d.code)]
        return render(request, "circles.html", circles=rows, districts=dists, district=district, status=status)

    @app.get("/circles/{circle_id}", include_in_schema=False, response_class=HTMLResponse)
    def circle_page(request: Request, circle_id: str, user: PageUser) -> HTMLResponse:
        with tx() as s:
            d = _circle_detail(s, user, circle_id)
        return render(request, "circle.html", c=d["circle"], d=d)

    def _back(circle_id: str, zh: str, en: str) -> RedirectResponse:
        return RedirectResponse(f"/circles/{quote(circle_id)}?msg={quote(t(zh, en))}", status_code=303)

    @app.post("/circles/{circle_id}/status", include_in_schema=False)
    def circle_status_form(request: Request, circle_id: str, user: PageUser, status: Annotated[str, Form(max_length=16)],
                           csrf_token: Annotated[str, Form()], note: Annotated[str, Form(max_length=2000)] = "") -> Response:
        check_form_csrf(request, csrf_token)
        with tx() as s:
            service.change_status(s, user, prog, circle_id, status, note)
        return _back(circle_id, "状态已更新", "status updated")

    @app.post("/circles/{circle_id}/funds", include_in_schema=False)
    def circle_fund_form(request: Request, circle_id: str, user: PageUser, kind: Annotated[str, Form()],
                         amount_yuan: Annotated[float, Form()], date: Annotated[dt.date, Form()],
                         csrf_token: Annotated[str, Form()], source: Annotated[str, Form(max_length=128)] = "",
                         note: Annotated[str, Form(max_length=2000)] = "") -> Response:
        check_form_csrf(request, csrf_token)
        with tx() as s:
            service.add_fund(s, user, circle_id, kind=kind, amount_yuan=amount_yuan, date=date, source=source, note=note)
        return _back(circle_id, "资金已登记", "funds recorded")

    @app.post("/circles/{circle_id}/scores", include_in_schema=False)
    def circle_score_form(request: Request, circle_id: str, user: PageUser, score: Annotated[float, Form()],
                          csrf_token: Annotated[str, Form()], comment: Annotated[str, Form(max_length=5000)] = "") -> Response:
        check_form_csrf(request, csrf_token)
        with tx() as s:
            service.add_score(s, user, circle_id, score=score, comment=comment)
        return _back(circle_id, "评分已保存", "score saved")

    @app.post("/circles/{circle_id}/evidence", include_in_schema=False)
    async def circle_evidence_form(request: Request, circle_id: str, csrf_token: Annotated[str, Form()],
                                   file: UploadFile = File(...)) -> Response:
        user = await run_in_threadpool(page_user, request)
        check_form_csrf(request, csrf_token)
        data = await file.read(settings.upload_max_bytes + 1)

        def save() -> None:
            with tx() as s:
                service.save_evidence(s, user, settings, prog, circle_id, filename=file.filename or "", data=data)

        await run_in_threadpool(save)
        return _back(circle_id, "证明材料已上传", "evidence uploaded")

    @app.post("/circles/{circle_id}/grades", include_in_schema=False)
    def circle_grade_form(request: Request, circle_id: str, user: PageUser, grade_code: Annotated[str, Form()],
                          decision: Annotated[str, Form()], csrf_token: Annotated[str, Form()],
                          reason: Annotated[str, Form(max_length=5000)] = "") -> Response:
        check_form_csrf(request, csrf_token)
        with tx() as s:
            service.record_grade(s, user, circle_id, grade_code=grade_code, decision=decision, reason=reason)
        return _back(circle_id, "评定已记录", "grade recorded")

    @app.post("/circles/{circle_id}/surveys", include_in_schema=False)
    def circle_survey_form(request: Request, circle_id: str, user: PageUser, period: Annotated[str, Form(max_length=16)],
                           csrf_token: Annotated[str, Form()], respondents: Annotated[str, Form()] = "",
                           satisfied: Annotated[str, Form()] = "") -> Response:
        check_form_csrf(request, csrf_token)
        r, sat = _opt_int(respondents, "respondents"), _opt_int(satisfied, "satisfied")
        with tx() as s:
            service.create_survey(s, user, circle_id, period=period, respondents=r, satisfied=sat)
        return _back(circle_id, "满意度调查已登记", "survey recorded")

    @app.get("/map", include_in_schema=False, response_class=HTMLResponse)
    def map_page(request: Request, user: PageUser) -> HTMLResponse:
        return render(request, "map.html")

    @app.get("/reports", include_in_schema=False, response_class=HTMLResponse)
    def reports_page(request: Request, user: PageUser) -> HTMLResponse:
        with tx() as s:
            reps = service.list_reports(s, user)
            dists = [d for d in s.scalars(select(District).order_by(District.seq)) if service.can_see_district(user, d.code)]
            names = {d.code: t(d.name_zh, d.name_en) for d in dists}
        return render(request, "reports.html", reports=reps, districts=dists, names=names)

    @app.post("/reports", include_in_schema=False)
    def reports_create(request: Request, user: PageUser, district: Annotated[str, Form(max_length=16)],
                       period: Annotated[str, Form(max_length=16)], csrf_token: Annotated[str, Form()]) -> Response:
        check_form_csrf(request, csrf_token)
        with tx() as s:
            rep = service.create_report(s, user, prog, district, period)
        return RedirectResponse(f"/reports/{rep.id}", status_code=303)

    @app.get("/reports/{report_id}", include_in_schema=False, response_class=HTMLResponse)
    def report_page(request: Request, report_id: int, user: PageUser) -> HTMLResponse:
        with tx() as s:
            rep = service.get_report(s, user, report_id)
            versions = service.report_versions(s, report_id)
            d = s.get(District, rep.district)
            can_edit = user.role == "city_admin" or (user.role == "district_officer" and user.district == rep.district)
        return render(request, "report.html", rep=rep, versions=versions, district=d, can_edit=can_edit)

    @app.post("/reports/{report_id}", include_in_schema=False)
    def report_edit(request: Request, report_id: int, user: PageUser, body: Annotated[str, Form(max_length=200_000)],
                    csrf_token: Annotated[str, Form()]) -> Response:
        check_form_csrf(request, csrf_token)
        with tx() as s:
            service.edit_report(s, user, report_id, body)
        return RedirectResponse(f"/reports/{report_id}?msg={quote(t('已保存新版本', 'new version saved'))}", status_code=303)

    @app.get("/audit", include_in_schema=False, response_class=HTMLResponse)
    def audit_page(request: Request, user: PageUser) -> HTMLResponse:
        service.require_role(user, "city_admin", "leader")
        with tx() as s:
            rows = audit.recent(s, 200)
        return render(request, "audit.html", rows=rows)

    # -------------------------------------------------------------- pages: accounts (city admin)

    def _users_page(request: Request, user: User, status_code: int = 200, **ctx: Any) -> HTMLResponse:
        with tx() as s:
            rows = service.list_users(s, user)
            dists = list(s.scalars(select(District).order_by(District.seq)))
        ctx.setdefault("errors", {})
        ctx.setdefault("form", {})
        return render(request, "users.html", status_code=status_code, rows=rows, districts=dists, roles=ROLES,
                      min_password=auth.MIN_PASSWORD,
                      names={d.code: t(d.name_zh, d.name_en) for d in dists}, **ctx)

    def _user_change(request: Request, user: User, change: Any, done: tuple[str, str], target: int | None = None,
                     form: dict[str, Any] | None = None, shown_password: str | None = None) -> Response:
        """Run ``change(s)`` in one transaction; a user mistake re-renders the page with the field's error."""
        service.require_role(user, "city_admin")
        try:
            with tx() as s:
                u = change(s)
                name = u.username
        except InputError as exc:
            errors = {p.field or "input": p.message for p in exc.problems}
            return _users_page(request, user, 422, errors=errors, target=target, form=form or {})
        if shown_password is None:
            return RedirectResponse(f"/users?msg={quote(t(done[0], done[1]))}", status_code=303)
        resp = _users_page(request, user, msg=t(done[0], done[1]), shown_user=name, shown_password=shown_password)
        resp.headers["Cache-Control"] = "no-store"  # the password is shown once and never cached
        return resp

    @app.get("/users", include_in_schema=False, response_class=HTMLResponse)
    def users_page(request: Request, user: PageUser) -> HTMLResponse:
        service.require_role(user, "city_admin")
        return _users_page(request, user)

    @app.post("/users", include_in_schema=False)
    def users_create(request: Request, user: PageUser, username: Annotated[str, Form(max_length=64)],
                     role: Annotated[str, Form(max_length=32)], csrf_token: Annotated[str, Form()],
                     district: Annotated[str, Form(max_length=16)] = "",
                     display_name: Annotated[str, Form(max_length=128)] = "",
                     password: Annotated[str, Form(max_length=256)] = "") -> Response:
        check_form_csrf(request, csrf_token)
        generated = auth.generate_password() if not password else None
        form = {"username": username, "role": role, "district": district, "display_name": display_name}
        return _user_change(
            request, user, lambda s: auth.create_user(s, user, settings, username=username.strip(),
                                                      password=password or generated or "", role=role,
                                                      district=district or None, display_name=display_name.strip()),
            ("账号已创建", "account created"), target=None, form=form, shown_password=generated)

    @app.post("/users/{user_id}/active", include_in_schema=False)
    def users_active(request: Request, user_id: int, user: PageUser, active: Annotated[bool, Form()],
                     csrf_token: Annotated[str, Form()]) -> Response:
        check_form_csrf(request, csrf_token)
        return _user_change(request, user, lambda s: service.set_user_active(s, user, user_id, active),
                            ("账号已启用", "account reactivated") if active else ("账号已停用", "account deactivated"),
                            target=user_id)

    @app.post("/users/{user_id}/password", include_in_schema=False)
    def users_password(request: Request, user_id: int, user: PageUser, csrf_token: Annotated[str, Form()],
                       password: Annotated[str, Form(max_length=256)] = "") -> Response:
        check_form_csrf(request, csrf_token)
        generated = auth.generate_password() if not password else None
        return _user_change(request, user,
                            lambda s: service.reset_password(s, user, settings, user_id, password or generated or ""),
                            ("密码已重置", "password reset"), target=user_id, shown_password=generated)

    @app.post("/users/{user_id}/role", include_in_schema=False)
    def users_role(request: Request, user_id: int, user: PageUser, role: Annotated[str, Form(max_length=32)],
                   csrf_token: Annotated[str, Form()], district: Annotated[str, Form(max_length=16)] = "") -> Response:
        check_form_csrf(request, csrf_token)
        return _user_change(request, user, lambda s: service.change_user_role(s, user, user_id, role, district or None),
                            ("角色已更新", "role updated"), target=user_id)

    # -------------------------------------------------------------- helpers needing prog

    def _circle_detail(s: Session, user: User, circle_id: str) -> dict[str, Any]:
        c = service.get_circle(s, user, circle_id)
        cards = service.scorecards(s, circle_id)
        can_edit = user.role == "city_admin" or (user.role == "district_officer" and user.district == c.district)
        d = s.get(District, c.district)
        return {
            "circle": _circle_json(c),
            "district_name": t(d.name_zh, d.name_en) if d else c.district,
            "allowed_next": prog.allowed_next(c.status, user.role) if can_edit else [],
            "can_edit": can_edit,
            "can_score": user.role in ("evaluator", "city_admin"),
            "can_upload": user.role in ("evaluator", "city_admin") or can_edit,
            "history": [audit.snapshot(h) for h in service.status_history(s, circle_id)],
            "funds": [audit.snapshot(f) for f in service.funds(s, circle_id)],
            "scorecard": audit.snapshot(cards[0]) if cards else None,
            "scorecards": [{"as_of": x.as_of, "grade_code": x.grade_code} for x in cards],
            "scores": [dict(audit.snapshot(a) or {}, evaluator=name) for a, name in service.scores(s, circle_id)],
            "evidence": [audit.snapshot(e) for e in service.evidence_list(s, circle_id)],
            "grades": [dict(audit.snapshot(g) or {}, by=name) for g, name in service.grade_decisions(s, circle_id)],
            "surveys": [_survey_json(v, prog) for v in service.surveys(s, circle_id)],
        }

    return app


def _safe_next(path: str) -> str:
    """Only same-site relative paths after login (no open redirect)."""
    return path if path.startswith("/") and not path.startswith("//") and "\\" not in path else "/dashboard"


def _opt_int(v: str, name: str) -> int | None:
    v = (v or "").strip()
    if not v:
        return None
    try:
        return int(v)
    except ValueError:
        raise InputError([Problem(t(f"'{v}' 不是整数", f"'{v}' is not a whole number"), field=name)]) from None


def _user_json(u: User) -> dict[str, Any]:
    return {"id": u.id, "username": u.username, "display_name": u.display_name, "role": u.role,
            "role_label": t(*ROLE_LABELS.get(u.role, (u.role, u.role))), "district": u.district}


def _circle_json(c: Any) -> dict[str, Any]:
    return {"id": c.id, "name": c.name, "district": c.district, "phase": c.phase, "status": c.status,
            "synthetic": c.synthetic, "lon": c.lon, "lat": c.lat,
            "status_changed_at": c.status_changed_at.isoformat() if c.status_changed_at else None}


def _survey_json(v: Any, prog: Any) -> dict[str, Any]:
    rate = v.satisfied / v.respondents if v.respondents else None
    return {"id": v.id, "circle_id": v.circle_id, "period": v.period, "start": v.start, "end": v.end,
            "respondents": v.respondents, "satisfied": v.satisfied, "rate": rate,
            "meets_target": rate is not None and rate >= prog.satisfaction_target, "synthetic": v.synthetic}


def _report_json(s: Session, rep: Any) -> dict[str, Any]:
    versions = service.report_versions(s, rep.id)
    return {"id": rep.id, "district": rep.district, "period": rep.period, "created_at": rep.created_at,
            "versions": [audit.snapshot(v) for v in versions]}


def validation_message(err: dict[str, Any]) -> str:
    """A pydantic validation error in the user's language (Chinese first), with its limit."""
    kind, ctx = err.get("type", ""), err.get("ctx") or {}
    if kind == "missing":
        return t("必填", "required")
    if kind in ("int_parsing", "float_parsing", "int_type", "float_type", "finite_number"):
        return t("应为数字", "must be a number")
    if kind in ("greater_than_equal", "greater_than"):
        lim = ctx.get("ge", ctx.get("gt"))
        return t(f"不能小于 {lim}", f"must be at least {lim}")
    if kind in ("less_than_equal", "less_than"):
        lim = ctx.get("le", ctx.get("lt"))
        return t(f"不能大于 {lim}", f"must be at most {lim}")
    if kind == "string_too_long":
        return t(f"过长（最多 {ctx.get('max_length')} 个字符）", f"too long (at most {ctx.get('max_length')} characters)")
    if kind == "string_too_short":
        return t(f"过短（至少 {ctx.get('min_length')} 个字符）", f"too short (at least {ctx.get('min_length')} characters)")
    if kind in ("literal_error", "enum"):
        return t(f"应为以下之一：{ctx.get('expected', '')}", f"must be one of: {ctx.get('expected', '')}")
    if kind in ("date_parsing", "date_from_datetime_parsing", "datetime_parsing"):
        return t("日期格式应为 YYYY-MM-DD", "dates are written YYYY-MM-DD")
    return str(err.get("msg", ""))


@functools.lru_cache(maxsize=1)
def _catalogue() -> Profile:
    return load_profile()


def _format_names(codes: str | None) -> str:
    """'a;b' format codes as display names in the current language (unknown codes as they are)."""
    names = {f.code: f.name() for f in _catalogue().formats}
    return gap_names(codes, names, sep=t("、", ", "))


def _pct(x: Any, nd: int = 0) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "—"
    return f"{x * 100:.{nd}f}%"


def _num(x: Any, nd: int = 2) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "—"
    if isinstance(x, bool):
        return t("是", "yes") if x else t("否", "no")
    if isinstance(x, int):
        return f"{x:,}"
    if isinstance(x, float):
        return f"{x:,.{nd}f}"
    return str(x)


__all__ = ["ROLES", "create_app"]
