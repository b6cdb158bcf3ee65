"""The platform tables of running the circles day to day (the plan's 规范管理运营, M9–M11).

- :class:`PlatformCity` — where the platform's city comes from (the demo city or a city store),
  so the live indicators can rebuild its communities and streets;
- :class:`Outlet`, :class:`OutletEvent` — the outlet registry (M9) and the sequence of its
  openings and closures that the live indicators follow;
- :class:`Filing` — shop opening by filing and commitment (备案承诺);
- :class:`Attachment` — files (documents, photos) of filings, inspections and environment issues;
- :class:`InspectionPlanItem`, :class:`Inspection`, :class:`Complaint` — credit-based supervision (M10);
- :class:`CommitteeMember`, :class:`Meeting`, :class:`EnvIssue` — co-governance and the
  environment (M11).

Coordinates are WGS-84 longitude/latitude in degrees; floor areas in m²; times naive UTC.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, Boolean, Date, DateTime, Float, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from lifecircle.platform.db import Base, utcnow

OUTLET_STATUSES = ("pending", "open", "closed")
FILING_STATUSES = ("submitted", "accepted", "returned", "withdrawn")
CREDIT_CLASSES = ("A", "B", "C", "D")
COMMITTEE_ROLES = {
    "operator": ("运营主体", "Operator"),
    "street_office": ("街道办事处", "Street office"),
    "community": ("社区居委会", "Community committee"),
    "property": ("物业公司", "Property company"),
    "merchant": ("商户代表", "Merchants' representative"),
    "resident": ("居民代表", "Residents' representative"),
}
ENV_CATEGORIES = {
    "discharge": ("乱排乱放", "Illegal discharge / dumping"),
    "street_vending": ("占道经营", "Business on the street"),
    "signboard": ("招牌设置", "Signboards"),
    "waste_sorting": ("垃圾分类", "Waste sorting"),
    "other": ("其他", "Other"),
}
ENV_STATUSES = ("reported", "assigned", "closed")
COMPLAINT_STATUSES = ("open", "answered")


class PlatformCity(Base):
    """The one city the platform runs (row ``id = 1``): the demo city (``kind = "demo"``, its seed
    and scale) or a city of a store (``kind = "store"``, the store's path and the city's name)."""

    __tablename__ = "platform_city"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    store_path: Mapped[str] = mapped_column(Text, default="")
    city_name: Mapped[str] = mapped_column(String(128), default="")
    seed: Mapped[int | None] = mapped_column(Integer, nullable=True)
    scale: Mapped[float | None] = mapped_column(Float, nullable=True)
    synthetic: Mapped[bool] = mapped_column(Boolean, default=False)
    at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)


class Outlet(Base):
    """An outlet (网点) of the registry; ``formats`` is a list of format codes (一店多能).

    ``status``: ``pending`` (filed by a merchant, not yet accepted), ``open``, ``closed``.
    ``version`` grows with every change, so an edit made on a stale copy is refused (409)."""

    __tablename__ = "outlets"
    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(128))
    formats: Mapped[Any] = mapped_column(JSON)
    lon: Mapped[float] = mapped_column(Float)
    lat: Mapped[float] = mapped_column(Float)
    district: Mapped[str | None] = mapped_column(String(16), nullable=True, index=True)
    circle_id: Mapped[str | None] = mapped_column(String(32), nullable=True, index=True)
    address: Mapped[str] = mapped_column(String(255), default="")
    brand: Mapped[str] = mapped_column(String(64), default="")
    is_chain: Mapped[bool] = mapped_column(Boolean, default=False)
    floor_area_m2: Mapped[float | None] = mapped_column(Float, nullable=True)
    opening_hours: Mapped[str] = mapped_column(String(128), default="")
    accepts_cash: Mapped[bool] = mapped_column(Boolean, default=True)
    accepts_card: Mapped[bool] = mapped_column(Boolean, default=True)
    mobile_payment: Mapped[bool] = mapped_column(Boolean, default=True)
    barrier_free: Mapped[bool] = mapped_column(Boolean, default=False)
    elderly_counter: Mapped[bool] = mapped_column(Boolean, default=False)
    online_pickup: Mapped[bool] = mapped_column(Boolean, default=False)  # 网订店取
    delivery: Mapped[bool] = mapped_column(Boolean, default=False)
    home_service: Mapped[bool] = mapped_column(Boolean, default=False)
    status: Mapped[str] = mapped_column(String(16), default="open", index=True)
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), nullable=True, index=True)
    source: Mapped[str] = mapped_column(String(32), default="registry")
    synthetic: Mapped[bool] = mapped_column(Boolean, default=False)
    credit_class: Mapped[str | None] = mapped_column(String(1), nullable=True)
    credit_reasons: Mapped[Any] = mapped_column(JSON, nullable=True)
    integrity: Mapped[bool] = mapped_column(Boolean, default=False)  # 诚信商店
    integrity_reasons: Mapped[Any] = mapped_column(JSON, nullable=True)
    opened_at: Mapped[dt.datetime | None] = mapped_column(DateTime, nullable=True)
    closed_at: Mapped[dt.datetime | None] = mapped_column(DateTime, nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    version: Mapped[int] = mapped_column(Integer, default=1)


class OutletEvent(Base):
    """An outlet opened, closed, moved or changed its formats: the sequence the live indicators
    apply in order (``seq``), so every server process catches up from the database."""

    __tablename__ = "outlet_events"
    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    outlet_id: Mapped[str] = mapped_column(String(32), index=True)
    kind: Mapped[str] = mapped_column(String(16))  # open | close | update
    at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)


class Filing(Base):
    """A merchant's filing to open an outlet (备案承诺): submitted with the commitment accepted,
    then accepted (the outlet opens) or returned with reasons by the district; ``due`` is the
    date by which the district should decide."""

    __tablename__ = "filings"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    outlet_id: Mapped[str] = mapped_column(ForeignKey("outlets.id", ondelete="CASCADE"), index=True)
    merchant_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    district: Mapped[str | None] = mapped_column(String(16), nullable=True, index=True)
    status: Mapped[str] = mapped_column(String(16), default="submitted")
    commitment_version: Mapped[str] = mapped_column(String(32), default="")
    commitment_accepted_at: Mapped[dt.datetime | None] = mapped_column(DateTime, nullable=True)
    submitted_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    due: Mapped[dt.date | None] = mapped_column(Date, nullable=True)
    decided_at: Mapped[dt.datetime | None] = mapped_column(DateTime, nullable=True)
    decided_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"), nullable=True)
    reasons: Mapped[str] = mapped_column(Text, default="")
    round: Mapped[int] = mapped_column(Integer, default=1)


class Attachment(Base):
    """A file (jpg/png/pdf) of a filing, inspection, complaint or environment issue, stored on
    disk under the data dir, named by its SHA-256; ``purpose`` e.g. document, photo, close_photo."""

    __tablename__ = "attachments"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    entity: Mapped[str] = mapped_column(String(32))
    entity_id: Mapped[str] = mapped_column(String(64))
    purpose: Mapped[str] = mapped_column(String(32), default="document")
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), nullable=True)
    filename: Mapped[str] = mapped_column(String(255))
    stored_name: Mapped[str] = mapped_column(String(128))
    content_type: Mapped[str] = mapped_column(String(64))
    size_bytes: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64))
    at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    __table_args__ = (Index("ix_attachments_entity", "entity", "entity_id"),)


class InspectionPlanItem(Base):
    """One outlet to inspect in a period (``visits`` times, from its credit class), in a district,
    optionally assigned to an inspector."""

    __tablename__ = "inspection_plan"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    period: Mapped[str] = mapped_column(String(16), index=True)
    district: Mapped[str | None] = mapped_column(String(16), nullable=True, index=True)
    outlet_id: Mapped[str] = mapped_column(ForeignKey("outlets.id", ondelete="CASCADE"), index=True)
    inspector_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), nullable=True)
    credit_class: Mapped[str] = mapped_column(String(1))
    visits: Mapped[int] = mapped_column(Integer, default=1)
    due: Mapped[dt.date | None] = mapped_column(Date, nullable=True)
    at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    __table_args__ = (UniqueConstraint("period", "outlet_id", name="uq_inspection_plan_period_outlet"),)


class Inspection(Base):
    """An inspection of an outlet by a market-supervision inspector: one result per item (food
    safety, price publicity, licence: ``pass`` / ``minor`` / ``serious`` / ``na``) and findings."""

    __tablename__ = "inspections"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    outlet_id: Mapped[str] = mapped_column(ForeignKey("outlets.id", ondelete="CASCADE"), index=True)
    inspector_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    district: Mapped[str | None] = mapped_column(String(16), nullable=True, index=True)
    date: Mapped[dt.date] = mapped_column(Date)
    period: Mapped[str] = mapped_column(String(16), default="")
    food_safety: Mapped[str] = mapped_column(String(16), default="na")
    price_publicity: Mapped[str] = mapped_column(String(16), default="na")
    licence: Mapped[str] = mapped_column(String(16), default="na")
    findings: Mapped[str] = mapped_column(Text, default="")
    result: Mapped[str] = mapped_column(String(16), default="pass")
    at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)


class Complaint(Base):
    """A complaint (from a resident, the hotline or an officer) about an outlet or a place,
    routed to its district and closed with an answer."""

    __tablename__ = "complaints"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    district: Mapped[str | None] = mapped_column(String(16), nullable=True, index=True)
    circle_id: Mapped[str | None] = mapped_column(String(32), nullable=True, index=True)
    outlet_id: Mapped[str | None] = mapped_column(ForeignKey("outlets.id", ondelete="SET NULL"), nullable=True)
    category: Mapped[str] = mapped_column(String(32), default="other")
    text: Mapped[str] = mapped_column(Text)
    lon: Mapped[float | None] = mapped_column(Float, nullable=True)
    lat: Mapped[float | None] = mapped_column(Float, nullable=True)
    source: Mapped[str] = mapped_column(String(16), default="resident")
    status: Mapped[str] = mapped_column(String(16), default="open", index=True)
    substantiated: Mapped[bool | None] = mapped_column(Boolean, nullable=True)
    answer: Mapped[str] = mapped_column(Text, default="")
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"), nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    due: Mapped[dt.date | None] = mapped_column(Date, nullable=True)
    answered_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"), nullable=True)
    answered_at: Mapped[dt.datetime | None] = mapped_column(DateTime, nullable=True)


class CommitteeMember(Base):
    """A member of a circle's joint committee (共商共管): ``role`` one of :data:`COMMITTEE_ROLES`."""

    __tablename__ = "committee_members"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    circle_id: Mapped[str] = mapped_column(ForeignKey("circles.id", ondelete="CASCADE"), index=True)
    role: Mapped[str] = mapped_column(String(32))
    name: Mapped[str] = mapped_column(String(64))
    organisation: Mapped[str] = mapped_column(String(128), default="")
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)


