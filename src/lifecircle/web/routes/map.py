"""The map: ``/api/map/{layer}`` (GeoJSON) and the map page."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter
from fastapi.responses import HTMLResponse

from lifecircle.platform import service
from lifecircle.web.deps import ApiUser, Db, PageUser, Prog, Render

router = APIRouter()


@router.get("/api/map/{layer}", tags=["map"])
def api_map(layer: Literal["streets", "districts", "circles"], user: ApiUser, s: Db, prog: Prog) -> Any:
    if layer == "circles":
        return service.circles_geojson(s, user, prog)
    return service.map_layer(s, layer)


@router.get("/map", include_in_schema=False, response_class=HTMLResponse)
def map_page(user: PageUser, render: Render) -> HTMLResponse:
    return render("map.html")
