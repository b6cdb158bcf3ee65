"""Opening a shop by filing and commitment (备案承诺制, M9).

A merchant files a new outlet with the current commitment accepted (the text is versioned data in
``lifecircle/data/filing/commitment.toml``): a pending outlet owned by the merchant and a filing due
within the commitment's number of working days. The officer of the outlet's district (or the city
admin) accepts it — the outlet opens and an ``open`` event is written — or returns it with reasons;
the merchant corrects a returned filing and resubmits it (the next round). Each decision is one
conditional UPDATE on the filing's status and round, so of two officers deciding at the same moment
exactly one wins and the other gets 409. Every step is audited.
"""

from __future__ import annotations

import datetime as dt
import tomllib
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from lifecircle.i18n import t
from lifecircle.platform import audit
from lifecircle.platform.db import User, utcnow
from lifecircle.platform.db_operations import Attachment, Filing, Outlet
from lifecircle.platform.errors import ConflictError, NotFoundError
from lifecircle.platform.permissions import deny, require_decide_filing, require_file, require_see_filing
from lifecircle.platform.programme import Programme
from lifecircle.platform.service import attachments as files
from lifecircle.platform.service._common import _problems
from lifecircle.platform.service.outlets import Fix, apply_changes, check_outlet_fields, event, new_outlet_id, place
from lifecircle.platform.settings import Settings

ENTITY = "filing"


@dataclass(frozen=True)
class Commitment:
    """The commitment text a merchant accepts, its version and the district's deadline."""

    version: str
    text_zh: str
    text_en: str
    decision_working_days: int

    def text(self) -> str:
        return t(self.text_zh, self.text_en)


@lru_cache(maxsize=1)
def commitment() -> Commitment:
    """The current commitment (``lifecircle/data/filing/commitment.toml``)."""
    raw = tomllib.loads((resources.files("lifecircle.data") / "filing" / "commitment.toml").read_text("utf-8"))
    return Commitment(
        version=str(raw["version"]),
        text_zh=str(raw["text_zh"]).strip(),
        text_en=str(raw["text_en"]).strip(),
        decision_working_days=int(raw["decision_working_days"]),
    )


def add_working_days(start: dt.date, n: int) -> dt.date:
    """The date ``n`` working days (Monday–Friday) after ``start``."""
    d = start
    while n > 0:
        d += dt.timedelta(days=1)
        if d.weekday() < 5:
            n -= 1
    return d


def _check_commitment(accepted: Any, version: str | None) -> list[Fix]:
    c = commitment()
    if accepted is not True:
        return [("commitment_accepted", "须阅读并接受承诺书", "the commitment must be read and accepted")]
    if version is not None and version != c.version:
        return [
            (
                "commitment_version",
                f"承诺书已更新为 {c.version} 版，请阅读新版本后重新确认",
                f"the commitment is now version {c.version}; read it and accept again",
            )
        ]
    return []


# ------------------------------------------------------------------ reading


def get_filing(s: Session, user: User, filing_id: int) -> Filing:
    f = s.get(Filing, filing_id)
    if f is None:
        raise NotFoundError(t(f"没有编号为 {filing_id} 的备案", f"no filing {filing_id}"))
    require_see_filing(user, f.district, f.merchant_id)
    return f


def list_filings(s: Session, user: User, *, status: str | None = None) -> list[Filing]:
    """A merchant's own filings; a district-bound official's district; everyone else all. Oldest first."""
    if status is not None and status not in ("submitted", "accepted", "returned", "withdrawn"):
        raise _problems(("status", "状态应为 submitted / accepted / returned", "unknown filing status"))
    q = select(Filing)
    if user.role == "merchant":
        q = q.where(Filing.merchant_id == user.id)
    elif user.role in ("district_officer", "inspector", "community_officer"):
        q = q.where(Filing.district == user.district)
    if status is not None:
        q = q.where(Filing.status == status)
    return list(s.scalars(q.order_by(Filing.submitted_at, Filing.id)))


def waited(f: Filing, now: dt.datetime | None = None) -> tuple[int, bool]:
    """(days the filing waited — submission to decision, or to now while undecided; overdue?)."""
    now = now or utcnow()
    end = f.decided_at if f.status in ("accepted", "returned") and f.decided_at else now
    days = max(0, (end - f.submitted_at).days)
    overdue = f.due is not None and end.date() > f.due
    return days, overdue


def filing_json(s: Session, f: Filing) -> dict[str, Any]:
    days, overdue = waited(f)
    o = s.get(Outlet, f.outlet_id)
    docs = files.attachments(s, ENTITY, f.id)
    return (audit.snapshot(f) or {}) | {
        "waited_days": days,
        "overdue": overdue,
        "outlet": {"id": o.id, "name": o.name, "formats": o.formats, "status": o.status} if o else None,
        "documents": [{"id": a.id, "filename": a.filename, "size_bytes": a.size_bytes} for a in docs],
    }


# ------------------------------------------------------------------ the merchant's steps


