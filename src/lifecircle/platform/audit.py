"""The audit log: every change records who, when, what, and the entity before and after.

:func:`record` adds the row to the caller's session, so it commits in the same transaction as the
change itself (see :func:`lifecircle.platform.db.transaction`)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import inspect, select
from sqlalchemy.orm import Session

from lifecircle.platform.db import AuditLog, User, utcnow


def snapshot(obj: Any, exclude: tuple[str, ...] = ("password_hash",)) -> dict[str, Any] | None:
    """The column values of an ORM object as JSON-safe data (dates as ISO strings)."""
    if obj is None:
        return None
    out: dict[str, Any] = {}
    for attr in inspect(obj).mapper.column_attrs:
        if attr.key in exclude:
            continue
        v = getattr(obj, attr.key)
        if isinstance(v, dt.date | dt.datetime):
            v = v.isoformat()
        out[attr.key] = v
    return out


def record(s: Session, actor: User | None, action: str, entity: str, entity_id: object,
           before: dict[str, Any] | None = None, after: dict[str, Any] | None = None) -> AuditLog:
    """Add one audit row to session ``s`` (committed with the caller's transaction)."""
    row = AuditLog(at=utcnow(), user_id=actor.id if actor else None,
                   username=actor.username if actor else "system", action=action, entity=entity,
                   entity_id=str(entity_id), before=before, after=after)
    s.add(row)
    return row


def recent(s: Session, limit: int = 50, entity: str | None = None, entity_id: str | None = None) -> list[AuditLog]:
    """The newest audit rows, optionally for one entity."""
    q = select(AuditLog).order_by(AuditLog.id.desc()).limit(limit)
    if entity:
        q = q.where(AuditLog.entity == entity)
    if entity_id:
        q = q.where(AuditLog.entity_id == entity_id)
    return list(s.scalars(q))
