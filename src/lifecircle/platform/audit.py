"""The audit log: every change records who, when, what, and the entity before and after.

:func:`record` adds the row to the caller's session, so it commits in the same transaction as the
change itself (see :func:`lifecircle.platform.db.transaction`)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import inspect, select
from sqlalchemy.orm import Session

from lifecircle.platform.db import AuditLog, LoginAttempt, User, utcnow


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


SIGN_IN_ACTIONS = ("login", "logout", "login_failed")
KINDS = ("all", "changes", "sign_in", "failed_logins")


def recent(s: Session, limit: int = 50, entity: str | None = None, entity_id: str | None = None, *,
           kind: str = "all", offset: int = 0) -> list[Any]:
    """The newest audit rows, optionally for one entity, of one ``kind``, skipping ``offset`` rows:

    - ``all`` — every row of the audit log; ``changes`` — without sign-ins and sign-outs;
      ``sign_in`` — only those;
    - ``failed_logins`` — the failed sign-ins, kept in ``login_attempts`` apart from the audit log
      (so anonymous guessing never pushes changes off a page), shaped like audit rows.
    """
    if kind == "failed_logins":
        fq = (select(LoginAttempt).where(LoginAttempt.success.is_(False))
              .order_by(LoginAttempt.id.desc()).limit(limit).offset(offset))
        if entity_id:
            fq = fq.where(LoginAttempt.username == entity_id)
        return [AuditLog(id=a.id, at=a.at, user_id=None, username=a.username or "-", action="login_failed",
                         entity="user", entity_id=a.username or "-", before=None, after={"ip": a.ip})
                for a in s.scalars(fq)]
    q = select(AuditLog).order_by(AuditLog.id.desc()).limit(limit).offset(offset)
    if kind == "changes":
        q = q.where(AuditLog.action.not_in(SIGN_IN_ACTIONS))
    elif kind == "sign_in":
        q = q.where(AuditLog.action.in_(SIGN_IN_ACTIONS))
    if entity:
        q = q.where(AuditLog.entity == entity)
    if entity_id:
        q = q.where(AuditLog.entity_id == entity_id)
    return list(s.scalars(q))
