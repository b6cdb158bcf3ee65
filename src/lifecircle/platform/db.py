"""The platform database: SQLAlchemy 2 ORM models, engine and transactions.

Tables: users, sessions, login attempts, the audit log, the programme (phases, district quotas),
circles and their status changes, funds and awards, scorecards from the engine, evaluator scores,
evidence files, grade decisions, survey campaigns, district reports (versioned) and map layers.
The tables of the day-to-day operation (outlets, filings, supervision, co-governance) are in
:mod:`lifecircle.platform.db_operations`.

Runs on SQLite (default, a file) or PostgreSQL (``DATABASE_URL``); the schema is created by the
Alembic migrations in :mod:`lifecircle.migrations`, never by ``create_all`` in production.
Times are stored as naive UTC datetimes; money in yuan (元).

Every write goes through :func:`transaction`, and the audit row is added in the same transaction
(:func:`lifecircle.platform.audit.record`), so a change and its audit entry commit or fail together.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    create_engine,
    event,
)
from sqlalchemy.engine import Engine
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, sessionmaker

ROLES = ("city_admin", "district_officer", "evaluator", "leader", "merchant", "inspector", "community_officer")
ROLE_LABELS = {
    "city_admin": ("市商务局管理员", "City administrator (Commerce Bureau)"),
    "district_officer": ("区级负责人", "District officer"),
    "evaluator": ("第三方评估员", "Evaluator (third party)"),
    "leader": ("领导（只读）", "Leader (read-only)"),
    "merchant": ("商户", "Merchant"),
    "inspector": ("市场监管检查员", "Market supervision inspector"),
    "community_officer": ("街道/社区工作人员", "Street / community officer"),
}
DISTRICT_ROLES = ("district_officer", "inspector")  # accounts bound to one district
CIRCLE_ROLES = ("community_officer",)  # accounts bound to one circle (and so its district)


def utcnow() -> dt.datetime:
    """Current time, naive UTC (what the tables store)."""
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


class Base(DeclarativeBase):
    """Declarative base of the platform tables."""


class User(Base):
    __tablename__ = "users"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    display_name: Mapped[str] = mapped_column(String(128))
    role: Mapped[str] = mapped_column(String(32))
    district: Mapped[str | None] = mapped_column(String(16), ForeignKey("districts.code"), nullable=True)
    circle_id: Mapped[str | None] = mapped_column(String(32), nullable=True)  # community officers' circle
    password_hash: Mapped[str] = mapped_column(String(255))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)


class UserSession(Base):
    """A server-side login session; the cookie holds the token, the table its SHA-256."""

    __tablename__ = "sessions"
    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    csrf_token: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    expires_at: Mapped[dt.datetime] = mapped_column(DateTime, index=True)
    ip: Mapped[str | None] = mapped_column(String(64), nullable=True)


class LoginAttempt(Base):
    __tablename__ = "login_attempts"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(64))
    ip: Mapped[str] = mapped_column(String(64))
    at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    success: Mapped[bool] = mapped_column(Boolean)
    __table_args__ = (
        Index("ix_login_attempts_user_ip_at", "username", "ip", "at"),
        Index("ix_login_attempts_username_at", "username", "at"),
        Index("ix_login_attempts_ip_at", "ip", "at"),
    )


class AuditLog(Base):
    """Who did what, when, to which entity; the entity's state before and after (JSON)."""

    __tablename__ = "audit_log"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow, index=True)
    user_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    username: Mapped[str] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(64))
    entity: Mapped[str] = mapped_column(String(64))
    entity_id: Mapped[str] = mapped_column(String(64))
    before: Mapped[Any] = mapped_column(JSON, nullable=True)
    after: Mapped[Any] = mapped_column(JSON, nullable=True)


class Phase(Base):
    __tablename__ = "phases"
    code: Mapped[str] = mapped_column(String(16), primary_key=True)
    name_zh: Mapped[str] = mapped_column(String(64))
    name_en: Mapped[str] = mapped_column(String(64))
    start: Mapped[dt.date] = mapped_column(Date)
    end: Mapped[dt.date] = mapped_column(Date)
    seq: Mapped[int] = mapped_column(Integer, default=0)


class District(Base):
    """A district and its quotas (circles to build in the pilot and the roll-out phase)."""

    __tablename__ = "districts"
    code: Mapped[str] = mapped_column(String(16), primary_key=True)
    name_zh: Mapped[str] = mapped_column(String(64))
    name_en: Mapped[str] = mapped_column(String(64))
    quota_pilot: Mapped[int] = mapped_column(Integer, default=0)
    quota_rollout: Mapped[int] = mapped_column(Integer, default=0)
    seq: Mapped[int] = mapped_column(Integer, default=0)


class Circle(Base):
    __tablename__ = "circles"
    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(128))
    district: Mapped[str] = mapped_column(ForeignKey("districts.code"), index=True)
    phase: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16), default="planned")
    synthetic: Mapped[bool] = mapped_column(Boolean, default=False)
    lon: Mapped[float | None] = mapped_column(Float, nullable=True)
    lat: Mapped[float | None] = mapped_column(Float, nullable=True)
    boundary: Mapped[Any] = mapped_column(JSON, nullable=True)  # GeoJSON geometry, WGS-84
    status_changed_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)


class StatusChange(Base):
    __tablename__ = "status_changes"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    circle_id: Mapped[str] = mapped_column(ForeignKey("circles.id", ondelete="CASCADE"), index=True)
    from_status: Mapped[str | None] = mapped_column(String(16), nullable=True)
    to_status: Mapped[str] = mapped_column(String(16))
    note: Mapped[str] = mapped_column(Text, default="")
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), nullable=True)
    at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)


