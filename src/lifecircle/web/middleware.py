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
                headers.append((b"set-cookie", f"{LANG_COOKIE}={lang}; Path=/; Max-Age=31536000; SameSite=Lax".encode()))
                message["headers"] = headers
            await send(message)

        with use_lang(lang):
            await self.app(scope, receive, send_wrapper)
