"""Residents' satisfaction surveys (M16, residents' side): the bureau's questionnaires, one-time
household codes and the answers, which flow into the circle's :class:`SurveyCampaign` figures.

Design:

- **Questionnaires** are versioned rows per period; the newest version of a period is the one
  residents answer. A version that has answers is never changed (409: publish a new version).
  One question is the *key* question; the answers listed in ``satisfied`` count as satisfied for
  the target (e.g. 4–5 on a 1–5 scale).
- **Codes** are 10 characters from an alphabet without look-alikes (2^50 possibilities), stored only
  as HMAC-SHA256 with the install's secret key (a leaked database does not reveal them; rotating the
  secret key invalidates unused codes). They are shown once, at generation (sheet or CSV).
- **Answering** consumes the code with one conditional ``UPDATE … SET used_at WHERE id = ? AND
  used_at IS NULL`` as the transaction's first write, checks the row count, then stores the answer
  and increments the campaign's counts (``respondents + 1``, ``satisfied + 0/1``, atomic in SQL) in
  the same transaction: of two requests with the same code exactly one succeeds, the other gets 409,
  and a refused request stores nothing. The answer holds no code, no address and only the day;
  ``used_at`` is also kept to the day, so codes and answers cannot be matched by time.
- **Hand-typed results**: a campaign fed by codes counts only the answers. Codes are refused (409)
  for a circle and period whose campaign already has results typed by hand, and typing results by
  hand is refused (409) once codes exist for the campaign (:func:`codes_exist`), so the two never mix
  silently.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import re
import secrets
from collections import Counter
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from lifecircle.i18n import t
from lifecircle.platform import audit
from lifecircle.platform.db import SurveyCampaign, User, utcnow
from lifecircle.platform.db_operations import SurveyAnswer, SurveyCode, SurveyQuestionnaire
from lifecircle.platform.errors import ConflictError, NotFoundError
from lifecircle.platform.permissions import require_issue_codes, require_questionnaire_admin, require_see
from lifecircle.platform.programme import Programme
from lifecircle.platform.service._common import PERIOD_RE, _problems
from lifecircle.platform.service.circles import get_circle

CODE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I: read aloud and typed from paper
CODE_LENGTH = 10
MAX_CODES = 2000  # per request
KINDS = ("scale", "yesno", "choice")
YESNO = ("yes", "no")
ID_RE = re.compile(r"^[a-z][a-z0-9_]{0,31}$")
MAX_QUESTIONS = 30
Problems = list[tuple[str, str, str]]


# ------------------------------------------------------------------ questionnaires


def _text_problems(q: dict[str, Any], f: str, out: Problems) -> None:
    for lang in ("zh", "en"):
        v = q.get(f"text_{lang}")
        if lang == "zh" and (not isinstance(v, str) or not v.strip()):
            out.append((f"{f}.text_zh", "请填写问题（中文）", "give the question's Chinese text"))
        elif v is not None and (not isinstance(v, str) or len(v) > 300):
            out.append((f"{f}.text_{lang}", "问题文字最长 300 字", "a question's text is at most 300 characters"))


def _scale_problems(q: dict[str, Any], f: str, out: Problems) -> None:
    lo, hi = q.get("min", 1), q.get("max", 5)
    if not (isinstance(lo, int) and isinstance(hi, int)) or isinstance(lo, bool) or isinstance(hi, bool):
        out.append((f"{f}.min", "量表的最小值和最大值须为整数", "a scale's min and max must be whole numbers"))
    elif not (0 <= lo < hi <= 10):
        out.append((f"{f}.max", "量表须满足 0 ≤ 最小值 < 最大值 ≤ 10", "a scale needs 0 ≤ min < max ≤ 10"))


def _choice_problems(q: dict[str, Any], f: str, out: Problems) -> None:
    ch = q.get("choices")
    if not isinstance(ch, list) or not 2 <= len(ch) <= 12:
        out.append((f"{f}.choices", "选择题须有 2 到 12 个选项", "a choice question needs 2 to 12 choices"))
        return
    seen: set[str] = set()
    for j, c in enumerate(ch):
        cf = f"{f}.choices[{j}]"
        if not isinstance(c, dict) or not isinstance(c.get("value"), str) or not ID_RE.match(c["value"]):
            out.append((f"{cf}.value", "选项值须为小写字母开头的短代码", "a choice value is a short lower-case code"))
            continue
        if c["value"] in seen:
            out.append((f"{cf}.value", f"选项值 '{c['value']}' 重复", f"choice value '{c['value']}' repeats"))
        seen.add(c["value"])
        zh = c.get("zh")
        if not isinstance(zh, str) or not zh.strip() or len(zh) > 100:
            out.append((f"{cf}.zh", "请填写选项文字（中文，最长 100 字）", "give the choice's Chinese label (≤ 100)"))


def question_values(q: dict[str, Any]) -> list[Any]:
    """Every answer a (valid) question accepts, in display order."""
    if q["kind"] == "scale":
        return list(range(q.get("min", 1), q.get("max", 5) + 1))
    if q["kind"] == "yesno":
        return list(YESNO)
    return [c["value"] for c in q["choices"]]


def validate_questionnaire(questions: Any, key: Any, satisfied: Any) -> Problems:
    """Every problem of a questionnaire at once (fields like ``questions[2].text_zh``)."""
    out: Problems = []
    if not isinstance(questions, list) or not 1 <= len(questions) <= MAX_QUESTIONS:
        return [("questions", f"问卷须有 1 到 {MAX_QUESTIONS} 个问题", f"give 1 to {MAX_QUESTIONS} questions")]
    ids: dict[str, dict[str, Any]] = {}
    for i, q in enumerate(questions):
        f = f"questions[{i}]"
        if not isinstance(q, dict):
            out.append((f, "每个问题须为对象", "each question must be an object"))
            continue
        qid = q.get("id")
        if not isinstance(qid, str) or not ID_RE.match(qid):
            out.append((f"{f}.id", "问题编号须为小写字母开头的短代码", "a question id is a short lower-case code"))
        elif qid in ids:
            out.append((f"{f}.id", f"问题编号 '{qid}' 重复", f"question id '{qid}' repeats"))
        _text_problems(q, f, out)
        kind = q.get("kind")
        if kind not in KINDS:
            out.append((f"{f}.kind", "题型须为 scale、yesno 或 choice", "kind must be scale, yesno or choice"))
        elif kind == "scale":
            _scale_problems(q, f, out)
        elif kind == "choice":
            _choice_problems(q, f, out)
        if "required" in q and not isinstance(q["required"], bool):
            out.append((f"{f}.required", "required 须为 true 或 false", "required must be true or false"))
        if isinstance(qid, str) and qid not in ids:
            ids[qid] = q
    if out:
        return out
    kq = ids.get(key) if isinstance(key, str) else None
    if kq is None:
        return [("key", "请指定计入满意度目标的问题（key）", "name the question that counts for the target (key)")]
    if kq.get("required") is False:
        out.append(("key", "计入目标的问题须为必答", "the key question must be required"))
    allowed = question_values(kq)
    if not isinstance(satisfied, list) or not satisfied:
        out.append(("satisfied", "请列出计为“满意”的答案", "list the answers that count as satisfied"))
    elif any(v not in allowed or isinstance(v, bool) for v in satisfied) or len(set(map(str, satisfied))) < len(
        satisfied
    ):
        out.append(
            (
                "satisfied",
                f"“满意”的答案须取自 {allowed}，不重复",
                f"satisfied answers must be among {allowed}, once each",
            )
        )
    elif len(satisfied) == len(allowed):
        out.append(("satisfied", "不能所有答案都计为满意", "not every answer can count as satisfied"))
    return out


def _clean_questions(questions: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The stored form of valid questions (only the known fields)."""
    out = []
    for q in questions:
        c: dict[str, Any] = {
            "id": q["id"],
            "text_zh": q["text_zh"].strip(),
            "text_en": (q.get("text_en") or "").strip(),
            "kind": q["kind"],
            "required": q.get("required", True),
        }
        if q["kind"] == "scale":
            c["min"], c["max"] = q.get("min", 1), q.get("max", 5)
        if q["kind"] == "choice":
            c["choices"] = [{"value": x["value"], "zh": x["zh"], "en": x.get("en") or ""} for x in q["choices"]]
        out.append(c)
    return out


