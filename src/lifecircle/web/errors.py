"""Exception handlers: the platform's errors as HTTP answers — JSON under ``/api``, an error page
(or a redirect to the login page) elsewhere.

Not signed in → 401 (pages redirect to the login page), wrong role or district → 403, bad input →
422 naming the field, too many failed logins → 429 with Retry-After, unknown id → 404, a change that
lost a race (the circle moved on, the same record created at the same moment) → 409.

A database refusal is never a 500 that drops the connection: a unique-key violation
(:class:`~sqlalchemy.exc.IntegrityError`, two identical creations at once) is a 409 and a value the
database cannot hold (:class:`~sqlalchemy.exc.DataError`) a 422; the request's transaction is rolled
back by :func:`lifecircle.web.deps.get_db` (or the route's own ``transaction``) before the handler runs.
"""

from __future__ import annotations

import contextlib
import logging
from typing import Any
from urllib.parse import quote, urlsplit

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from sqlalchemy.exc import DataError, IntegrityError
from starlette.exceptions import HTTPException as StarletteHTTPException

from lifecircle.errors import InputError, LifecircleError
from lifecircle.i18n import t
from lifecircle.platform.errors import (
    AuthRequiredError,
    ConflictError,
    NotFoundError,
    PermissionDeniedError,
    ThrottledError,
    UnavailableError,
)
from lifecircle.web import deps
from lifecircle.web.deps import render
from lifecircle.web.middleware import security_headers

log = logging.getLogger("lifecircle.web")


def is_api(request: Request) -> bool:
    return request.url.path.startswith("/api/")


def error_page(request: Request, code: int, message: str, problems: list[dict[str, Any]] | None = None) -> Response:
    """The error page in the user's language (with the navigation when the user is signed in)."""
    if getattr(request.state, "user", None) is None:
        # an unknown address: no route looked the user up; show the navigation when signed in
        with contextlib.suppress(Exception):
            deps.current(request)
    try:
        return render(request, "error.html", status_code=code, code=code, message=message, problems=problems or [])
    except Exception:  # noqa: BLE001 - never fail while reporting an error
        from html import escape

        return HTMLResponse(
            f"<!doctype html><meta charset=utf-8><h1>{code}</h1><p>{escape(message)}</p>", status_code=code
        )


def form_page(request: Request) -> str:
    """The page a form was posted from: the same-site Referer, else the POST address without its
    action (``/circles/X/status`` → ``/circles/X``, ``/users/5/active`` → ``/users``)."""
    ref = request.headers.get("referer", "")
    if ref:
        parts = urlsplit(ref)
        if parts.netloc == request.url.netloc and parts.path.startswith("/") and not parts.path.startswith("//"):
            return parts.path + (f"?{parts.query}" if parts.query else "")
    path = request.url.path.rstrip("/")
    segs = path.split("/")
    if len(segs) >= 3 and segs[1] == "users":
        return "/users"
    if len(segs) >= 4 and segs[1] == "circles":
        return "/".join(segs[:3])
    return path or "/dashboard"


def http_error(request: Request, exc: StarletteHTTPException) -> Response:
    """Starlette's own errors (unknown address 404, wrong method 405, ...): JSON under ``/api``, a
    page elsewhere."""
    if is_api(request):
        return JSONResponse({"detail": exc.detail}, status_code=exc.status_code, headers=getattr(exc, "headers", None))
    if exc.status_code == 404:
        msg = t(
            "没有这个页面，请检查网址或从导航进入。", "There is no such page; check the address or use the navigation."
        )
    elif exc.status_code == 405:
        msg = t(
            "此地址不能这样访问，请从页面上的链接或表单进入。",
            "This address cannot be opened this way; use the page's links or forms.",
        )
    else:
        msg = t("请求无法处理。", "The request cannot be handled.")
    return error_page(request, exc.status_code, msg)


async def server_error(request: Request, exc: Exception) -> Response:
    """An unexpected error (500): logged; a Chinese page (JSON under ``/api``) that shows nothing
    of the error itself. Answered by Starlette's outermost middleware, so it adds the headers."""
    log.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    if is_api(request):
        resp: Response = JSONResponse({"detail": t("服务器内部错误", "internal server error")}, status_code=500)
    else:
        resp = error_page(
            request,
            500,
            t(
                "服务器内部错误，请稍后重试；如果一直出现，请联系市商务局管理员。",
                "Something went wrong on the server; retry later, and tell the administrator if it keeps happening.",
            ),
        )
    for k, v in security_headers(request.app.state.settings.tile_url):
        resp.headers[k.decode()] = v.decode()
    return resp


async def input_error(request: Request, exc: InputError) -> Response:
    detail = [
        {"loc": ["body", p.field or "input"], "msg": p.message, "type": "value_error"}
        | ({"file": p.file, "row": p.row} if p.row is not None else {})
        for p in exc.problems
    ]
    if is_api(request):
        return JSONResponse({"detail": detail}, status_code=422)
    return error_page(request, 422, str(exc), detail)


