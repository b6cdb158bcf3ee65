"""Domain operations of the platform: circles and their status, funds, scorecards, evaluator
scores and evidence, grade decisions, surveys, the dashboard and district reports.

Every function takes the caller's SQLAlchemy session (opened with
:func:`lifecircle.platform.db.transaction`) and the acting user, checks the role and district,
validates the input (raising :class:`InputError` whose problems name the field), makes the change
and adds the audit row in the same transaction.

The role and district rules themselves live in :mod:`lifecircle.platform.permissions` (re-exported
here: ``can_see_district``, ``require_see``, ``require_edit``, ``require_role``).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from lifecircle.errors import InputError, Problem
from lifecircle.i18n import t
from lifecircle.platform import audit, auth
from lifecircle.platform.db import (
    Circle,
    District,
    DistrictReport,
    DistrictReportVersion,
    EvaluatorScore,
    Evidence,
    Fund,
    GradeDecision,
    LoginAttempt,
    MapLayer,
    Phase,
    Scorecard,
    StatusChange,
    SurveyCampaign,
    User,
    UserSession,
    utcnow,
)
from lifecircle.platform.errors import ConflictError, NotFoundError
from lifecircle.platform.permissions import (
    can_see_district,
    deny,
    require_account_admin,
    require_audit_reader,
    require_edit,
    require_grade_decision,
    require_role,
    require_scorer,
    require_see,
    require_status_change,
    require_upload,
)
from lifecircle.platform.programme import Programme
from lifecircle.platform.settings import Settings

GRADES = {"basic": ("基础型", "Basic"), "upgraded": ("提升型", "Upgraded"), "quality": ("品质型", "Quality"),
          "none": ("未达标", "Below standard")}
DECISIONS = {"recommend": ("评估建议", "Evaluator's recommendation"), "accept": ("验收通过", "Accepted"),
             "return": ("退回整改", "Returned for rework")}
FUND_KINDS = {"fund": ("建设资金", "Construction funds"), "award": ("奖补资金", "Award / subsidy")}
PERIOD_RE = re.compile(r"^\d{4}(H[12]|Q[1-4]|M(0[1-9]|1[0-2]))?$")


# ------------------------------------------------------------------ permissions (rules in permissions.py)

def visible_districts(s: Session, user: User) -> list[District]:
    """The districts ``user`` may see, in the programme's order."""
    return [d for d in s.scalars(select(District).order_by(District.seq)) if can_see_district(user, d.code)]


def _problems(*items: tuple[str, str, str]) -> InputError:
    return InputError([Problem(t(zh, en), field=f) for f, zh, en in items])


# ------------------------------------------------------------------ circles

def get_circle(s: Session, user: User, circle_id: str) -> Circle:
    """The circle ``circle_id``; :class:`NotFoundError` or :class:`PermissionDeniedError`."""
    c = s.get(Circle, circle_id)
    if c is None:
        raise NotFoundError(t(f"没有编号为 '{circle_id}' 的生活圈", f"no circle with id '{circle_id}'"))
    require_see(user, c.district)
    return c


def list_circles(s: Session, user: User, prog: Programme, *, district: str | None = None,
                 status: str | None = None) -> list[Circle]:
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


def create_circle(s: Session, user: User | None, prog: Programme, *, id: str, name: str, district: str,
                  phase: str, lon: float | None = None, lat: float | None = None, synthetic: bool = False,
                  boundary: dict[str, Any] | None = None, status: str = "planned") -> Circle:
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
    c = Circle(id=id, name=name, district=district, phase=phase, status=status, synthetic=synthetic, lon=lon,
               lat=lat, boundary=boundary, status_changed_at=now, updated_at=now)
    s.add(c)
    s.flush()
    s.add(StatusChange(circle_id=id, from_status=None, to_status=status, note="created",
                       user_id=user.id if user else None, at=now))
    audit.record(s, user, "create", "circle", id, None, audit.snapshot(c))
    return c