def _check_questionnaire(period: Any, data: dict[str, Any]) -> None:
    out: Problems = []
    if not isinstance(period, str) or not PERIOD_RE.match(period):
        out.append(("period", "周期格式应为 2024、2024H1、2024Q3 或 2024M05", "period must look like 2024H1"))
    for f in ("title_zh", "title_en"):
        if not isinstance(data.get(f, ""), str) or len(data.get(f, "")) > 128:
            out.append((f, "标题最长 128 字", "a title is at most 128 characters"))
    out += validate_questionnaire(data.get("questions"), data.get("key"), data.get("satisfied"))
    if out:
        raise _problems(*out)


def _fill(row: SurveyQuestionnaire, data: dict[str, Any]) -> None:
    row.title_zh = data.get("title_zh") or ""
    row.title_en = data.get("title_en") or ""
    row.questions = _clean_questions(data["questions"])
    row.key = data["key"]
    row.satisfied_values = list(data["satisfied"])


def create_questionnaire(s: Session, user: User, period: str, data: dict[str, Any]) -> SurveyQuestionnaire:
    """Publish a questionnaire for ``period`` (the next version: the one residents answer from now)."""
    require_questionnaire_admin(user)
    _check_questionnaire(period, data)
    version = (
        s.scalar(select(func.max(SurveyQuestionnaire.version)).where(SurveyQuestionnaire.period == period)) or 0
    ) + 1
    row = SurveyQuestionnaire(period=period, version=version, user_id=user.id, at=utcnow())
    _fill(row, data)
    s.add(row)
    s.flush()
    audit.record(s, user, "create", "questionnaire", row.id, None, audit.snapshot(row))
    return row


