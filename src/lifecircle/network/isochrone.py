"""Isochrones: the area reachable on foot within given minutes, built from the streets actually
reached (each reached stretch of street buffered by a few metres), so it never leaks across a
river or railway that no street crosses."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import shapely
from shapely.ops import substring

from lifecircle.errors import InputError
from lifecircle.i18n import t
from lifecircle.network import kernels
from lifecircle.network.engine import kernel_graph, metres
from lifecircle.network.graph import WalkNetwork
from lifecircle.network.snap import snap_points


def network_distances_from(
    net: WalkNetwork, x: float, y: float, *, max_m: float, snap_max_m: float = 300.0
) -> tuple[np.ndarray, int, float, float]:
    """Walking distance (metres) from a projected point to every node within ``max_m``
    (``inf`` beyond). Returns ``(dist, edge, pos_m, offset_m)`` of the snapped point."""
    s = snap_points(net, np.array([x]), np.array([y]), max_m=snap_max_m)
    if not s.ok[0]:
        raise InputError(
            t(f"该点距最近道路超过 {snap_max_m:g} 米", f"the point is more than {snap_max_m:g} m from any street")
        )
    e, p, f = int(s.edge[0]), float(s.pos_m[0]), float(s.offset_m[0])
    g = kernel_graph(net)
    seeds = kernels.Seeds(
        np.array([net.edge_u[e], net.edge_v[e]], dtype=np.int32),
        np.array([f + p, f + net.edge_len[e] - p]),
        np.zeros(2, dtype=np.int64),
    )
    work = kernels.heap_work(net.n_nodes, len(g.nbr) + 3)
    kernels.dijkstra_seeded(g, seeds, float(max_m), work)
    return work.dist_m, e, p, f


def reached_streets(net: WalkNetwork, dist: np.ndarray, radius_m: float, edge: int, pos: float, off: float) -> list:
    """The stretches of street (projected LineStrings) within ``radius_m`` walking metres."""
    du, dv = dist[net.edge_u], dist[net.edge_v]
    L = net.edge_len
    ru = np.clip(radius_m - du, 0, None)  # metres reachable along the edge from u
    rv = np.clip(radius_m - dv, 0, None)
    pieces: list = []
    full = (ru + rv >= L) & (np.isfinite(du) | np.isfinite(dv))
    pieces.extend(net.edge_lines(np.flatnonzero(full)))
    part = ~full
    from_u = np.flatnonzero(part & (ru > 0))
    from_v = np.flatnonzero(part & (rv > 0))
    for e, g in zip(from_u, net.edge_lines(from_u), strict=True):
        pieces.append(substring(g, 0.0, float(ru[e])))
    for e, g in zip(from_v, net.edge_lines(from_v), strict=True):
        pieces.append(substring(g, float(L[e] - rv[e]), float(L[e])))
    left = radius_m - off
    if left > 0:  # along the start edge itself, directly from the point
        g = net.edge_lines(np.array([edge]))[0]
        pieces.append(substring(g, max(0.0, pos - left), min(float(L[edge]), pos + left)))
    return pieces


def isochrones(
    net: WalkNetwork,
    lon: float,
    lat: float,
    minutes_list: list[float],
    *,
    speed_kmh: float = 4.0,
    buffer_m: float = 40.0,
    snap_max_m: float = 300.0,
) -> gpd.GeoDataFrame:
    """Polygons reachable from ``(lon, lat)`` (WGS-84) within each of ``minutes_list`` minutes at
    ``speed_kmh``; one row per minute value with ``minutes, distance_m, area_m2, geometry``
    (WGS-84). ``buffer_m`` metres either side of each reached street stretch."""
    mins = sorted({float(m) for m in minutes_list})  # a repeated value is one isochrone
    if not mins or not all(np.isfinite(m) and m > 0 for m in mins):
        raise InputError(
            t(
                f"分钟数必须为有限正数，而不是 {minutes_list}",
                f"minutes must be finite positive numbers, not {minutes_list}",
            )
        )
    x, y = net.project(np.array([lon]), np.array([lat]))
    radii = [float(metres(m, speed_kmh)) for m in mins]
    dist, e, p, f = network_distances_from(net, float(x[0]), float(y[0]), max_m=radii[-1], snap_max_m=snap_max_m)
    polys = []
    for r in radii:
        pieces = reached_streets(net, dist, r, e, p, f)
        geom = (
            shapely.union_all(shapely.buffer(np.array(pieces, dtype=object), buffer_m, quad_segs=4))
            if pieces
            else shapely.Polygon()
        )
        polys.append(geom)
    gdf = gpd.GeoDataFrame({"minutes": mins, "distance_m": radii, "geometry": polys}, geometry="geometry", crs=net.crs)
    gdf["area_m2"] = gdf.geometry.area
    return gdf.to_crs(4326)[["minutes", "distance_m", "area_m2", "geometry"]]