def change_status(s: Session, user: User, prog: Programme, circle_id: str, to_status: str, note: str = "",
                  seen: str | None = None) -> Circle:
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
        raise _problems(("status", f"未知状态 '{to_status}'；可选：{', '.join(prog.statuses)}",
                         f"unknown status '{to_status}'; one of {', '.join(prog.statuses)}"))
    roles = prog.transitions.get((c.status, to_status))
    if roles is None:
        nxt = ", ".join(b for (a, b) in prog.transitions if a == c.status) or "-"
        raise _problems(("status", f"不能从“{prog.status_label(c.status)}”直接变为“{prog.status_label(to_status)}”；可变为：{nxt}",
                         f"cannot go from {c.status} to {to_status}; allowed: {nxt}"))
    if user.role not in roles:
        raise deny(f"此状态变更（{c.status} → {to_status}）需要角色：{', '.join(roles)}",
                   f"this change ({c.status} → {to_status}) needs role: {', '.join(roles)}")
    if len(note) > 2000:
        raise _problems(("note", "备注最长 2000 字", "note is at most 2000 characters"))
    before = audit.snapshot(c)
    from_status, now = c.status, utcnow()
    moved = s.execute(update(Circle).where(Circle.id == c.id, Circle.status == from_status)
                      .values(status=to_status, status_changed_at=now, updated_at=now)
                      .execution_options(synchronize_session=False))
    if moved.rowcount != 1:  # type: ignore[attr-defined]  # another change committed first
        s.expire(c)
        current = s.scalar(select(Circle.status).where(Circle.id == c.id))
        raise _status_conflict(prog, c.id, current, from_status)
    s.refresh(c)
    s.add(StatusChange(circle_id=c.id, from_status=from_status, to_status=to_status, note=note, user_id=user.id, at=now))
    s.flush()
    audit.record(s, user, "status", "circle", c.id, before, audit.snapshot(c))
    return c


def _status_conflict(prog: Programme, circle_id: str, current: str | None, seen: str) -> ConflictError:
    if current is None:
        return ConflictError(t(f"生活圈 '{circle_id}' 已被删除", f"circle '{circle_id}' was deleted"))
    return ConflictError(
        t(f"生活圈状态已被他人改为“{prog.status_label(current)}”（{current}），不再是您看到的“{prog.status_label(seen)}”"
          f"（{seen}）；请刷新后重试",
          f"the circle's status is now {current} ({prog.status_label(current)}), no longer {seen} as you saw it; "
          f"reload and retry"), current=current)


def status_history(s: Session, circle_id: str) -> list[StatusChange]:
    return list(s.scalars(select(StatusChange).where(StatusChange.circle_id == circle_id).order_by(StatusChange.id)))


# ------------------------------------------------------------------ funds

def add_fund(s: Session, user: User, circle_id: str, *, kind: str, amount_yuan: float, date: dt.date,
             source: str = "", note: str = "") -> Fund:
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
    f = Fund(circle_id=c.id, kind=kind, amount_yuan=float(amount_yuan), date=date, source=source, note=note,
             user_id=user.id, at=utcnow())
    s.add(f)
    s.flush()
    audit.record(s, user, "create", "fund", f.id, None, audit.snapshot(f))
    return f


def funds(s: Session, circle_id: str) -> list[Fund]:
    return list(s.scalars(select(Fund).where(Fund.circle_id == circle_id).order_by(Fund.date, Fund.id)))


# ------------------------------------------------------------------ evaluation

def put_scorecard(s: Session, user: User | None, circle_id: str, as_of: dt.date, indicators: dict[str, Any],
                  grade_code: str | None = None, synthetic: bool = False, source: str = "engine") -> Scorecard:
    """Store the engine's indicators of a circle as of a date (replaces that date's card)."""
    if user is not None:
        require_role(user, "city_admin")
        c = get_circle(s, user, circle_id)
    else:
        found = s.get(Circle, circle_id)
        if found is None:
            raise NotFoundError(circle_id)
        c = found
    if grade_code is not None and grade_code not in GRADES:
        raise _problems(("grade_code", f"等级应为 {'/'.join(GRADES)}", f"grade must be one of {'/'.join(GRADES)}"))
    deep = [k for k, v in indicators.items() if _nesting(v) > _MAX_NESTING]
    if deep:
        raise _problems(*[(f"indicators.{k}", f"{k} 嵌套层数超过 {_MAX_NESTING}", f"{k} is nested deeper than {_MAX_NESTING}")
                          for k in deep])
    clean = {k: _json_safe(v) for k, v in indicators.items()}
    _check_scorecard(clean, grade_code)
    row = s.scalar(select(Scorecard).where(Scorecard.circle_id == c.id, Scorecard.as_of == as_of))
    before = audit.snapshot(row)
    if row is None:
        row = Scorecard(circle_id=c.id, as_of=as_of)
        s.add(row)
    row.indicators, row.grade_code, row.synthetic, row.source, row.at = clean, grade_code, synthetic, source, utcnow()
    s.flush()
    audit.record(s, user, "put", "scorecard", row.id, before, audit.snapshot(row))
    return row


