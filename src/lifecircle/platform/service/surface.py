"""The walking-time surface of the platform's live city (issue 14): ``GET /api/surface`` and the
map's hexagon layer.

The surface is :func:`lifecircle.indicators.surface.build_surface` on the live city: the network,
communities and districts of the platform's city with the registry's open outlets as the live
engine holds them (:meth:`lifecircle.indicators.live.LiveIndicators.outlets_table`, caught up with
``outlet_events`` at every read). So an outlet registered, accepted or closed changes it at the
next request. It is built once per live-engine version and H3 resolution (about half a second on
the full demo city) and each answer (format, speed, the user's districts, language) is kept until
the registry changes again, so repeated map requests cost a dictionary look-up.

A cell's minutes are the walk from the network nodes inside it to the nearest outlet of the format
at the default speed or the older residents' speed (km/h from the profile); a blind spot (盲区) is
a cell with residents beyond the format's walking layer (``layer_min`` minutes) or reaching none.
Colours and legend are the dashboard's (:mod:`lifecircle.reports.surface_report`).

Who sees what: :func:`~lifecircle.platform.permissions.require_see_surface` (officials, not
merchants) and :func:`~lifecircle.platform.permissions.can_see_surface_cell` per cell's district —
the whole city for the bureau, the own district for district-bound roles, as the map's circles.
"""

from __future__ import annotations

import math
import threading
import weakref
from dataclasses import dataclass, field
from typing import Any

import h3
import numpy as np
import pandas as pd

from lifecircle.errors import InputError, Problem
from lifecircle.i18n import get_lang, t
from lifecircle.indicators.surface import DEFAULT_RESOLUTION, Surface, build_surface
from lifecircle.platform.db import User
from lifecircle.platform.live import LiveCity
from lifecircle.platform.outlet_rows import with_outlets
from lifecircle.platform.permissions import can_see_surface_cell, require_see_surface
from lifecircle.reports.surface_report import minutes_colour, surface_legend

SPEEDS = ("default", "elderly")
RESOLUTIONS = (7, 8, 9, 10)  # H3 resolutions offered: cells of about 5 km² down to 0.015 km²
MAX_ANSWERS = 16  # answers kept per engine (formats × speeds × scopes × languages; ~1 KB per cell each)


@dataclass
class _Built:
    """One surface of the live city: the engine ``version`` it was built at, the surface, and each
    cell's hexagon as a closed GeoJSON ring (WGS-84 degrees, 6 decimals)."""

    version: int
    surface: Surface
    rings: list[list[list[float]]]


