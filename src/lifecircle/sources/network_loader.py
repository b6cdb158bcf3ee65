"""The walking network from street lines: the one path from lines (any CRS) through the local
metric CRS and noding to a :class:`WalkNetwork`, used for a city's stored ``streets`` table, the
user's street files and OpenStreetMap."""

from __future__ import annotations

import geopandas as gpd
import shapely
from pyproj import CRS

from lifecircle.city.model import City
from lifecircle.errors import InputError
from lifecircle.i18n import t
from lifecircle.network.graph import WalkNetwork, local_metric_crs
from lifecircle.network.noding import DEFAULT_TOLERANCE_M, line_levels, node_lines

LEVEL_COLUMNS = ("bridge", "tunnel", "layer")
"""Optional OSM-style columns of a streets frame that put a line on another level."""


def metric_crs_of(geoms) -> CRS:
    """The local UTM zone of WGS-84 geometries: the zone of the middle of their total bounds.

    From the bounds, not from the union of envelopes: the envelope of a perfectly horizontal or
    vertical street is a zero-area polygon, the union of those is empty, and its centroid crashed
    ``isochrone --streets`` with a GEOSException (getX called on empty Point)."""
    x0, y0, x1, y1 = shapely.total_bounds(geoms)
    return local_metric_crs((x0 + x1) / 2, (y0 + y1) / 2)


def network_from_lines(
    streets: gpd.GeoDataFrame | gpd.GeoSeries,
    *,
    source: str,
    tolerance_m: float = DEFAULT_TOLERANCE_M,
    levels: bool = True,
    simplify: bool = True,
) -> WalkNetwork:
    """Street lines (any CRS; none = WGS-84) → local UTM zone (metres) → noded → network.

    Ends within ``tolerance_m`` metres of another end or line are joined (see
    :func:`lifecircle.network.noding.node_lines`); with ``levels``, the frame's optional
    ``bridge`` / ``tunnel`` / ``layer`` columns keep lines on different levels apart. The noding
    report is attached as ``net.noding``."""
    if not (0 <= tolerance_m < 100):
        raise InputError(
            t(
                f"{source}: 接合容差 {tolerance_m:g} 米不合理（应在 0–100 米之间）",
                f"{source}: join tolerance {tolerance_m:g} m is not sensible (0–100 m)",
            )
        )
    gdf = streets.to_frame("geometry") if isinstance(streets, gpd.GeoSeries) else streets
    gdf = gdf if isinstance(gdf, gpd.GeoDataFrame) else gpd.GeoDataFrame(gdf, geometry="geometry")
    if gdf.crs is None:
        gdf = gdf.set_crs(4326)
    geoms = gdf.geometry.to_numpy()
    keep = ~shapely.is_missing(geoms) & ~shapely.is_empty(geoms)
    if not keep.any():
        raise InputError(t(f"{source}: 道路几何全部为空", f"{source}: every street geometry is empty"))
    gdf = gdf[keep]
    ll = gdf.geometry if gdf.crs.to_epsg() == 4326 else gdf.geometry.to_crs(4326)
    crs = metric_crs_of(ll.to_numpy())
    projected = ll.to_crs(crs).to_numpy()
    cols = {c: gdf[c].to_numpy() if c in gdf.columns else None for c in LEVEL_COLUMNS} if levels else {}
    level = line_levels(len(gdf), **cols) if any(v is not None for v in cols.values()) else None
    noded = node_lines(projected, level=level, tolerance_m=tolerance_m)
    net = WalkNetwork.from_lines(
        noded.lines, crs, source=source, level=None if level is None else noded.level, simplify=simplify
    )
    net.noding = noded.report
    return net


def network_from_streets(
    streets: gpd.GeoDataFrame, *, source: str = "streets", tolerance_m: float = DEFAULT_TOLERANCE_M
) -> WalkNetwork:
    """The walking network of a streets table (LineStrings; WGS-84 if the frame has no CRS).

    Lines join where they share a vertex, and where an end comes within ``tolerance_m`` metres of
    another end or line; the optional columns ``bridge``, ``tunnel``, ``layer`` keep levels apart.
    Edge lengths are metres; ``net.noding`` says what was joined."""
    if streets is None or len(streets) == 0:
        raise InputError(
            t(f"{source}: 没有道路，无法构建步行网络", f"{source}: no streets to build a walking network from")
        )
    return network_from_lines(streets, source=source, tolerance_m=tolerance_m)


def network_from_city(city: City, *, tolerance_m: float | None = None, min_piece_m: float | None = None) -> WalkNetwork:
    """The walking network of ``city`` (from its ``streets`` table): ends are joined within
    ``tolerance_m`` metres (default: the city profile's ``[walking] join_ends_m``), and the pieces
    holding less than ``min_piece_m`` metres of street are dropped (default: ``[walking]
    min_piece_m``); the dropped pieces are kept on ``net.dropped_pieces`` to be reported."""
    from lifecircle.profile import load_profile

    walking = load_profile(city.profile).walking
    label = f"{city.name}（合成数据 / synthetic）" if city.synthetic else city.name
    tol = walking.join_ends_m if tolerance_m is None else tolerance_m
    net = network_from_streets(city.table("streets"), source=label, tolerance_m=tol)
    return prune_network(net, walking.min_piece_m if min_piece_m is None else min_piece_m)


def prune_network(net: WalkNetwork, min_piece_m: float) -> WalkNetwork:
    """``net`` without its pieces shorter than ``min_piece_m`` metres; what was dropped is on
    ``dropped_pieces`` of the result (see :mod:`lifecircle.network.islands`)."""
    from lifecircle.network.islands import drop_small_pieces

    kept, dropped = drop_small_pieces(net, min_piece_m)
    kept.dropped_pieces = dropped
    kept.min_piece_m = float(min_piece_m)
    return kept


__all__ = ["LEVEL_COLUMNS", "network_from_city", "network_from_lines", "network_from_streets", "prune_network"]