def n_answers(s: Session, questionnaire_id: int) -> int:
    return s.scalar(select(func.count(SurveyAnswer.id)).where(SurveyAnswer.questionnaire_id == questionnaire_id)) or 0


def update_questionnaire(s: Session, user: User, qid: int, data: dict[str, Any]) -> SurveyQuestionnaire:
    """Change a questionnaire that has no answers yet (409 once residents have answered it)."""
    require_questionnaire_admin(user)
    row = s.get(SurveyQuestionnaire, qid)
    if row is None:
        raise NotFoundError(t("没有这个问卷", "no such questionnaire"))
    _check_questionnaire(row.period, data)
    if n_answers(s, row.id):
        raise ConflictError(
            t(
                "已有居民作答，此版本问卷不能再修改；请发布新版本（POST /api/questionnaires）",
                "residents have answered this version, so it cannot change; publish a new version instead",
            ),
            current=str(row.version),
        )
    before = audit.snapshot(row)
    _fill(row, data)
    s.flush()
    audit.record(s, user, "update", "questionnaire", row.id, before, audit.snapshot(row))
    return row


def list_questionnaires(s: Session, user: User, period: str | None = None) -> list[SurveyQuestionnaire]:
    if user.role == "merchant":
        require_see(user, None)
    q = select(SurveyQuestionnaire).order_by(SurveyQuestionnaire.period, SurveyQuestionnaire.version)
    if period:
        q = q.where(SurveyQuestionnaire.period == period)
    return list(s.scalars(q))


