"""Who may do what: every role and district rule of the platform, in one place.

The ``require_*`` functions raise :class:`PermissionDeniedError` (HTTP 403) with the message the
user sees; the ``can_*`` functions answer the same question as a bool (for showing or hiding a
button), and are defined through the ``require_*`` ones so that a page never offers what the
service would refuse.

Roles: ``city_admin`` does everything; ``district_officer`` sees and edits only their district;
``evaluator`` reads everything, scores, comments, attaches evidence and recommends grades, but
cannot change plans or status; ``leader`` reads only.

The roles of the day-to-day operation (M9–M11): ``merchant`` sees and edits only its own outlets
and filings (and nothing of the officials' circles); ``inspector`` (市场监管) sees its district and
records its district's inspections; ``community_officer`` (街道/社区) sees its district and runs
its own circle's joint committee and environment issues.
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


DISTRICT_BOUND = ("district_officer", "inspector", "community_officer")  # see only their own district


def can_see_district(user: User, district: str | None) -> bool:
    """District officers, inspectors and community officers see only their district; merchants see
    no district's official data; everyone else sees all."""
    if user.role == "merchant":
        return False
    return user.role not in DISTRICT_BOUND or user.district == district


def home_page(user: User) -> str:
    """Where ``user`` lands after signing in: merchants on their outlets (they see nothing of the
    officials' programme), everyone else on the dashboard."""
    return "/outlets" if user.role == "merchant" else "/dashboard"


def require_see(user: User, district: str | None) -> None:
    if user.role == "merchant":
        raise deny("商户账号只能查看自己的网点和备案", "a merchant account sees only its own outlets and filings")
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


# ------------------------------------------------------------------ outlets and filings (M9)


def _district_staff(user: User, district: str | None, *roles: str) -> bool:
    """``user`` is the city admin, or one of ``roles`` in ``district``."""
    return user.role == "city_admin" or (user.role in roles and district is not None and user.district == district)


def can_see_outlet(user: User, district: str | None, owner_id: int | None) -> bool:
    """A merchant sees only its own outlets; district-bound roles their district's; others all."""
    if user.role == "merchant":
        return owner_id is not None and owner_id == user.id
    return can_see_district(user, district)


def require_see_outlet(user: User, district: str | None, owner_id: int | None) -> None:
    if not can_see_outlet(user, district, owner_id):
        if user.role == "merchant":
            raise deny("商户只能查看自己的网点", "a merchant can only see its own outlets")
        raise deny("只能查看本区的网点", "you can only see your own district's outlets")


def require_register_outlet(user: User, district: str | None) -> None:
    """Registering an outlet that opens at once: the city admin, or the district's officer.
    (A merchant files a new shop instead; see :func:`require_file`.)"""
    if not _district_staff(user, district, "district_officer"):
        if user.role == "merchant":
            raise deny("商户请通过备案承诺开设新网点", "merchants open a new outlet by filing it")
        raise deny("只有市商务局或本区负责人可以登记网点", "only the bureau or the district's officer register outlets")


def can_register_outlet(user: User, district: str | None) -> bool:
    return _allowed(require_register_outlet, user, district)


def require_import_outlets(user: User) -> None:
    """Bulk import into the registry: the city admin, or a district officer (rows of their district
    only, checked row by row with :func:`require_register_outlet`)."""
    require_role(user, "city_admin", "district_officer")


def can_import_outlets(user: User) -> bool:
    return _allowed(require_import_outlets, user)


def require_edit_outlet(user: User, district: str | None, owner_id: int | None) -> None:
    """Editing or closing an outlet: the city admin, the district's officer, or its own merchant."""
    if user.role == "merchant":
        if owner_id is None or owner_id != user.id:
            raise deny("商户只能修改自己的网点", "a merchant can only edit its own outlets")
        return
    if not _district_staff(user, district, "district_officer"):
        raise deny("只有市商务局或本区负责人可以修改网点", "only the bureau or the district's officer edit outlets")


def can_edit_outlet(user: User, district: str | None, owner_id: int | None) -> bool:
    return _allowed(require_edit_outlet, user, district, owner_id)


def require_file(user: User) -> None:
    """Filing a new shop (备案承诺): merchant accounts only."""
    require_role(user, "merchant")


def can_file(user: User) -> bool:
    return _allowed(require_file, user)


def require_see_filing(user: User, district: str | None, merchant_id: int) -> None:
    """A merchant sees only its own filings; officials by district."""
    if user.role == "merchant":
        if merchant_id != user.id:
            raise deny("商户只能查看自己的备案", "a merchant can only see its own filings")
        return
    require_see(user, district)


def require_decide_filing(user: User, district: str | None) -> None:
    """Accepting or returning a filing: the city admin or the district's officer."""
    if not _district_staff(user, district, "district_officer"):
        raise deny("只有本区负责人可以审核备案", "only the district's officer decides on filings")


def can_decide_filing(user: User, district: str | None) -> bool:
    return _allowed(require_decide_filing, user, district)


# ------------------------------------------------------------------ supervision (M10)


def require_see_inspections(user: User, district: str | None) -> None:
    """Inspections and inspection plans: the city admin, leaders, evaluators; inspectors and district
    officers of the district. Merchants and community officers are refused (notes are not public)."""
    if user.role in ("merchant", "community_officer"):
        raise deny("无权查看检查记录", "this role cannot see inspection records")
    require_see(user, district)


