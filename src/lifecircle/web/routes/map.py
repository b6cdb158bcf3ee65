"""The map: ``/api/map/{layer}`` (GeoJSON), the walking-time surface ``/api/surface`` and the map page."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from fastapi.responses import HTMLResponse, JSONResponse

from lifecircle.indicators.surface import DEFAULT_RESOLUTION
from lifecircle.platform import service
from lifecircle.platform.service.surface import live_surface
from lifecircle.web.deps import ApiUser, Db, PageUser, Prog, Render
from lifecircle.web.routes.live import Live

router = APIRouter()


@router.get("/api/map/{layer}", tags=["map"])
def api_map(layer: Literal["streets", "districts", "circles"], user: ApiUser, s: Db, prog: Prog) -> Any:
    if layer == "circles":
        return service.circles_geojson(s, user, prog)
    return service.map_layer(s, layer)


@router.get("/api/surface", tags=["map"])
def api_surface(
    user: ApiUser,
    live: Live,
    format: Annotated[str, Query(max_length=64, description="format code of the profile (wet_market ...)")],
    speed: Annotated[str, Query(max_length=16, description="default | elderly (older residents)")] = "default",
    resolution: Annotated[int, Query(description="H3 resolution: 7, 8, 9 or 10")] = DEFAULT_RESOLUTION,
) -> Any:
    """The walking-time surface of one format on the live city: GeoJSON hexagons (WGS-84) with
    ``minutes`` to the nearest outlet, ``residents``, ``blind`` (盲区) and ``district``, and
    ``blind_spots`` by district; the cells of the districts the user sees. 503 while computed."""
    return JSONResponse(live_surface(user, live, format, speed, resolution))


@router.get("/map", include_in_schema=False, response_class=HTMLResponse)
def map_page(user: PageUser, render: Render) -> HTMLResponse:
    from lifecircle.platform.permissions import can_see_surface
    from lifecircle.web.templating import catalogue

    return render("map.html", formats=catalogue().formats if can_see_surface(user) else [])
