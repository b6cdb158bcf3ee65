"""How the platform's rows look to the API and the pages (JSON-ready dicts)."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from lifecircle.i18n import t
from lifecircle.platform import audit, permissions, service
from lifecircle.platform.db import ROLE_LABELS, District, User
from lifecircle.platform.programme import Programme


def user_json(u: User) -> dict[str, Any]:
    return {"id": u.id, "username": u.username, "display_name": u.display_name, "role": u.role,
            "role_label": t(*ROLE_LABELS.get(u.role, (u.role, u.role))), "district": u.district}


def circle_json(c: Any) -> dict[str, Any]:
    return {"id": c.id, "name": c.name, "district": c.district, "phase": c.phase, "status": c.status,
            "synthetic": c.synthetic, "lon": c.lon, "lat": c.lat,
            "status_changed_at": c.status_changed_at.isoformat() if c.status_changed_at else None}


def survey_json(v: Any, prog: Any) -> dict[str, Any]:
    rate = v.satisfied / v.respondents if v.respondents else None
    return {"id": v.id, "circle_id": v.circle_id, "period": v.period, "start": v.start, "end": v.end,
            "respondents": v.respondents, "satisfied": v.satisfied, "rate": rate,
            "meets_target": rate is not None and rate >= prog.satisfaction_target, "synthetic": v.synthetic}


def report_json(s: Session, rep: Any) -> dict[str, Any]:
    versions = service.report_versions(s, rep.id)
    return {"id": rep.id, "district": rep.district, "period": rep.period, "created_at": rep.created_at,
            "versions": [audit.snapshot(v) for v in versions]}


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
    }
