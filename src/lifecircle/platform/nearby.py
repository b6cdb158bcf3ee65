"""The residents' "within 15 minutes of me" (M12) on the platform: the registry's open outlets in a
:class:`~lifecircle.indicators.nearby.NearbyIndex` on the live city's own walking network (no
second network is built), kept in step with the registry's ``outlet_events``, and the search of
communities and addresses behind the resident page.

Keeping current: the index is built from the open outlets and the last event's ``seq`` read in one
transaction (as :class:`~lifecircle.platform.live.LiveCity` builds), then, before a read, whenever
the live city has applied events past the index's ``seq``, the new events are read in order and
each outlet they name is re-read: open → put (one snap), otherwise removed. Replaying is idempotent.

Smart facilities (M13) are formats of the catalogue (class ``smart``: parcel lockers, smart
freezers, vending machines, smart sorting bins, mobile food carts) and registry outlets like any
other, so they count in the circles' ``smart_coverage`` and show here. A mobile food cart is
registered once per permitted spot: the outlet's position is the spot and its ``opening_hours``
the permitted hours (the resident page says so); moving or ending a permit is an outlet event.

Only public fields leave this module (:data:`PUBLIC_FIELDS`): never the owner, credit class or
reasons, inspections or documents.
"""

from __future__ import annotations

import datetime as dt
import gc
import threading
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from lifecircle.errors import InputError
from lifecircle.i18n import t
from lifecircle.indicators.nearby import NearbyIndex, NearbyOutlet
from lifecircle.platform.db import transaction
from lifecircle.platform.db_operations import Outlet, OutletEvent
from lifecircle.platform.live import LiveCity

# What a resident may see of an outlet (besides its id, position and formats).
PUBLIC_FIELDS = (
    "name",
    "address",
    "opening_hours",
    "integrity",
    "accepts_cash",
    "accepts_card",
    "mobile_payment",
    "barrier_free",
    "elderly_counter",
    "online_pickup",
    "delivery",
    "home_service",
)
SEARCH_LIMIT = 10


def public_outlet(o: Outlet) -> NearbyOutlet:
    """The registry row as the resident's service holds it: public fields only."""
    info = {f: getattr(o, f) for f in PUBLIC_FIELDS}
    info["opening_hours"] = info["opening_hours"] or None
    return NearbyOutlet(str(o.id), [str(c) for c in (o.formats or [])], float(o.lon), float(o.lat), info)


@dataclass
class _Place:
    kind: str  # community | address
    label: str
    key: str  # lower-case text matched
    lon: float
    lat: float


class PublicNearby:
    """The index of open outlets and the search, following the registry (module docstring)."""

    def __init__(self, factory: sessionmaker[Session], live: LiveCity, timezone: str = "Asia/Shanghai") -> None:
        self._factory, self._live, self._tz = factory, live, ZoneInfo(timezone)
        self._lock = threading.Lock()
        self._index: NearbyIndex | None = None
        self._engine: Any = None
        self._seq = 0
        self._places: tuple[int, list[_Place]] | None = None

    @property
    def seq(self) -> int:
        """The last outlet event the index has applied (the registry version it answers for)."""
        return self._seq

    def index(self) -> NearbyIndex:
        """The index, caught up with the registry (503 / 404 as :meth:`LiveCity.engine`)."""
        engine = self._live.engine()
        with self._lock:
            if self._index is None or self._engine is not engine:
                self._build(engine)
            elif self._live.applied_seq > self._seq:
                self._catch_up()
            assert self._index is not None
            return self._index

    def _build(self, engine: Any) -> None:
        with transaction(self._factory) as s:
            seq = s.scalar(select(func.max(OutletEvent.seq))) or 0
            rows = [public_outlet(o) for o in s.scalars(select(Outlet).where(Outlet.status == "open"))]
        self._index = NearbyIndex(engine.net, engine.profile, rows)
        self._engine, self._seq, self._places = engine, seq, None
        # The city, its network and the indexes live as long as the process: out of the cyclic
        # collector's way, or each full collection walks them all (200-300 ms pauses of every
        # request in flight on the full-size city). Objects made later are collected as usual; what
        # an earlier freeze kept (another app in the same process, as in the tests) is looked at again.
        gc.unfreeze()
        gc.collect()
        gc.freeze()

    def _catch_up(self) -> None:
        assert self._index is not None
        with transaction(self._factory) as s:
            events = list(s.scalars(select(OutletEvent).where(OutletEvent.seq > self._seq).order_by(OutletEvent.seq)))
            for ev in events:
                o = s.get(Outlet, ev.outlet_id)
                if o is not None and o.status == "open":
                    self._index.put(public_outlet(o))
                else:
                    self._index.remove(ev.outlet_id)
                self._seq = ev.seq

    # ------------------------------------------------------------------ answers
    def now(self) -> dt.datetime:
        """The time now in the city's time zone."""
        return dt.datetime.now(self._tz)

    def nearby(
        self, lon: float, lat: float, *, elderly: bool = False, minutes: float = 15.0, isochrone: bool = True
    ) -> dict[str, Any]:
        """What is near ``(lon, lat)`` (WGS-84): see :meth:`NearbyIndex.query`; plus ``as_of`` (UTC)
        and ``registry_seq``."""
        idx = self.index()
        w = idx.profile.walking
        speed = w.elderly_speed_kmh if elderly else w.speed_kmh
        out = idx.query(lon, lat, speed, max_minutes=minutes, now=self.now(), isochrone=isochrone)
        out["speed"] = "elderly" if elderly else "default"
        out["as_of"] = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
        out["registry_seq"] = self._seq
        return out

    def _place_list(self) -> list[_Place]:
        idx = self.index()
        with self._lock:
            if self._places is not None and self._places[0] == self._seq:
                return self._places[1]
            comm = self._engine.city.communities
            places = [
                _Place("community", str(n), str(n).lower(), float(x), float(y))
                for n, x, y in zip(comm["name"], comm["lon"], comm["lat"], strict=True)
                if isinstance(n, str) and n
            ]
            for o in idx.outlets():
                addr = o.info.get("address") or ""
                if addr:
                    places.append(
                        _Place("address", f"{addr}（{o.info.get('name') or ''}）", addr.lower(), o.lon, o.lat)
                    )
            self._places = (self._seq, places)
            return places

    def search(self, q: str) -> dict[str, Any]:
        """Communities whose name and outlets whose address contain ``q`` (case-insensitive): up to
        :data:`SEARCH_LIMIT` places, communities first, shorter (closer) matches first."""
        key = q.strip().lower()
        if not key:
            raise InputError(t("请输入小区名称或地址", "type a community name or an address"))
        hits = [p for p in self._place_list() if key in p.key]
        hits.sort(key=lambda p: (p.kind != "community", len(p.key), p.label))
        return {
            "q": q,
            "places": [
                {"kind": p.kind, "label": p.label, "lon": round(p.lon, 6), "lat": round(p.lat, 6)}
                for p in hits[:SEARCH_LIMIT]
            ],
            "registry_seq": self._seq,
        }
