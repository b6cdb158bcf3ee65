"""A walking network from a city's ``streets`` table (WGS-84 lines) — shared by everything that
walks on a stored or generated city."""

from __future__ import annotations

import geopandas as gpd
import shapely
from pyproj import CRS

from lifecircle.city.model import City
from lifecircle.errors import InputError
from lifecircle.i18n import t
from lifecircle.network.graph import WalkNetwork, local_metric_crs


def metric_crs_of(geoms) -> CRS:  # noqa: ANN001 - an array of WGS-84 geometries
    """The local UTM zone of WGS-84 geometries: the zone of the middle of their total bounds.

    From the bounds, not from the union of envelopes: the envelope of a perfectly horizontal or
    vertical street is a zero-area polygon, the union of those is empty, and its centroid crashed
    ``isochrone --streets`` with a GEOSException (getX called on empty Point)."""
    x0, y0, x1, y1 = shapely.total_bounds(geoms)
    return local_metric_crs((x0 + x1) / 2, (y0 + y1) / 2)


def network_from_streets(streets: gpd.GeoDataFrame, *, source: str = "streets") -> WalkNetwork:
    """Project street lines to the local UTM zone (metres) and build the walking network.

    ``streets`` holds LineStrings (WGS-84 if the frame has no CRS). Lines connect where they
    share a vertex; edge lengths are metres.
    """
    if streets is None or len(streets) == 0:
        raise InputError(t(f"{source}: 没有道路，无法构建步行网络", f"{source}: no streets to build a walking network from"))
    gdf = streets if isinstance(streets, gpd.GeoDataFrame) else gpd.GeoDataFrame(streets, geometry="geometry")
    if gdf.crs is None:
        gdf = gdf.set_crs(4326)
    elif not gdf.crs.equals(4326) and gdf.crs.to_epsg() != 4326:
        gdf = gdf.to_crs(4326)
    geoms = gdf.geometry.to_numpy()
    geoms = geoms[~shapely.is_missing(geoms) & ~shapely.is_empty(geoms)]
    if len(geoms) == 0:
        raise InputError(t(f"{source}: 道路几何全部为空", f"{source}: every street geometry is empty"))
    crs = metric_crs_of(geoms)
    projected = gpd.GeoSeries(geoms, crs=4326).to_crs(crs).to_numpy()
    return WalkNetwork.from_lines(projected, crs, source=source)


def network_from_city(city: City) -> WalkNetwork:
    """The walking network of ``city`` (from its ``streets`` table)."""
    label = f"{city.name}（合成数据 / synthetic）" if city.synthetic else city.name
    return network_from_streets(city.table("streets"), source=label)
