"""A walking network from a city's ``streets`` table (WGS-84 lines) — shared by everything that
walks on a stored or generated city."""

from __future__ import annotations

import geopandas as gpd
import shapely

from lifecircle.city.model import City
from lifecircle.errors import InputError
from lifecircle.i18n import t
from lifecircle.network.graph import WalkNetwork, local_metric_crs


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
    x0, y0, x1, y1 = shapely.total_bounds(geoms)
    crs = local_metric_crs((x0 + x1) / 2, (y0 + y1) / 2)
    projected = gpd.GeoSeries(geoms, crs=4326).to_crs(crs).to_numpy()
    return WalkNetwork.from_lines(projected, crs, source=source)


def network_from_city(city: City, *, min_piece_m: float | None = None) -> WalkNetwork:
    """The walking network of ``city`` (from its ``streets`` table), without the pieces holding
    less than ``min_piece_m`` metres of street (default: the city profile's ``[walking]
    min_piece_m``); the dropped pieces are kept on ``net.dropped_pieces`` to be reported."""
    label = f"{city.name}（合成数据 / synthetic）" if city.synthetic else city.name
    net = network_from_streets(city.table("streets"), source=label)
    if min_piece_m is None:
        from lifecircle.profile import load_profile

        min_piece_m = load_profile(city.profile).walking.min_piece_m
    return prune_network(net, min_piece_m)


def prune_network(net: WalkNetwork, min_piece_m: float) -> WalkNetwork:
    """``net`` without its pieces shorter than ``min_piece_m`` metres; what was dropped is on
    ``dropped_pieces`` of the result (see :mod:`lifecircle.network.islands`)."""
    from lifecircle.network.islands import drop_small_pieces

    kept, dropped = drop_small_pieces(net, min_piece_m)
    kept.dropped_pieces = dropped
    kept.min_piece_m = float(min_piece_m)
    return kept
