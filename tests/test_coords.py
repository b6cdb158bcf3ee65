"""Chinese map coordinates: conversions against known offsets and round trips (property tests)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pyproj import Geod

from lifecircle.errors import ConfigError
from lifecircle.sources.coords import (
    bd09_to_gcj02,
    gcj02_to_bd09,
    gcj02_to_wgs84,
    to_wgs84,
    wgs84_to_gcj02,
)

GEOD = Geod(ellps="WGS84")
china_lon = st.floats(min_value=98.0, max_value=122.0)
china_lat = st.floats(min_value=21.0, max_value=45.0)


def test_gcj02_offset_in_yichang_is_hundreds_of_metres():
    lon, lat = 111.2865, 30.6919  # central Yichang
    glon, glat = wgs84_to_gcj02(lon, lat)
    _, _, d = GEOD.inv(lon, lat, float(glon), float(glat))
    assert 200 < d < 800


def test_outside_china_unchanged():
    lon, lat = wgs84_to_gcj02(24.94, 60.17)
    assert float(lon) == 24.94 and float(lat) == 60.17


@settings(max_examples=60, deadline=None)
@given(china_lon, china_lat)
def test_gcj02_round_trip_millimetres(lon, lat):
    glon, glat = wgs84_to_gcj02(lon, lat)
    wlon, wlat = gcj02_to_wgs84(glon, glat)
    _, _, d = GEOD.inv(lon, lat, float(wlon), float(wlat))
    assert d < 0.01


@settings(max_examples=60, deadline=None)
@given(china_lon, china_lat)
def test_bd09_round_trip(lon, lat):
    blon, blat = gcj02_to_bd09(lon, lat)
    glon, glat = bd09_to_gcj02(blon, blat)
    _, _, d = GEOD.inv(lon, lat, float(glon), float(glat))
    assert d < 0.01


def test_to_wgs84_dispatch_and_arrays():
    lon = np.array([111.28, 111.30])
    lat = np.array([30.69, 30.70])
    for crs in ("wgs84", "GCJ-02", "bd09"):
        x, _y = to_wgs84(lon, lat, crs)
        assert x.shape == (2,)
    with pytest.raises(ConfigError, match="wgs84"):
        to_wgs84(lon, lat, "cgcs2000x")