_SHARE_SUFFIXES = ("share", "coverage", "completeness", "satisfaction")
# The indicators the grading rules (profiles/grading-yichang-2022.toml) and the circle page read,
# by kind; any other key ending in share/coverage/completeness is a share, ``n_*`` a count.
_COUNT_KEYS = frozenset({"population", "quality_formats_present"})
_AMOUNT_KEYS = frozenset({"service_area_per_100hh", "population_on_islands"})
_TEXT_KEYS = frozenset({"grade", "grade_en", "grade_reasons", "grade_reasons_en", "gaps", "communities_on_islands"})


_MAX_NESTING = 8  # an indicator is a value or a small list / table of values


def _nesting(v: Any) -> int:
    """How many levels of lists and dicts ``v`` has (0 for a plain value), without recursion;
    counting stops just past :data:`_MAX_NESTING`."""
    depth, level = 0, [v]
    while depth <= _MAX_NESTING:
        boxes = [y for y in level if isinstance(y, list | tuple | dict)]
        if not boxes:
            break
        depth += 1
        level = [x for y in boxes for x in (y.values() if isinstance(y, dict) else y)]
    return depth


def _is_number(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)


def _check_scorecard(indicators: dict[str, Any], grade_code: str | None) -> None:
    """Each known indicator has the type the grading rules and the circle page expect, or is null
    (no data): shares (keys ending in share/coverage/completeness, and satisfaction) are numbers
    0–1; counts (``population``, ``n_*``, ``quality_formats_present``) are whole numbers ≥ 0;
    ``service_area_per_100hh`` is a number ≥ 0; the grade texts, ``gaps`` and
    ``communities_on_islands`` are text; a ``grade_code`` inside the indicators is a known grade
    and agrees with the card's. Every problem is reported together, naming ``indicators.<key>``."""
    problems = []
    for k, val in indicators.items():
        f, v = f"indicators.{k}", val
        if v is None:
            continue
        if isinstance(v, str) and len(v) > 40 and k not in _TEXT_KEYS:
            v = v[:40] + "…"  # quoted in the message below; the check itself only needs the type
        if k == "grade_code":
            if v not in GRADES:
                problems.append((f, f"{k} 应为 {'/'.join(GRADES)}", f"{k} must be one of {'/'.join(GRADES)}"))
        elif k.endswith(_SHARE_SUFFIXES):
            if not _is_number(v) or not 0 <= v <= 1:
                problems.append((f, f"{k} = {v!r} 应为 0–1 之间的比例", f"{k} = {v!r} must be a fraction between 0 and 1"))
        elif k in _COUNT_KEYS or k.startswith("n_"):
            if not _is_number(v) or v < 0 or v != int(v) or abs(v) > 2**53:
                problems.append((f, f"{k} = {v!r} 应为不小于 0 的整数", f"{k} = {v!r} must be a whole number, not negative"))
        elif k in _AMOUNT_KEYS:
            if not _is_number(v) or v < 0:
                problems.append((f, f"{k} = {v!r} 应为不小于 0 的数", f"{k} = {v!r} must be a number, not negative"))
        elif k in _TEXT_KEYS and not isinstance(v, str):
            problems.append((f, f"{k} 应为文字", f"{k} must be text"))
    inner = indicators.get("grade_code")
    if grade_code is not None and inner is not None and inner != grade_code:
        problems.append(("grade_code", f"等级 {grade_code} 与指标中的 grade_code {inner} 不一致",
                         f"grade {grade_code} disagrees with the indicators' grade_code {inner}"))
    if problems:
        raise _problems(*problems)


def _json_safe(v: Any) -> Any:
    if v is None:
        return None
    if hasattr(v, "item") and not isinstance(v, str | bytes):
        v = v.item()
    if isinstance(v, float) and not math.isfinite(v):
        return None
    if isinstance(v, dt.date | dt.datetime):
        return v.isoformat()
    if isinstance(v, bool | int | float | str):
        return v
    if isinstance(v, list | tuple):
        return [_json_safe(x) for x in v]
    if isinstance(v, dict):
        return {str(k): _json_safe(x) for k, x in v.items()}
    try:
        import pandas as pd

        if pd.isna(v):
            return None
    except (TypeError, ValueError):
        pass
    return str(v)


