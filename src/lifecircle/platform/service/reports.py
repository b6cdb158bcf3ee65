"""District reports (generated as of their period, edited as versions) and the map layers."""

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
    DistrictReport,
    DistrictReportVersion,
    Fund,
    MapLayer,
    Scorecard,
    StatusChange,
    User,
    utcnow,
)
from lifecircle.platform.errors import NotFoundError
from lifecircle.platform.permissions import (
    require_edit,
    require_see,
)
from lifecircle.platform.programme import Programme
from lifecircle.platform.service._common import GRADES, PERIOD_RE, _problems
from lifecircle.platform.service.circles import list_circles
from lifecircle.platform.service.surveys import satisfaction_trend

# ------------------------------------------------------------------ district reports


def generate_report_text(
    s: Session, user: User, prog: Programme, district: str, period: str, today: dt.date | None = None
) -> str:
    """A district's progress report to the bureau, generated from the data (Markdown, Chinese-first)."""
    require_see(user, district)
    d = s.get(District, district)
    if d is None:
        raise _problems(("district", f"未知的区代码 '{district}'", f"unknown district code '{district}'"))
    today = today or dt.date.today()
    end = period_end(period)
    as_of = min(end, today) if end else today
    # the state as of the period's end: each circle's status then (from its status history),
    # circles registered by then, funds dated by then, scorecards and surveys of the period or before
    status_then = statuses_as_of(s, district, as_of)
    all_circles = [c for c in list_circles(s, user, prog) if c.district == district]
    circles = [c for c in all_circles if c.id in status_then]
    done = [c for c in circles if status_then[c.id] in prog.done_statuses]
    syn = any(c.synthetic for c in all_circles)
    lines = [
        t(
            f"# {d.name_zh}一刻钟便民生活圈建设进展报告（{period}）",
            f"# {d.name_en}: 15-minute living circles progress report ({period})",
        ),
        "",
    ]
    if syn:
        lines += [
            t(
                "> 合成数据：本报告中的生活圈为演示用合成数据，不是真实统计。",
                "> Synthetic data: the circles in this report are synthetic demo data, not real statistics.",
            ),
            "",
        ]
    total_funds = (
        s.scalar(
            select(func.coalesce(func.sum(Fund.amount_yuan), 0.0))
            .join(Circle, Circle.id == Fund.circle_id)
            .where(Circle.district == district, Fund.date <= as_of)
        )
        or 0.0
    )
    lines += [
        t(
            f"截至 {as_of.isoformat()}，本区计划建设 {d.quota_pilot + d.quota_rollout} 个生活圈"
            f"（试点 {d.quota_pilot} 个，推广 {d.quota_rollout} 个），"
            f"已录入 {len(circles)} 个，已验收 {len(done)} 个。",
            f"As of {as_of.isoformat()} the district plans {d.quota_pilot + d.quota_rollout} circles "
            f"({d.quota_pilot} pilot, "
            f"{d.quota_rollout} roll-out); {len(circles)} are registered and {len(done)} accepted.",
        ),
        t(
            f"累计到位资金与奖补 {total_funds / 1e4:,.1f} 万元。",
            f"Funds and awards so far: {total_funds / 1e4:,.1f} × 10k yuan.",
        ),
        "",
        t("## 各生活圈状态", "## Status of each circle"),
        "",
        t("| 编号 | 名称 | 批次 | 状态 | 最新评估等级 |", "| id | name | phase | status | latest grade |"),
        "|---|---|---|---|---|",
    ]
    for c in circles:
        sc = s.scalar(
            select(Scorecard)
            .where(Scorecard.circle_id == c.id, Scorecard.as_of <= as_of)
            .order_by(Scorecard.as_of.desc())
            .limit(1)
        )
        grade = t(*GRADES[sc.grade_code]) if sc is not None and sc.grade_code in GRADES else "—"
        phase = t("试点", "pilot") if c.phase == "pilot" else t("推广", "roll-out")
        lines.append(f"| {c.id} | {c.name} | {phase} | {prog.status_label(status_then[c.id])} | {grade} |")
    trend = [
        r
        for r in satisfaction_trend(s, user, prog, district=district)
        if (period_end(r["period"]) or dt.date.max) <= (end or dt.date.max)
    ]
    lines += ["", t("## 居民满意度", "## Residents' satisfaction"), ""]
    if trend:
        for r in trend:
            mark = t("达标", "meets target") if r["meets_target"] else t("未达标", "below target")
            lines.append(
                t(
                    f"- {r['period']}：{r['rate']:.1%}（受访 {r['respondents']} 人，"
                    f"目标 {prog.satisfaction_target:.0%}，{mark}）",
                    f"- {r['period']}: {r['rate']:.1%} ({r['respondents']} respondents, "
                    f"target {prog.satisfaction_target:.0%}, {mark})",
                )
            )
    else:
        lines.append(t("- 本期暂无调查结果。", "- No survey results yet."))
    lines += [
        "",
        t("## 存在问题与下一步工作", "## Problems and next steps"),
        "",
        t("（请区级负责人补充。）", "(To be completed by the district officer.)"),
        "",
    ]
    return "\n".join(lines)


def period_end(period: str) -> dt.date | None:
    """The last day of a period ``2025``, ``2025H1``, ``2025Q3`` or ``2025M05`` (None if malformed)."""
    if not PERIOD_RE.match(period or ""):
        return None
    y, rest = int(period[:4]), period[4:]
    month = 12
    if rest.startswith("H"):
        month = 6 * int(rest[1])
    elif rest.startswith("Q"):
        month = 3 * int(rest[1])
    elif rest.startswith("M"):
        month = int(rest[1:])
    nxt = dt.date(y + (month == 12), month % 12 + 1, 1)
    return nxt - dt.timedelta(days=1)


