"""The request guard: no work for a write before the session is known, no body larger than its route allows.

An ASGI middleware (:class:`RequestGuardMiddleware`) that runs before FastAPI reads the body:

1. **Authentication first.** A write (POST/PUT/PATCH/DELETE) to anything but the sign-in routes
   (:data:`ANONYMOUS_WRITES`), the residents' survey answers (:data:`PUBLIC_SURVEY_WRITES`,
   bodies of at most 32 KB) and the residents' feedback (:data:`PUBLIC_FEEDBACK_WRITES`) needs
   a valid session (``Authorization: Bearer`` or the session
   cookie). Without one the answer is given at once — 401 for ``/api/…``, a redirect to the login
   page for the pages — and the body is never read: a 100 MB JSON body or a 300 MB upload from
   someone who has not signed in costs neither memory nor disk. (The routes still check the
   session, the role and the CSRF token themselves; this is only the early refusal.)
2. **Size limits per route.** Uploads (evidence, documents, photos, imports: :data:`UPLOAD_ROUTES`) may send
   ``upload_max_bytes`` plus room for the form; every other request ``body_max_bytes``
   (``LIFECIRCLE_BODY_MAX_KB``). A ``Content-Length`` over the limit is refused with 413 before
   reading; a body sent without one (chunked) is counted as it arrives and stopped with 413 at the
   limit, so an upload's temporary file never grows past it.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import quote

from fastapi import HTTPException
from fastapi.responses import JSONResponse, RedirectResponse
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from lifecircle.errors import LifecircleError
from lifecircle.i18n import t
from lifecircle.platform import auth
from lifecircle.platform.db import transaction
from lifecircle.platform.settings import Settings

UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
ANONYMOUS_WRITES = frozenset({"/api/login", "/login"})
# residents' surveys (M16): answered with a one-time code, no sign-in; small bodies only
PUBLIC_SURVEY_WRITES = frozenset(
    {"/api/public/survey/questionnaire", "/api/public/survey/answers", "/survey", "/survey/answer"}
)
PUBLIC_SURVEY_MAX_BYTES = 32_000
# residents' feedback (a missing format, a complaint, an environment problem) with an optional photo
PUBLIC_FEEDBACK_WRITES = frozenset({"/api/public/feedback", "/feedback"})
PUBLIC_WRITES = ANONYMOUS_WRITES | PUBLIC_SURVEY_WRITES | PUBLIC_FEEDBACK_WRITES
SESSION_COOKIE = "lc_session"  # as lifecircle.web.deps.SESSION_COOKIE (not imported: no cycle)


# The routes that take a file (multipart): evidence, filing documents, photos of inspections and
# environment issues (also on the page forms that report or close an issue, record an inspection or
# file a shop) and the registry's bulk import. They may send up to the upload limit.
UPLOAD_ROUTES = re.compile(
    r"^(/api)?(/circles/[^/]+/evidence|/filings(/\d+/documents)?|/env-issues/\d+/(photos|close)"
    r"|/inspections/\d+/photos|/outlets/import)/?$"
    r"|^/circles/[^/]+/governance/issues/?$|^/supervision/inspections/?$|^(/api/public)?/feedback/?$"
)


def body_limit(settings: Settings, path: str) -> int:
    """The largest body the route at ``path`` accepts, bytes: the upload limit for the routes that
    take a file (:data:`UPLOAD_ROUTES`), the small public limit for the residents' survey, else the
    body limit of every other write."""
    if path in PUBLIC_SURVEY_WRITES:
        return min(PUBLIC_SURVEY_MAX_BYTES, settings.body_max_bytes)
    return settings.upload_body_max_bytes if UPLOAD_ROUTES.match(path) else settings.body_max_bytes


def too_large(limit: int) -> str:
    mb = limit / 1e6
    return t(f"请求内容过大，上限 {mb:g} MB", f"the request body is too large; the limit is {mb:g} MB")


class BodyTooLargeError(HTTPException):
    """Raised from ``receive`` when a streamed body passes its limit (FastAPI answers 413)."""

    def __init__(self, limit: int) -> None:
        super().__init__(status_code=413, detail=too_large(limit))


def _token(headers: Headers) -> str | None:
    h = headers.get("authorization", "")
    if h.lower().startswith("bearer "):
        return h[7:].strip() or None
    for part in headers.get("cookie", "").split(";"):
        k, _, v = part.strip().partition("=")
        if k == SESSION_COOKIE and v:
            return v
    return None


def _session_problem(factory: Any, token: str | None) -> str | None:
    """``None`` when ``token`` is a live session, else the reason (as the routes would say it)."""
    try:
        with transaction(factory) as s:
            auth.session_user(s, token)
    except LifecircleError as exc:
        return str(exc)
    return None


class RequestGuardMiddleware:
    """Authentication before the body, and body size limits (see the module's notes)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        state = scope["app"].state
        settings: Settings = state.settings
        path: str = scope["path"]
        method: str = scope["method"]
        headers = Headers(scope=scope)
        if method in UNSAFE_METHODS and path not in PUBLIC_WRITES:
            problem = await run_in_threadpool(_session_problem, state.factory, _token(headers))
            if problem is not None:
                if path.startswith("/api/"):
                    resp: Any = JSONResponse(
                        {"detail": problem},
                        status_code=401,
                        headers={"WWW-Authenticate": "Bearer", "Connection": "close"},
                    )
                else:  # a session that expired mid-form: sign in, then back to the form's page (a GET)
                    from lifecircle.web.errors import form_page

                    target = form_page(Request(scope))
                    resp = RedirectResponse(
                        f"/login?next={quote(target, safe='/')}&expired=1",
                        status_code=303,
                        headers={"Connection": "close"},
                    )
                await resp(scope, receive, send)
                return
        limit = body_limit(settings, path)
        length = headers.get("content-length")
        if length is not None and (not length.strip().isdigit() or int(length) > limit):
            resp = JSONResponse({"detail": too_large(limit)}, status_code=413, headers={"Connection": "close"})
            await resp(scope, receive, send)
            return
        received = 0

        async def counted() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLargeError(limit)
            return message

        started = False

        async def tracked(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counted, tracked)
        except BodyTooLargeError as exc:  # read outside FastAPI's body parsing (e.g. request.body() in a route)
            if started:
                raise
            await JSONResponse({"detail": exc.detail}, status_code=413, headers={"Connection": "close"})(
                scope, receive, send
            )