def scorecards(s: Session, circle_id: str) -> list[Scorecard]:
    """Scorecards of a circle, newest first."""
    return list(s.scalars(select(Scorecard).where(Scorecard.circle_id == circle_id).order_by(Scorecard.as_of.desc())))


def add_score(s: Session, user: User, circle_id: str, *, score: float, comment: str = "") -> EvaluatorScore:
    """An evaluator's (or the city admin's) score 0–100 and comment on a circle."""
    require_scorer(user)
    c = get_circle(s, user, circle_id)
    problems = []
    if not (isinstance(score, int | float) and math.isfinite(score) and 0 <= score <= 100):
        problems.append(("score", "评分应在 0 到 100 之间", "score must be between 0 and 100"))
    if len(comment) > 5000:
        problems.append(("comment", "评语最长 5000 字", "comment is at most 5000 characters"))
    if problems:
        raise _problems(*problems)
    row = EvaluatorScore(circle_id=c.id, user_id=user.id, score=float(score), comment=comment, at=utcnow())
    s.add(row)
    s.flush()
    audit.record(s, user, "create", "score", row.id, None, audit.snapshot(row))
    return row


def scores(s: Session, circle_id: str) -> list[tuple[EvaluatorScore, str]]:
    """Evaluator scores of a circle with the evaluator's display name, newest first."""
    q = (select(EvaluatorScore, User.display_name).join(User, User.id == EvaluatorScore.user_id)
         .where(EvaluatorScore.circle_id == circle_id).order_by(EvaluatorScore.id.desc()))
    return [(a, b) for a, b in s.execute(q)]


_MAGIC = {"jpg": (b"\xff\xd8\xff",), "png": (b"\x89PNG\r\n\x1a\n",), "pdf": (b"%PDF-",)}
_CTYPE = {"jpg": "image/jpeg", "png": "image/png", "pdf": "application/pdf"}


def save_evidence(s: Session, user: User, settings: Settings, prog: Programme, circle_id: str, *,
                  filename: str, data: bytes) -> Evidence:
    """Store an evidence file (photo or PDF) for a circle under ``<data dir>/evidence/<circle>/``.

    Checks the extension against the programme's list (jpg/png/pdf), the first bytes against the
    extension, and the size (at most ``settings.upload_max_bytes`` bytes). The file is written
    atomically and named by its SHA-256; the row and audit entry commit with the caller."""
    from lifecircle.sources.files import atomic_output

    c = get_circle(s, user, circle_id)
    require_upload(user, c.district)
    name = Path((filename or "").replace("\\", "/")).name[:200]
    ext = name.rsplit(".", 1)[-1].lower() if "." in name else ""
    ext = "jpg" if ext == "jpeg" else ext
    problems = []
    if ext not in prog.evidence_types:
        problems.append(("file", f"文件类型 '.{ext}' 不支持；支持：{', '.join(prog.evidence_types)}",
                         f"file type '.{ext}' not allowed; use {', '.join(prog.evidence_types)}"))
    elif not data:
        problems.append(("file", "文件为空", "the file is empty"))
    elif len(data) > settings.upload_max_bytes:
        problems.append(("file", f"文件过大（{len(data) / 1e6:.1f} MB），上限 {settings.upload_max_bytes / 1e6:g} MB",
                         f"file too large ({len(data) / 1e6:.1f} MB); the limit is {settings.upload_max_bytes / 1e6:g} MB"))
    elif not any(data.startswith(m) for m in _MAGIC.get(ext, (b"",))):
        problems.append(("file", f"文件内容不是 {ext} 格式", f"the file's content is not {ext}"))
    if problems:
        raise _problems(*problems)
    digest = hashlib.sha256(data).hexdigest()
    folder = settings.evidence_dir / c.id
    folder.mkdir(parents=True, exist_ok=True)
    stored = f"{digest}.{ext}"
    target = folder / stored
    if not target.exists():
        with atomic_output(target) as tmp:
            tmp.write_bytes(data)
    row = Evidence(circle_id=c.id, user_id=user.id, filename=name, stored_name=stored, content_type=_CTYPE[ext],
                   size_bytes=len(data), sha256=digest, at=utcnow())
    s.add(row)
    s.flush()
    audit.record(s, user, "upload", "evidence", row.id, None, audit.snapshot(row))
    return row


