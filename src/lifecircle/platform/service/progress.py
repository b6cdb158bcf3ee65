"""The programme's progress (M14): the dashboard and the contradictions it flags."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from lifecircle.i18n import t
from lifecircle.platform.db import (
    Circle,
    Phase,
    Scorecard,
    User,
)
from lifecircle.platform.programme import Programme
from lifecircle.platform.service._common import visible_districts
from lifecircle.platform.service.circles import list_circles
from lifecircle.platform.service.surveys import satisfaction_trend

# ------------------------------------------------------------------ contradictions


def latest_scorecards(s: Session, circle_ids: list[str]) -> dict[str, Scorecard]:
    """The newest scorecard of each circle (by ``as_of``, then id)."""
    out: dict[str, Scorecard] = {}
    if not circle_ids:
        return out
    q = select(Scorecard).where(Scorecard.circle_id.in_(circle_ids)).order_by(Scorecard.as_of, Scorecard.id)
    for sc in s.scalars(q):
        out[sc.circle_id] = sc
    return out


def contradictions(s: Session, prog: Programme, circles: list[Circle]) -> dict[str, list[tuple[str, str]]]:
    """Records that contradict each other, per circle id, as ``(zh, en)`` texts:

    - accepted (a done status) while the newest scorecard grades it below 基础型 (``none``);
    - the newest scorecard is older than the last status change (the grade predates what the
      status says happened)."""
    cards = latest_scorecards(s, [c.id for c in circles])
    out: dict[str, list[tuple[str, str]]] = {}
    for c in circles:
        sc = cards.get(c.id)
        if sc is None:
            continue
        flags: list[tuple[str, str]] = []
        if c.status in prog.done_statuses and sc.grade_code == "none":
            flags.append(
                (
                    "已验收，但最新评估表等级为未达标（低于基础型）",
                    "accepted, but the latest scorecard grades it below standard (under Basic)",
                )
            )
        changed = c.status_changed_at.date() if c.status_changed_at else None
        if changed is not None and sc.as_of < changed:
            flags.append(
                (
                    f"评估表（{sc.as_of}）早于最近一次状态变更（{changed}），需重新评估",
                    f"the scorecard ({sc.as_of}) is older than the last status change ({changed}); re-evaluate",
                )
            )
        if flags:
            out[c.id] = flags
    return out


# ------------------------------------------------------------------ dashboard (M14)


@dataclass
class PhaseProgress:
    """Progress against one phase's date: circles due by its end vs accepted so far."""

    code: str
    name: str
    start: dt.date
    end: dt.date
    due: int
    done: int
    state: str  # upcoming / running / met / late
    elapsed_share: float  # 0..1 of the phase's time gone


def dashboard(s: Session, user: User, prog: Programme, today: dt.date | None = None) -> dict[str, Any]:
    """Progress of the programme: against the 30-circle target, each phase's date, each district's quota."""
    today = today or dt.date.today()
    circles = list_circles(s, user, prog)
    done = [c for c in circles if c.status in prog.done_statuses]
    by_status = {st: sum(1 for c in circles if c.status == st) for st in prog.statuses}
    dists = visible_districts(s, user)
    rows: list[dict[str, Any]] = []
    for d in dists:
        mine = [c for c in circles if c.district == d.code]
        rows.append(
            {
                "code": d.code,
                "name": t(d.name_zh, d.name_en),
                "quota_pilot": d.quota_pilot,
                "quota_rollout": d.quota_rollout,
                "quota": d.quota_pilot + d.quota_rollout,
                "circles": len(mine),
                "pilot_done": sum(1 for c in mine if c.phase == "pilot" and c.status in prog.done_statuses),
                "rollout_done": sum(1 for c in mine if c.phase == "rollout" and c.status in prog.done_statuses),
                "done": sum(1 for c in mine if c.status in prog.done_statuses),
                "by_status": {st: sum(1 for c in mine if c.status == st) for st in prog.statuses},
            }
        )
    quota_pilot = sum(r["quota_pilot"] for r in rows)
    quota_all = sum(r["quota"] for r in rows)
    target = prog.target_circles if user.role != "district_officer" else quota_all
    due_by = {"prep": 0, "pilot": quota_pilot, "rollout": quota_all}
    done_by_phase = {"prep": 0, "pilot": sum(r["pilot_done"] for r in rows), "rollout": len(done)}
    phases = []
    for ph in s.scalars(select(Phase).order_by(Phase.seq)):
        span = max((ph.end - ph.start).days, 1)
        elapsed = min(max((today - ph.start).days / span, 0.0), 1.0)
        due, got = due_by.get(ph.code, 0), done_by_phase.get(ph.code, 0)
        if got >= due and (due > 0 or today > ph.end):
            state = "met"
        elif today > ph.end:
            state = "late"
        elif today < ph.start:
            state = "upcoming"
        else:
            state = "running"
        phases.append(PhaseProgress(ph.code, t(ph.name_zh, ph.name_en), ph.start, ph.end, due, got, state, elapsed))
    trend = satisfaction_trend(s, user, prog)
    flags = contradictions(s, prog, circles)
    names = {c.id: c.name for c in circles}
    return {
        "contradictions": [
            {"circle_id": cid, "name": names[cid], "flags": [t(zh, en) for zh, en in fl]} for cid, fl in flags.items()
        ],
        "today": today,
        "target": target,
        "n_circles": len(circles),
        "done": len(done),
        "done_share": len(done) / target if target else 0.0,
        "by_status": by_status,
        "districts": rows,
        "phases": phases,
        "satisfaction": trend,
        "satisfaction_target": prog.satisfaction_target,
        "synthetic": any(c.synthetic for c in circles),
    }
