"""Is an outlet open now? A small reader of the common OpenStreetMap ``opening_hours`` forms.

Understood: ``24/7``; rules separated by ``;`` of the form ``[days] times`` where ``days`` is a day,
a range or a comma list (``Mo-Fr``, ``Sa``, ``Mo,We,Fr``, ``Fr-Mo``), ``times`` one or more
``HH:MM-HH:MM`` ranges joined by ``,`` (an end past midnight, ``22:00-02:00``, runs into the next
day; ``24:00`` is midnight) or ``off`` / ``closed``; a rule without days applies every day. As in
OSM, a later rule replaces the earlier ones for the days it names. Anything else (public holidays
``PH``, months, weeks, sunrise, comments, ``+``) is not guessed: :func:`is_open` answers ``None``.
"""

from __future__ import annotations

import datetime as dt
import re
from functools import lru_cache

DAYS = ("Mo", "Tu", "We", "Th", "Fr", "Sa", "Su")
_TIME = re.compile(r"^([01]?\d|2[0-4]):([0-5]\d)-([01]?\d|2[0-4]):([0-5]\d)$")
_DAY_ITEM = re.compile(r"^(Mo|Tu|We|Th|Fr|Sa|Su)(?:-(Mo|Tu|We|Th|Fr|Sa|Su))?$")

Schedule = tuple[tuple[tuple[int, int], ...], ...]  # per weekday (Mo=0): (start, end) minutes, end may pass 1440


def _days(text: str) -> list[int] | None:
    out: list[int] = []
    for item in text.split(","):
        m = _DAY_ITEM.match(item.strip())
        if m is None:
            return None
        a = DAYS.index(m.group(1))
        b = DAYS.index(m.group(2)) if m.group(2) else a
        out.extend((a + k) % 7 for k in range((b - a) % 7 + 1))
    return out


def _times(text: str) -> list[tuple[int, int]] | None:
    if text.strip().lower() in ("off", "closed"):
        return []
    out: list[tuple[int, int]] = []
    for item in text.split(","):
        m = _TIME.match(item.strip())
        if m is None:
            return None
        start = int(m.group(1)) * 60 + int(m.group(2))
        end = int(m.group(3)) * 60 + int(m.group(4))
        if start >= 1440 or end > 1440:
            return None
        if end <= start:
            end += 1440  # into the next day
        out.append((start, end))
    return out


@lru_cache(maxsize=4096)
def parse(value: str | None) -> Schedule | None:
    """The weekly schedule of ``value``, or ``None`` when the form is not one this reader knows."""
    text = (value or "").strip()
    if not text:
        return None
    if text == "24/7":
        return tuple(((0, 1440),) for _ in range(7))
    week: list[list[tuple[int, int]]] = [[] for _ in range(7)]
    for raw in text.split(";"):
        rule = raw.strip()
        if not rule:
            continue
        head, _, rest = rule.partition(" ")
        days = _days(head) if rest else None
        if days is None:  # no day selector (or not one we read): the whole rule is times, every day
            days, rest = list(range(7)), rule
        times = _times(rest)
        if times is None:
            return None
        for d in days:
            week[d] = list(times)  # a later rule replaces the earlier for its days
    return tuple(tuple(w) for w in week)


def is_open(value: str | None, now: dt.datetime) -> bool | None:
    """Whether ``value`` (OSM ``opening_hours``) is open at ``now`` (local time of the place);
    ``None`` when the form is not understood."""
    week = parse(value)
    if week is None:
        return None
    d = now.weekday()
    m = now.hour * 60 + now.minute
    if any(a <= m < b for a, b in week[d]):
        return True
    return any(b > 1440 and m < b - 1440 for _, b in week[(d - 1) % 7])
