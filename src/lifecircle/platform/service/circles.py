"""Circles and their status workflow (one conditional update per change), funds and awards."""

from __future__ import annotations

import datetime as dt
import math
import re
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from lifecircle.i18n import t
from lifecircle.platform import audit
from lifecircle.platform.db import (
    Circle,
    District,
    Fund,
    StatusChange,
    User,
    utcnow,
)
from lifecircle.platform.errors import ConflictError, NotFoundError
from lifecircle.platform.permissions import (
    deny,
    require_edit,
    require_see,
    require_status_change,
)
from lifecircle.platform.programme import Programme
from lifecircle.platform.service._common import FUND_KINDS, _problems

# ------------------------------------------------------------------ circles


def get_circle(s: Session, user: User, circle_id: str) -> Circle:
    """The circle ``circle_id``; :class:`NotFoundError` or :class:`PermissionDeniedError`."""
    c = s.get(Circle, circle_id)
    if c is None:
        raise NotFoundError(t(f"没有编号为 '{circle_id}' 的生活圈", f"no circle with id '{circle_id}'"))
    require_see(user, c.district)
    return c


def list_circles(
    s: Session, user: User, prog: Programme, *, district: str | None = None, status: str | None = None
) -> list[Circle]:
    """Circles the user may see, optionally of one district or status."""
    problems = []
    if district is not None and s.get(District, district) is None:
        problems.append(("district", f"未知的区代码 '{district}'", f"unknown district code '{district}'"))
    if status is not None and status not in prog.statuses:
        problems.append(("status", f"未知状态 '{status}'", f"unknown status '{status}'"))
    if problems:
        raise _problems(*problems)
    q = select(Circle)
    if user.role == "district_officer":
        if district is not None and district != user.district:
            require_see(user, district)
        q = q.where(Circle.district == user.district)
    if district is not None:
        q = q.where(Circle.district == district)
    if status is not None:
        q = q.where(Circle.status == status)
    rows = list(s.scalars(q))
    seq = {d.code: d.seq for d in s.scalars(select(District))}
    return sorted(rows, key=lambda c: (seq.get(c.district, 99), c.phase != "pilot", c.id))


def create_circle(
    s: Session,
    user: User | None,
    prog: Programme,
    *,
    id: str,
    name: str,
    district: str,
    phase: str,
    lon: float | None = None,
    lat: float | None = None,
    synthetic: bool = False,
    boundary: dict[str, Any] | None = None,
    status: str = "planned",
) -> Circle:
    """Add a circle to the plan (city admin or the district's officer; ``user=None`` is the system)."""
    if user is not None:
        require_edit(user, district)
    problems = []
    if not re.fullmatch(r"[A-Za-z0-9_.-]{1,32}", id or ""):
        problems.append(("id", "编号只能含字母、数字和 _ . -，最长 32", "id: letters, digits, _ . - only, at most 32"))
    elif s.get(Circle, id) is not None:
        problems.append(("id", f"编号 '{id}' 已存在", f"id '{id}' already exists"))
    if not name or len(name) > 128:
        problems.append(("name", "名称不能为空，最长 128", "name must be 1–128 characters"))
    if s.get(District, district) is None:
        problems.append(("district", f"未知的区代码 '{district}'", f"unknown district code '{district}'"))
    if phase not in ("pilot", "rollout"):
        problems.append(("phase", "批次应为 pilot 或 rollout", "phase must be pilot or rollout"))
    if status not in prog.statuses:
        problems.append(("status", f"未知状态 '{status}'", f"unknown status '{status}'"))
    if problems:
        raise _problems(*problems)
    now = utcnow()
    c = Circle(
        id=id,
        name=name,
        district=district,
        phase=phase,
        status=status,
        synthetic=synthetic,
        lon=lon,
        lat=lat,
        boundary=boundary,
        status_changed_at=now,
        updated_at=now,
    )
    s.add(c)
    s.flush()
    s.add(
        StatusChange(
            circle_id=id, from_status=None, to_status=status, note="created", user_id=user.id if user else None, at=now
        )
    )
    audit.record(s, user, "create", "circle", id, None, audit.snapshot(c))
    return c


