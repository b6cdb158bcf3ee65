"""The officials' web application: a JSON API under ``/api`` (OpenAPI at ``/api/docs``) and
server-rendered pages in Chinese (English with ``?lang=en`` or the ``lang`` cookie).

The routes are thin: they authenticate, parse, open one transaction and call
:mod:`lifecircle.platform.service`; the audit row commits in the same transaction. Who may do
what is decided in :mod:`lifecircle.platform.permissions`, never here.

Layout (like full-stack-fastapi-template's ``api/routes`` + ``api/deps.py``):

- :mod:`lifecircle.web.deps` — the dependencies (settings, programme, database session, signed-in
  user, form CSRF, language, page renderer);
- :mod:`lifecircle.web.routes` — one ``APIRouter`` per resource;
- :mod:`lifecircle.web.errors` — the exception handlers (401/403/404/422/429, JSON or a page);
- :mod:`lifecircle.web.schemas`, :mod:`lifecircle.web.views` — request bodies and response shapes;
- :mod:`lifecircle.web.templating`, :mod:`lifecircle.web.middleware` — templates and the language;
- :mod:`lifecircle.web.guard` — authentication before the body is read, body size limits (413).

Errors: not signed in → 401 (pages redirect to the login page), wrong role or district → 403,
bad input → 422 naming the field, too many failed logins or no free hashing slot → 429 (Retry-After),
a body over its route's limit → 413, unknown id → 404.
"""

from __future__ import annotations

from fastapi import Depends, FastAPI
from fastapi.staticfiles import StaticFiles

from lifecircle.platform.db import ROLES, make_engine, session_factory
from lifecircle.platform.live import LiveCity
from lifecircle.platform.programme import load_programme
from lifecircle.platform.seed import init_platform
from lifecircle.platform.settings import Settings, load_settings
from lifecircle.web.deps import refuse_control_chars
from lifecircle.web.errors import install_error_handlers
from lifecircle.web.guard import RequestGuardMiddleware
from lifecircle.web.middleware import LanguageMiddleware, SecurityHeadersMiddleware
from lifecircle.web.routes import ROUTERS
from lifecircle.web.templating import HERE, make_templates
from lifecircle.web.templating import format_names as _format_names  # noqa: F401  (the tests import it here)


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

    app = FastAPI(
        title="lifecircle — 一刻钟便民生活圈 officials' platform",
        version="1",
        docs_url=None,
        openapi_url="/api/openapi.json",
        redoc_url=None,
        dependencies=[Depends(refuse_control_chars)],
    )
    app.state.settings, app.state.engine, app.state.factory, app.state.prog = settings, engine, factory, prog
    app.state.templates = make_templates(prog, settings.timezone)
    app.state.live = LiveCity(factory)  # built on first use (``serve`` starts it at once)
    app.add_middleware(RequestGuardMiddleware)  # inside the language middleware: its messages are translated
    app.add_middleware(LanguageMiddleware)
    # Outside the language middleware; the 500 page (answered by Starlette's outermost
    # ServerErrorMiddleware) adds the same headers itself, see errors.server_error.
    app.add_middleware(SecurityHeadersMiddleware, tile_url=settings.tile_url)
    install_error_handlers(app)
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
    for router in ROUTERS:
        app.include_router(router)
    return app


__all__ = ["ROLES", "create_app"]