def evidence_list(s: Session, circle_id: str) -> list[Evidence]:
    return list(s.scalars(select(Evidence).where(Evidence.circle_id == circle_id).order_by(Evidence.id.desc())))


def evidence_file(s: Session, user: User, settings: Settings, evidence_id: int) -> tuple[Evidence, Path]:
    """An evidence row and its file path (permission-checked by the circle's district)."""
    row = s.get(Evidence, evidence_id)
    if row is None:
        raise NotFoundError(t("没有这个证明材料", "no such evidence file"))
    get_circle(s, user, row.circle_id)
    path = settings.evidence_dir / row.circle_id / row.stored_name
    if not path.is_file():
        raise NotFoundError(t("证明材料文件已丢失", "the evidence file is missing on disk"))
    return row, path


def record_grade(s: Session, user: User, circle_id: str, *, grade_code: str, decision: str, reason: str = "") -> GradeDecision:
    """Record a grade and decision with who made it. Evaluators may only ``recommend``; the city
    admin records ``accept`` / ``return`` (the acceptance decision)."""
    require_scorer(user)
    c = get_circle(s, user, circle_id)
    problems = []
    if grade_code not in GRADES:
        problems.append(("grade_code", f"等级应为 {'/'.join(GRADES)}", f"grade must be one of {'/'.join(GRADES)}"))
    if decision not in DECISIONS:
        problems.append(("decision", f"结论应为 {'/'.join(DECISIONS)}", f"decision must be one of {'/'.join(DECISIONS)}"))
    if problems:
        raise _problems(*problems)
    require_grade_decision(user, decision)
    row = GradeDecision(circle_id=c.id, grade_code=grade_code, decision=decision, reason=reason, user_id=user.id, at=utcnow())
    s.add(row)
    s.flush()
    audit.record(s, user, "create", "grade_decision", row.id, None, audit.snapshot(row))
    return row


def grade_decisions(s: Session, circle_id: str) -> list[tuple[GradeDecision, str]]:
    q = (select(GradeDecision, User.display_name).join(User, User.id == GradeDecision.user_id)
         .where(GradeDecision.circle_id == circle_id).order_by(GradeDecision.id.desc()))
    return [(a, b) for a, b in s.execute(q)]


# ------------------------------------------------------------------ surveys (M16)

def create_survey(s: Session, user: User | None, circle_id: str, *, period: str, start: dt.date | None = None,
                  end: dt.date | None = None, respondents: int | None = None, satisfied: int | None = None,
                  synthetic: bool = False) -> SurveyCampaign:
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
        problems.append(("period", "周期格式应为 2024、2024H1、2024Q3 或 2024M05", "period must look like 2024, 2024H1, 2024Q3 or 2024M05"))
    elif s.scalar(select(SurveyCampaign.id).where(SurveyCampaign.circle_id == c.id, SurveyCampaign.period == period)):
        problems.append(("period", f"该生活圈 {period} 的调查已存在", f"a survey for {period} already exists for this circle"))
    if start and end and end < start:
        problems.append(("end", "结束日期早于开始日期", "end date is before the start date"))
    problems += _result_problems(respondents, satisfied)
    if problems:
        raise _problems(*problems)
    row = SurveyCampaign(circle_id=c.id, period=period, start=start, end=end, respondents=respondents,
                         satisfied=satisfied, synthetic=synthetic, user_id=user.id if user else None, at=utcnow())
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
            out.append(("respondents", f"受访人数不能超过 {MAX_RESPONDENTS:,}", f"respondents cannot exceed {MAX_RESPONDENTS:,}"))
        if satisfied < 0 or satisfied > respondents:
            out.append(("satisfied", "满意人数应在 0 到受访人数之间", "satisfied must be between 0 and respondents"))
    return out


def record_survey_results(s: Session, user: User, survey_id: int, *, respondents: int, satisfied: int) -> SurveyCampaign:
    """Enter (or correct) the results of a survey campaign."""
    row = s.get(SurveyCampaign, survey_id)
    if row is None:
        raise NotFoundError(t("没有这个调查", "no such survey"))
    c = get_circle(s, user, row.circle_id)
    require_edit(user, c.district)
    problems = _result_problems(respondents, satisfied)
    if problems:
        raise _problems(*problems)
    before = audit.snapshot(row)
    row.respondents, row.satisfied = respondents, satisfied
    s.flush()
    audit.record(s, user, "results", "survey", row.id, before, audit.snapshot(row))
    return row


