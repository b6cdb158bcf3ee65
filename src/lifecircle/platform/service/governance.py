"""Co-governance and the environment (M11): a circle's joint committee (共商共管), its meetings and
the environment issues of its streets (乱排乱放、占道经营、招牌、垃圾分类).

Who may see or change what is decided in :mod:`lifecircle.platform.permissions`
(:func:`~lifecircle.platform.permissions.require_see_circle_governance`,
:func:`~lifecircle.platform.permissions.require_govern_circle`): a community officer only its own
circle, district officers their district, the city admin everything; leaders and evaluators read.

An environment issue goes ``reported`` → ``assigned`` (to a person or unit, optionally with a due
date; it may be reassigned) → ``closed`` (with a note and a close photo). Each transition is one
conditional ``UPDATE ... WHERE status = :seen`` so of two officials closing the same issue at the
same moment one wins and the other gets :class:`ConflictError` (409). ``user=None`` is the public
entry (a resident's report): the circle is the one whose boundary contains the point.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from lifecircle.errors import InputError
from lifecircle.i18n import t
from lifecircle.platform import audit
from lifecircle.platform.db import Circle, User, utcnow
from lifecircle.platform.db_operations import (
    COMMITTEE_ROLES,
    ENV_CATEGORIES,
    ENV_STATUSES,
    Attachment,
    CommitteeMember,
    EnvIssue,
    Meeting,
)
from lifecircle.platform.errors import ConflictError, NotFoundError
from lifecircle.platform.permissions import (
    deny,
    require_govern_circle,
    require_see,
    require_see_circle_governance,
)
from lifecircle.platform.programme import Programme
from lifecircle.platform.service._common import _problems
from lifecircle.platform.service.attachments import attach, attachments, checked_file
from lifecircle.platform.settings import Settings

EARLIEST = dt.date(2000, 1, 1)  # no meeting of the programme is older

ENTITY = "env_issue"
MAX_LIST_ITEMS = 100


@dataclass(frozen=True)
class Upload:
    """A file as it came in: its name and bytes (checked by the one upload rule when stored)."""

    filename: str
    data: bytes


def _circle(s: Session, user: User | None, circle_id: str, *, write: bool = False) -> Circle:
    """The circle ``circle_id`` (404), after the reading or governing check of ``user``."""
    c = s.get(Circle, circle_id)
    if c is None:
        raise NotFoundError(t(f"没有编号为 '{circle_id}' 的生活圈", f"no circle with id '{circle_id}'"))
    if user is not None:
        require_see_circle_governance(user, c.id, c.district)
        if write:
            require_govern_circle(user, c.id, c.district)
    return c


def _text(value: str, field: str, limit: int, *, required: bool, zh: str, en: str) -> list[tuple[str, str, str]]:
    value = (value or "").strip()
    if required and not value:
        return [(field, f"{zh}不能为空", f"{en} must not be empty")]
    if len(value) > limit:
        return [(field, f"{zh}最长 {limit} 字", f"{en} is at most {limit} characters")]
    return []


# ------------------------------------------------------------------ the joint committee


@dataclass(frozen=True)
class Committee:
    """A circle's committee: its members (active first) and the roles no active member holds."""

    circle: Circle
    members: list[CommitteeMember]
    missing: list[str]


def committee(s: Session, user: User, circle_id: str) -> Committee:
    """The committee of ``circle_id`` and which of the plan's six roles are still missing."""
    c = _circle(s, user, circle_id)
    rows = list(s.scalars(select(CommitteeMember).where(CommitteeMember.circle_id == c.id)))
    rows.sort(
        key=lambda m: (not m.active, list(COMMITTEE_ROLES).index(m.role) if m.role in COMMITTEE_ROLES else 99, m.id)
    )
    held = {m.role for m in rows if m.active}
    return Committee(c, rows, [r for r in COMMITTEE_ROLES if r not in held])


def missing_roles_text(missing: list[str]) -> str:
    """The warning of a committee's missing roles, in the user's language ('' when complete)."""
    if not missing:
        return ""
    names = [t(*COMMITTEE_ROLES[r]) for r in missing]
    return t(f"联席会缺少：{'、'.join(names)}", f"the committee still lacks: {', '.join(names)}")


