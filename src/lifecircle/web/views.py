"""How the platform's rows look to the API and the pages (JSON-ready dicts)."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from lifecircle.i18n import t
from lifecircle.platform import audit, permissions, service
from lifecircle.platform.db import ROLE_LABELS, District, User
from lifecircle.platform.programme import Programme


def user_json(u: User) -> dict[str, Any]:
    return {
        "id": u.id,
        "username": u.username,
        "display_name": u.display_name,
        "role": u.role,
        "role_label": t(*ROLE_LABELS.get(u.role, (u.role, u.role))),
        "district": u.district,
        "circle_id": u.circle_id,
    }


def circle_json(c: Any) -> dict[str, Any]:
    return {
        "id": c.id,
        "name": c.name,
        "district": c.district,
        "phase": c.phase,
        "status": c.status,
        "synthetic": c.synthetic,
        "lon": c.lon,
        "lat": c.lat,
        "status_changed_at": c.status_changed_at.isoformat() if c.status_changed_at else None,
    }


def survey_json(v: Any, prog: Any) -> dict[str, Any]:
    rate = v.satisfied / v.respondents if v.respondents else None
    return {
        "id": v.id,
        "circle_id": v.circle_id,
        "period": v.period,
        "start": v.start,
        "end": v.end,
        "respondents": v.respondents,
        "satisfied": v.satisfied,
        "rate": rate,
        "meets_target": rate is not None and rate >= prog.satisfaction_target,
        "synthetic": v.synthetic,
    }


def report_json(s: Session, rep: Any) -> dict[str, Any]:
    versions = service.report_versions(s, rep.id)
    return {
        "id": rep.id,
        "district": rep.district,
        "period": rep.period,
        "created_at": rep.created_at,
        "versions": [audit.snapshot(v) for v in versions],
    }


def circle_detail(s: Session, user: User, prog: Programme, circle_id: str) -> dict[str, Any]:
    """Everything about one circle that ``user`` may see, with what they may do on it."""
    c = service.get_circle(s, user, circle_id)
    cards = service.scorecards(s, circle_id)
    rights = permissions.circle_rights(user, prog, c.status, c.district)
    d = s.get(District, c.district)
    return {
        "circle": circle_json(c),
        "district_name": t(d.name_zh, d.name_en) if d else c.district,
        "allowed_next": rights.allowed_next,
        "can_edit": rights.can_edit,
        "can_score": rights.can_score,
        "can_upload": rights.can_upload,
        "history": [audit.snapshot(h) for h in service.status_history(s, circle_id)],
        "funds": [audit.snapshot(f) for f in service.funds(s, circle_id)],
        "scorecard": audit.snapshot(cards[0]) if cards else None,
        "scorecards": [{"as_of": x.as_of, "grade_code": x.grade_code} for x in cards],
        "scores": [dict(audit.snapshot(a) or {}, evaluator=name) for a, name in service.scores(s, circle_id)],
        "evidence": [audit.snapshot(e) for e in service.evidence_list(s, circle_id)],
        "grades": [dict(audit.snapshot(g) or {}, by=name) for g, name in service.grade_decisions(s, circle_id)],
        "surveys": [survey_json(v, prog) for v in service.surveys(s, circle_id)],
        "flags": [t(zh, en) for zh, en in service.contradictions(s, prog, [c]).get(c.id, [])],
    }


FIELD_LABELS: dict[str, tuple[str, str]] = {
    "status": ("状态", "status"),
    "active": ("启用", "active"),
    "role": ("角色", "role"),
    "district": ("区", "district"),
    "display_name": ("姓名", "name"),
    "username": ("用户名", "user name"),
    "name": ("名称", "name"),
    "phase": ("批次", "phase"),
    "amount_yuan": ("金额（元）", "amount (yuan)"),
    "kind": ("类型", "kind"),
    "date": ("日期", "date"),
    "source": ("来源", "source"),
    "score": ("评分", "score"),
    "comment": ("意见", "comment"),
    "grade_code": ("等级", "grade"),
    "decision": ("结论", "decision"),
    "reason": ("理由", "reason"),
    "filename": ("文件", "file"),
    "period": ("周期", "period"),
    "respondents": ("受访人数", "respondents"),
    "satisfied": ("满意人数", "satisfied"),
    "version": ("版本", "version"),
    "ip": ("IP", "IP"),
    "circle_id": ("生活圈", "circle"),
    "as_of": ("评估日期", "as of"),
    "note": ("说明", "note"),
}
ENTITY_LABELS: dict[str, tuple[str, str]] = {
    "circle": ("生活圈", "circle"),
    "fund": ("资金", "funds"),
    "scorecard": ("评估表", "scorecard"),
    "score": ("评分", "score"),
    "evidence": ("证明材料", "evidence"),
    "grade_decision": ("等级评定", "grade decision"),
    "survey": ("满意度调查", "survey"),
    "district_report": ("区级报告", "district report"),
    "user": ("账号", "account"),
    "session": ("登录会话", "session"),
}
_HIDDEN = {
    "updated_at",
    "status_changed_at",
    "created_at",
    "at",
    "id",
    "user_id",
    "sha256",
    "stored_name",
    "indicators",
    "password_hash",
    "content_type",
    "size_bytes",
    "synthetic",
    "boundary",
    "lon",
    "lat",
    "start",
    "end",
}


def _value(k: str, v: Any, prog: Programme | None) -> str:
    if v is None or v == "":
        return "—"
    if isinstance(v, bool):
        return t("是", "yes") if v else t("否", "no")
    if k == "status" and prog is not None:
        return prog.status_label(v)
    if k == "role":
        return t(*ROLE_LABELS.get(v, (v, v)))
    if k == "grade_code":
        return t(*service.GRADES.get(v, (v, v)))
    if k == "decision":
        return t(*service.DECISIONS.get(v, (v, v)))
    if k == "kind":
        return t(*service.FUND_KINDS.get(v, (v, v)))
    text = str(v)
    return text if len(text) <= 80 else text[:79] + "…"


def audit_row(a: Any, prog: Programme | None = None) -> dict[str, Any]:
    """One audit row for the page: the action and entity in words, the changed fields as
    ``(field, before, after)`` in the user's language (no raw JSON)."""
    key = f"{a.entity}.{a.action}"
    label = t(*audit.ACTIONS.get(key, (key, key)))
    before, after = a.before or {}, a.after or {}
    changes: list[tuple[str, str, str]] = []
    for k, v in after.items():
        if k in _HIDDEN or (before and before.get(k) == v):
            continue
        if not before and v in (None, ""):
            continue
        name = t(*FIELD_LABELS.get(k, (k, k)))
        changes.append((name, _value(k, before.get(k), prog) if before else "", _value(k, v, prog)))
    return {
        "at": a.at,
        "username": a.username,
        "action": label,
        "action_code": key,
        "entity": t(*ENTITY_LABELS.get(a.entity, (a.entity, a.entity))),
        "entity_id": a.entity_id,
        "circle_id": a.entity_id if a.entity == "circle" else after.get("circle_id"),
        "changes": changes,
    }