def current_questionnaire(s: Session, period: str) -> SurveyQuestionnaire | None:
    """The newest version of ``period``'s questionnaire (the one residents answer)."""
    return s.scalars(
        select(SurveyQuestionnaire)
        .where(SurveyQuestionnaire.period == period)
        .order_by(SurveyQuestionnaire.version.desc())
        .limit(1)
    ).first()


def questionnaire_json(row: SurveyQuestionnaire, *, answers: int | None = None) -> dict[str, Any]:
    out = {
        "id": row.id,
        "period": row.period,
        "version": row.version,
        "title_zh": row.title_zh,
        "title_en": row.title_en,
        "questions": row.questions,
        "key": row.key,
        "satisfied": row.satisfied_values,
    }
    if answers is not None:
        out["answers"] = answers
    return out


# ------------------------------------------------------------------ one-time codes


def code_hash(secret_key: str, code: str) -> str:
    """The stored form of a code: HMAC-SHA256 keyed with the install's secret (hex)."""
    return hmac.new(secret_key.encode(), b"survey-code:" + code.encode(), hashlib.sha256).hexdigest()


def normalise_code(code: str) -> str | None:
    """The code as generated (upper case, without spaces and dashes), or None when it cannot be one."""
    c = re.sub(r"[\s\-]", "", code or "").upper()
    if len(c) != CODE_LENGTH or any(ch not in CODE_ALPHABET for ch in c):
        return None
    return c


def pretty_code(code: str) -> str:
    return f"{code[:5]}-{code[5:]}"


def codes_exist(s: Session, circle_id: str, period: str) -> bool:
    return (
        s.scalar(select(SurveyCode.id).where(SurveyCode.circle_id == circle_id, SurveyCode.period == period).limit(1))
        is not None
    )


def issue_codes(s: Session, user: User, secret_key: str, circle_id: str, period: str, count: int) -> list[str]:
    """Generate ``count`` one-time codes of a circle and period (returned once, stored hashed).
    Opens the circle's survey campaign of the period when there is none."""
    c = get_circle(s, user, circle_id)
    require_issue_codes(user, c.id, c.district)
    out: Problems = []
    if not PERIOD_RE.match(period or ""):
        out.append(("period", "周期格式应为 2024、2024H1、2024Q3 或 2024M05", "period must look like 2024H1"))
    elif current_questionnaire(s, period) is None:
        out.append(
            (
                "period",
                f"市商务局尚未发布 {period} 的问卷",
                f"the bureau has not published a questionnaire for {period}",
            )
        )
    if not isinstance(count, int) or not 1 <= count <= MAX_CODES:
        out.append(("count", f"数量应在 1 到 {MAX_CODES} 之间", f"count must be 1 to {MAX_CODES}"))
    if out:
        raise _problems(*out)
    camp = s.scalars(
        select(SurveyCampaign).where(SurveyCampaign.circle_id == c.id, SurveyCampaign.period == period)
    ).first()
    if camp is None:
        camp = SurveyCampaign(circle_id=c.id, period=period, user_id=user.id, at=utcnow())
        s.add(camp)
        s.flush()
        audit.record(s, user, "create", "survey", camp.id, None, audit.snapshot(camp))
    elif camp.respondents is not None and not codes_exist(s, c.id, period):
        raise ConflictError(
            t(
                f"该生活圈 {period} 的调查结果已手工登记（{camp.respondents} 人），不能再发放调查码；"
                "如需居民在线作答，请选择新的周期",
                f"results for {period} were typed by hand ({camp.respondents} respondents); codes would mix with "
                "them, so none are issued — use another period for residents' online answers",
            )
        )
    now = utcnow()
    codes = ["".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH)) for _ in range(count)]
    s.add_all(
        SurveyCode(code_hash=code_hash(secret_key, k), circle_id=c.id, period=period, created_at=now) for k in codes
    )
    s.flush()
    audit.record(s, user, "issue_codes", "survey", camp.id, None, {"circle_id": c.id, "period": period, "count": count})
    return codes