def surveys(s: Session, circle_id: str) -> list[SurveyCampaign]:
    return list(s.scalars(select(SurveyCampaign).where(SurveyCampaign.circle_id == circle_id).order_by(SurveyCampaign.period)))


def satisfaction_trend(s: Session, user: User, prog: Programme, *, circle_id: str | None = None,
                       district: str | None = None) -> list[dict[str, Any]]:
    """Satisfaction rate (satisfied / respondents, 0..1) per period, pooled over the circles the
    user may see (or one circle / district), against the target. An unknown ``district`` is an
    :class:`InputError` naming the field; an empty ``circle_id`` or ``district`` is none."""
    circle_id, district = circle_id or None, district or None
    if district is not None and s.get(District, district) is None:
        raise _problems(("district", f"未知的区代码 '{district}'", f"unknown district code '{district}'"))
    q = (select(SurveyCampaign.period, func.sum(SurveyCampaign.respondents), func.sum(SurveyCampaign.satisfied),
                func.count(SurveyCampaign.id), func.max(SurveyCampaign.synthetic.cast(_int_type())))
         .join(Circle, Circle.id == SurveyCampaign.circle_id).where(SurveyCampaign.respondents.is_not(None)))
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
        out.append({"period": period, "respondents": int(resp or 0), "satisfied": int(sat or 0), "campaigns": int(n),
                    "rate": rate, "target": prog.satisfaction_target,
                    "meets_target": rate is not None and rate >= prog.satisfaction_target, "synthetic": bool(syn)})
    return out


def _int_type() -> Any:
    from sqlalchemy import Integer

    return Integer


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
            flags.append(("已验收，但最新评估表等级为未达标（低于基础型）", "accepted, but the latest scorecard grades it below standard (under Basic)"))
        changed = c.status_changed_at.date() if c.status_changed_at else None
        if changed is not None and sc.as_of < changed:
            flags.append((f"评估表（{sc.as_of}）早于最近一次状态变更（{changed}），需重新评估",
                          f"the scorecard ({sc.as_of}) is older than the last status change ({changed}); re-evaluate"))
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
        rows.append({
            "code": d.code, "name": t(d.name_zh, d.name_en), "quota_pilot": d.quota_pilot,
            "quota_rollout": d.quota_rollout, "quota": d.quota_pilot + d.quota_rollout, "circles": len(mine),
            "pilot_done": sum(1 for c in mine if c.phase == "pilot" and c.status in prog.done_statuses),
            "rollout_done": sum(1 for c in mine if c.phase == "rollout" and c.status in prog.done_statuses),
            "done": sum(1 for c in mine if c.status in prog.done_statuses),
            "by_status": {st: sum(1 for c in mine if c.status == st) for st in prog.statuses},
        })
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
        "contradictions": [{"circle_id": cid, "name": names[cid], "flags": [t(zh, en) for zh, en in fl]}
                           for cid, fl in flags.items()],
        "today": today, "target": target, "n_circles": len(circles), "done": len(done),
        "done_share": len(done) / target if target else 0.0, "by_status": by_status, "districts": rows,
        "phases": phases, "satisfaction": trend, "satisfaction_target": prog.satisfaction_target,
        "synthetic": any(c.synthetic for c in circles),
    }


# ------------------------------------------------------------------ district reports

