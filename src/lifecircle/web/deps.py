"""FastAPI dependencies of the routes: settings, programme, the database, the signed-in user, CSRF,
the language and the page renderer. Everything comes from ``request.app.state`` (set by
:func:`lifecircle.web.app.create_app`), so the route modules hold no state of their own.

- :data:`Db` — one transaction per request: it commits after the route returns and before the
  response is sent (``scope="function"``), and rolls back when the route raises; the audit row
  commits with the change.
- :data:`ApiUser` / :data:`PageUser` — the signed-in user (401; pages redirect to the login page).
  The session is looked up in its own short transaction, as before the route's work starts.
- :data:`FormCsrf` — checks a form's ``csrf_token`` against the session's token (403). The check
  runs when the route calls it, i.e. after the form has been validated (a bad form stays a 422).
- :data:`DbId` — a path id of an integer column: 1 … 2³¹−1 (PostgreSQL's ``integer``), else 422.
- :func:`refuse_control_chars` — the application-wide dependency that answers 422 (naming the
  field) when a path parameter, query parameter, JSON string or key, form field or upload's file
  name holds NUL or another control character (tab, newline and carriage return are allowed in
  bodies, not in the path or query).
"""

from __future__ import annotations

import ipaddress
import json
import re
from collections.abc import Iterator
from typing import Annotated, Any

from fastapi import Depends, Path, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates
from sqlalchemy.orm import Session, sessionmaker

from lifecircle.i18n import get_lang, t
from lifecircle.platform import auth
from lifecircle.platform.db import User, transaction
from lifecircle.platform.errors import PermissionDeniedError
from lifecircle.platform.programme import Programme
from lifecircle.platform.settings import Settings

# The trivial dependencies are ``async`` (no thread hop); those that touch the database are not.

SESSION_COOKIE = "lc_session"
LOGIN_NONCE_COOKIE = "lc_login_nonce"
LANG_COOKIE = "lang"


# ------------------------------------------------------------------ application state


async def get_settings(request: Request) -> Settings:
    return request.app.state.settings


async def get_prog(request: Request) -> Programme:
    return request.app.state.prog


async def get_factory(request: Request) -> sessionmaker[Session]:
    return request.app.state.factory


async def get_templates(request: Request) -> Jinja2Templates:
    return request.app.state.templates


async def get_language() -> str:
    """The request's language (``zh`` or ``en``), chosen by :class:`~lifecircle.web.middleware.LanguageMiddleware`."""
    return get_lang()


SettingsDep = Annotated[Settings, Depends(get_settings)]
Prog = Annotated[Programme, Depends(get_prog)]
Factory = Annotated[sessionmaker[Session], Depends(get_factory)]
Templates = Annotated[Jinja2Templates, Depends(get_templates)]
Lang = Annotated[str, Depends(get_language)]


# ------------------------------------------------------------------ database


def get_db(factory: Factory) -> Iterator[Session]:
    """One unit of work around the route: commit when it returns, roll back when it raises."""
    with transaction(factory) as s:
        yield s


Db = Annotated[Session, Depends(get_db, scope="function")]


# ------------------------------------------------------------------ the client's address


def forwarded_client(peer: str, forwarded_for: str | None, settings: Settings) -> str:
    """The client's address: the connection's ``peer``, or — only when the peer is one of the
    configured ``trusted_proxies`` — the right-most address of ``X-Forwarded-For`` that is not
    itself a trusted proxy (what a client writes to the left of it cannot move it)."""
    if not forwarded_for or not settings.trusted_proxies or not settings.is_trusted_proxy(peer):
        return peer
    hops = [h.strip() for h in forwarded_for.split(",") if h.strip()]
    for hop in reversed(hops):
        try:
            ipaddress.ip_address(hop)
        except ValueError:
            return peer  # a malformed hop: believe only the connection
        if not settings.is_trusted_proxy(hop):
            return hop
    return peer


def client_ip(request: Request) -> str:
    """The address used for login throttling and in the audit (see :func:`forwarded_client`)."""
    peer = request.client.host if request.client else "-"
    return forwarded_client(peer, request.headers.get("x-forwarded-for"), request.app.state.settings)


# ------------------------------------------------------------------ hostile input

MAX_ID = 2**31 - 1  # the largest value of an ``Integer`` column on PostgreSQL
DbId = Annotated[int, Path(ge=1, le=MAX_ID, description="id (1 … 2³¹−1)")]

_CONTROL_BODY = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")  # tab, newline, CR allowed in text bodies
_CONTROL_LINE = re.compile(r"[\x00-\x1f\x7f]")


def _control_problem(loc: list[Any], value: str) -> dict[str, Any]:
    ch = _CONTROL_LINE.search(value) or _CONTROL_BODY.search(value)
    code = f"U+{ord(ch.group()):04X}" if ch else "?"
    return {
        "loc": tuple(loc),
        "type": "string_control_characters",
        "input": value[:64],
        "msg": t(f"含有不允许的控制字符（{code}）", f"contains a control character ({code}), which is not allowed"),
    }


def _walk_json(value: Any, loc: list[Any], out: list[dict[str, Any]]) -> None:
    if isinstance(value, str):
        if _CONTROL_BODY.search(value):
            out.append(_control_problem(loc, value))
    elif isinstance(value, dict):
        for k, v in value.items():
            if _CONTROL_LINE.search(k):
                out.append(_control_problem([*loc, k], k))
            _walk_json(v, [*loc, k], out)
    elif isinstance(value, list):
        for i, v in enumerate(value):
            _walk_json(v, [*loc, i], out)