class Meeting(Base):
    """A meeting of a circle's joint committee: minutes, the decisions taken, who attended."""

    __tablename__ = "meetings"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    circle_id: Mapped[str] = mapped_column(ForeignKey("circles.id", ondelete="CASCADE"), index=True)
    date: Mapped[dt.date] = mapped_column(Date)
    title: Mapped[str] = mapped_column(String(128))
    minutes: Mapped[str] = mapped_column(Text, default="")
    decisions: Mapped[Any] = mapped_column(JSON, default=list)
    attendees: Mapped[Any] = mapped_column(JSON, default=list)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), nullable=True)
    at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)


class EnvIssue(Base):
    """An environment problem in a circle (乱排乱放、占道经营、招牌、垃圾分类), reported with a
    photo and a place, assigned to someone, closed with a photo."""

    __tablename__ = "env_issues"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    circle_id: Mapped[str | None] = mapped_column(String(32), nullable=True, index=True)
    district: Mapped[str | None] = mapped_column(String(16), nullable=True, index=True)
    category: Mapped[str] = mapped_column(String(32))
    description: Mapped[str] = mapped_column(Text, default="")
    lon: Mapped[float | None] = mapped_column(Float, nullable=True)
    lat: Mapped[float | None] = mapped_column(Float, nullable=True)
    source: Mapped[str] = mapped_column(String(16), default="officer")
    status: Mapped[str] = mapped_column(String(16), default="reported", index=True)
    assignee: Mapped[str] = mapped_column(String(128), default="")
    reported_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"), nullable=True)
    reported_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    assigned_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"), nullable=True)
    assigned_at: Mapped[dt.datetime | None] = mapped_column(DateTime, nullable=True)
    due: Mapped[dt.date | None] = mapped_column(Date, nullable=True)
    closed_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"), nullable=True)
    closed_at: Mapped[dt.datetime | None] = mapped_column(DateTime, nullable=True)
    close_note: Mapped[str] = mapped_column(Text, default="")