# ------------------------------------------------------------------ answering (public)


def _bad_code() -> NotFoundError:
    return NotFoundError(t("调查码无效，请核对后重新输入", "this survey code is not valid; check it and try again"))


def _used_code() -> ConflictError:
    return ConflictError(
        t("此调查码已使用过，每户只能作答一次", "this survey code has already been used; each household answers once")
    )


def find_code(s: Session, secret_key: str, code: str) -> tuple[SurveyCode, SurveyQuestionnaire]:
    """The unused code's row and the questionnaire to answer (404 unknown, 409 used)."""
    c = normalise_code(code)
    row = s.scalars(select(SurveyCode).where(SurveyCode.code_hash == code_hash(secret_key, c))).first() if c else None
    if row is None:
        raise _bad_code()
    if row.used_at is not None:
        raise _used_code()
    qn = current_questionnaire(s, row.period)
    if qn is None:  # questionnaires are never deleted; kept for safety
        raise _bad_code()
    return row, qn


def answer_problems(qn: SurveyQuestionnaire, answers: Any) -> Problems:
    """Every problem of a household's answers at once (fields ``answers.<question id>``)."""
    if not isinstance(answers, dict):
        return [("answers", "答案须为 {问题编号: 答案}", "answers must be {question id: answer}")]
    out: Problems = []
    known = {q["id"]: q for q in qn.questions}
    for k in answers:
        if k not in known:
            out.append((f"answers.{k}", "问卷中没有这个问题", "no such question in the questionnaire"))
    for qid, q in known.items():
        v = answers.get(qid)
        if v is None or v == "":
            if q.get("required", True):
                out.append((f"answers.{qid}", "请回答此问题", "please answer this question"))
        elif type(v) not in (int, str) or v not in question_values(q):
            out.append((f"answers.{qid}", "答案不在可选范围内", "the answer is not one of the choices"))
    return out


def coerce_form_answers(qn: SurveyQuestionnaire, form: dict[str, str]) -> dict[str, Any]:
    """A page form's answers (all text) as the API's values (scale answers as whole numbers)."""
    out: dict[str, Any] = {}
    for q in qn.questions:
        v = (form.get(f"q_{q['id']}") or "").strip()
        if q["kind"] == "scale" and v.lstrip("-").isdigit():
            out[q["id"]] = int(v)
        elif v:
            out[q["id"]] = v
    return out


def submit_answers(s: Session, secret_key: str, code: str, answers: Any) -> dict[str, Any]:
    """Store a household's answers and consume its code, in the caller's transaction.

    The consuming ``UPDATE`` is the transaction's first write: of two requests with the same code
    one waits for the other's commit (SQLite's write lock, PostgreSQL's row lock) and then updates
    no row, so it answers 409 and rolls back, storing nothing."""
    row, qn = find_code(s, secret_key, code)
    problems = answer_problems(qn, answers)
    if problems:
        raise _problems(*problems)
    now = utcnow()
    day = now.date()
    consumed = s.execute(
        update(SurveyCode)
        .where(SurveyCode.id == row.id, SurveyCode.used_at.is_(None))
        .values(used_at=dt.datetime.combine(day, dt.time()))
        .execution_options(synchronize_session=False)
    )
    if consumed.rowcount != 1:  # type: ignore[attr-defined]  # another request used it first
        raise _used_code()
    clean = {q["id"]: answers[q["id"]] for q in qn.questions if answers.get(q["id"]) not in (None, "")}
    ok = clean.get(qn.key) in qn.satisfied_values
    s.add(
        SurveyAnswer(
            circle_id=row.circle_id, period=row.period, questionnaire_id=qn.id, answers=clean, key_satisfied=ok, day=day
        )
    )
    bumped = s.execute(
        update(SurveyCampaign)
        .where(SurveyCampaign.circle_id == row.circle_id, SurveyCampaign.period == row.period)
        .values(
            respondents=func.coalesce(SurveyCampaign.respondents, 0) + 1,
            satisfied=func.coalesce(SurveyCampaign.satisfied, 0) + (1 if ok else 0),
        )
        .execution_options(synchronize_session=False)
    )
    if bumped.rowcount == 0:  # type: ignore[attr-defined]  # the campaign was removed since: open it again
        s.add(SurveyCampaign(circle_id=row.circle_id, period=row.period, respondents=1, satisfied=int(ok), at=now))
    s.flush()
    return {"circle_id": row.circle_id, "period": row.period, "questionnaire_version": qn.version}


