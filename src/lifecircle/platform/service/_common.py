"""What every part of the service shares: grade, decision and fund labels, the period pattern,
visible districts and the problem builder."""

from __future__ import annotations

import re

from sqlalchemy import select
from sqlalchemy.orm import Session

from lifecircle.errors import InputError, Problem
from lifecircle.i18n import t
from lifecircle.platform.db import (
    District,
    User,
)
from lifecircle.platform.permissions import (
    can_see_district,
)

GRADES = {
    "basic": ("基础型", "Basic"),
    "upgraded": ("提升型", "Upgraded"),
    "quality": ("品质型", "Quality"),
    "none": ("未达标", "Below standard"),
}
DECISIONS = {
    "recommend": ("评估建议", "Evaluator's recommendation"),
    "accept": ("验收通过", "Accepted"),
    "return": ("退回整改", "Returned for rework"),
}
FUND_KINDS = {"fund": ("建设资金", "Construction funds"), "award": ("奖补资金", "Award / subsidy")}
PERIOD_RE = re.compile(r"^\d{4}(H[12]|Q[1-4]|M(0[1-9]|1[0-2]))?$")


# ------------------------------------------------------------------ permissions (rules in permissions.py)


def visible_districts(s: Session, user: User) -> list[District]:
    """The districts ``user`` may see, in the programme's order."""
    return [d for d in s.scalars(select(District).order_by(District.seq)) if can_see_district(user, d.code)]


def _problems(*items: tuple[str, str, str]) -> InputError:
    return InputError([Problem(t(zh, en), field=f) for f, zh, en in items])
