"""The routes, one module per resource; :data:`ROUTERS` in the order ``create_app`` includes them
(the order of the OpenAPI document)."""

from __future__ import annotations

from fastapi import APIRouter

from lifecircle.web.routes import (
    audit,
    circles,
    docs,
    evaluation,
    live,
    map,
    programme,
    public,
    reports,
    satisfaction,
    session,
    users,
)

ROUTERS: list[APIRouter] = [
    session.router,
    users.router,
    programme.router,
    circles.router,
    evaluation.router,
    live.router,
    satisfaction.router,
    reports.router,
    map.router,
    public.router,
    audit.router,
    docs.router,
]
