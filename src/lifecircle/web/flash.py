"""Flash notices ("状态已更新"): set by a form's redirect in a short-lived signed cookie, shown once
by the next page and then deleted. Nothing from the address bar reaches the notice banner (the old
``?msg=`` let any link put any text in the official banner)."""

from __future__ import annotations

import base64
import hashlib
import hmac

from fastapi import Request
from fastapi.responses import RedirectResponse, Response

from lifecircle.i18n import t

FLASH_COOKIE = "lc_flash"
MAX_CHARS = 200


def _mac(secret: str, payload: str) -> str:
    return hmac.new(secret.encode(), b"flash:" + payload.encode(), hashlib.sha256).hexdigest()[:32]


def encode(secret: str, text: str) -> str:
    payload = base64.urlsafe_b64encode(text[:MAX_CHARS].encode()).decode().rstrip("=")
    return f"{payload}.{_mac(secret, payload)}"


def decode(secret: str, value: str | None) -> str | None:
    """The notice in a cookie value, or None when missing, tampered with or malformed."""
    if not value or "." not in value:
        return None
    payload, _, mac = value.rpartition(".")
    if not hmac.compare_digest(mac, _mac(secret, payload)):
        return None
    try:
        return base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)).decode()
    except (ValueError, UnicodeDecodeError):
        return None


def set_flash(request: Request, resp: Response, zh: str, en: str) -> Response:
    """Attach the notice ``t(zh, en)`` to ``resp`` (shown once by the next page)."""
    settings = request.app.state.settings
    resp.set_cookie(
        FLASH_COOKIE,
        encode(settings.secret_key, t(zh, en)),
        max_age=300,
        httponly=True,
        samesite="lax",
        secure=settings.cookie_secure,
        path="/",
    )
    return resp


def redirect_with_flash(request: Request, url: str, zh: str, en: str) -> RedirectResponse:
    """A 303 to ``url`` carrying the notice."""
    resp = RedirectResponse(url, status_code=303)
    set_flash(request, resp, zh, en)
    return resp


def pop_flash(request: Request) -> str | None:
    """The pending notice of the request (the page deletes the cookie, see deps.Renderer)."""
    return decode(request.app.state.settings.secret_key, request.cookies.get(FLASH_COOKIE))
