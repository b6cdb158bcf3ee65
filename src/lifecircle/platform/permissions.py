"""Who may do what: every role and district rule of the platform, in one place.

The ``require_*`` functions raise :class:`PermissionDeniedError` (HTTP 403) with the message the
user sees; the ``can_*`` functions answer the same question as a bool (for showing or hiding a
button), and are defined through the ``require_*`` ones so that a page never offers what the
service would refuse.

Roles: ``city_admin`` does everything; ``district_officer`` sees and edits only their district;
``evaluator`` reads everything, scores, comments, attaches evidence and recommends grades, but
cannot change plans or status; ``leader`` reads only.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from lifecircle.i18n import t
from lifecircle.platform.db import User
from lifecircle.platform.errors import PermissionDeniedError
from lifecircle.platform.programme import Programme

SCORER_ROLES = ("evaluator", "city_admin")  # score circles, record grade decisions
AUDIT_READER_ROLES = ("city_admin", "leader")  # read the audit log
ACCOUNT_ADMIN_ROLES = ("city_admin",)  # manage accounts


def deny(zh: str, en: str) -> PermissionDeniedError:
    """The error of a refused action, in the user's language."""
    return PermissionDeniedError(t(zh, en))


def _allowed(check: Callable[..., None], *args: Any) -> bool:
    try:
        check(*args)
    except PermissionDeniedError:
        return False
    return True


# ------------------------------------------------------------------ seeing and editing a district


def can_see_district(user: User, district: str) -> bool:
    """District officers see only their district; everyone else sees all."""
    return user.role != "district_officer" or user.district == district


def require_see(user: User, district: str) -> None:
    if not can_see_district(user, district):
        raise deny("区级负责人只能查看本区数据", "district officers can only see their own district")


def require_edit(user: User, district: str) -> None:
    """Plans, status, funds, surveys and reports: city admin, or the district's own officer."""
    if user.role == "city_admin":
        return
    if user.role == "district_officer":
        if user.district == district:
            return
        raise deny("区级负责人只能修改本区数据", "district officers can only edit their own district")
    raise deny("当前角色无权修改计划或状态", "this role cannot change plans or status")


def can_edit(user: User, district: str) -> bool:
    """True when :func:`require_edit` lets ``user`` change ``district``'s plans, status, funds ..."""
    return _allowed(require_edit, user, district)


def require_role(user: User, *roles: str) -> None:
    if user.role not in roles:
        raise deny("当前角色无权执行此操作", "this role may not do this")


# ------------------------------------------------------------------ circles


def require_status_change(user: User, district: str) -> None:
    """Who may move a circle along the workflow at all (the transition's roles are checked after)."""
    if user.role in ("evaluator", "leader"):
        raise deny("评估员和领导不能修改生活圈状态", "evaluators and leaders cannot change a circle's status")
    require_edit(user, district)


def allowed_next(user: User, prog: Programme, status: str, district: str) -> list[str]:
    """The statuses ``user`` may move a circle of ``district`` in ``status`` to."""
    return prog.allowed_next(status, user.role) if can_edit(user, district) else []


def require_scorer(user: User) -> None:
    """Evaluator scores and grade decisions: evaluators and the city admin."""
    require_role(user, *SCORER_ROLES)


def can_score(user: User) -> bool:
    return _allowed(require_scorer, user)


def require_grade_decision(user: User, decision: str) -> None:
    """Evaluators may only recommend a grade; the bureau (city admin) accepts or returns."""
    if user.role == "evaluator" and decision != "recommend":
        raise deny(
            "评估员只能提出评估建议，验收结论由市商务局作出", "evaluators recommend; the bureau decides acceptance"
        )


def require_upload(user: User, district: str) -> None:
    """Evidence files: anyone but the leader; a district officer only in their district."""
    if user.role == "leader":
        raise deny("领导账号只读", "the leader account is read-only")
    if user.role == "district_officer":
        require_edit(user, district)


def can_upload(user: User, district: str) -> bool:
    return _allowed(require_upload, user, district)


@dataclass(frozen=True)
class CircleRights:
    """What the signed-in user may do on one circle's page."""

    can_edit: bool
    can_score: bool
    can_upload: bool
    allowed_next: list[str]


def circle_rights(user: User, prog: Programme, status: str, district: str) -> CircleRights:
    return CircleRights(
        can_edit=can_edit(user, district),
        can_score=can_score(user),
        can_upload=can_upload(user, district),
        allowed_next=allowed_next(user, prog, status, district),
    )


# ------------------------------------------------------------------ audit log and accounts


def require_audit_reader(user: User) -> None:
    require_role(user, *AUDIT_READER_ROLES)


def require_account_admin(user: User) -> None:
    require_role(user, *ACCOUNT_ADMIN_ROLES)
