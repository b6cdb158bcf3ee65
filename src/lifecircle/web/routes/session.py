"""Signing in and out: ``/api/login``, ``/api/logout``, ``/api/me`` and the login page."""

from __future__ import annotations

import secrets
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response

from lifecircle.i18n import t
from lifecircle.platform import auth, service
from lifecircle.platform.errors import AuthRequiredError, PermissionDeniedError
from lifecircle.platform.settings import Settings
from lifecircle.web.deps import (
    LOGIN_NONCE_COOKIE,
    SESSION_COOKIE,
    ApiUser,
    Db,
    Factory,
    FormCsrf,
    PageUser,
    Render,
    SettingsDep,
    client_ip,
    session_token,
)
from lifecircle.web.schemas import LoginIn, PasswordChangeIn
from lifecircle.web.views import user_json

router = APIRouter()


def set_session_cookie(resp: Response, res: auth.LoginResult, settings: Settings) -> None:
    resp.set_cookie(
        SESSION_COOKIE,
        res.token,
        max_age=settings.session_minutes * 60,
        httponly=True,
        samesite="lax",
        secure=settings.cookie_secure,
        path="/",
    )


def safe_next(path: str) -> str:
    """Only same-site relative paths after login (no open redirect)."""
    return path if path.startswith("/") and not path.startswith("//") and "\\" not in path else "/dashboard"


# ------------------------------------------------------------------ API


@router.post("/api/login", tags=["session"], summary="Sign in; returns a bearer token and sets the session cookie")
def api_login(body: LoginIn, request: Request, factory: Factory, settings: SettingsDep) -> JSONResponse:
    res = auth.login(factory, settings, body.username, body.password, client_ip(request))
    resp = JSONResponse(
        {
            "token": res.token,
            "csrf_token": res.csrf_token,
            "expires_at": res.expires_at.isoformat() + "Z",
            "user": user_json(res.user),
        }
    )
    set_session_cookie(resp, res, settings)
    return resp


@router.post("/api/logout", tags=["session"])
def api_logout(request: Request, user: ApiUser, factory: Factory) -> JSONResponse:
    auth.logout(factory, session_token(request)[0])
    resp = JSONResponse({"ok": True})
    resp.delete_cookie(SESSION_COOKIE, path="/")
    return resp


@router.get("/api/me", tags=["session"])
def api_me(user: ApiUser) -> dict[str, Any]:
    return user_json(user)


@router.post("/api/me/password", tags=["session"], summary="Change one's own password (needs the current one)")
def api_me_password(
    body: PasswordChangeIn, request: Request, user: ApiUser, s: Db, settings: SettingsDep
) -> dict[str, Any]:
    token = session_token(request)[0]
    service.change_own_password(
        s,
        user,
        settings,
        body.current_password,
        body.new_password,
        keep_session=auth.session_key(token) if token else None,
    )
    return {"ok": True}


# ------------------------------------------------------------------ pages


@router.get("/login", include_in_schema=False, response_class=HTMLResponse)
def login_page(request: Request, render: Render, settings: SettingsDep, next: str = "/dashboard") -> HTMLResponse:
    nonce = request.cookies.get(LOGIN_NONCE_COOKIE) or secrets.token_urlsafe(24)
    resp = render("login.html", login_csrf=auth.login_form_token(settings, nonce), next=safe_next(next), error=None)
    resp.set_cookie(
        LOGIN_NONCE_COOKIE, nonce, httponly=True, samesite="lax", secure=settings.cookie_secure, path="/login"
    )
    return resp


@router.post("/login", include_in_schema=False)
def login_submit(
    request: Request,
    render: Render,
    factory: Factory,
    settings: SettingsDep,
    username: Annotated[str, Form(max_length=64)],
    password: Annotated[str, Form(max_length=256)],
    csrf_token: Annotated[str, Form()],
    next: Annotated[str, Form()] = "/dashboard",
) -> Response:
    nonce = request.cookies.get(LOGIN_NONCE_COOKIE)
    if not auth.check_login_form_token(settings, nonce, csrf_token):
        raise PermissionDeniedError(
            t("登录表单已过期，请刷新页面后重试", "the login form expired; reload the page and retry")
        )
    try:
        res = auth.login(factory, settings, username, password, client_ip(request))
    except AuthRequiredError as exc:
        return render("login.html", status_code=401, login_csrf=csrf_token, next=safe_next(next), error=str(exc))
    resp = RedirectResponse(safe_next(next), status_code=303)
    set_session_cookie(resp, res, settings)
    return resp


@router.post("/logout", include_in_schema=False)
def logout_submit(
    request: Request, user: PageUser, csrf: FormCsrf, factory: Factory, csrf_token: Annotated[str, Form()]
) -> Response:
    csrf.check(csrf_token)
    auth.logout(factory, request.cookies.get(SESSION_COOKIE))
    resp = RedirectResponse("/login", status_code=303)
    resp.delete_cookie(SESSION_COOKIE, path="/")
    return resp