def statuses_as_of(s: Session, district: str, as_of: dt.date) -> dict[str, str]:
    """Each circle of ``district`` registered by the end of ``as_of`` → its status then (from the
    status history; a circle without any history counts with its current status)."""
    cutoff = dt.datetime.combine(as_of + dt.timedelta(days=1), dt.time())
    out: dict[str, str] = {}
    with_history: set[str] = set()
    q = (
        select(StatusChange.circle_id, StatusChange.to_status, StatusChange.at)
        .join(Circle, Circle.id == StatusChange.circle_id)
        .where(Circle.district == district)
        .order_by(StatusChange.at, StatusChange.id)
    )
    for cid, to_status, at in s.execute(q):
        with_history.add(cid)
        if at < cutoff:
            out[cid] = to_status
    for cid, status in s.execute(select(Circle.id, Circle.status).where(Circle.district == district)):
        if cid not in with_history:
            out[cid] = status
    return out


def create_report(s: Session, user: User, prog: Programme, district: str, period: str) -> DistrictReport:
    """Generate a district report for a period (version 1, generated from the data)."""
    if s.get(District, district) is None:
        raise _problems(("district", f"未知的区代码 '{district}'", f"unknown district code '{district}'"))
    require_edit(user, district)
    if not PERIOD_RE.match(period or ""):
        raise _problems(
            (
                "period",
                "周期格式应为 2024、2024H1、2024Q3 或 2024M05",
                "period must look like 2024, 2024H1, 2024Q3 or 2024M05",
            )
        )
    if s.scalar(select(DistrictReport.id).where(DistrictReport.district == district, DistrictReport.period == period)):
        raise _problems(
            ("period", f"{period} 的报告已存在，请编辑它", f"a report for {period} exists; edit it instead")
        )
    body = generate_report_text(s, user, prog, district, period)
    rep = DistrictReport(district=district, period=period, created_at=utcnow())
    s.add(rep)
    s.flush()
    v = DistrictReportVersion(report_id=rep.id, version=1, body=body, generated=True, user_id=user.id, at=utcnow())
    s.add(v)
    s.flush()
    audit.record(
        s, user, "generate", "district_report", rep.id, None, {"district": district, "period": period, "version": 1}
    )
    return rep


def edit_report(s: Session, user: User, report_id: int, body: str) -> DistrictReportVersion:
    """Save an edited text as a new version of a district report (old versions are kept)."""
    rep = get_report(s, user, report_id)
    require_edit(user, rep.district)
    if not body or not body.strip() or len(body) > 200_000:
        raise _problems(("body", "报告正文不能为空，最长 20 万字", "the report text must be 1–200,000 characters"))
    last = (
        s.scalar(select(func.max(DistrictReportVersion.version)).where(DistrictReportVersion.report_id == rep.id)) or 0
    )
    v = DistrictReportVersion(
        report_id=rep.id, version=last + 1, body=body, generated=False, user_id=user.id, at=utcnow()
    )
    s.add(v)
    s.flush()
    audit.record(s, user, "edit", "district_report", rep.id, {"version": last}, {"version": last + 1})
    return v


def get_report(s: Session, user: User, report_id: int) -> DistrictReport:
    rep = s.get(DistrictReport, report_id)
    if rep is None:
        raise NotFoundError(t("没有这份报告", "no such report"))
    require_see(user, rep.district)
    return rep


def report_versions(s: Session, report_id: int) -> list[DistrictReportVersion]:
    """Versions of a report, newest first."""
    return list(
        s.scalars(
            select(DistrictReportVersion)
            .where(DistrictReportVersion.report_id == report_id)
            .order_by(DistrictReportVersion.version.desc())
        )
    )


def list_reports(s: Session, user: User) -> list[DistrictReport]:
    q = select(DistrictReport).order_by(DistrictReport.period.desc(), DistrictReport.district)
    if user.role == "district_officer":
        q = q.where(DistrictReport.district == user.district)
    return list(s.scalars(q))


# ------------------------------------------------------------------ map


def map_layer(s: Session, name: str) -> dict[str, Any]:
    """A stored GeoJSON layer (``streets``, ``districts``); an empty collection if none."""
    row = s.get(MapLayer, name)
    if row is None:
        return {"type": "FeatureCollection", "features": [], "synthetic": False}
    out = dict(row.geojson)
    out["synthetic"] = row.synthetic
    out["source"] = row.source
    return out


def circles_geojson(s: Session, user: User, prog: Programme) -> dict[str, Any]:
    """The circles the user may see as GeoJSON points (or boundaries), with status for styling."""
    feats = []
    for c in list_circles(s, user, prog):
        geom = c.boundary or (
            {"type": "Point", "coordinates": [c.lon, c.lat]} if c.lon is not None and c.lat is not None else None
        )
        if geom is None:
            continue
        feats.append(
            {
                "type": "Feature",
                "geometry": geom,
                "properties": {
                    "id": c.id,
                    "name": c.name,
                    "district": c.district,
                    "status": c.status,
                    "status_label": prog.status_label(c.status),
                    "phase": c.phase,
                    "synthetic": c.synthetic,
                    "lon": c.lon,
                    "lat": c.lat,
                },
            }
        )
    return {"type": "FeatureCollection", "features": feats}
