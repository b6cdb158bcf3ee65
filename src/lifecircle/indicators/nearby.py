"""What is within 15 minutes' walk of a point (M12): every open outlet it reaches, per format of the
catalogue the nearest walking distance and time and the counts within 5/10/15 minutes, and the
walking isochrones — from one bounded search (:class:`lifecircle.network.nearby.PointSearch`).

:class:`NearbyIndex` holds the outlets snapped to the network (the profile's ``snap_max_m``, as the
batch snaps them) and grouped by edge. Outlets are added, replaced or removed one at a time
(:meth:`NearbyIndex.put`, :meth:`NearbyIndex.remove`: one snap each); the grouping by edge is
redone (an ``argsort``, milliseconds) at the next query after a change.

The answers equal the ``access`` command's table (:func:`lifecircle.network.table.access_table`)
for the same point, outlets and speed: the nearest metres of each format where it is within the
search bound (the largest walking layer at the given speed; beyond it ``None``: not within a
15-minute walk) and the counts within each layer (:func:`lifecircle.network.engine.within`).
Distances in metres, times in minutes, speeds in km/h, coordinates WGS-84 degrees.
"""

from __future__ import annotations

import datetime as dt
import json
import threading
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np
import shapely
from numpy.typing import NDArray

from lifecircle.errors import InputError
from lifecircle.i18n import t
from lifecircle.indicators.opening_hours import is_open
from lifecircle.network import kernels
from lifecircle.network.engine import WITHIN_RTOL, edge_points, metres, minutes, within
from lifecircle.network.graph import WalkNetwork
from lifecircle.network.nearby import PointSearch
from lifecircle.network.snap import Snapped, snap_lonlat
from lifecircle.profile import Profile

N_NEAREST = 5  # outlets listed per format
ISO_CACHE = 256  # isochrones kept (GeoJSON), by start


@dataclass
class NearbyOutlet:
    """One outlet as the index holds it: ``formats`` (profile codes), position and ``info`` (the
    fields the answer shows; the caller decides which fields are public)."""

    id: str
    formats: list[str]
    lon: float
    lat: float
    info: dict[str, Any]