def add_committee_member(
    s: Session, user: User, circle_id: str, *, role: str, name: str, organisation: str = ""
) -> CommitteeMember:
    """Add a member to the circle's committee (those who govern the circle)."""
    c = _circle(s, user, circle_id, write=True)
    problems = []
    if role not in COMMITTEE_ROLES:
        roles = ", ".join(COMMITTEE_ROLES)
        problems.append(("role", f"未知的成员类别 '{role}'；可选：{roles}", f"unknown role '{role}'; one of {roles}"))
    problems += _text(name, "name", 64, required=True, zh="姓名", en="name")
    problems += _text(organisation, "organisation", 128, required=False, zh="单位", en="organisation")
    if problems:
        raise _problems(*problems)
    same = select(CommitteeMember.id).where(
        CommitteeMember.circle_id == c.id,
        CommitteeMember.role == role,
        CommitteeMember.name == name.strip(),
        CommitteeMember.active.is_(True),
    )
    if s.scalar(same) is not None:  # a double click, or the same person entered twice
        raise ConflictError(
            t(f"{name.strip()} 已是本联席会的该类成员", f"{name.strip()} is already a member in this role"),
            current="active",
        )
    m = CommitteeMember(
        circle_id=c.id,
        role=role,
        name=name.strip(),
        organisation=(organisation or "").strip(),
        active=True,
        at=utcnow(),
    )
    s.add(m)
    s.flush()
    audit.record(s, user, "create", "committee_member", m.id, None, audit.snapshot(m))
    return m


def deactivate_committee_member(s: Session, user: User, member_id: int) -> CommitteeMember:
    """A member leaves the committee (kept in the record, no longer active); 409 when already inactive."""
    m = s.get(CommitteeMember, member_id)
    if m is None:
        raise NotFoundError(t(f"没有编号为 {member_id} 的联席会成员", f"no committee member {member_id}"))
    _circle(s, user, m.circle_id, write=True)
    before = audit.snapshot(m)
    done = s.execute(
        update(CommitteeMember)
        .where(CommitteeMember.id == m.id, CommitteeMember.active.is_(True))
        .values(active=False)
        .execution_options(synchronize_session=False)
    )
    if done.rowcount != 1:  # type: ignore[attr-defined]
        raise ConflictError(t("该成员已退出联席会", "this member has already left the committee"), current="inactive")
    s.refresh(m)
    audit.record(s, user, "deactivate", "committee_member", m.id, before, audit.snapshot(m))
    return m


# ------------------------------------------------------------------ meetings


def _str_list(values: list[str], field: str, item_limit: int, zh: str, en: str) -> tuple[list[str], list[Any]]:
    items = [v.strip() for v in values or [] if isinstance(v, str) and v.strip()]
    problems: list[tuple[str, str, str]] = []
    if len(items) > MAX_LIST_ITEMS:
        problems.append((field, f"{zh}最多 {MAX_LIST_ITEMS} 项", f"at most {MAX_LIST_ITEMS} {en}"))
    if any(len(v) > item_limit for v in items):
        problems.append(
            (field, f"每项{zh}最长 {item_limit} 字", f"each of the {en} is at most {item_limit} characters")
        )
    return items, problems


def create_meeting(
    s: Session,
    user: User,
    circle_id: str,
    *,
    date: dt.date,
    title: str,
    minutes: str = "",
    decisions: list[str] | None = None,
    attendees: list[str] | None = None,
) -> Meeting:
    """Record a meeting of the circle's committee: its title, minutes, decisions and attendees."""
    c = _circle(s, user, circle_id, write=True)
    problems = _text(title, "title", 128, required=True, zh="会议名称", en="title")
    problems += _text(minutes, "minutes", 20000, required=False, zh="会议纪要", en="minutes")
    dec, p1 = _str_list(decisions or [], "decisions", 1000, "决议", "decisions")
    att, p2 = _str_list(attendees or [], "attendees", 64, "参会人", "attendees")
    if date > dt.date.today() + dt.timedelta(days=366):
        problems.append(("date", "会议日期不能晚于一年之后", "the date is more than a year ahead"))
    elif date < EARLIEST:  # a mistyped year (0025, 1025)
        problems.append(("date", f"会议日期不能早于 {EARLIEST}", f"the date cannot be before {EARLIEST}"))
    if problems or p1 or p2:
        raise _problems(*problems, *p1, *p2)
    mt = Meeting(
        circle_id=c.id,
        date=date,
        title=title.strip(),
        minutes=(minutes or "").strip(),
        decisions=dec,
        attendees=att,
        user_id=user.id,
        at=utcnow(),
    )
    s.add(mt)
    s.flush()
    audit.record(s, user, "create", "meeting", mt.id, None, audit.snapshot(mt))
    return mt


def meetings(s: Session, user: User, circle_id: str) -> list[Meeting]:
    """The circle's meetings, newest first."""
    c = _circle(s, user, circle_id)
    q = select(Meeting).where(Meeting.circle_id == c.id).order_by(Meeting.date.desc(), Meeting.id.desc())
    return list(s.scalars(q))


# ------------------------------------------------------------------ environment issues