def live_block(s: Session, user: User, live: Any, circle_id: str, wait_s: float = 0.5) -> dict[str, Any]:
    """The circle page's live card: ``as_of``, the live and snapshot grades, each format's coverage
    (basic formats first, with its class and name) and the gaps; or ``error`` (being computed, no
    city, a circle the city does not have) — the page shows the message instead of failing."""
    from lifecircle.platform.errors import NotFoundError, UnavailableError
    from lifecircle.platform.service import indicators
    from lifecircle.web.templating import catalogue

    try:
        fig = indicators.live_circle(s, user, live, circle_id, wait_s=wait_s)
    except (UnavailableError, NotFoundError) as exc:
        return {"error": str(exc)}
    order = {"basic": 0, "quality": 1}
    formats = sorted(catalogue().formats, key=lambda f: order.get(f.cls, 2))
    cov = fig["coverage"]
    rows = [
        {"code": f.code, "name": f.name(), "cls": f.cls, "share": cov.get(f.code)} for f in formats if f.code in cov
    ]
    return {
        "as_of": fig["as_of"],
        "grade": fig["grade"],
        "snapshot_grade": fig["snapshot_grade"],
        "rows": rows,
        "gaps": [g.get("format") for g in fig["gaps"]],
        "basic_coverage": fig["indicators"].get("basic_coverage"),
    }


def live_overview_block(s: Session, user: User, live: Any, wait_s: float = 0.3) -> dict[str, Any]:
    """The dashboard's live table (each visible circle's grade now, basic coverage and time, against
    its scorecard's grade), or ``error`` while it is computed or when there is no city."""
    from lifecircle.platform.errors import NotFoundError, UnavailableError
    from lifecircle.platform.service import indicators

    try:
        live.engine(wait_s)
        return {"rows": indicators.live_overview(s, user, live)}
    except (UnavailableError, NotFoundError) as exc:
        return {"error": str(exc), "rows": []}
