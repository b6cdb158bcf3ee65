"""Chinese map coordinate systems, converted explicitly to WGS-84 (what we store).

- GCJ-02 (国测局坐标, "Mars" coordinates): Amap/Gaode, Tencent; an obfuscation of WGS-84 inside China.
- BD-09: Baidu, a further transform of GCJ-02.
Points outside mainland China are left unchanged by GCJ-02 (as the providers do).
The inverse GCJ-02 → WGS-84 is solved by fixed-point iteration to < 1e-9 degrees (millimetres).
All functions take and return arrays of longitudes and latitudes in degrees.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray

from lifecircle.errors import ConfigError
from lifecircle.i18n import t

_A = 6378245.0  # Krasovsky 1940 semi-major axis (m), used by GCJ-02
_EE = 0.00669342162296594323
_XPI = np.pi * 3000.0 / 180.0
SYSTEMS = ("wgs84", "gcj02", "bd09")


def _out_of_china(lon: NDArray, lat: NDArray) -> NDArray:
    return (lon < 72.004) | (lon > 137.8347) | (lat < 0.8293) | (lat > 55.8271)


def _delta(lon: NDArray, lat: NDArray) -> tuple[NDArray, NDArray]:
    x, y = lon - 105.0, lat - 35.0
    dlat = (
        -100.0
        + 2.0 * x
        + 3.0 * y
        + 0.2 * y * y
        + 0.1 * x * y
        + 0.2 * np.sqrt(np.abs(x))
        + (20.0 * np.sin(6.0 * x * np.pi) + 20.0 * np.sin(2.0 * x * np.pi)) * 2.0 / 3.0
        + (20.0 * np.sin(y * np.pi) + 40.0 * np.sin(y / 3.0 * np.pi)) * 2.0 / 3.0
        + (160.0 * np.sin(y / 12.0 * np.pi) + 320 * np.sin(y * np.pi / 30.0)) * 2.0 / 3.0
    )
    dlon = (
        300.0
        + x
        + 2.0 * y
        + 0.1 * x * x
        + 0.1 * x * y
        + 0.1 * np.sqrt(np.abs(x))
        + (20.0 * np.sin(6.0 * x * np.pi) + 20.0 * np.sin(2.0 * x * np.pi)) * 2.0 / 3.0
        + (20.0 * np.sin(x * np.pi) + 40.0 * np.sin(x / 3.0 * np.pi)) * 2.0 / 3.0
        + (150.0 * np.sin(x / 12.0 * np.pi) + 300.0 * np.sin(x / 30.0 * np.pi)) * 2.0 / 3.0
    )
    rad = lat / 180.0 * np.pi
    magic = 1 - _EE * np.sin(rad) ** 2
    sq = np.sqrt(magic)
    dlat = (dlat * 180.0) / ((_A * (1 - _EE)) / (magic * sq) * np.pi)
    dlon = (dlon * 180.0) / (_A / sq * np.cos(rad) * np.pi)
    return dlon, dlat


def wgs84_to_gcj02(lon: ArrayLike, lat: ArrayLike) -> tuple[NDArray, NDArray]:
    """WGS-84 → GCJ-02 (degrees)."""
    lon = np.asarray(lon, dtype=float)
    lat = np.asarray(lat, dtype=float)
    dlon, dlat = _delta(lon, lat)
    out = _out_of_china(lon, lat)
    return np.where(out, lon, lon + dlon), np.where(out, lat, lat + dlat)


def gcj02_to_wgs84(lon: ArrayLike, lat: ArrayLike) -> tuple[NDArray, NDArray]:
    """GCJ-02 → WGS-84 (degrees), exact to about a millimetre by iteration."""
    glon = np.asarray(lon, dtype=float)
    glat = np.asarray(lat, dtype=float)
    wlon, wlat = glon.copy(), glat.copy()
    for _ in range(30):
        clon, clat = wgs84_to_gcj02(wlon, wlat)
        elon, elat = clon - glon, clat - glat
        wlon, wlat = wlon - elon, wlat - elat
        if np.all(np.abs(elon) < 1e-10) and np.all(np.abs(elat) < 1e-10):
            break
    return wlon, wlat


def bd09_to_gcj02(lon: ArrayLike, lat: ArrayLike) -> tuple[NDArray, NDArray]:
    """BD-09 → GCJ-02 (degrees): the usual closed-form inverse (good to ~10 cm), then refined by
    fixed-point iteration on :func:`gcj02_to_bd09` to about a millimetre."""
    blon = np.asarray(lon, dtype=float)
    blat = np.asarray(lat, dtype=float)
    x, y = blon - 0.0065, blat - 0.006
    z = np.sqrt(x * x + y * y) - 0.00002 * np.sin(y * _XPI)
    theta = np.arctan2(y, x) - 0.000003 * np.cos(x * _XPI)
    glon, glat = z * np.cos(theta), z * np.sin(theta)
    for _ in range(10):
        clon, clat = gcj02_to_bd09(glon, glat)
        elon, elat = clon - blon, clat - blat
        glon, glat = glon - elon, glat - elat
        if np.all(np.abs(elon) < 1e-10) and np.all(np.abs(elat) < 1e-10):
            break
    return glon, glat


def gcj02_to_bd09(lon: ArrayLike, lat: ArrayLike) -> tuple[NDArray, NDArray]:
    """GCJ-02 → BD-09 (degrees)."""
    x = np.asarray(lon, dtype=float)
    y = np.asarray(lat, dtype=float)
    z = np.sqrt(x * x + y * y) + 0.00002 * np.sin(y * _XPI)
    theta = np.arctan2(y, x) + 0.000003 * np.cos(x * _XPI)
    return z * np.cos(theta) + 0.0065, z * np.sin(theta) + 0.006


def to_wgs84(lon: ArrayLike, lat: ArrayLike, crs: str = "wgs84") -> tuple[NDArray, NDArray]:
    """Convert coordinates given in ``crs`` (``wgs84``, ``gcj02`` or ``bd09``) to WGS-84."""
    crs = crs.lower().replace("-", "").replace("_", "")
    if crs == "wgs84":
        return np.asarray(lon, dtype=float), np.asarray(lat, dtype=float)
    if crs == "gcj02":
        return gcj02_to_wgs84(lon, lat)
    if crs == "bd09":
        return gcj02_to_wgs84(*bd09_to_gcj02(lon, lat))
    raise ConfigError(
        t(
            f"未知坐标系 '{crs}'；可选 {', '.join(SYSTEMS)}",
            f"unknown coordinate system '{crs}'; use one of {', '.join(SYSTEMS)}",
        )
    )