def circle_at(s: Session, lon: float, lat: float) -> Circle | None:
    """The circle whose ``boundary`` contains the point (the smallest when boundaries overlap)."""
    from shapely.geometry import Point, shape

    pt = Point(lon, lat)
    found: list[tuple[float, str, Circle]] = []
    for c in s.scalars(select(Circle).where(Circle.boundary.is_not(None))):
        try:
            geom = shape(c.boundary)
        except (ValueError, TypeError, KeyError, AttributeError):
            continue  # a malformed boundary never routes an issue
        if geom.covers(pt):
            found.append((geom.area, c.id, c))
    return min(found, key=lambda f: (f[0], f[1]))[2] if found else None


def _point_problems(lon: Any, lat: Any) -> list[tuple[str, str, str]]:
    out = []
    if not (isinstance(lon, int | float) and math.isfinite(lon) and -180 <= lon <= 180):
        out.append(("lon", "经度应在 -180 到 180 之间", "longitude must be between -180 and 180"))
    if not (isinstance(lat, int | float) and math.isfinite(lat) and -90 <= lat <= 90):
        out.append(("lat", "纬度应在 -90 到 90 之间", "latitude must be between -90 and 90"))
    return out


def _photo_problems(settings: Settings, prog: Programme, photo: Upload) -> list[tuple[str, str, str]]:
    """The upload rule's problems with ``photo`` (reported together with the other fields')."""
    try:
        checked_file(settings, prog, photo.filename, photo.data, field="photo")
    except InputError as exc:
        return [("photo", p.message, p.message) for p in exc.problems]
    return []


def _issue_circle(s: Session, user: User | None, circle_id: str | None, lon: float, lat: float) -> Circle:
    if circle_id:
        return _circle(s, user, circle_id, write=True)
    c = circle_at(s, lon, lat)
    if c is None:
        raise _problems(
            ("lon", "该位置不在任何生活圈内", "the point is in no circle"),
            ("lat", "该位置不在任何生活圈内", "the point is in no circle"),
        )
    return _circle(s, user, c.id, write=True)


def report_env_issue(
    s: Session,
    user: User | None,
    circle_id: str | None,
    category: str,
    description: str,
    lon: float,
    lat: float,
    photo: Upload | None = None,
    *,
    settings: Settings,
    prog: Programme,
) -> EnvIssue:
    """Report an environment issue at (``lon``, ``lat``) in ``circle_id`` — or, without a circle,
    in the circle whose boundary contains the point. ``user=None`` is a resident's report (source
    ``resident``, no role check); an official must be one who governs the circle."""
    problems = []
    if category not in ENV_CATEGORIES:
        cats = ", ".join(ENV_CATEGORIES)
        problems.append(
            ("category", f"未知的问题类别 '{category}'；可选：{cats}", f"unknown category '{category}'; one of {cats}")
        )
    problems += _text(description, "description", 5000, required=True, zh="问题描述", en="description")
    problems += _point_problems(lon, lat)
    if photo is not None:
        problems += _photo_problems(settings, prog, photo)
    if problems:
        raise _problems(*problems)
    c = _issue_circle(s, user, circle_id, lon, lat)
    issue = EnvIssue(
        circle_id=c.id,
        district=c.district,
        category=category,
        description=description.strip(),
        lon=float(lon),
        lat=float(lat),
        source="resident" if user is None else "officer",
        status="reported",
        assignee="",
        reported_by=user.id if user else None,
        reported_at=utcnow(),
        close_note="",
    )
    s.add(issue)
    s.flush()
    audit.record(s, user, "report", ENTITY, issue.id, None, audit.snapshot(issue))
    if photo is not None:
        attach(s, user, settings, prog, ENTITY, issue.id, filename=photo.filename, data=photo.data, purpose="photo")
    return issue


def get_env_issue(s: Session, user: User, issue_id: int, *, write: bool = False) -> EnvIssue:
    """The issue (404), after the reading (or governing) check of its circle."""
    issue = s.get(EnvIssue, issue_id)
    if issue is None:
        raise NotFoundError(t(f"没有编号为 {issue_id} 的环境问题", f"no environment issue {issue_id}"))
    if issue.circle_id is None:
        require_see(user, issue.district)
        if write and user.role != "city_admin":
            raise deny("无权处理该问题", "this account cannot handle this issue")
    else:
        _circle(s, user, issue.circle_id, write=write)
    return issue


def _not_closed(issue: EnvIssue) -> None:
    if issue.status == "closed":
        raise ConflictError(
            t(f"环境问题 {issue.id} 已办结", f"environment issue {issue.id} is already closed"), "closed"
        )


