"""Scorecards from the engine (typed and range-checked), evaluator scores, evidence files and grade decisions."""

from __future__ import annotations

import datetime as dt
import math
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from lifecircle.i18n import t
from lifecircle.platform import audit
from lifecircle.platform.db import (
    Circle,
    EvaluatorScore,
    Evidence,
    GradeDecision,
    Scorecard,
    User,
    utcnow,
)
from lifecircle.platform.errors import NotFoundError
from lifecircle.platform.permissions import (
    require_grade_decision,
    require_role,
    require_scorer,
    require_upload,
)
from lifecircle.platform.programme import Programme
from lifecircle.platform.service._common import DECISIONS, GRADES, _problems
from lifecircle.platform.service.circles import get_circle
from lifecircle.platform.settings import Settings

# ------------------------------------------------------------------ evaluation


def put_scorecard(
    s: Session,
    user: User | None,
    circle_id: str,
    as_of: dt.date,
    indicators: dict[str, Any],
    grade_code: str | None = None,
    synthetic: bool = False,
    source: str = "engine",
) -> Scorecard:
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
        raise _problems(
            *[
                (f"indicators.{k}", f"{k} 嵌套层数超过 {_MAX_NESTING}", f"{k} is nested deeper than {_MAX_NESTING}")
                for k in deep
            ]
        )
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
                problems.append(
                    (f, f"{k} = {v!r} 应为 0–1 之间的比例", f"{k} = {v!r} must be a fraction between 0 and 1")
                )
        elif k in _COUNT_KEYS or k.startswith("n_"):
            if not _is_number(v) or v < 0 or v != int(v) or abs(v) > 2**53:
                problems.append(
                    (f, f"{k} = {v!r} 应为不小于 0 的整数", f"{k} = {v!r} must be a whole number, not negative")
                )
        elif k in _AMOUNT_KEYS:
            if not _is_number(v) or v < 0:
                problems.append((f, f"{k} = {v!r} 应为不小于 0 的数", f"{k} = {v!r} must be a number, not negative"))
        elif k in _TEXT_KEYS and not isinstance(v, str):
            problems.append((f, f"{k} 应为文字", f"{k} must be text"))
    inner = indicators.get("grade_code")
    if grade_code is not None and inner is not None and inner != grade_code:
        problems.append(
            (
                "grade_code",
                f"等级 {grade_code} 与指标中的 grade_code {inner} 不一致",
                f"grade {grade_code} disagrees with the indicators' grade_code {inner}",
            )
        )
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
    q = (
        select(EvaluatorScore, User.display_name)
        .join(User, User.id == EvaluatorScore.user_id)
        .where(EvaluatorScore.circle_id == circle_id)
        .order_by(EvaluatorScore.id.desc())
    )
    return [(a, b) for a, b in s.execute(q)]


def save_evidence(
    s: Session, user: User, settings: Settings, prog: Programme, circle_id: str, *, filename: str, data: bytes
) -> Evidence:
    """Store an evidence file (photo or PDF) for a circle under ``<data dir>/evidence/<circle>/``.

    Checks the extension against the programme's list (jpg/png/pdf), the first bytes against the
    extension, and the size (at most ``settings.upload_max_bytes`` bytes). The file is written
    atomically and named by its SHA-256; the row and audit entry commit with the caller."""

    from lifecircle.platform.service.attachments import CONTENT_TYPES, checked_file, store_file

    c = get_circle(s, user, circle_id)
    require_upload(user, c.district)
    f = checked_file(settings, prog, filename, data)
    stored = store_file(settings.evidence_dir / c.id, f)
    row = Evidence(
        circle_id=c.id,
        user_id=user.id,
        filename=f.name,
        stored_name=stored,
        content_type=CONTENT_TYPES[f.ext],
        size_bytes=len(f.data),
        sha256=f.sha256,
        at=utcnow(),
    )
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


def record_grade(
    s: Session, user: User, circle_id: str, *, grade_code: str, decision: str, reason: str = ""
) -> GradeDecision:
    """Record a grade and decision with who made it. Evaluators may only ``recommend``; the city
    admin records ``accept`` / ``return`` (the acceptance decision)."""
    require_scorer(user)
    c = get_circle(s, user, circle_id)
    problems = []
    if grade_code not in GRADES:
        problems.append(("grade_code", f"等级应为 {'/'.join(GRADES)}", f"grade must be one of {'/'.join(GRADES)}"))
    if decision not in DECISIONS:
        problems.append(
            ("decision", f"结论应为 {'/'.join(DECISIONS)}", f"decision must be one of {'/'.join(DECISIONS)}")
        )
    if problems:
        raise _problems(*problems)
    require_grade_decision(user, decision)
    row = GradeDecision(
        circle_id=c.id, grade_code=grade_code, decision=decision, reason=reason, user_id=user.id, at=utcnow()
    )
    s.add(row)
    s.flush()
    audit.record(s, user, "create", "grade_decision", row.id, None, audit.snapshot(row))
    return row


def grade_decisions(s: Session, circle_id: str) -> list[tuple[GradeDecision, str]]:
    q = (
        select(GradeDecision, User.display_name)
        .join(User, User.id == GradeDecision.user_id)
        .where(GradeDecision.circle_id == circle_id)
        .order_by(GradeDecision.id.desc())
    )
    return [(a, b) for a, b in s.execute(q)]