class NearbyIndex:
    """Open outlets on the walking network, answering "what is near this point" (module docstring).
    Thread-safe."""

    def __init__(self, net: WalkNetwork, profile: Profile, outlets: Iterable[NearbyOutlet] = ()) -> None:
        self.net, self.profile = net, profile
        self.search = PointSearch(net)
        self._codes = {c: i for i, c in enumerate(profile.codes)}
        self._lock = threading.Lock()
        self._outlets: list[NearbyOutlet | None] = []
        self._slot: dict[str, int] = {}
        self._cats: list[NDArray[np.int64]] = []
        self._snap = Snapped(
            np.zeros(0, np.int32), np.zeros(0), np.zeros(0), np.zeros(0, bool), np.zeros(0), np.zeros(0)
        )
        self._targets: kernels.EdgePoints | None = None
        self._iso_cache: OrderedDict[tuple, dict[str, Any]] = OrderedDict()
        self.put_many(list(outlets))

    # ------------------------------------------------------------------ the outlets
    def put_many(self, outlets: list[NearbyOutlet]) -> None:
        """Add (or replace) outlets: one snap for all of them."""
        with self._lock:
            for o in outlets:
                self._drop(o.id)
            if not outlets:
                return
            snap = snap_lonlat(
                self.net,
                np.array([o.lon for o in outlets], float),
                np.array([o.lat for o in outlets], float),
                self.profile.walking.snap_max_m,
            )
            base = len(self._outlets)
            s = self._snap
            self._snap = Snapped(
                np.concatenate([s.edge, snap.edge]).astype(np.int32),
                np.concatenate([s.pos_m, snap.pos_m]),
                np.concatenate([s.offset_m, snap.offset_m]),
                np.concatenate([s.ok, snap.ok]),
                np.concatenate([s.x, snap.x]),
                np.concatenate([s.y, snap.y]),
            )
            for k, o in enumerate(outlets):
                self._slot[o.id] = base + k
                self._outlets.append(o)
                cats = sorted({self._codes[c] for c in o.formats if c in self._codes})
                self._cats.append(np.array(cats, dtype=np.int64))
            self._targets = None

    def put(self, outlet: NearbyOutlet) -> None:
        """Add outlet ``outlet`` (replacing one with its id)."""
        self.put_many([outlet])

    def remove(self, outlet_id: str) -> None:
        """Take outlet ``outlet_id`` away (nothing if it is not there)."""
        with self._lock:
            self._drop(outlet_id)

    def _drop(self, outlet_id: str) -> None:
        k = self._slot.pop(outlet_id, None)
        if k is None:
            return
        self._outlets[k] = None
        self._snap.ok[k] = False  # a tombstone: on no edge from the next grouping on
        self._targets = None
        if len(self._slot) * 2 < len(self._outlets) and len(self._outlets) > 64:
            self._compact()

    def _compact(self) -> None:
        keep = np.array([k for k, o in enumerate(self._outlets) if o is not None], dtype=np.int64)
        self._snap = self._snap.subset(keep)
        self._outlets = [self._outlets[k] for k in keep]
        self._cats = [self._cats[k] for k in keep]
        self._slot = {o.id: k for k, o in enumerate(self._outlets) if o is not None}

    def outlets(self) -> list[NearbyOutlet]:
        """The outlets held (in no particular order)."""
        with self._lock:
            return [o for o in self._outlets if o is not None]

    def _state(self) -> tuple[kernels.EdgePoints, list[NearbyOutlet | None], list[NDArray[np.int64]]]:
        with self._lock:
            if self._targets is None:
                self._targets = edge_points(self._snap, self.net.n_edges)
            return self._targets, list(self._outlets), list(self._cats)

    # ------------------------------------------------------------------ queries
    def snap_point(self, lon: float, lat: float) -> Snapped:
        """The point snapped to its street; :class:`InputError` when it is farther than the
        profile's ``snap_max_m`` metres from every street (or not a finite position)."""
        lim = self.profile.walking.snap_max_m
        if not (np.isfinite(lon) and np.isfinite(lat)):
            raise InputError(t("经纬度必须为有限数值", "longitude and latitude must be finite numbers"))
        snap = snap_lonlat(self.net, np.array([lon], float), np.array([lat], float), lim)
        if not bool(snap.ok[0]):
            raise InputError(
                t(
                    f"该点（{lon:.5f}, {lat:.5f}）距最近道路超过 {lim:g} 米，不在城市路网范围内",
                    f"the point ({lon:.5f}, {lat:.5f}) is more than {lim:g} m from any street of the city",
                )
            )
        return snap

    def query(
        self,
        lon: float,
        lat: float,
        speed_kmh: float,
        *,
        max_minutes: float = 15.0,
        now: dt.datetime | None = None,
        isochrone: bool = True,
        n_nearest: int = N_NEAREST,
    ) -> dict[str, Any]:
        """What is near ``(lon, lat)`` walking at ``speed_kmh``: ``formats`` (one entry per format
        of the profile: ``code, name_zh, name_en, class, layer_min, nearest_m, walk_min, n_<m>min``
        per walking layer, ``outlets``: the ``n_nearest`` nearest within ``max_minutes``, each with
        ``walk_m``, ``walk_min``, ``open_now`` at ``now`` (local time; ``None`` without it or for
        hours not understood) and its ``info``), ``isochrone`` (GeoJSON FeatureCollection, one
        polygon per layer up to ``max_minutes`` and ``max_minutes`` itself) and the snapped point's
        ``snap_m`` (metres to its street)."""
        w = self.profile.walking
        layers = sorted(set(w.layers_min))
        if not (0 < max_minutes <= max(layers)):
            raise InputError(
                t(f"分钟数应在 0 到 {max(layers):g} 之间", f"minutes must be more than 0 and at most {max(layers):g}")
            )
        start = self.snap_point(lon, lat)
        limits = metres(np.array(layers, float), speed_kmh)
        bound = float(limits.max()) * (1.0 + WITHIN_RTOL) * (1.0 + 1e-9)
        targets, outlets, cats = self._state()
        found = self.search.search(start, targets, bound)
        # one row per (outlet, format) reached
        lens = np.array([len(cats[q]) for q in found.target], dtype=np.int64)
        row_outlet = np.repeat(found.target, lens)
        row_d = np.repeat(found.dist_m, lens)
        row_cat = np.concatenate([cats[q] for q in found.target]) if len(found.target) else np.zeros(0, np.int64)
        inside = within(row_d[:, None], limits[None, :])  # (row, layer)
        show_m = float(metres(max_minutes, speed_kmh))
        formats = []
        for c, f in enumerate(self.profile.formats):
            sel = np.flatnonzero(row_cat == c)
            d, o = row_d[sel], row_outlet[sel]
            order = np.lexsort(([outlets[q].id for q in o], d)) if len(sel) else sel
            d, o = d[order], o[order]
            reach = within(d, bound)
            near = float(d[0]) if len(d) and reach[0] else None
            entry: dict[str, Any] = {
                "code": f.code,
                "name_zh": f.zh,
                "name_en": f.en,
                "class": f.cls,
                "layer_min": f.layer_min,
                "nearest_m": None if near is None else round(near, 1),
                "walk_min": None if near is None else round(float(minutes(near, speed_kmh)), 1),
            }
            for k, m in enumerate(layers):
                entry[f"n_{m:g}min"] = int(inside[sel, k].sum())
            shown = [(float(dd), int(q)) for dd, q in zip(d, o, strict=True) if within(dd, show_m)][:n_nearest]
            entry["outlets"] = [self._outlet_json(outlets[q], dd, speed_kmh, now) for dd, q in shown]
            formats.append(entry)
        out: dict[str, Any] = {"formats": formats, "speed_kmh": speed_kmh, "snap_m": round(found.offset_m, 1)}
        if isochrone:
            out["isochrone"] = self._isochrone(found, layers, max_minutes, speed_kmh)
        return out

    def _isochrone(self, found: Any, layers: list[float], max_minutes: float, speed_kmh: float) -> dict[str, Any]:
        """The isochrones as GeoJSON; kept for the last :data:`ISO_CACHE` starts (to the metre):
        they depend on the streets only, and residents ask about the same places (a community
        found by name) again and again."""
        key = (found.edge, round(found.pos_m), round(found.offset_m), speed_kmh, max_minutes)
        with self._lock:
            hit = self._iso_cache.get(key)
            if hit is not None:
                self._iso_cache.move_to_end(key)
                return hit
        mins = sorted({m for m in layers if m <= max_minutes} | {float(max_minutes)})
        radii = [float(metres(m, speed_kmh)) for m in mins]
        polys = self.search.isochrones(found, radii, self.profile.walking.isochrone_buffer_m)
        geo = {
            "type": "FeatureCollection",
            "features": [
                {"type": "Feature", "properties": {"minutes": m}, "geometry": json.loads(shapely.to_geojson(p))}
                for m, p in zip(mins, polys, strict=True)
            ],
        }
        with self._lock:
            self._iso_cache[key] = geo
            while len(self._iso_cache) > ISO_CACHE:
                self._iso_cache.popitem(last=False)
        return geo

    @staticmethod
    def _outlet_json(o: NearbyOutlet | None, d: float, speed_kmh: float, now: dt.datetime | None) -> dict[str, Any]:
        assert o is not None  # only outlets on an edge are found; tombstones are on none
        hours = o.info.get("opening_hours")
        return {
            "id": o.id,
            **o.info,
            "lon": o.lon,
            "lat": o.lat,
            "walk_m": round(d, 1),
            "walk_min": round(float(minutes(d, speed_kmh)), 1),
            "open_now": is_open(hours, now) if now is not None else None,
        }