def generate_report_text(s: Session, user: User, prog: Programme, district: str, period: str,
                         today: dt.date | None = None) -> str:
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
        t(f"# {d.name_zh}一刻钟便民生活圈建设进展报告（{period}）", f"# {d.name_en}: 15-minute living circles progress report ({period})"),
        "",
    ]
    if syn:
        lines += [t("> 合成数据：本报告中的生活圈为演示用合成数据，不是真实统计。", "> Synthetic data: the circles in this report are synthetic demo data, not real statistics."), ""]
    total_funds = s.scalar(select(func.coalesce(func.sum(Fund.amount_yuan), 0.0)).join(Circle, Circle.id == Fund.circle_id)
                           .where(Circle.district == district, Fund.date <= as_of)) or 0.0
    lines += [
        t(f"截至 {as_of.isoformat()}，本区计划建设 {d.quota_pilot + d.quota_rollout} 个生活圈（试点 {d.quota_pilot} 个，推广 {d.quota_rollout} 个），"
          f"已录入 {len(circles)} 个，已验收 {len(done)} 个。",
          f"As of {as_of.isoformat()} the district plans {d.quota_pilot + d.quota_rollout} circles ({d.quota_pilot} pilot, "
          f"{d.quota_rollout} roll-out); {len(circles)} are registered and {len(done)} accepted."),
        t(f"累计到位资金与奖补 {total_funds / 1e4:,.1f} 万元。", f"Funds and awards so far: {total_funds / 1e4:,.1f} × 10k yuan."),
        "",
        t("## 各生活圈状态", "## Status of each circle"),
        "",
        t("| 编号 | 名称 | 批次 | 状态 | 最新评估等级 |", "| id | name | phase | status | latest grade |"),
        "|---|---|---|---|---|",
    ]
    for c in circles:
        sc = s.scalar(select(Scorecard).where(Scorecard.circle_id == c.id, Scorecard.as_of <= as_of)
                      .order_by(Scorecard.as_of.desc()).limit(1))
        grade = t(*GRADES[sc.grade_code]) if sc is not None and sc.grade_code in GRADES else "—"
        phase = t("试点", "pilot") if c.phase == "pilot" else t("推广", "roll-out")
        lines.append(f"| {c.id} | {c.name} | {phase} | {prog.status_label(status_then[c.id])} | {grade} |")
    trend = [r for r in satisfaction_trend(s, user, prog, district=district)
             if (period_end(r["period"]) or dt.date.max) <= (end or dt.date.max)]
    lines += ["", t("## 居民满意度", "## Residents' satisfaction"), ""]
    if trend:
        for r in trend:
            mark = t("达标", "meets target") if r["meets_target"] else t("未达标", "below target")
            lines.append(t(f"- {r['period']}：{r['rate']:.1%}（受访 {r['respondents']} 人，目标 {prog.satisfaction_target:.0%}，{mark}）",
                           f"- {r['period']}: {r['rate']:.1%} ({r['respondents']} respondents, target {prog.satisfaction_target:.0%}, {mark})"))
    else:
        lines.append(t("- 本期暂无调查结果。", "- No survey results yet."))
    lines += ["", t("## 存在问题与下一步工作", "## Problems and next steps"), "", t("（请区级负责人补充。）", "(To be completed by the district officer.)"), ""]
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
    q = (select(StatusChange.circle_id, StatusChange.to_status, StatusChange.at).join(Circle, Circle.id == StatusChange.circle_id)
         .where(Circle.district == district).order_by(StatusChange.at, StatusChange.id))
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
        raise _problems(("period", "周期格式应为 2024、2024H1、2024Q3 或 2024M05", "period must look like 2024, 2024H1, 2024Q3 or 2024M05"))
    if s.scalar(select(DistrictReport.id).where(DistrictReport.district == district, DistrictReport.period == period)):
        raise _problems(("period", f"{period} 的报告已存在，请编辑它", f"a report for {period} exists; edit it instead"))
    body = generate_report_text(s, user, prog, district, period)
    rep = DistrictReport(district=district, period=period, created_at=utcnow())
    s.add(rep)
    s.flush()
    v = DistrictReportVersion(report_id=rep.id, version=1, body=body, generated=True, user_id=user.id, at=utcnow())
    s.add(v)
    s.flush()
    audit.record(s, user, "generate", "district_report", rep.id, None, {"district": district, "period": period, "version": 1})
    return rep


def edit_report(s: Session, user: User, report_id: int, body: str) -> DistrictReportVersion:
    """Save an edited text as a new version of a district report (old versions are kept)."""
    rep = get_report(s, user, report_id)
    require_edit(user, rep.district)
    if not body or not body.strip() or len(body) > 200_000:
        raise _problems(("body", "报告正文不能为空，最长 20 万字", "the report text must be 1–200,000 characters"))
    last = s.scalar(select(func.max(DistrictReportVersion.version)).where(DistrictReportVersion.report_id == rep.id)) or 0
    v = DistrictReportVersion(report_id=rep.id, version=last + 1, body=body, generated=False, user_id=user.id, at=utcnow())
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
    return list(s.scalars(select(DistrictReportVersion).where(DistrictReportVersion.report_id == report_id)
                          .order_by(DistrictReportVersion.version.desc())))


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
        geom = c.boundary or ({"type": "Point", "coordinates": [c.lon, c.lat]} if c.lon is not None and c.lat is not None else None)
        if geom is None:
            continue
        feats.append({"type": "Feature", "geometry": geom,
                      "properties": {"id": c.id, "name": c.name, "district": c.district, "status": c.status,
                                     "status_label": prog.status_label(c.status), "phase": c.phase,
                                     "synthetic": c.synthetic, "lon": c.lon, "lat": c.lat}})
    return {"type": "FeatureCollection", "features": feats}


