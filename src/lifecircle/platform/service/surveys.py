"""Satisfaction survey campaigns (M16), their results and the trend against the 90% target."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from lifecircle.i18n import t
from lifecircle.platform import audit
from lifecircle.platform.db import (
    Circle,
    District,
    SurveyCampaign,
    User,
    utcnow,
)
from lifecircle.platform.errors import ConflictError, NotFoundError
from lifecircle.platform.permissions import (
    require_edit,
    require_see,
)
from lifecircle.platform.programme import Programme
from lifecircle.platform.service._common import PERIOD_RE, _problems
from lifecircle.platform.service.circles import get_circle

# ------------------------------------------------------------------ surveys (M16)


def create_survey(
    s: Session,
    user: User | None,
    circle_id: str,
    *,
    period: str,
    start: dt.date | None = None,
    end: dt.date | None = None,
    respondents: int | None = None,
    satisfied: int | None = None,
    synthetic: bool = False,
) -> SurveyCampaign:
    """Open a survey campaign of a circle for a period (``2024H1``, ``2024Q3``, ``2024M05`` or ``2024``),
    optionally with its results."""
    if user is not None:
        c = get_circle(s, user, circle_id)
        require_edit(user, c.district)
    else:
        found = s.get(Circle, circle_id)
        if found is None:
            raise NotFoundError(circle_id)
        c = found
    problems = []
    if not PERIOD_RE.match(period or ""):
        problems.append(
            (
                "period",
                "周期格式应为 2024、2024H1、2024Q3 或 2024M05",
                "period must look like 2024, 2024H1, 2024Q3 or 2024M05",
            )
        )
    elif s.scalar(select(SurveyCampaign.id).where(SurveyCampaign.circle_id == c.id, SurveyCampaign.period == period)):
        problems.append(
            ("period", f"该生活圈 {period} 的调查已存在", f"a survey for {period} already exists for this circle")
        )
    if start and end and end < start:
        problems.append(("end", "结束日期早于开始日期", "end date is before the start date"))
    problems += _result_problems(respondents, satisfied)
    if problems:
        raise _problems(*problems)
    row = SurveyCampaign(
        circle_id=c.id,
        period=period,
        start=start,
        end=end,
        respondents=respondents,
        satisfied=satisfied,
        synthetic=synthetic,
        user_id=user.id if user else None,
        at=utcnow(),
    )
    s.add(row)
    s.flush()
    audit.record(s, user, "create", "survey", row.id, None, audit.snapshot(row))
    return row


MAX_RESPONDENTS = 10_000_000  # people in one survey (the API limit too); keeps every count a database integer


def _result_problems(respondents: int | None, satisfied: int | None) -> list[tuple[str, str, str]]:
    out = []
    if (respondents is None) != (satisfied is None):
        out.append(("satisfied", "受访人数和满意人数须同时填写", "give both respondents and satisfied"))
    elif respondents is not None and satisfied is not None:
        if respondents < 1:
            out.append(("respondents", "受访人数至少为 1", "respondents must be at least 1"))
        elif respondents > MAX_RESPONDENTS:
            out.append(
                (
                    "respondents",
                    f"受访人数不能超过 {MAX_RESPONDENTS:,}",
                    f"respondents cannot exceed {MAX_RESPONDENTS:,}",
                )
            )
        if satisfied < 0 or satisfied > respondents:
            out.append(("satisfied", "满意人数应在 0 到受访人数之间", "satisfied must be between 0 and respondents"))
    return out


def record_survey_results(
    s: Session, user: User, survey_id: int, *, respondents: int, satisfied: int
) -> SurveyCampaign:
    """Enter (or correct) the results of a survey campaign."""
    row = s.get(SurveyCampaign, survey_id)
    if row is None:
        raise NotFoundError(t("没有这个调查", "no such survey"))
    c = get_circle(s, user, row.circle_id)
    require_edit(user, c.district)
    problems = _result_problems(respondents, satisfied)
    if problems:
        raise _problems(*problems)
    from lifecircle.platform.service.resident_surveys import codes_exist

    if codes_exist(s, row.circle_id, row.period):
        raise ConflictError(
            t(
                "该调查由居民凭调查码在线作答，结果按答卷自动统计，不能手工填写",
                "this survey is answered by residents with one-time codes; its results are counted from the "
                "answers and cannot be typed by hand",
            )
        )
    before = audit.snapshot(row)
    row.respondents, row.satisfied = respondents, satisfied
    s.flush()
    audit.record(s, user, "results", "survey", row.id, before, audit.snapshot(row))
    return row


def surveys(s: Session, circle_id: str) -> list[SurveyCampaign]:
    return list(
        s.scalars(select(SurveyCampaign).where(SurveyCampaign.circle_id == circle_id).order_by(SurveyCampaign.period))
    )


def satisfaction_trend(
    s: Session, user: User, prog: Programme, *, circle_id: str | None = None, district: str | None = None
) -> list[dict[str, Any]]:
    """Satisfaction rate (satisfied / respondents, 0..1) per period, pooled over the circles the
    user may see (or one circle / district), against the target. An unknown ``district`` is an
    :class:`InputError` naming the field; an empty ``circle_id`` or ``district`` is none."""
    circle_id, district = circle_id or None, district or None
    if district is not None and s.get(District, district) is None:
        raise _problems(("district", f"未知的区代码 '{district}'", f"unknown district code '{district}'"))
    q = (
        select(
            SurveyCampaign.period,
            func.sum(SurveyCampaign.respondents),
            func.sum(SurveyCampaign.satisfied),
            func.count(SurveyCampaign.id),
            func.max(SurveyCampaign.synthetic.cast(_int_type())),
        )
        .join(Circle, Circle.id == SurveyCampaign.circle_id)
        .where(SurveyCampaign.respondents.is_not(None))
    )
    if circle_id is not None:
        get_circle(s, user, circle_id)
        q = q.where(SurveyCampaign.circle_id == circle_id)
    if district is not None:
        require_see(user, district)
        q = q.where(Circle.district == district)
    if user.role == "district_officer":
        q = q.where(Circle.district == user.district)
    rows = s.execute(q.group_by(SurveyCampaign.period).order_by(SurveyCampaign.period)).all()
    out = []
    for period, resp, sat, n, syn in rows:
        rate = (sat or 0) / resp if resp else None
        out.append(
            {
                "period": period,
                "respondents": int(resp or 0),
                "satisfied": int(sat or 0),
                "campaigns": int(n),
                "rate": rate,
                "target": prog.satisfaction_target,
                "meets_target": rate is not None and rate >= prog.satisfaction_target,
                "synthetic": bool(syn),
            }
        )
    return out


def _int_type() -> Any:
    from sqlalchemy import Integer

    return Integer