# ------------------------------------------------------------------ residents' surveys (M16, residents' side)


class SurveyQuestionnaire(Base):
    """The bureau's questionnaire of a period, versioned: ``questions`` is the JSON list of
    questions (``id``, ``text_zh``, ``text_en``, ``kind`` scale/yesno/choice, …), ``key`` the id of
    the question that counts for the satisfaction target and ``satisfied_values`` the answers to it
    that count as satisfied. The newest version of a period is the one residents answer; a version
    with answers is never changed (a new version is published instead)."""

    __tablename__ = "survey_questionnaires"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    period: Mapped[str] = mapped_column(String(16), index=True)
    version: Mapped[int] = mapped_column(Integer, default=1)
    title_zh: Mapped[str] = mapped_column(String(128), default="")
    title_en: Mapped[str] = mapped_column(String(128), default="")
    questions: Mapped[Any] = mapped_column(JSON)
    key: Mapped[str] = mapped_column(String(32))
    satisfied_values: Mapped[Any] = mapped_column(JSON)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), nullable=True)
    at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    __table_args__ = (UniqueConstraint("period", "version", name="uq_questionnaire_period_version"),)


class SurveyCode(Base):
    """A household's one-time survey code for one circle and period, stored only as its keyed
    SHA-256 (HMAC with the install's secret key); ``used_at`` is set by the one conditional UPDATE
    that consumes it. Nothing about the household is stored."""

    __tablename__ = "survey_codes"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code_hash: Mapped[str] = mapped_column(String(64), unique=True)
    circle_id: Mapped[str] = mapped_column(ForeignKey("circles.id", ondelete="CASCADE"), index=True)
    period: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    used_at: Mapped[dt.datetime | None] = mapped_column(DateTime, nullable=True)


class SurveyAnswer(Base):
    """One household's answers (``{question id: value}``) to a questionnaire, for a circle and
    period; no link to the code or the household, and only the day it was given."""

    __tablename__ = "survey_answers"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    circle_id: Mapped[str] = mapped_column(ForeignKey("circles.id", ondelete="CASCADE"))  # indexed with period
    period: Mapped[str] = mapped_column(String(16))
    questionnaire_id: Mapped[int] = mapped_column(ForeignKey("survey_questionnaires.id"), index=True)
    answers: Mapped[Any] = mapped_column(JSON)
    key_satisfied: Mapped[bool] = mapped_column(Boolean, default=False)
    day: Mapped[dt.date] = mapped_column(Date)
    __table_args__ = (Index("ix_survey_answers_circle_period", "circle_id", "period"),)
