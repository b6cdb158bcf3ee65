"""The audit log, accounts for the city administrator, one's own password and the operator's
``lifecircle user`` commands."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from lifecircle.errors import InputError, Problem
from lifecircle.i18n import t
from lifecircle.platform import audit, auth
from lifecircle.platform.db import (
    Circle,
    LoginAttempt,
    User,
    UserSession,
)
from lifecircle.platform.errors import NotFoundError
from lifecircle.platform.permissions import (
    require_account_admin,
    require_audit_reader,
)
from lifecircle.platform.service._common import _problems
from lifecircle.platform.settings import Settings

# ------------------------------------------------------------------ audit log


def audit_log(
    s: Session,
    user: User,
    limit: int = 50,
    entity: str | None = None,
    entity_id: str | None = None,
    *,
    kind: str = "all",
    offset: int = 0,
) -> list[Any]:
    """The newest audit rows of one ``kind`` (see :func:`lifecircle.platform.audit.recent`), a page
    of ``limit`` rows after ``offset`` (the city admin and leaders only)."""
    require_audit_reader(user)
    if kind not in audit.KINDS:
        raise _problems(
            (
                "kind",
                f"未知类别 '{kind}'，可选：{'/'.join(audit.KINDS)}",
                f"unknown kind '{kind}'; use {'/'.join(audit.KINDS)}",
            )
        )
    return audit.recent(s, limit, entity, entity_id, kind=kind, offset=offset)


def audit_search(
    s: Session,
    user: User,
    *,
    username: str | None = None,
    action: str | None = None,
    circle: str | None = None,
    date_from: dt.date | None = None,
    date_to: dt.date | None = None,
    tz: str = "Asia/Shanghai",
    page: int = 1,
    per_page: int = 50,
) -> tuple[list[Any], int]:
    """One page of the audit log (the city admin and leaders only), filtered by user, action
    (``entity.action``), circle and local dates (``date_to`` included; days in zone ``tz``)."""
    from zoneinfo import ZoneInfo

    require_audit_reader(user)
    zone = ZoneInfo(tz)

    def utc(d: dt.date) -> dt.datetime:
        return dt.datetime.combine(d, dt.time(), zone).astimezone(dt.UTC).replace(tzinfo=None)

    start = utc(date_from) if date_from else None
    end = utc(date_to + dt.timedelta(days=1)) if date_to else None
    page = max(page, 1)
    return audit.search(
        s,
        username=username,
        action=action,
        circle=circle,
        start=start,
        end=end,
        offset=(page - 1) * per_page,
        limit=per_page,
    )


# ------------------------------------------------------------------ accounts (city administrator)


@dataclass(frozen=True)
class UserRow:
    """One account in the administrator's list; ``last_login`` is naive UTC (None: never signed in)."""

    user: User
    last_login: dt.datetime | None


def list_users(s: Session, actor: User) -> list[UserRow]:
    """All accounts with their last successful sign-in (city administrator only)."""
    require_account_admin(actor)
    q = (
        select(LoginAttempt.username, func.max(LoginAttempt.at))
        .where(LoginAttempt.success.is_(True))
        .group_by(LoginAttempt.username)
    )
    last = {name: at for name, at in s.execute(q)}
    return [UserRow(u, last.get(u.username)) for u in s.scalars(select(User).order_by(User.id))]


def create_account(
    s: Session,
    actor: User,
    settings: Settings,
    *,
    username: str,
    password: str,
    role: str,
    district: str | None = None,
    display_name: str = "",
    circle_id: str | None = None,
) -> User:
    """The administrator's account form: a city admin creates an account (audited)."""
    require_account_admin(actor)
    return auth.create_user(
        s,
        actor,
        settings,
        username=username,
        password=password,
        role=role,
        district=district,
        display_name=display_name,
        circle_id=circle_id,
    )


def _account(s: Session, actor: User, user_id: int) -> User:
    require_account_admin(actor)
    u = s.get(User, user_id)
    if u is None:
        raise NotFoundError(t(f"没有编号为 {user_id} 的账号", f"no account with id {user_id}"))
    return u


def _end_sessions(s: Session, user_id: int) -> None:
    s.execute(delete(UserSession).where(UserSession.user_id == user_id))


def set_user_active(s: Session, actor: User, user_id: int, active: bool) -> User:
    """Deactivate (signs the user out everywhere) or reactivate an account, audited.
    An administrator cannot deactivate their own account."""
    u = _account(s, actor, user_id)
    if not active and u.id == actor.id:
        raise _problems(
            (
                "active",
                "不能停用自己的账号（请由另一位管理员操作）",
                "you cannot deactivate your own account (ask another administrator)",
            )
        )
    if u.active == active:
        return u
    before = audit.snapshot(u)
    u.active = active
    if not active:
        _end_sessions(s, u.id)
    s.flush()
    audit.record(s, actor, "reactivate" if active else "deactivate", "user", u.id, before, audit.snapshot(u))
    return u