def submit_filing(
    s: Session,
    user: User,
    data: dict[str, Any],
    *,
    commitment_accepted: Any,
    commitment_version: str | None = None,
) -> Filing:
    """File a new outlet: a pending outlet owned by the merchant and a filing, both audited."""
    require_file(user)
    clean = check_outlet_fields(data, partial=False, extra=_check_commitment(commitment_accepted, commitment_version))
    circle_id, district = place(s, clean["lon"], clean["lat"])
    if district is None:
        raise _problems(("lon", "坐标不在本市任何区内", "the point is in none of the city's districts"))
    now, c = utcnow(), commitment()
    o = Outlet(
        id=new_outlet_id(s, clean["name"], clean["lon"], clean["lat"]),
        circle_id=circle_id,
        district=district,
        status="pending",
        owner_id=user.id,
        source="filing",
        created_at=now,
        updated_at=now,
        version=1,
        **clean,
    )
    s.add(o)
    s.flush()
    f = Filing(
        outlet_id=o.id,
        merchant_id=user.id,
        district=district,
        status="submitted",
        commitment_version=c.version,
        commitment_accepted_at=now,
        submitted_at=now,
        due=add_working_days(now.date(), c.decision_working_days),
        round=1,
    )
    s.add(f)
    s.flush()
    audit.record(s, user, "create", "outlet", o.id, None, audit.snapshot(o))
    audit.record(s, user, "submit", ENTITY, f.id, None, audit.snapshot(f))
    return f


def _require_own(user: User, f: Filing) -> None:
    if user.role != "merchant" or f.merchant_id != user.id:
        raise deny("只有提交备案的商户可以操作", "only the merchant who filed may do this")


def add_document(
    s: Session, user: User, settings: Settings, prog: Programme, filing_id: int, filename: str, data: bytes
) -> Attachment:
    """Attach a document (jpg/png/pdf) to the merchant's own filing while it is not decided."""
    f = get_filing(s, user, filing_id)
    _require_own(user, f)
    if f.status == "accepted":
        raise _problems(("file", "备案已通过，不能再补充材料", "the filing was accepted; no more documents"))
    return files.attach(s, user, settings, prog, ENTITY, f.id, filename=filename, data=data, purpose="document")


def resubmit_filing(
    s: Session,
    user: User,
    filing_id: int,
    data: dict[str, Any],
    *,
    commitment_accepted: Any,
    commitment_version: str | None = None,
) -> Filing:
    """Correct a returned filing's outlet (fields as in PATCH) and submit it again (round + 1)."""
    f = get_filing(s, user, filing_id)
    _require_own(user, f)
    extra = _check_commitment(commitment_accepted, commitment_version)
    if f.status != "returned":
        extra.append(("status", "只有被退回的备案可以重新提交", "only a returned filing can be resubmitted"))
    clean = check_outlet_fields(data, partial=True, extra=extra)
    o = s.get(Outlet, f.outlet_id)
    assert o is not None
    apply_changes(s, user, o, clean, seen_version=o.version)
    if o.district is None:
        raise _problems(("lon", "坐标不在本市任何区内", "the point is in none of the city's districts"))
    before, now, c = audit.snapshot(f), utcnow(), commitment()
    values = {
        "status": "submitted",
        "round": f.round + 1,
        "district": o.district,
        "submitted_at": now,
        "due": add_working_days(now.date(), c.decision_working_days),
        "commitment_version": c.version,
        "commitment_accepted_at": now,
        "decided_at": None,
        "decided_by": None,
    }
    _conditional(s, f, values)
    audit.record(s, user, "resubmit", ENTITY, f.id, before, audit.snapshot(f))
    return f


# ------------------------------------------------------------------ the district's decision


def _conditional(s: Session, f: Filing, values: dict[str, Any]) -> None:
    """One UPDATE of ``f`` on the status and round read: 409 when another change came first."""
    seen_status, seen_round = f.status, f.round
    res = s.execute(
        update(Filing)
        .where(Filing.id == f.id, Filing.status == seen_status, Filing.round == seen_round)
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    if res.rowcount != 1:  # type: ignore[attr-defined]
        s.expire(f)
        now = s.scalar(select(Filing.status).where(Filing.id == f.id))
        raise ConflictError(
            t(f"备案已被他人处理（当前状态：{now}），请刷新", f"the filing was already handled (now {now}); reload"),
            current=now,
        )
    s.refresh(f)


def _decidable(s: Session, user: User, filing_id: int) -> Filing:
    f = get_filing(s, user, filing_id)
    require_decide_filing(user, f.district)
    if f.status != "submitted":
        raise ConflictError(
            t(f"备案当前状态为 {f.status}，不能再作决定", f"the filing is {f.status}; nothing to decide"),
            current=f.status,
        )
    return f


def accept_filing(s: Session, user: User, filing_id: int) -> Filing:
    """Accept a submitted filing: the outlet opens (``open`` event)."""
    f = _decidable(s, user, filing_id)
    before, now = audit.snapshot(f), utcnow()
    _conditional(s, f, {"status": "accepted", "decided_at": now, "decided_by": user.id, "reasons": ""})
    o = s.get(Outlet, f.outlet_id)
    assert o is not None
    o_before = audit.snapshot(o)
    o.status, o.opened_at, o.updated_at, o.version = "open", now, now, o.version + 1
    s.flush()
    event(s, o.id, "open")
    audit.record(s, user, "accept", ENTITY, f.id, before, audit.snapshot(f))
    audit.record(s, user, "open", "outlet", o.id, o_before, audit.snapshot(o))
    return f


def return_filing(s: Session, user: User, filing_id: int, reasons: str) -> Filing:
    """Return a submitted filing to its merchant with the reasons (required)."""
    f = _decidable(s, user, filing_id)
    if not reasons or not reasons.strip() or len(reasons) > 5000:
        raise _problems(("reasons", "请写明退回理由（最长 5000 字）", "give the reasons (≤ 5000 characters)"))
    before = audit.snapshot(f)
    _conditional(
        s, f, {"status": "returned", "decided_at": utcnow(), "decided_by": user.id, "reasons": reasons.strip()}
    )
    audit.record(s, user, "return", ENTITY, f.id, before, audit.snapshot(f))
    return f