def change_status(
    s: Session, user: User, prog: Programme, circle_id: str, to_status: str, note: str = "", seen: str | None = None
) -> Circle:
    """Move a circle along the status workflow (transitions and roles are data in the programme).

    ``seen`` is the status the sender saw (the API's ``from``, the page form's hidden field): if
    the circle has moved on, :class:`ConflictError` (409) names its current status. The change
    itself is one conditional ``UPDATE ... WHERE status = :seen`` in the caller's transaction, so
    of two officials changing the same circle at the same moment exactly one wins and the other
    gets the conflict (on SQLite the UPDATE waits for the write lock, on PostgreSQL it re-checks
    the row after the other transaction commits); without ``seen`` the status read here is the
    condition, so an answer never claims a change that another one overwrote."""
    c = get_circle(s, user, circle_id)
    require_status_change(user, c.district)
    if seen is not None and seen != c.status:
        raise _status_conflict(prog, c.id, c.status, seen)
    if to_status not in prog.statuses:
        raise _problems(
            (
                "status",
                f"未知状态 '{to_status}'；可选：{', '.join(prog.statuses)}",
                f"unknown status '{to_status}'; one of {', '.join(prog.statuses)}",
            )
        )
    roles = prog.transitions.get((c.status, to_status))
    if roles is None:
        nxt = ", ".join(b for (a, b) in prog.transitions if a == c.status) or "-"
        raise _problems(
            (
                "status",
                f"不能从“{prog.status_label(c.status)}”直接变为“{prog.status_label(to_status)}”；可变为：{nxt}",
                f"cannot go from {c.status} to {to_status}; allowed: {nxt}",
            )
        )
    if user.role not in roles:
        raise deny(
            f"此状态变更（{c.status} → {to_status}）需要角色：{', '.join(roles)}",
            f"this change ({c.status} → {to_status}) needs role: {', '.join(roles)}",
        )
    if len(note) > 2000:
        raise _problems(("note", "备注最长 2000 字", "note is at most 2000 characters"))
    before = audit.snapshot(c)
    from_status, now = c.status, utcnow()
    moved = s.execute(
        update(Circle)
        .where(Circle.id == c.id, Circle.status == from_status)
        .values(status=to_status, status_changed_at=now, updated_at=now)
        .execution_options(synchronize_session=False)
    )
    if moved.rowcount != 1:  # type: ignore[attr-defined]  # another change committed first
        s.expire(c)
        current = s.scalar(select(Circle.status).where(Circle.id == c.id))
        raise _status_conflict(prog, c.id, current, from_status)
    s.refresh(c)
    s.add(
        StatusChange(circle_id=c.id, from_status=from_status, to_status=to_status, note=note, user_id=user.id, at=now)
    )
    s.flush()
    audit.record(s, user, "status", "circle", c.id, before, audit.snapshot(c))
    return c


def _status_conflict(prog: Programme, circle_id: str, current: str | None, seen: str) -> ConflictError:
    if current is None:
        return ConflictError(t(f"生活圈 '{circle_id}' 已被删除", f"circle '{circle_id}' was deleted"))
    return ConflictError(
        t(
            f"生活圈状态已被他人改为“{prog.status_label(current)}”（{current}），不再是您看到的“{prog.status_label(seen)}”"
            f"（{seen}）；请刷新后重试",
            f"the circle's status is now {current} ({prog.status_label(current)}), no longer {seen} as you saw it; "
            f"reload and retry",
        ),
        current=current,
    )


def status_history(s: Session, circle_id: str) -> list[StatusChange]:
    return list(s.scalars(select(StatusChange).where(StatusChange.circle_id == circle_id).order_by(StatusChange.id)))


# ------------------------------------------------------------------ funds


def add_fund(
    s: Session,
    user: User,
    circle_id: str,
    *,
    kind: str,
    amount_yuan: float,
    date: dt.date,
    source: str = "",
    note: str = "",
) -> Fund:
    """Record funds (建设资金) or an award (奖补) for a circle; amount in yuan (元), > 0."""
    c = get_circle(s, user, circle_id)
    require_edit(user, c.district)
    problems = []
    if kind not in FUND_KINDS:
        problems.append(("kind", "类型应为 fund（建设资金）或 award（奖补）", "kind must be fund or award"))
    if not (isinstance(amount_yuan, int | float) and math.isfinite(amount_yuan) and 0 < amount_yuan < 1e11):
        problems.append(("amount_yuan", "金额应为正数（元）", "amount must be a positive number of yuan"))
    if len(source) > 128:
        problems.append(("source", "来源最长 128 字", "source is at most 128 characters"))
    if problems:
        raise _problems(*problems)
    f = Fund(
        circle_id=c.id,
        kind=kind,
        amount_yuan=float(amount_yuan),
        date=date,
        source=source,
        note=note,
        user_id=user.id,
        at=utcnow(),
    )
    s.add(f)
    s.flush()
    audit.record(s, user, "create", "fund", f.id, None, audit.snapshot(f))
    return f


def funds(s: Session, circle_id: str) -> list[Fund]:
    return list(s.scalars(select(Fund).where(Fund.circle_id == circle_id).order_by(Fund.date, Fund.id)))
