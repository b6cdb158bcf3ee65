"""One "within a walk" rule (issue 9, item 3): an outlet exactly at a layer's distance is within it,
in the access table and the evaluation alike (the Dask table uses the same function, and
``test_scale`` checks it equals the single-machine table)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import shapely
from pyproj import CRS

from lifecircle.network import WalkNetwork
from lifecircle.network.engine import WITHIN_RTOL, metres, within
from lifecircle.network.table import access_table
from lifecircle.profile import load_profile


def test_within_counts_the_boundary_and_never_nan():
    lim = float(metres(5, 4.0))
    assert within(lim, lim) and within(lim * (1 + WITHIN_RTOL / 2), lim)
    assert not within(lim * (1 + 10 * WITHIN_RTOL), lim)
    assert not within(np.nan, lim) and not within(np.inf, lim)


def test_an_outlet_exactly_at_the_layer_is_within_in_every_table():
    prof = load_profile()
    crs = CRS.from_epsg(32649)
    layer_m = float(metres(5, prof.walking.speed_kmh))  # convenience store layer: 5 min = 333.33 m
    x0, y0 = 520_000.0, 3_390_000.0
    net = WalkNetwork.from_lines(np.array([shapely.LineString([(x0, y0), (x0 + 1000, y0)])], dtype=object), crs)
    lon, lat = net.to_wgs84.transform(np.array([x0, x0 + layer_m]), np.array([y0, y0]))
    origins = pd.DataFrame({"id": ["home"], "lon": lon[:1], "lat": lat[:1]})
    outlets = pd.DataFrame(
        {"id": ["o"], "name": ["店"], "format": ["convenience_store"], "lon": lon[1:], "lat": lat[1:]}
    )
    one = access_table(net, origins, outlets, prof, formats=["convenience_store"]).table
    assert abs(one["nearest_m"].iloc[0] - layer_m) < 1e-6
    assert bool(one["within_layer"].iloc[0]) == bool(within(one["nearest_m"].iloc[0], layer_m))
    assert bool(one["within_layer"].iloc[0])
    # the evaluation's matrices say the same for a community at that spot
    from lifecircle.indicators.access import compute_access

    comm = pd.DataFrame({"id": ["c"], "lon": lon[:1], "lat": lat[:1]})
    outl = pd.DataFrame({"id": ["o"], "formats": ["convenience_store"], "lon": lon[1:], "lat": lat[1:]})
    acc = compute_access(net, comm, outl, prof)
    assert bool(acc.within[0, prof.codes.index("convenience_store")])