def require_inspect(user: User, district: str | None) -> None:
    """Recording an inspection or planning inspections: the city admin or an inspector of the district."""
    if not _district_staff(user, district, "inspector"):
        raise deny("只有本区市场监管检查员可以记录检查", "only the district's inspectors record inspections")


def can_inspect(user: User, district: str | None) -> bool:
    return _allowed(require_inspect, user, district)


def require_credit_admin(user: User) -> None:
    """Recomputing credit classes and designating integrity shops and circles: the city admin."""
    require_role(user, "city_admin")


def require_answer_complaint(user: User, district: str | None) -> None:
    """Answering a complaint: the city admin, the district's officer or inspector."""
    if not _district_staff(user, district, "district_officer", "inspector"):
        raise deny("只有本区负责人或检查员可以答复投诉", "only the district's officers or inspectors answer complaints")


def can_answer_complaint(user: User, district: str | None) -> bool:
    return _allowed(require_answer_complaint, user, district)


COMPLAINT_RECORDER_ROLES = ("city_admin", "district_officer", "inspector", "community_officer")


def require_file_complaint(user: User, district: str | None) -> None:
    """Recording a complaint (hotline, officer): the city admin, or a district officer, inspector or
    community officer of the complaint's district. (Residents file through the public entry.)"""
    if user.role not in COMPLAINT_RECORDER_ROLES:
        raise deny("当前角色无权登记投诉", "this role cannot record complaints")
    if user.role != "city_admin" and user.district != district:
        raise deny("只能登记本区的投诉", "you can only record complaints of your own district")


def can_file_complaint(user: User) -> bool:
    """Whether ``user`` records complaints at all (of its district; see :func:`require_file_complaint`)."""
    return user.role in COMPLAINT_RECORDER_ROLES


def can_credit_admin(user: User) -> bool:
    return _allowed(require_credit_admin, user)


def require_see_complaints(user: User, district: str | None) -> None:
    """Complaints: officials of the district (and the city's readers); merchants are refused."""
    if user.role == "merchant":
        raise deny("商户无权查看投诉", "a merchant cannot see complaints")
    require_see(user, district)


# ------------------------------------------------------------------ co-governance and environment (M11)


def require_see_circle_governance(user: User, circle_id: str, district: str | None) -> None:
    """A circle's committee and environment issues: a community officer sees only its own circle."""
    if user.role == "community_officer" and user.circle_id != circle_id:
        raise deny("社区工作人员只能查看本生活圈", "a community officer can only see its own circle")
    require_see(user, district)


def require_govern_circle(user: User, circle_id: str, district: str | None) -> None:
    """Changing a circle's committee, meetings and environment issues: the city admin, the district's
    officer, or the circle's own community officer."""
    if user.role == "community_officer":
        if user.circle_id != circle_id:
            raise deny("社区工作人员只能管理本生活圈", "a community officer can only manage its own circle")
        return
    if not _district_staff(user, district, "district_officer"):
        raise deny("无权管理该生活圈的共商共管事务", "this account cannot manage this circle's committee")


def can_govern_circle(user: User, circle_id: str, district: str | None) -> bool:
    return _allowed(require_govern_circle, user, circle_id, district)


# ------------------------------------------------------------------ residents' surveys (M16)


def require_questionnaire_admin(user: User) -> None:
    """Publishing and editing the survey questionnaires: the bureau (city admin)."""
    if user.role != "city_admin":
        raise deny("只有市商务局可以编辑调查问卷", "only the bureau (city admin) edits the questionnaires")


def can_edit_questionnaires(user: User) -> bool:
    return _allowed(require_questionnaire_admin, user)


def require_issue_codes(user: User, circle_id: str, district: str | None) -> None:
    """Generating a circle's one-time survey codes: the city admin, the district's officer, or the
    circle's own community officer."""
    if user.role == "community_officer":
        if user.circle_id != circle_id:
            raise deny(
                "社区工作人员只能为本生活圈生成调查码", "a community officer issues codes only for its own circle"
            )
        return
    if not _district_staff(user, district, "district_officer"):
        raise deny("无权为该生活圈生成调查码", "this account cannot issue survey codes for this circle")


def can_issue_codes(user: User, circle_id: str, district: str | None) -> bool:
    return _allowed(require_issue_codes, user, circle_id, district)


# ------------------------------------------------------------------ walking-time surface (issue 14)


def require_see_surface(user: User) -> None:
    """The walking-time surface and its blind spots (``/api/surface``, the map's hexagon layer):
    every official; merchants are refused. Which cells: see :func:`can_see_surface_cell`."""
    if user.role == "merchant":
        raise deny("商户账号无权查看步行时间面和盲区", "a merchant account cannot see the walking-time surface")


def can_see_surface(user: User) -> bool:
    return _allowed(require_see_surface, user)


def can_see_surface_cell(user: User, district: str | None) -> bool:
    """A cell of the surface (and its blind-spot row) is shown as the map shows circles: the whole
    city to the bureau, leaders and evaluators; a district-bound role (district officer, inspector,
    community officer) sees the cells of its own district only (cells outside every district: none)."""
    return can_see_district(user, district)