# ------------------------------------------------------------------ results


def breakdown(s: Session, user: User, prog: Programme, circle_id: str, period: str) -> dict[str, Any]:
    """Per-question counts of a circle's answers in ``period``, with the key question's rate."""
    c = get_circle(s, user, circle_id)
    if not PERIOD_RE.match(period or ""):
        raise _problems(("period", "周期格式应为 2024、2024H1、2024Q3 或 2024M05", "period must look like 2024H1"))
    camp = s.scalars(
        select(SurveyCampaign).where(SurveyCampaign.circle_id == c.id, SurveyCampaign.period == period)
    ).first()
    rows = list(s.scalars(select(SurveyAnswer).where(SurveyAnswer.circle_id == c.id, SurveyAnswer.period == period)))
    n_codes = s.scalar(
        select(func.count(SurveyCode.id)).where(SurveyCode.circle_id == c.id, SurveyCode.period == period)
    )
    by_qn: dict[int, list[SurveyAnswer]] = {}
    for a in rows:
        by_qn.setdefault(a.questionnaire_id, []).append(a)
    versions = []
    for qn_id, answers in sorted(by_qn.items()):
        qn = s.get(SurveyQuestionnaire, qn_id)
        if qn is not None:
            versions.append(_version_breakdown(qn, answers))
    n, sat = len(rows), sum(1 for a in rows if a.key_satisfied)
    rate = sat / n if n else None
    source = "codes" if n_codes else ("hand" if camp is not None and camp.respondents is not None else None)
    return {
        "circle_id": c.id,
        "period": period,
        "source": source,
        "codes_issued": int(n_codes or 0),
        "respondents": n,
        "satisfied": sat,
        "rate": rate,
        "target": prog.satisfaction_target,
        "meets_target": rate is not None and rate >= prog.satisfaction_target,
        "campaign": None
        if camp is None
        else {"id": camp.id, "respondents": camp.respondents, "satisfied": camp.satisfied},
        "questionnaires": versions,
    }


def _version_breakdown(qn: SurveyQuestionnaire, answers: list[SurveyAnswer]) -> dict[str, Any]:
    questions = []
    for q in qn.questions:
        counts = Counter(a.answers.get(q["id"]) for a in answers if a.answers.get(q["id"]) is not None)
        values = question_values(q)
        answered = sum(counts.values())
        item: dict[str, Any] = {
            "id": q["id"],
            "text_zh": q["text_zh"],
            "text_en": q.get("text_en", ""),
            "kind": q["kind"],
            "key": q["id"] == qn.key,
            "answered": answered,
            "counts": [{"value": v, "n": counts.get(v, 0)} for v in values],
        }
        if q["kind"] == "scale" and answered:
            item["mean"] = sum(v * counts.get(v, 0) for v in values) / answered
        if q["id"] == qn.key:
            item["satisfied_values"] = qn.satisfied_values
            item["satisfied_share"] = (
                sum(counts.get(v, 0) for v in qn.satisfied_values) / answered if answered else None
            )
        questions.append(item)
    return {"id": qn.id, "version": qn.version, "answers": len(answers), "questions": questions}