async def refuse_control_chars(request: Request) -> None:
    """Dependency of every route: 422 when text comes in with NUL or another control character
    (PostgreSQL cannot store NUL, and no field of the platform needs one). Runs after FastAPI has
    read the body, which :class:`~starlette.requests.Request` keeps, so nothing is read twice."""
    out: list[dict[str, Any]] = []
    for k, v in request.path_params.items():
        if isinstance(v, str) and _CONTROL_LINE.search(v):
            out.append(_control_problem(["path", k], v))
    for k, v in request.query_params.multi_items():
        if _CONTROL_LINE.search(k) or _CONTROL_LINE.search(v):
            out.append(_control_problem(["query", k], v))
    if request.method not in ("GET", "HEAD", "OPTIONS", "DELETE"):
        ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if ctype in ("application/x-www-form-urlencoded", "multipart/form-data"):
            form = await request.form()
            for k, v in form.multi_items():
                if isinstance(v, str):
                    if _CONTROL_LINE.search(k) or _CONTROL_BODY.search(v):
                        out.append(_control_problem(["body", k], v))
                elif v.filename and _CONTROL_LINE.search(v.filename):
                    out.append(_control_problem(["body", k, "filename"], v.filename))
        elif not ctype or ctype == "application/json" or ctype.endswith("+json"):
            raw = await request.body()
            if raw:
                try:
                    _walk_json(json.loads(raw), ["body"], out)
                except ValueError:
                    pass  # not JSON: FastAPI has answered that already
                except RecursionError:
                    out.append(
                        {
                            "loc": ("body",),
                            "type": "too_deep",
                            "input": None,
                            "msg": t("JSON 嵌套层数过多", "the JSON is nested too deeply"),
                        }
                    )
    if out:
        raise RequestValidationError(out)


# ------------------------------------------------------------------ authentication


def session_token(request: Request) -> tuple[str | None, bool]:
    """The session token from ``Authorization: Bearer`` or the session cookie (and which it was)."""
    h = request.headers.get("authorization", "")
    if h.lower().startswith("bearer "):
        return h[7:].strip(), False
    return request.cookies.get(SESSION_COOKIE), True


def current(request: Request) -> tuple[User, str]:
    """The signed-in user and the session's CSRF token; API writes by cookie need X-CSRF-Token."""
    token, by_cookie = session_token(request)
    with transaction(request.app.state.factory) as s:
        user, sess = auth.session_user(s, token)
        csrf = sess.csrf_token
    unsafe = request.method not in ("GET", "HEAD", "OPTIONS") and request.url.path.startswith("/api/")
    if by_cookie and unsafe and not auth.check_csrf(csrf, request.headers.get("x-csrf-token")):
        raise PermissionDeniedError(
            t("缺少或错误的 CSRF 令牌（X-CSRF-Token）", "missing or wrong CSRF token (X-CSRF-Token)")
        )
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


# ------------------------------------------------------------------ CSRF of forms


class CsrfGuard:
    """The signed-in session's CSRF token; :meth:`check` a form's token against it (403 if wrong)."""

    def __init__(self, expected: str | None) -> None:
        self.expected = expected

    def check(self, given: str) -> None:
        if not auth.check_csrf(self.expected, given):
            raise PermissionDeniedError(
                t(
                    "表单已过期或 CSRF 令牌错误，请刷新页面后重试",
                    "the form expired or its CSRF token is wrong; reload and retry",
                )
            )


async def form_csrf(request: Request, user: PageUser) -> CsrfGuard:
    """Dependency of page forms (after :data:`PageUser`): the guard of the session's CSRF token."""
    return csrf_guard(request)


def csrf_guard(request: Request) -> CsrfGuard:
    """The guard of the request's session (once the user is known, see :func:`current`)."""
    return CsrfGuard(getattr(request.state, "csrf", None))


FormCsrf = Annotated[CsrfGuard, Depends(form_csrf)]


# ------------------------------------------------------------------ pages


class Renderer:
    """A page renderer bound to the request: ``render("name.html", **context)`` with the context
    every template gets (user, CSRF token, language, programme, settings, path, the flash notice).
    A flash notice is shown once: the page deletes its cookie."""

    def __init__(self, request: Request, templates: Jinja2Templates, lang: str) -> None:
        self.request, self.templates, self.lang = request, templates, lang

    def __call__(self, name: str, status_code: int = 200, **ctx: Any) -> HTMLResponse:
        from lifecircle.web.flash import FLASH_COOKIE, pop_flash

        request, state = self.request, self.request.app.state
        flashed = pop_flash(request)
        ctx.update(
            request=request,
            user=getattr(request.state, "user", None),
            csrf=getattr(request.state, "csrf", ""),
            lang=self.lang,
            prog=state.prog,
            settings=state.settings,
            path=request.url.path,
            msg=ctx.get("msg") or flashed,
        )
        resp = self.templates.TemplateResponse(request, name, ctx, status_code=status_code)
        if FLASH_COOKIE in request.cookies:
            resp.delete_cookie(FLASH_COOKIE, path="/")
        return resp


async def get_renderer(request: Request, templates: Templates, lang: Lang) -> Renderer:
    return Renderer(request, templates, lang)


def render(request: Request, name: str, status_code: int = 200, **ctx: Any) -> HTMLResponse:
    """Render a page outside a route (the error handlers)."""
    return Renderer(request, request.app.state.templates, get_lang())(name, status_code, **ctx)


Render = Annotated[Renderer, Depends(get_renderer)]
