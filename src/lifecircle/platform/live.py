"""The platform's live indicators: the circles' coverage, grade and gaps as the registry's outlets
open and close (issue 11; the engine is :class:`lifecircle.indicators.live.LiveIndicators`).

:class:`LiveCity` loads the platform's city once (the demo city or a store's city, as recorded in
``platform_city`` at seeding), puts the registry's open outlets in place of the city's own, builds
the live indicators, and then follows the registry's ``outlet_events`` in order: before every read
it applies the events it has not seen (an outlet that opened is added, one that closed is removed,
one that moved or changed formats is removed and added again). Every server process catches up from
the database the same way, so a change made through any process shows at the next read.
Replaying an event is idempotent (remove if present, add if open now), so an event committed while
the city was being built is safe to apply again.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from lifecircle.i18n import t
from lifecircle.platform.db import transaction
from lifecircle.platform.db_operations import Outlet, OutletEvent, PlatformCity
from lifecircle.platform.errors import NotFoundError, UnavailableError
from lifecircle.platform.outlet_rows import city_outlets_table, with_outlets

log = logging.getLogger(__name__)
BUILD_WAIT_S = 2.0  # a request waits this long (seconds) for a build in progress before a 503


def load_platform_city(src: PlatformCity) -> Any:
    """The :class:`~lifecircle.city.model.City` recorded in ``platform_city`` (demo or store)."""
    if src.kind == "demo":
        from lifecircle.city.demo import DEMO_SCALE, DEMO_SEED, build_demo_city

        return build_demo_city(
            DEMO_SEED if src.seed is None else src.seed, DEMO_SCALE if src.scale is None else src.scale
        )
    if src.kind == "store":
        from lifecircle.city.store import load_city

        return load_city(src.store_path, src.city_name)
    raise UnavailableError(t(f"未知的城市来源 '{src.kind}'", f"unknown city source '{src.kind}'"))


class LiveCity:
    """The live indicators of the platform's city, kept in step with the outlet registry."""

    def __init__(self, factory: sessionmaker[Session]) -> None:
        self._factory = factory
        self._lock = threading.Lock()  # one catch-up at a time; the engine has its own lock
        self._ready = threading.Event()
        self._started = False
        self._live: Any = None
        self._error: str | None = None
        self._no_city = False
        self._seq = 0

    # ------------------------------------------------------------------ building
    def start(self) -> None:
        """Build in a background thread (once); reads wait up to :data:`BUILD_WAIT_S` seconds."""
        with self._lock:
            if self._started:
                return
            self._started = True
        threading.Thread(target=self._build, name="lifecircle-live-build", daemon=True).start()

    def _build(self) -> None:
        try:
            self._live = self._build_engine()
        except NotFoundError as exc:  # no city behind the platform: a 404 for every read, not a failure
            self._error, self._no_city = str(exc), True
        except Exception as exc:  # shown to the user as "unavailable", with the reason
            log.exception("live indicators unavailable")
            self._error = str(exc) or type(exc).__name__
        finally:
            self._ready.set()

    def _build_engine(self) -> Any:
        from lifecircle.indicators.live import LiveIndicators
        from lifecircle.profile import load_profile

        with transaction(self._factory) as s:
            src = s.get(PlatformCity, 1)
            if src is None:
                raise NotFoundError(
                    t(
                        "平台没有关联城市数据（用 lifecircle serve --demo 或 --store 初始化），无法计算实时指标",
                        "the platform has no city data behind it (initialise with lifecircle serve --demo "
                        "or --store), so there are no live indicators",
                    )
                )
            seq = s.scalar(select(func.max(OutletEvent.seq))) or 0  # before the outlets: replay is idempotent
            outlets = list(s.scalars(select(Outlet).where(Outlet.status == "open").order_by(Outlet.id)))
            city = load_platform_city(src)
        city = with_outlets(city, city_outlets_table(outlets))
        live = LiveIndicators.build(city, load_profile(city.profile))
        self._seq = seq
        return live

    def engine(self, wait_s: float = BUILD_WAIT_S) -> Any:
        """The live engine, caught up with the registry; :class:`UnavailableError` (503) while it is
        being built (retry) or when it failed to build (the reason); :class:`NotFoundError` (404)
        when the platform has no city behind it (seeded from the quotas only)."""
        self.start()
        if not self._ready.wait(wait_s):
            raise UnavailableError(
                t("实时指标正在计算，请几秒后重试", "the live indicators are being computed; retry in a few seconds"), 5
            )
        if self._live is None and self._no_city:
            raise NotFoundError(str(self._error))
        if self._live is None:
            raise UnavailableError(t(f"实时指标不可用：{self._error}", f"live indicators unavailable: {self._error}"))
        self.catch_up()
        return self._live

    # ------------------------------------------------------------------ following the registry
    def catch_up(self) -> int:
        """Apply the outlet events not yet seen, in order; returns how many were applied."""
        with self._lock, transaction(self._factory) as s:
            events = list(s.scalars(select(OutletEvent).where(OutletEvent.seq > self._seq).order_by(OutletEvent.seq)))
            for ev in events:
                self._apply(s.get(Outlet, ev.outlet_id), ev.outlet_id)
                self._seq = ev.seq
            return len(events)

    def _apply(self, o: Outlet | None, outlet_id: str) -> None:
        live = self._live
        with contextlib.suppress(KeyError):  # not registered: nothing to remove
            live.remove_outlet(outlet_id)
        if o is not None and o.status == "open":
            live.add_outlet(
                o.id, o.lon, o.lat, list(o.formats or []), name=o.name, is_chain=bool(o.is_chain), district=o.district
            )

    # ------------------------------------------------------------------ reading
    def circle(self, circle_id: str, wait_s: float | None = None) -> dict[str, Any]:
        """The live figures of one circle (see :meth:`LiveIndicators.circle`), 404 when the city has
        no such circle (e.g. one added on the platform by hand)."""
        live = self.engine(BUILD_WAIT_S if wait_s is None else wait_s)
        try:
            return dict(live.circle(circle_id))
        except KeyError:
            raise NotFoundError(
                t(
                    f"城市数据中没有生活圈 {circle_id}，无实时指标",
                    f"no circle {circle_id} in the city data; no live figures",
                )
            ) from None

    def circles(self) -> dict[str, dict[str, Any]]:
        """The live figures of every circle of the city (id → figures)."""
        live = self.engine()
        return {cid: dict(live.circle(cid)) for cid in live.circle_ids}

    @property
    def applied_seq(self) -> int:
        """The last outlet event applied."""
        return self._seq