# ------------------------------------------------------------------ audit log

def audit_log(s: Session, user: User, limit: int = 50, entity: str | None = None,
              entity_id: str | None = None, *, kind: str = "all", offset: int = 0) -> list[Any]:
    """The newest audit rows of one ``kind`` (see :func:`lifecircle.platform.audit.recent`), a page
    of ``limit`` rows after ``offset`` (the city admin and leaders only)."""
    require_audit_reader(user)
    if kind not in audit.KINDS:
        raise _problems(("kind", f"未知类别 '{kind}'，可选：{'/'.join(audit.KINDS)}",
                         f"unknown kind '{kind}'; use {'/'.join(audit.KINDS)}"))
    return audit.recent(s, limit, entity, entity_id, kind=kind, offset=offset)


def audit_search(s: Session, user: User, *, username: str | None = None, action: str | None = None,
                 circle: str | None = None, date_from: dt.date | None = None, date_to: dt.date | None = None,
                 tz: str = "Asia/Shanghai", page: int = 1, per_page: int = 50) -> tuple[list[Any], int]:
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
    return audit.search(s, username=username, action=action, circle=circle, start=start, end=end,
                        offset=(page - 1) * per_page, limit=per_page)


# ------------------------------------------------------------------ accounts (city administrator)

@dataclass(frozen=True)
class UserRow:
    """One account in the administrator's list; ``last_login`` is naive UTC (None: never signed in)."""

    user: User
    last_login: dt.datetime | None


def list_users(s: Session, actor: User) -> list[UserRow]:
    """All accounts with their last successful sign-in (city administrator only)."""
    require_account_admin(actor)
    q = (select(LoginAttempt.username, func.max(LoginAttempt.at))
         .where(LoginAttempt.success.is_(True)).group_by(LoginAttempt.username))
    last = {name: at for name, at in s.execute(q)}
    return [UserRow(u, last.get(u.username)) for u in s.scalars(select(User).order_by(User.id))]


def create_account(s: Session, actor: User, settings: Settings, *, username: str, password: str, role: str,
                   district: str | None = None, display_name: str = "") -> User:
    """The administrator's account form: a city admin creates an account (audited)."""
    require_account_admin(actor)
    return auth.create_user(s, actor, settings, username=username, password=password, role=role,
                            district=district, display_name=display_name)


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
        raise _problems(("active", "不能停用自己的账号（请由另一位管理员操作）",
                         "you cannot deactivate your own account (ask another administrator)"))
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


def change_user_role(s: Session, actor: User, user_id: int, role: str, district: str | None) -> User:
    """Change an account's role and district (district officers only), audited before/after.
    An administrator cannot demote their own account."""
    u = _account(s, actor, user_id)
    district = district or None
    problems = auth.role_problems(s, role, district)
    if u.id == actor.id and role != "city_admin":
        problems.append(Problem(t("不能降低自己的角色（请由另一位管理员操作）",
                                  "you cannot demote your own account (ask another administrator)"), field="role"))
    if problems:
        raise InputError(problems)
    if (u.role, u.district) == (role, district):
        return u
    before = audit.snapshot(u)
    u.role, u.district = role, district
    s.flush()
    audit.record(s, actor, "change_role", "user", u.id, before, audit.snapshot(u))
    return u


# ------------------------------------------------------------------ one's own password

def change_own_password(s: Session, user: User, settings: Settings, current_password: str, new_password: str,
                        keep_session: str | None = None) -> User:
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
        problems.append(Problem(t("新密码不能与当前密码相同", "the new password must differ from the current one"),
                                field="new_password"))
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
    q = (select(LoginAttempt.username, func.max(LoginAttempt.at))
         .where(LoginAttempt.success.is_(True)).group_by(LoginAttempt.username))
    last = {name: at for name, at in s.execute(q)}
    return [UserRow(u, last.get(u.username)) for u in s.scalars(select(User).order_by(User.id))]
