"""The audit log: every change records who, when, what, and the entity before and after.

:func:`record` adds the row to the caller's session, so it commits in the same transaction as the
change itself (see :func:`lifecircle.platform.db.transaction`)."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from sqlalchemy import String, and_, cast, func, inspect, or_, select
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


def record(
    s: Session,
    actor: User | None,
    action: str,
    entity: str,
    entity_id: object,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
) -> AuditLog:
    """Add one audit row to session ``s`` (committed with the caller's transaction)."""
    row = AuditLog(
        at=utcnow(),
        user_id=actor.id if actor else None,
        username=actor.username if actor else "system",
        action=action,
        entity=entity,
        entity_id=str(entity_id),
        before=before,
        after=after,
    )
    s.add(row)
    return row


SIGN_IN_ACTIONS = ("login", "logout", "login_failed")
KINDS = ("all", "changes", "sign_in", "failed_logins")


def recent(
    s: Session,
    limit: int = 50,
    entity: str | None = None,
    entity_id: str | None = None,
    *,
    kind: str = "all",
    offset: int = 0,
) -> list[Any]:
    """The newest audit rows, optionally for one entity, of one ``kind``, skipping ``offset`` rows:

    - ``all`` — every row of the audit log; ``changes`` — without sign-ins and sign-outs;
      ``sign_in`` — only those;
    - ``failed_logins`` — the failed sign-ins, kept in ``login_attempts`` apart from the audit log
      (so anonymous guessing never pushes changes off a page), shaped like audit rows.
    """
    if kind == "failed_logins":
        fq = (
            select(LoginAttempt)
            .where(LoginAttempt.success.is_(False))
            .order_by(LoginAttempt.id.desc())
            .limit(limit)
            .offset(offset)
        )
        if entity_id:
            fq = fq.where(LoginAttempt.username == entity_id)
        return [
            AuditLog(
                id=a.id,
                at=a.at,
                user_id=None,
                username=a.username or "-",
                action="login_failed",
                entity="user",
                entity_id=a.username or "-",
                before=None,
                after={"ip": a.ip},
            )
            for a in s.scalars(fq)
        ]
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


#: What each (entity, action) of the log means, Chinese first; the audit page's action filter.
ACTIONS: dict[str, tuple[str, str]] = {
    "circle.status": ("变更生活圈状态", "changed a circle's status"),
    "circle.create": ("新建生活圈", "created a circle"),
    "circle.seed": ("导入演示生活圈", "seeded a demo circle"),
    "fund.create": ("登记资金", "recorded funds"),
    "scorecard.put": ("写入评估表", "stored a scorecard"),
    "score.create": ("提交评估评分", "added an evaluator score"),
    "evidence.upload": ("上传证明材料", "uploaded evidence"),
    "grade_decision.create": ("记录等级评定", "recorded a grade decision"),
    "survey.create": ("登记满意度调查", "registered a survey"),
    "survey.results": ("录入调查结果", "recorded survey results"),
    "district_report.generate": ("生成区级报告", "generated a district report"),
    "district_report.edit": ("编辑区级报告", "edited a district report"),
    "user.create": ("新建账号", "created an account"),
    "user.deactivate": ("停用账号", "deactivated an account"),
    "user.reactivate": ("启用账号", "reactivated an account"),
    "user.reset_password": ("重置密码", "reset a password"),
    "user.change_role": ("修改角色", "changed a role"),
    "user.login_failed": ("登录失败", "failed sign-in"),
    "session.login": ("登录", "signed in"),
    "session.logout": ("退出", "signed out"),
}


def search(
    s: Session,
    *,
    username: str | None = None,
    action: str | None = None,
    circle: str | None = None,
    start: dt.datetime | None = None,
    end: dt.datetime | None = None,
    offset: int = 0,
    limit: int = 50,
) -> tuple[list[AuditLog], int]:
    """Audit rows newest first, filtered, one page of them, and how many match in all.

    ``action`` is ``entity.action`` (a key of :data:`ACTIONS`); ``circle`` matches the circle's
    own rows and the rows of its funds, scores, evidence, grades, scorecards and surveys;
    ``start``/``end`` are naive UTC bounds (end exclusive)."""
    conds = []
    if username:
        conds.append(AuditLog.username == username)
    if action:
        entity, _, act = action.partition(".")
        conds.append(and_(AuditLog.entity == entity, AuditLog.action == act))
    if circle:
        needle = '%"circle_id": ' + _json_str(circle) + "%"
        conds.append(
            or_(
                and_(AuditLog.entity == "circle", AuditLog.entity_id == circle),
                cast(AuditLog.after, String).like(needle, escape="\\"),
            )
        )
    if start is not None:
        conds.append(AuditLog.at >= start)
    if end is not None:
        conds.append(AuditLog.at < end)
    total = s.scalar(select(func.count()).select_from(AuditLog).where(*conds)) or 0
    rows = list(s.scalars(select(AuditLog).where(*conds).order_by(AuditLog.id.desc()).offset(offset).limit(limit)))
    return rows, total


def usernames(s: Session) -> list[str]:
    """Everyone who appears in the log (the page's user filter)."""
    return list(s.scalars(select(AuditLog.username).distinct().order_by(AuditLog.username)))


def _json_str(v: str) -> str:
    """``v`` as the JSON column stores it, escaped for LIKE with a backslash."""
    bs = "\\"
    return json.dumps(v).replace(bs, bs + bs).replace("%", bs + "%").replace("_", bs + "_")
