"""Live indicators and precise gap-filling (精准补建) of the circles a user may see.

The figures come from :class:`lifecircle.platform.live.LiveCity` (the registry's open outlets, as
of the last change); the permission is the circle's (:func:`get_circle`: 404 / 403). The stored
scorecards stay dated snapshots for the evaluation; these are "now".
"""

from __future__ import annotations

import threading
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from lifecircle.i18n import get_lang
from lifecircle.platform.db import Circle, User
from lifecircle.platform.db_operations import Outlet
from lifecircle.platform.live import LiveCity
from lifecircle.platform.outlet_rows import city_outlets_table, with_outlets
from lifecircle.platform.service.circles import get_circle
from lifecircle.platform.service.progress import latest_scorecards

GRADE_ORDER = ("none", "basic", "upgraded", "quality")


def live_circle(s: Session, user: User, live: LiveCity, circle_id: str, wait_s: float | None = None) -> dict[str, Any]:
    """The live figures of one circle: ``as_of`` (UTC), ``coverage`` (format → share 0..1 of the
    circle's residents within the format's layer), ``grade``, ``gaps`` and ``indicators``; plus
    ``snapshot_grade`` (the latest stored scorecard's grade, for comparison). ``wait_s``: how long
    to wait for the live indicators being built (default :data:`~lifecircle.platform.live.BUILD_WAIT_S`)."""
    c = get_circle(s, user, circle_id)
    out = live.circle(c.id, wait_s)
    card = latest_scorecards(s, [c.id]).get(c.id)
    out["snapshot_grade"] = card.grade_code if card is not None else None
    out["snapshot_as_of"] = card.as_of.isoformat() if card is not None else None
    return out


def live_overview(s: Session, user: User, live: LiveCity) -> list[dict[str, Any]]:
    """Every visible circle's live grade and basic coverage with its time (the dashboard's table)."""
    from lifecircle.platform.permissions import can_see_district

    circles = [c for c in s.scalars(select(Circle).order_by(Circle.id)) if can_see_district(user, c.district)]
    figures = live.circles()
    cards = latest_scorecards(s, [c.id for c in circles])
    rows = []
    for c in circles:
        f = figures.get(c.id)
        if f is None:
            continue
        card = cards.get(c.id)
        rows.append(
            {
                "id": c.id,
                "name": c.name,
                "district": c.district,
                "as_of": f["as_of"],
                "grade": f["grade"],
                "basic_coverage": f["indicators"].get("basic_coverage"),
                "n_gaps": len(f["gaps"]),
                "snapshot_grade": card.grade_code if card is not None else None,
            }
        )
    return rows


_GAPFILL_CACHE: dict[tuple[int, int, str, str | None, str], dict[str, Any]] = {}
_GAPFILL_LOCK = threading.Lock()


def gap_fill_target(live_grade: str | None, snapshot_grade: str | None) -> str | None:
    """The grade to aim for: back to the snapshot's grade when the live one fell below it (a
    closure), else None (the next grade above the live one)."""
    if live_grade not in GRADE_ORDER or snapshot_grade not in GRADE_ORDER:
        return None
    fell = GRADE_ORDER.index(str(live_grade)) < GRADE_ORDER.index(str(snapshot_grade))
    return snapshot_grade if fell else None


def circle_gap_fill(
    s: Session, user: User, live: LiveCity, circle_id: str, target_grade: str | None = None
) -> dict[str, Any]:
    """The least additions (format at a candidate site, floor area checked) that bring the circle
    to ``target_grade`` — by default back to its snapshot grade after a closure, else its next
    grade — verified by re-evaluating the city with the registry's open outlets
    (:func:`lifecircle.plans.gapfill.gap_fill`). Cached until the registry changes."""
    from lifecircle.plans.gapfill import gap_fill

    fig = live_circle(s, user, live, circle_id)
    target = target_grade or gap_fill_target(fig["grade"]["code"], fig["snapshot_grade"])
    engine = live.engine()
    key = (id(engine), live.applied_seq, circle_id, target, get_lang())
    with _GAPFILL_LOCK:
        hit = _GAPFILL_CACHE.get(key)
    if hit is not None:
        return hit
    outlets = s.scalars(select(Outlet).where(Outlet.status == "open").order_by(Outlet.id))
    city = with_outlets(engine.city, city_outlets_table(outlets))
    result = gap_fill(city, engine.net, engine.profile, circle_id, target_grade=target, rules=engine.rules)
    out = result.to_dict() | {"sentence": result.sentence(), "as_of": fig["as_of"], "restore": target is not None}
    with _GAPFILL_LOCK:
        if len(_GAPFILL_CACHE) > 256:
            _GAPFILL_CACHE.clear()
        _GAPFILL_CACHE[key] = out
    return out
