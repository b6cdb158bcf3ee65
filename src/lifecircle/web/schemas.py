"""The request bodies of the JSON API (pydantic models; the limits are the 422 rules)."""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class LoginIn(BaseModel):
    username: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=256)


class PasswordChangeIn(BaseModel):
    current_password: str = Field(min_length=1, max_length=256)
    new_password: str = Field(min_length=1, max_length=256)


class StatusIn(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    status: str = Field(min_length=1, max_length=16, description="new status: building, self_assessed, ...")
    from_: str | None = Field(
        None,
        alias="from",
        min_length=1,
        max_length=16,
        description="the status the sender saw; if the circle has moved on since, 409 "
        "naming its current status (send it: without it the change applies "
        "to whatever the status is now)",
    )
    note: str = Field("", max_length=2000)


class CircleIn(BaseModel):
    id: str = Field(min_length=1, max_length=32)
    name: str = Field(min_length=1, max_length=128)
    district: str = Field(min_length=1, max_length=16)
    phase: Literal["pilot", "rollout"]
    lon: float | None = Field(None, ge=-180, le=180, description="WGS-84 longitude, degrees")
    lat: float | None = Field(None, ge=-90, le=90, description="WGS-84 latitude, degrees")


class FundIn(BaseModel):
    kind: Literal["fund", "award"]
    amount_yuan: float = Field(gt=0, lt=1e11, description="amount in yuan (元)")
    date: dt.date
    source: str = Field("", max_length=128)
    note: str = Field("", max_length=2000)


class ScorecardIn(BaseModel):
    as_of: dt.date
    indicators: dict[str, Any]
    grade_code: Literal["basic", "upgraded", "quality", "none"] | None = None
    synthetic: bool = False


class ScoreIn(BaseModel):
    score: float = Field(ge=0, le=100, description="evaluator's score, 0–100")
    comment: str = Field("", max_length=5000)


class GradeIn(BaseModel):
    grade_code: Literal["basic", "upgraded", "quality", "none"]
    decision: Literal["recommend", "accept", "return"]
    reason: str = Field("", max_length=5000)


class SurveyIn(BaseModel):
    period: str = Field(min_length=4, max_length=16, description="2024, 2024H1, 2024Q3 or 2024M05")
    start: dt.date | None = None
    end: dt.date | None = None
    respondents: int | None = Field(None, ge=1, le=10_000_000)
    satisfied: int | None = Field(None, ge=0, le=10_000_000)


class SurveyResultsIn(BaseModel):
    respondents: int = Field(ge=1, le=10_000_000)
    satisfied: int = Field(ge=0, le=10_000_000)


class ReportIn(BaseModel):
    district: str = Field(min_length=1, max_length=16)
    period: str = Field(min_length=4, max_length=16)


class ReportEditIn(BaseModel):
    body: str = Field(min_length=1, max_length=200_000)


class UserIn(BaseModel):
    username: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=256)
    role: Literal["city_admin", "district_officer", "evaluator", "leader", "merchant", "inspector", "community_officer"]
    district: str | None = Field(None, max_length=16)
    circle_id: str | None = Field(None, max_length=32)
    display_name: str = Field("", max_length=128)


# ------------------------------------------------------------------ outlets and filings (M9)


class OutletFieldsIn(BaseModel):
    """The optional fields of an outlet (一店多能: several format codes)."""

    model_config = ConfigDict(extra="forbid")

    brand: str | None = Field(None, max_length=64)
    is_chain: bool | None = None
    floor_area_m2: float | None = Field(None, ge=0, lt=1e7, description="floor area, m²")
    opening_hours: str | None = Field(None, max_length=128)
    accepts_cash: bool | None = None
    accepts_card: bool | None = None
    mobile_payment: bool | None = None
    barrier_free: bool | None = None
    elderly_counter: bool | None = None
    online_pickup: bool | None = Field(None, description="网订店取: order online, pick up in the shop")
    delivery: bool | None = None
    home_service: bool | None = None
    address: str | None = Field(None, max_length=255)
    crs: Literal["wgs84", "gcj02", "bd09"] = Field("wgs84", description="the system of lon/lat (stored as WGS-84)")


class OutletIn(OutletFieldsIn):
    name: str = Field(min_length=1, max_length=128)
    formats: list[str] = Field(min_length=1, max_length=50, description="format codes of the profile's catalogue")
    lon: float = Field(ge=-180, le=180)
    lat: float = Field(ge=-90, le=90)


class OutletPatchIn(OutletFieldsIn):
    version: int = Field(ge=1, description="the version the sender saw; 409 when the outlet changed since")
    name: str | None = Field(None, min_length=1, max_length=128)
    formats: list[str] | None = Field(None, min_length=1, max_length=50)
    lon: float | None = Field(None, ge=-180, le=180)
    lat: float | None = Field(None, ge=-90, le=90)


class OutletCloseIn(BaseModel):
    reason: str = Field(min_length=1, max_length=2000)
    version: int | None = Field(None, ge=1)


class FilingIn(OutletIn):
    commitment_accepted: bool = Field(description="true: the merchant accepts the current commitment text")
    commitment_version: str | None = Field(None, max_length=32)


class ResubmitIn(OutletFieldsIn):
    commitment_accepted: bool
    commitment_version: str | None = Field(None, max_length=32)
    name: str | None = Field(None, min_length=1, max_length=128)
    formats: list[str] | None = Field(None, min_length=1, max_length=50)
    lon: float | None = Field(None, ge=-180, le=180)
    lat: float | None = Field(None, ge=-90, le=90)


class ReturnIn(BaseModel):
    reasons: str = Field(min_length=1, max_length=5000)
