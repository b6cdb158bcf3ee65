"""ASGI middleware of the web application."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs

from starlette.types import ASGIApp, Receive, Scope, Send

from lifecircle.i18n import use_lang
from lifecircle.web.deps import LANG_COOKIE


class LanguageMiddleware:
    """Pick the language per request: ``?lang=`` (and remember it in a cookie) or the cookie."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
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
                headers.append(
                    (b"set-cookie", f"{LANG_COOKIE}={lang}; Path=/; Max-Age=31536000; SameSite=Lax".encode())
                )
                message["headers"] = headers
            await send(message)

        with use_lang(lang):
            await self.app(scope, receive, send_wrapper)


def content_security_policy(tile_url: str = "", inline_styles: bool = False) -> str:
    """The pages' CSP: scripts and styles only from our own files (no inline script, no eval, no
    style attributes), nothing framed by other sites; map tiles from the configured tile server
    when there is one. ``inline_styles`` for the vendored Swagger UI, which styles elements inline."""
    img = ["'self'", "data:", "blob:"]
    if tile_url:
        origin = "/".join(tile_url.split("/", 3)[:3]).replace("{s}", "*")
        if origin.startswith(("http://", "https://")):
            img.append(origin)
    return "; ".join(
        [
            "default-src 'self'",
            "script-src 'self'",
            "style-src 'self'" + (" 'unsafe-inline'" if inline_styles else ""),
            f"img-src {' '.join(img)}",
            "font-src 'self' data:",
            "connect-src 'self'",
            "object-src 'none'",
            "base-uri 'self'",
            "form-action 'self'",
            "frame-ancestors 'none'",
        ]
    )


def security_headers(tile_url: str = "", inline_styles: bool = False) -> list[tuple[bytes, bytes]]:
    """The protective headers of every response."""
    return [
        (b"content-security-policy", content_security_policy(tile_url, inline_styles).encode()),
        (b"x-frame-options", b"DENY"),
        (b"referrer-policy", b"same-origin"),
        (b"x-content-type-options", b"nosniff"),
    ]


class SecurityHeadersMiddleware:
    """Add the protective headers to every HTTP response (pages, API, static files, errors):
    Content-Security-Policy, X-Frame-Options, Referrer-Policy, X-Content-Type-Options."""

    def __init__(self, app: ASGIApp, tile_url: str = "") -> None:
        self.app = app
        self.headers = security_headers(tile_url)
        self.docs_headers = security_headers(tile_url, inline_styles=True)
        self.names = {k for k, _ in self.headers}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        ours = self.docs_headers if scope.get("path") == "/api/docs" else self.headers

        async def send_wrapper(message: Any) -> None:
            if message["type"] == "http.response.start":
                headers = [(k, v) for k, v in message.get("headers", []) if k.lower() not in self.names]
                message["headers"] = headers + ours
            await send(message)

        await self.app(scope, receive, send_wrapper)