def _transition(s: Session, issue: EnvIssue, seen: str, **values: Any) -> None:
    """``UPDATE env_issues SET values WHERE id AND status = seen``; 409 when another change won."""
    done = s.execute(
        update(EnvIssue)
        .where(EnvIssue.id == issue.id, EnvIssue.status == seen)
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    if done.rowcount != 1:  # type: ignore[attr-defined]  # another change committed first
        s.expire(issue)
        current = s.scalar(select(EnvIssue.status).where(EnvIssue.id == issue.id))
        raise ConflictError(
            t(
                f"环境问题 {issue.id} 已被他人处理（现为 {current}），请刷新后重试",
                f"environment issue {issue.id} was changed by someone else (now {current}); reload and retry",
            ),
            current=current,
        )
    s.refresh(issue)


def add_env_issue_photo(
    s: Session, user: User, settings: Settings, prog: Programme, issue_id: int, photo: Upload
) -> Attachment:
    """Add a photo to an open issue (those who govern its circle)."""
    issue = get_env_issue(s, user, issue_id, write=True)
    problems = _photo_problems(settings, prog, photo)
    if problems:
        raise _problems(*problems)
    _not_closed(issue)
    return attach(s, user, settings, prog, ENTITY, issue.id, filename=photo.filename, data=photo.data, purpose="photo")


def assign_env_issue(s: Session, user: User, issue_id: int, assignee: str, due: dt.date | None = None) -> EnvIssue:
    """Assign (or reassign) an open issue to a person or unit, optionally with a due date."""
    issue = get_env_issue(s, user, issue_id, write=True)
    problems = _text(assignee, "assignee", 128, required=True, zh="责任人", en="assignee")
    if due is not None and due < dt.date.today() - dt.timedelta(days=1):
        problems.append(("due", "办理期限不能早于今天", "the due date is in the past"))
    if problems:
        raise _problems(*problems)
    _not_closed(issue)
    before = audit.snapshot(issue)
    _transition(
        s,
        issue,
        issue.status,
        status="assigned",
        assignee=assignee.strip(),
        due=due,
        assigned_by=user.id,
        assigned_at=utcnow(),
    )
    audit.record(s, user, "assign", ENTITY, issue.id, before, audit.snapshot(issue))
    return issue


def close_env_issue(
    s: Session, user: User, settings: Settings, prog: Programme, issue_id: int, note: str, photo: Upload | None
) -> EnvIssue:
    """Close an issue with a note and a photo of the place afterwards (both required); 409 when
    the issue is closed already (also when another official closed it at the same moment)."""
    issue = get_env_issue(s, user, issue_id, write=True)
    problems = _text(note, "note", 5000, required=True, zh="办结说明", en="note")
    if photo is None or not photo.data:
        problems.append(("photo", "办结须上传整改后的照片", "closing needs a photo of the place afterwards"))
    else:
        problems += _photo_problems(settings, prog, photo)
    if problems:
        raise _problems(*problems)
    assert photo is not None
    _not_closed(issue)
    before = audit.snapshot(issue)
    _transition(s, issue, issue.status, status="closed", close_note=note.strip(), closed_by=user.id, closed_at=utcnow())
    attach(s, user, settings, prog, ENTITY, issue.id, filename=photo.filename, data=photo.data, purpose="close_photo")
    audit.record(s, user, "close", ENTITY, issue.id, before, audit.snapshot(issue))
    return issue


@dataclass(frozen=True)
class IssueRow:
    """An issue as listed: its age in days (until closing, for a closed one) and its photos."""

    issue: EnvIssue
    age_days: int
    photos: list[Attachment]


def issue_row(s: Session, issue: EnvIssue, now: dt.datetime | None = None) -> IssueRow:
    end = issue.closed_at or now or utcnow()
    return IssueRow(issue, max(0, (end - issue.reported_at).days), attachments(s, ENTITY, issue.id))


def list_env_issues(
    s: Session, user: User, *, circle: str | None = None, status: str | None = None, district: str | None = None
) -> list[IssueRow]:
    """The issues ``user`` may see (a community officer its circle's, district-bound roles their
    district's), optionally of one circle, status or district; open ones first, oldest first."""
    if status is not None and status not in ENV_STATUSES:
        sts = ", ".join(ENV_STATUSES)
        raise _problems(("status", f"未知状态 '{status}'；可选：{sts}", f"unknown status '{status}'; one of {sts}"))
    q = select(EnvIssue)
    if circle is not None:
        q = q.where(EnvIssue.circle_id == _circle(s, user, circle).id)
    if district is not None:
        require_see(user, district)
        q = q.where(EnvIssue.district == district)
    if user.role == "community_officer":
        q = q.where(EnvIssue.circle_id == user.circle_id)
    else:
        require_see(user, user.district)  # merchants are refused; district-bound roles see their district
        if user.district is not None and user.role in ("district_officer", "inspector"):
            q = q.where(EnvIssue.district == user.district)
    if status is not None:
        q = q.where(EnvIssue.status == status)
    now = utcnow()
    rows = [issue_row(s, i, now) for i in s.scalars(q)]
    rows.sort(key=lambda r: (r.issue.status == "closed", r.issue.reported_at, r.issue.id))
    return rows
