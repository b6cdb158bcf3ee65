"""Isochrones follow the streets actually reached: they do not leak across a river that only a
distant bridge crosses."""

from __future__ import annotations

import numpy as np
import shapely
from pyproj import CRS, Transformer

from lifecircle.network import WalkNetwork
from lifecircle.network.isochrone import isochrones

UTM = CRS.from_epsg(32649)  # Yichang's UTM zone


def _two_banks() -> WalkNetwork:
    """Two parallel east–west streets 200 m apart (a river between them), joined by one bridge
    2 km east of the origin::

        north bank  y=200  ─────────────────────────────┐
                                                        │ bridge at x=2000
        south bank  y=0    ─────────────────────────────┘
                           x=0 (origin at x=100)
    """
    lines = (
        [shapely.LineString([(x, 0), (x + 100, 0)]) for x in range(0, 2000, 100)]
        + [shapely.LineString([(x, 200), (x + 100, 200)]) for x in range(0, 2000, 100)]
        + [shapely.LineString([(2000, 0), (2000, 200)])]
    )
    off = np.array([500000.0, 3400000.0])
    return WalkNetwork.from_lines(np.array([shapely.affinity.translate(g, *off) for g in lines]), UTM)


def test_isochrone_does_not_cross_the_river():
    net = _two_banks()
    to_ll = Transformer.from_crs(UTM, 4326, always_xy=True)
    lon, lat = to_ll.transform(500100.0, 3400000.0)
    g = isochrones(net, lon, lat, [5, 15], speed_kmh=4.0, buffer_m=40.0).to_crs(UTM)
    fifteen = g.geometry.iloc[1]
    # 15 min = 1,000 m: the south street is reached up to x=1100; the north bank never (bridge is 1.9 km away)
    assert fifteen.contains(shapely.Point(500600, 3400000))
    assert not fifteen.intersects(shapely.Point(500100, 3400200))
    assert not fifteen.contains(shapely.Point(501300, 3400000))
    # the polygon hugs the street: about 1,000 m each way clipped at x=0, times 2 x 40 m buffer
    assert 0.8 * 1100 * 80 < fifteen.area < 1.3 * 1100 * 80 + 2 * np.pi * 40**2
    assert g.geometry.iloc[0].area < fifteen.area
