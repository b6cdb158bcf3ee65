"""The routes, one module per resource; :data:`ROUTERS` in the order ``create_app`` includes them
(the order of the OpenAPI document)."""

from __future__ import annotations

from fastapi import APIRouter

from lifecircle.web.routes import (
    audit,
    circles,
    docs,
    evaluation,
    feedback,
    filings,
    governance,
    live,
    map,
    outlets,
    programme,
    public,
    reports,
    resident_surveys,
    satisfaction,
    session,
    supervision,
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
    resident_surveys.router,
    reports.router,
    map.router,
    outlets.router,
    filings.router,
    supervision.router,
    public.router,
    audit.router,
    governance.router,
    feedback.router,
    docs.router,
]
