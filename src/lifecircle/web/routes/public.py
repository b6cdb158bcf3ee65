"""The residents' service, no sign-in (M12, M13): ``GET /api/public/nearby`` (what is within a
15-minute walk of a point), ``GET /api/public/search`` (communities and addresses → points),
``GET /api/public/streets`` (the offline base map) and the page ``/nearby``.

Every route here is rate-limited per address (:mod:`lifecircle.web.ratelimit`). Answers that
cannot change for a registry version carry an ``ETag`` on the registry's event ``seq`` (a repeat
with ``If-None-Match`` gets 304); the base map, fixed while the server runs, is cached for a day.
The nearby answer is ``no-cache`` (it moves with the registry and with the clock: open now).
Neither the point asked about nor the address asking is logged: the access log's lines for these
paths lose their query string and client address (:class:`RedactPublicAccessLog`).
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
import time
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, Response

from lifecircle.platform.nearby import PublicNearby
from lifecircle.platform.service import map_layer
from lifecircle.sources.coords import to_wgs84
from lifecircle.web.deps import Db, Render
from lifecircle.web.ratelimit import public_rate_limit

router = APIRouter(dependencies=[Depends(public_rate_limit)])
PUBLIC_PREFIXES = ("/api/public/", "/nearby")
_lock = threading.Lock()


class RedactPublicAccessLog(logging.Filter):
    """Drops the query string (a resident's position or search) and the client address from
    uvicorn's access-log lines of the public routes."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple) and len(args) == 5 and str(args[2]).startswith(PUBLIC_PREFIXES):
            record.args = ("-", args[1], str(args[2]).split("?", 1)[0], args[3], args[4])
        return True


logging.getLogger("uvicorn.access").addFilter(RedactPublicAccessLog())


def get_nearby(request: Request) -> PublicNearby:
    state = request.app.state
    nb = getattr(state, "nearby", None)
    if nb is None:
        with _lock:
            nb = getattr(state, "nearby", None)
            if nb is None:
                nb = state.nearby = PublicNearby(state.factory, state.live, state.settings.timezone)
    return nb


Nearby = Annotated[PublicNearby, Depends(get_nearby)]


def _json(content: Any, *, cache: str, etag: str | None = None) -> Response:
    headers = {"Cache-Control": cache}
    if etag:
        headers["ETag"] = etag
    body = json.dumps(content, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    return Response(body, media_type="application/json", headers=headers)


def _etag(*parts: Any) -> str:
    return 'W/"' + hashlib.sha256(repr(parts).encode()).hexdigest()[:20] + '"'


def _not_modified(request: Request, etag: str, cache: str) -> Response | None:
    if etag in [e.strip() for e in request.headers.get("if-none-match", "").split(",")]:
        return Response(status_code=304, headers={"ETag": etag, "Cache-Control": cache})
    return None


@router.get("/api/public/nearby", tags=["public"])
def api_nearby(
    nearby: Nearby,
    lon: Annotated[float, Query(ge=-180, le=180, description="longitude, degrees")],
    lat: Annotated[float, Query(ge=-90, le=90, description="latitude, degrees")],
    minutes: Annotated[float, Query(gt=0, le=15, description="list outlets and draw up to this walk, minutes")] = 15,
    speed: Annotated[
        Literal["default", "elderly"], Query(description="walking speed: the profile's or older residents'")
    ] = "default",
    crs: Annotated[Literal["wgs84", "gcj02", "bd09"], Query(description="coordinates of lon/lat")] = "wgs84",
    isochrone: Annotated[bool, Query(description="with the walking isochrones (GeoJSON)")] = True,
) -> Response:
    """Every format of the catalogue near the point: nearest walking metres and minutes, outlets within
    5/10/15 minutes, the nearest outlets (public fields only, open now in the city's time zone) and
    the walking isochrones (GeoJSON, WGS-84). A point more than the profile's snapping distance from
    every street: 422 with the reason."""
    t0 = time.perf_counter()
    wlon, wlat = to_wgs84([lon], [lat], crs)
    out = nearby.nearby(
        float(wlon[0]), float(wlat[0]), elderly=speed == "elderly", minutes=minutes, isochrone=isochrone
    )
    out["point"] = {"lon": round(float(wlon[0]), 6), "lat": round(float(wlat[0]), 6)}
    resp = _json(out, cache="no-cache")
    resp.headers["Server-Timing"] = f"app;dur={1000 * (time.perf_counter() - t0):.1f}"
    return resp


@router.get("/api/public/search", tags=["public"])
def api_search(request: Request, nearby: Nearby, q: Annotated[str, Query(min_length=1, max_length=64)]) -> Response:
    """Communities whose name, and outlets whose address, contain ``q``: up to 10 places with their
    position (WGS-84). ETag on the registry version: a repeat that has not changed gets 304."""
    nearby.index()  # caught up: the seq below is the version answered
    cache = "public, no-cache"
    etag = _etag("search", nearby.seq, q)
    return _not_modified(request, etag, cache) or _json(nearby.search(q), cache=cache, etag=etag)


@router.get("/api/public/streets", tags=["public"])
def api_streets(request: Request, s: Db) -> Response:
    """The city's streets (GeoJSON, WGS-84) for the resident page's offline base map."""
    cached = getattr(request.app.state, "public_streets", None)
    if cached is None:
        layer = map_layer(s, "streets")
        cached = request.app.state.public_streets = (layer, _etag("streets", json.dumps(layer, sort_keys=True)))
    cache = "public, max-age=86400"
    return _not_modified(request, cached[1], cache) or _json(cached[0], cache=cache, etag=cached[1])


@router.get("/nearby", include_in_schema=False, response_class=HTMLResponse)
def nearby_page(render: Render) -> HTMLResponse:
    return render("nearby.html")