async def validation_error(request: Request, exc: RequestValidationError) -> Response:
    detail = [
        {
            "loc": list(e.get("loc", [])),
            "msg": e.get("msg", ""),
            "type": e.get("type", ""),
            "message": validation_message(e),
        }
        for e in exc.errors()
    ]
    if is_api(request):
        return JSONResponse({"detail": jsonable_encoder(detail)}, status_code=422)
    fields = t("；", "; ").join(f"{d['loc'][-1]}: {d['message']}" for d in detail if d["loc"])
    return error_page(request, 422, t(f"输入有误：{fields}", f"invalid input: {fields}"), detail)


async def auth_error(request: Request, exc: AuthRequiredError) -> Response:
    if is_api(request):
        return JSONResponse({"detail": str(exc)}, status_code=401, headers={"WWW-Authenticate": "Bearer"})
    if request.url.path == "/login":
        return error_page(request, 401, str(exc))
    # A session that expired mid-form: after signing in, back to the form's page (a GET), not to
    # the POST-only address the form was sent to.
    target = request.url.path if request.method in ("GET", "HEAD") else form_page(request)
    return RedirectResponse(
        f"/login?next={quote(target, safe='/')}&expired=1"
        if request.method not in ("GET", "HEAD")
        else f"/login?next={quote(target, safe='/')}",
        status_code=303,
    )


async def permission_error(request: Request, exc: PermissionDeniedError) -> Response:
    if is_api(request):
        return JSONResponse({"detail": str(exc)}, status_code=403)
    return error_page(request, 403, str(exc))


async def not_found_error(request: Request, exc: NotFoundError) -> Response:
    if is_api(request):
        return JSONResponse({"detail": str(exc)}, status_code=404)
    return error_page(request, 404, str(exc))


async def conflict_error(request: Request, exc: ConflictError) -> Response:
    if is_api(request):
        return JSONResponse({"detail": str(exc), "current": exc.current}, status_code=409)
    return error_page(request, 409, str(exc))


async def integrity_error(request: Request, exc: IntegrityError) -> Response:
    """Two identical creations at the same moment (same report version, survey, account ...): the
    later one hits the unique key after its own check passed. Its transaction is rolled back."""
    msg = t(
        "同一记录刚刚已被另一请求创建或修改（重复），请刷新后重试",
        "the same record was just created or changed by another request (duplicate); reload and retry",
    )
    if is_api(request):
        return JSONResponse({"detail": msg}, status_code=409)
    return error_page(request, 409, msg)


async def data_error(request: Request, exc: DataError) -> Response:
    """A value the database cannot store (out of its range, a NUL character): the input's fault."""
    msg = t(
        "输入的值超出数据库允许的范围或含有不允许的字符",
        "a value is out of the database's range or holds a character it refuses",
    )
    if is_api(request):
        return JSONResponse(
            {"detail": [{"loc": ["body", "input"], "msg": msg, "type": "value_error"}]}, status_code=422
        )
    return error_page(request, 422, msg)


async def throttled_error(request: Request, exc: ThrottledError) -> Response:
    headers = {"Retry-After": str(exc.retry_after_s)}
    if is_api(request):
        return JSONResponse({"detail": str(exc)}, status_code=429, headers=headers)
    r = error_page(request, 429, str(exc))
    r.headers.update(headers)
    return r


async def unavailable_error(request: Request, exc: UnavailableError) -> Response:
    headers = {"Retry-After": str(exc.retry_after_s)} if exc.retry_after_s else {}
    if is_api(request):
        return JSONResponse({"detail": str(exc)}, status_code=503, headers=headers)
    r = error_page(request, 503, str(exc))
    r.headers.update(headers)
    return r


async def other_user_error(request: Request, exc: LifecircleError) -> Response:
    if is_api(request):
        return JSONResponse({"detail": str(exc)}, status_code=422)
    return error_page(request, 422, str(exc))


HANDLERS: list[tuple[type[Exception], Any]] = [
    (InputError, input_error),
    (RequestValidationError, validation_error),
    (AuthRequiredError, auth_error),
    (PermissionDeniedError, permission_error),
    (NotFoundError, not_found_error),
    (ThrottledError, throttled_error),
    (ConflictError, conflict_error),
    (UnavailableError, unavailable_error),
    (LifecircleError, other_user_error),
    (IntegrityError, integrity_error),
    (DataError, data_error),
    (StarletteHTTPException, http_error),
    (Exception, server_error),
]


def install_error_handlers(app: FastAPI) -> None:
    """Register :data:`HANDLERS` on ``app`` (in this order)."""
    for exc_type, handler in HANDLERS:
        app.add_exception_handler(exc_type, handler)


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
        return t(
            f"过长（最多 {ctx.get('max_length')} 个字符）", f"too long (at most {ctx.get('max_length')} characters)"
        )
    if kind == "string_too_short":
        return t(
            f"过短（至少 {ctx.get('min_length')} 个字符）", f"too short (at least {ctx.get('min_length')} characters)"
        )
    if kind in ("literal_error", "enum"):
        return t(f"应为以下之一：{ctx.get('expected', '')}", f"must be one of: {ctx.get('expected', '')}")
    if kind in ("date_parsing", "date_from_datetime_parsing", "datetime_parsing"):
        return t("日期格式应为 YYYY-MM-DD", "dates are written YYYY-MM-DD")
    return str(err.get("msg", ""))