def reset_password(s: Session, actor: User, settings: Settings, user_id: int, password: str) -> User:
    """Set a new password (same strength rules as a new account), audited without the hash.
    The user's other sessions end (the administrator's own current session is kept)."""
    u = _account(s, actor, user_id)
    problems = auth.password_problems(password, u.username)
    if problems:
        raise InputError(problems)
    u.password_hash = auth.hash_password(password, settings)
    if u.id != actor.id:
        _end_sessions(s, u.id)
    s.flush()
    audit.record(s, actor, "reset_password", "user", u.id, None, {"username": u.username})
    return u


def change_user_role(
    s: Session, actor: User, user_id: int, role: str, district: str | None, circle_id: str | None = None
) -> User:
    """Change an account's role and its district (district officers, inspectors) or circle (community
    officers), audited before/after. An administrator cannot demote their own account."""
    u = _account(s, actor, user_id)
    district, circle_id = district or None, circle_id or None
    problems = auth.role_problems(s, role, district, circle_id)
    if u.id == actor.id and role != "city_admin":
        problems.append(
            Problem(
                t(
                    "不能降低自己的角色（请由另一位管理员操作）",
                    "you cannot demote your own account (ask another administrator)",
                ),
                field="role",
            )
        )
    if problems:
        raise InputError(problems)
    if circle_id is not None:
        district = s.get(Circle, circle_id).district  # type: ignore[union-attr]  # checked by role_problems
    if (u.role, u.district, u.circle_id) == (role, district, circle_id):
        return u
    before = audit.snapshot(u)
    u.role, u.district, u.circle_id = role, district, circle_id
    s.flush()
    audit.record(s, actor, "change_role", "user", u.id, before, audit.snapshot(u))
    return u


# ------------------------------------------------------------------ one's own password


def change_own_password(
    s: Session,
    user: User,
    settings: Settings,
    current_password: str,
    new_password: str,
    keep_session: str | None = None,
) -> User:
    """A signed-in user changes their own password: the current password must be right (403 —
    wrong password — rather than 401, so the session is kept), the new one follows the password
    rules and differs from the current one. Every other session of the user ends; audited."""
    u = s.get(User, user.id)
    if u is None or not u.active:
        raise NotFoundError(t("账号不存在或已停用", "the account does not exist or is disabled"))
    if not auth.verify_password(u.password_hash, current_password, settings):
        raise _problems(("current_password", "当前密码不正确", "the current password is wrong"))
    problems = auth.password_problems(new_password, u.username)
    if not problems and new_password == current_password:
        problems.append(
            Problem(
                t("新密码不能与当前密码相同", "the new password must differ from the current one"), field="new_password"
            )
        )
    for p in problems:
        p.field = "new_password"
    if problems:
        raise InputError(problems)
    u.password_hash = auth.hash_password(new_password, settings)
    q = delete(UserSession).where(UserSession.user_id == u.id)
    if keep_session:
        q = q.where(UserSession.token_hash != keep_session)
    s.execute(q)
    s.flush()
    audit.record(s, u, "change_password", "user", u.id, None, {"username": u.username})
    return u


# ------------------------------------------------------------------ the operator (``lifecircle user``)
# Whoever runs the command line holds the database itself, so these act as the system (actor None):
# the way to create the first administrator and to recover a forgotten password.


def system_find_user(s: Session, username: str) -> User:
    """The account ``username`` (404 naming it when there is none)."""
    u = s.scalar(select(User).where(User.username == username))
    if u is None:
        raise NotFoundError(t(f"没有用户名为 '{username}' 的账号", f"no account named '{username}'"))
    return u


def system_reset_password(s: Session, settings: Settings, username: str, password: str) -> User:
    """Set ``username``'s password from the command line (password rules apply); ends all its sessions; audited."""
    u = system_find_user(s, username)
    problems = auth.password_problems(password, u.username)
    if problems:
        raise InputError(problems)
    u.password_hash = auth.hash_password(password, settings)
    _end_sessions(s, u.id)
    s.flush()
    audit.record(s, None, "reset_password", "user", u.id, None, {"username": u.username, "via": "cli"})
    return u


def system_list_users(s: Session) -> list[UserRow]:
    """Every account with its last successful sign-in (for the command line)."""
    q = (
        select(LoginAttempt.username, func.max(LoginAttempt.at))
        .where(LoginAttempt.success.is_(True))
        .group_by(LoginAttempt.username)
    )
    last = {name: at for name, at in s.execute(q)}
    return [UserRow(u, last.get(u.username)) for u in s.scalars(select(User).order_by(User.id))]