@dataclass
class _EngineCache:
    """What is kept for one live engine: the surfaces per resolution and the answers."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    built: dict[int, _Built] = field(default_factory=dict)
    answers: dict[tuple[Any, ...], dict[str, Any]] = field(default_factory=dict)


# keyed by the engine itself (weakly): a rebuilt engine, or another app's, starts afresh
_CACHE: weakref.WeakKeyDictionary[Any, _EngineCache] = weakref.WeakKeyDictionary()
_CACHE_LOCK = threading.Lock()


def _cache_of(engine: Any) -> _EngineCache:
    with _CACHE_LOCK:
        c = _CACHE.get(engine)
        if c is None:
            c = _CACHE[engine] = _EngineCache()
        return c


def _ring(cell: str) -> list[list[float]]:
    pts = [[round(lng, 6), round(lat, 6)] for lat, lng in h3.cell_to_boundary(cell)]
    return [*pts, pts[0]]


def _built(engine: Any, cache: _EngineCache, resolution: int) -> _Built:
    """The surface at ``resolution`` as of the engine's current version (built when out of date).
    The version is read before the outlets: a change in between makes the next read rebuild."""
    version = int(engine.version)
    b = cache.built.get(resolution)
    if b is not None and b.version == version:
        return b
    city = with_outlets(engine.city, engine.outlets_table())
    s = build_surface(city, engine.net, engine.profile, resolution=resolution)
    old = cache.built.get(resolution)
    same_cells = old is not None and old.surface.cells["h3"].tolist() == s.cells["h3"].tolist()
    rings = old.rings if old is not None and same_cells else [_ring(c) for c in s.cells["h3"]]
    b = cache.built[resolution] = _Built(version, s, rings)
    return b


def check_request(profile: Any, fmt: str, speed: str, resolution: int) -> None:
    """422 naming the field: an unknown format (the valid ones listed with their Chinese names),
    speed or resolution."""
    problems = []
    if fmt not in profile.codes:
        valid = "、".join(f"{f.zh}（{f.code}）" for f in profile.formats)
        valid_en = ", ".join(f"{f.en} ({f.code})" for f in profile.formats)
        problems.append(
            Problem(t(f"未知业态 '{fmt}'；可选：{valid}", f"unknown format '{fmt}'; valid: {valid_en}"), field="format")
        )
    if speed not in SPEEDS:
        problems.append(
            Problem(
                t(
                    f"步速应为 default（普通）或 elderly（老年人），而不是 '{speed}'",
                    f"speed: default or elderly, not '{speed}'",
                ),
                field="speed",
            )
        )
    if resolution not in RESOLUTIONS:
        rs = ", ".join(map(str, RESOLUTIONS))
        problems.append(Problem(t(f"H3 分辨率应为 {rs} 之一", f"resolution must be one of {rs}"), field="resolution"))
    if problems:
        raise InputError(problems)


def _district_names(city: Any) -> dict[str, str]:
    d = city.districts
    if not len(d):
        return {}
    zh = d["name_zh"].astype(str)
    en = d["name_en"].fillna(d["name_zh"]).astype(str) if "name_en" in d else zh
    return {c: t(z, e) for c, z, e in zip(d["code"].astype(str), zh, en, strict=True)}


def _blind_by_district(cells: pd.DataFrame, blind: np.ndarray, names: dict[str, str]) -> list[dict[str, Any]]:
    """Blind spots per district (of the cells shown): cells, residents and older residents in
    blind cells, and the district's residents; most blind residents first; districts without
    residents left out."""
    df = pd.DataFrame(
        {
            "district": cells["district"].to_numpy(),
            "blind": blind,
            "population": cells["population"].to_numpy(float),
            "elderly": cells["elderly"].to_numpy(float),
        }
    )
    rows = []
    for d, g in df.groupby("district", sort=True):
        b = g[g["blind"]]
        if not len(b) and not g["population"].sum() > 0:
            continue  # no residents, no blind spots: nothing to say
        rows.append(
            {
                "district": str(d),
                "district_name": names.get(str(d), str(d)) if d else t("区界外", "outside the districts"),
                "blind_cells": len(b),
                "blind_residents": float(b["population"].sum()),
                "blind_elderly": float(b["elderly"].sum()),
                "residents": float(g["population"].sum()),
            }
        )
    return sorted(rows, key=lambda r: (-r["blind_residents"], r["district"]))


def _answer(engine: Any, b: _Built, fmt: str, elderly: bool, shown: np.ndarray) -> dict[str, Any]:
    """The GeoJSON of the cells ``shown`` (a mask over the surface's cells) for one format and speed."""
    s, profile = b.surface, engine.profile
    f = s.column(fmt)
    fm = profile.formats[f]
    minutes = s.minutes(elderly)[:, f]
    blind = s.blind(elderly)[:, f]
    names = _district_names(engine.city)
    cells = s.cells
    idx = np.flatnonzero(shown)
    cols = zip(
        idx.tolist(),
        cells["h3"].to_numpy()[idx].tolist(),
        minutes[idx].tolist(),
        cells["population"].to_numpy(float)[idx].tolist(),
        cells["elderly"].to_numpy(float)[idx].tolist(),
        blind[idx].tolist(),
        cells["district"].astype(str).to_numpy()[idx].tolist(),
        strict=True,
    )
    feats = [
        {
            "type": "Feature",
            "geometry": {"type": "Polygon", "coordinates": [b.rings[i]]},
            "properties": {
                "h3": h,
                "minutes": m if math.isfinite(m) else None,
                "colour": minutes_colour(m),
                "residents": pop,
                "elderly": old,
                "blind": bl,
                "district": d,
                "district_name": names.get(d, d),
            },
        }
        for i, h, m, pop, old, bl, d in cols
    ]
    spots = _blind_by_district(cells[shown], blind[shown], names)
    return {
        "type": "FeatureCollection",
        "format": fm.code,
        "format_name": fm.name(),
        "layer_min": fm.layer_min,
        "speed": "elderly" if elderly else "default",
        "speed_kmh": s.elderly_speed_kmh if elderly else s.speed_kmh,
        "resolution": s.resolution,
        "version": b.version,
        "synthetic": bool(getattr(engine.city, "synthetic", False)),
        "legend": [{"colour": c, "label": lab} for c, lab in surface_legend(get_lang())],
        "features": feats,
        "blind_spots": spots,
        "totals": {
            "cells": len(feats),
            "residents": float(sum(r["residents"] for r in spots)),
            "blind_cells": int(sum(r["blind_cells"] for r in spots)),
            "blind_residents": float(sum(r["blind_residents"] for r in spots)),
            "blind_elderly": float(sum(r["blind_elderly"] for r in spots)),
        },
    }


def live_surface(
    user: User, live: LiveCity, fmt: str, speed: str = "default", resolution: int = DEFAULT_RESOLUTION
) -> dict[str, Any]:
    """The walking-time surface of format ``fmt`` on the live city as GeoJSON (WGS-84 hexagons of
    H3 ``resolution``) with each cell's ``minutes`` (to the nearest outlet, at the ``speed``'s km/h;
    None = none reachable), ``colour``, ``residents``, ``elderly``, ``blind`` and ``district``, and
    ``blind_spots`` by district (cells, residents, older residents) — the cells of the districts
    ``user`` sees. 403 for merchants, 422 for an unknown format, speed or resolution, 503 while
    the live city is built, 404 when the platform has no city."""
    require_see_surface(user)
    engine = live.engine()
    check_request(engine.profile, fmt, speed, resolution)
    cache = _cache_of(engine)
    with cache.lock:
        b = _built(engine, cache, resolution)
        districts = b.surface.cells["district"].astype(str)
        visible = {d: can_see_surface_cell(user, d) for d in districts.unique()}
        scope = tuple(sorted(d for d, ok in visible.items() if ok))
        key = (b.version, resolution, fmt, speed, scope, get_lang())
        hit = cache.answers.get(key)
        if hit is None:
            hit = _answer(engine, b, fmt, speed == "elderly", districts.map(visible).to_numpy(bool))
            if len(cache.answers) >= MAX_ANSWERS or any(k[0] != b.version for k in cache.answers):
                cache.answers.clear()
            cache.answers[key] = hit
        return hit