class Fund(Base):
    """Money for a circle: ``kind`` fund (资金) or award (奖补); amount in yuan (元)."""

    __tablename__ = "funds"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    circle_id: Mapped[str] = mapped_column(ForeignKey("circles.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    amount_yuan: Mapped[float] = mapped_column(Float)
    source: Mapped[str] = mapped_column(String(128), default="")
    date: Mapped[dt.date] = mapped_column(Date)
    note: Mapped[str] = mapped_column(Text, default="")
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), nullable=True)
    at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)


class Scorecard(Base):
    """Indicators of a circle from the evaluation engine, as of a date (JSON)."""

    __tablename__ = "scorecards"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    circle_id: Mapped[str] = mapped_column(ForeignKey("circles.id", ondelete="CASCADE"), index=True)
    as_of: Mapped[dt.date] = mapped_column(Date)
    indicators: Mapped[Any] = mapped_column(JSON)
    grade_code: Mapped[str | None] = mapped_column(String(16), nullable=True)
    synthetic: Mapped[bool] = mapped_column(Boolean, default=False)
    source: Mapped[str] = mapped_column(String(64), default="engine")
    at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    __table_args__ = (UniqueConstraint("circle_id", "as_of", name="uq_scorecard_circle_date"),)


class EvaluatorScore(Base):
    """A score (0–100) and comment an evaluator gives a circle."""

    __tablename__ = "evaluator_scores"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    circle_id: Mapped[str] = mapped_column(ForeignKey("circles.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    score: Mapped[float] = mapped_column(Float)
    comment: Mapped[str] = mapped_column(Text, default="")
    at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)


class Evidence(Base):
    """An evidence file (jpg/png/pdf) stored on disk under the data dir, named by its SHA-256."""

    __tablename__ = "evidence"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    circle_id: Mapped[str] = mapped_column(ForeignKey("circles.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    filename: Mapped[str] = mapped_column(String(255))
    stored_name: Mapped[str] = mapped_column(String(128))
    content_type: Mapped[str] = mapped_column(String(64))
    size_bytes: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64))
    at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)


class GradeDecision(Base):
    """A grade (基础型/提升型/品质型/未达标) and an acceptance decision, with who made it."""

    __tablename__ = "grade_decisions"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    circle_id: Mapped[str] = mapped_column(ForeignKey("circles.id", ondelete="CASCADE"), index=True)
    grade_code: Mapped[str] = mapped_column(String(16))
    decision: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str] = mapped_column(Text, default="")
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)


class SurveyCampaign(Base):
    """A residents' satisfaction survey of one circle in one period, and its result."""

    __tablename__ = "survey_campaigns"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    circle_id: Mapped[str] = mapped_column(ForeignKey("circles.id", ondelete="CASCADE"), index=True)
    period: Mapped[str] = mapped_column(String(16))
    start: Mapped[dt.date | None] = mapped_column(Date, nullable=True)
    end: Mapped[dt.date | None] = mapped_column(Date, nullable=True)
    respondents: Mapped[int | None] = mapped_column(Integer, nullable=True)
    satisfied: Mapped[int | None] = mapped_column(Integer, nullable=True)
    synthetic: Mapped[bool] = mapped_column(Boolean, default=False)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), nullable=True)
    at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    __table_args__ = (UniqueConstraint("circle_id", "period", name="uq_survey_circle_period"),)


class DistrictReport(Base):
    """A periodic district report to the bureau; its text lives in versions."""

    __tablename__ = "district_reports"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    district: Mapped[str] = mapped_column(ForeignKey("districts.code"), index=True)
    period: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    __table_args__ = (UniqueConstraint("district", "period", name="uq_report_district_period"),)


class DistrictReportVersion(Base):
    __tablename__ = "district_report_versions"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    report_id: Mapped[int] = mapped_column(ForeignKey("district_reports.id", ondelete="CASCADE"), index=True)
    version: Mapped[int] = mapped_column(Integer)
    body: Mapped[str] = mapped_column(Text)
    generated: Mapped[bool] = mapped_column(Boolean, default=False)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), nullable=True)
    at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    __table_args__ = (UniqueConstraint("report_id", "version", name="uq_report_version"),)


class MapLayer(Base):
    """A simplified GeoJSON layer for the offline map (streets, districts), WGS-84."""

    __tablename__ = "map_layers"
    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    geojson: Mapped[Any] = mapped_column(JSON)
    synthetic: Mapped[bool] = mapped_column(Boolean, default=False)
    source: Mapped[str] = mapped_column(Text, default="")  # the credits of the data: any length
    at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)


def make_engine(url: str, **kw: Any) -> Engine:
    """An engine for ``url``; SQLite gets foreign keys on and a busy timeout (for threads)."""
    if url.startswith("sqlite"):
        kw.setdefault("connect_args", {"check_same_thread": False, "timeout": 30})
    else:
        kw.setdefault("pool_pre_ping", True)
    engine = create_engine(url, **kw)
    if url.startswith("sqlite"):

        @event.listens_for(engine, "connect")
        def _fk_on(dbapi_conn, _rec):
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA journal_mode=WAL")
            cur.close()

    return engine


def session_factory(engine: Engine) -> sessionmaker[Session]:
    """A session maker bound to ``engine`` (objects stay readable after commit)."""
    return sessionmaker(engine, expire_on_commit=False)


@contextmanager
def transaction(factory: sessionmaker[Session]) -> Iterator[Session]:
    """One unit of work: commit at the end, roll back on any error."""
    with factory() as s, s.begin():
        yield s
