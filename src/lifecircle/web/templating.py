"""The Jinja templates of the pages and the helpers they call (labels, numbers, format names)."""

from __future__ import annotations

import datetime as dt
import functools
import math
from pathlib import Path
from typing import Any
from urllib.parse import quote
from zoneinfo import ZoneInfo

from fastapi.templating import Jinja2Templates

from lifecircle.i18n import get_lang, t
from lifecircle.platform import permissions, service
from lifecircle.platform.db import ROLE_LABELS
from lifecircle.platform.permissions import can_issue_codes
from lifecircle.platform.programme import Programme
from lifecircle.profile import Profile, load_profile
from lifecircle.reports.common import gap_names

HERE = Path(__file__).resolve().parent


def make_templates(prog: Programme, timezone: str = "Asia/Shanghai") -> Jinja2Templates:
    """The page templates with their globals (translation, labels, number formats) and the
    ``local_time`` filter (stored UTC → ``timezone``, the setting ``LIFECIRCLE_TIMEZONE``)."""
    templates = Jinja2Templates(directory=HERE / "templates")
    zone = ZoneInfo(timezone)
    templates.env.filters["local_time"] = lambda v, fmt="%Y-%m-%d %H:%M": local_time(v, zone, fmt)
    templates.env.globals.update(
        t=t,
        get_lang=get_lang,
        can_issue_codes=can_issue_codes,
        role_label=lambda r: t(*ROLE_LABELS.get(r, (r, r))),
        grade_label=lambda g: t(*service.GRADES.get(g, (g or "—", g or "—"))),
        decision_label=lambda d: t(*service.DECISIONS.get(d, (d, d))),
        fund_label=lambda k: t(*service.FUND_KINDS.get(k, (k, k))),
        status_label=prog.status_label,
        fmt_pct=fmt_pct,
        home_page=permissions.home_page,
        fmt_num=fmt_num,
        quote=quote,
        format_names=format_names,
        pct_class=pct_class,
    )
    return templates


def local_time(v: Any, zone: ZoneInfo, fmt: str = "%Y-%m-%d %H:%M") -> str:
    """A stored time (naive UTC datetime or ISO text) in the local zone, as ``fmt``."""
    if v is None or v == "":
        return "—"
    if isinstance(v, str):
        try:
            v = dt.datetime.fromisoformat(v)
        except ValueError:
            return v
    if isinstance(v, dt.datetime):
        if v.tzinfo is None:
            v = v.replace(tzinfo=dt.UTC)
        return v.astimezone(zone).strftime(fmt)
    return str(v)


@functools.lru_cache(maxsize=1)
def _catalogue() -> Profile:
    return load_profile()


def catalogue() -> Profile:
    """The format catalogue the pages name formats from (the default profile's)."""
    return _catalogue()


def format_names(codes: str | None) -> str:
    """'a;b' format codes as display names in the current language (unknown codes as they are)."""
    names = {f.code: f.name() for f in _catalogue().formats}
    return gap_names(codes, names, sep=t("、", ", "))


def pct_class(x: Any, prefix: str = "w") -> str:
    """A share 0..1 as a CSS class ``w-0`` … ``w-100`` (bar widths without inline styles, which the
    CSP refuses); ``prefix="at"`` for a marker's position."""
    try:
        v = float(x)
    except (TypeError, ValueError):
        v = 0.0
    if math.isnan(v):
        v = 0.0
    return f"{prefix}-{min(max(round(v * 100), 0), 100)}"


def fmt_pct(x: Any, nd: int = 0) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "—"
    return f"{x * 100:.{nd}f}%"


def fmt_num(x: Any, nd: int = 2) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "—"
    if isinstance(x, bool):
        return t("是", "yes") if x else t("否", "no")
    if isinstance(x, int):
        return f"{x:,}"
    if isinstance(x, float):
        return f"{x:,.{nd}f}"
    return str(x)
