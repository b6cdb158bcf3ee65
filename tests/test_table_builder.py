"""The one builder of the long access table (:func:`build_access_table`), shared by the
single-machine ``access_table`` and the Dask path: every column checked on figures by hand."""

from __future__ import annotations

import numpy as np
import pandas as pd

from lifecircle.network.snap import Snapped
from lifecircle.network.table import build_access_table, format_columns, outlet_names
from lifecircle.profile import load_profile

PROFILE = load_profile("yichang-2022")


def _origins():
    origins = pd.DataFrame(
        {"id": [11, 12, 13], "lon": [111.1, 111.2, 111.3], "lat": [30.1, 30.2, 30.3], "note": ["a", "b", "c"]}
    )
    z = np.zeros(3)
    # the middle origin is 412.5 m from every street: left out of the table, listed apart
    snap = Snapped(
        np.array([4, 0, 7], np.int32),
        np.array([2.0, 0.0, 9.0]),
        np.array([3.0, 412.5, 0.0]),
        np.array([True, False, True]),
        z,
        z,
    )
    return origins, snap


def test_builder_lays_out_one_row_per_snapped_origin_and_format_with_figures_by_hand():
    origins, snap = _origins()
    fmts = [PROFILE.format("convenience_store"), PROFILE.format("supermarket")]  # layers 5 and 15 min
    names = np.array(["Shop A", "Shop B", "Market C"])
    inf = np.inf
    # at 6 km/h one minute is 100 m: the 5-minute layer is 500 m, the 15-minute one 1,500 m
    dist = np.array([[500.0, inf], [1.0, 2.0], [501.0, 1500.0]])
    source = np.array([[1, -1], [0, 2], [0, 2]])
    counts = np.zeros((3, 2, 2), np.int32)
    counts[0] = [[1, 3], [0, 0]]
    counts[1] = [[9, 9], [9, 9]]  # unsnapped: never shown
    counts[2] = [[0, 2], [0, 1]]
    table, unsnapped = build_access_table(origins, snap, dist, source, counts, fmts, names, [5.0, 15.0], 6.0)

    assert list(table.columns) == [
        "origin_id",
        "lon",
        "lat",
        "format",
        "format_zh",
        "class",
        "layer_min",
        "nearest_m",
        "nearest_min",
        "n_5min",
        "n_15min",
        "within_layer",
        "nearest_outlet",
        "speed_kmh",
    ]
    assert table["origin_id"].tolist() == ["11", "11", "13", "13"]  # origin-major, ids as text
    assert table["lon"].tolist() == [111.1, 111.1, 111.3, 111.3]
    assert table["format"].tolist() == ["convenience_store", "supermarket"] * 2
    assert table["format_zh"].tolist() == ["便利店", "综合超市"] * 2
    assert table["layer_min"].tolist() == [5.0, 15.0, 5.0, 15.0]
    np.testing.assert_array_equal(table["nearest_m"], [500.0, np.nan, 501.0, 1500.0])
    np.testing.assert_allclose(table["nearest_min"], [5.0, np.nan, 5.01, 15.0], rtol=1e-12)
    assert table["n_5min"].tolist() == [1, 0, 0, 0]
    assert table["n_15min"].tolist() == [3, 0, 2, 1]
    # exactly at the layer counts as within; a metre beyond does not; unreachable never does
    assert table["within_layer"].tolist() == [True, False, False, True]
    near = table["nearest_outlet"].tolist()
    assert near[0] == "Shop B" and pd.isna(near[1]) and near[2:] == ["Shop A", "Market C"]
    assert (table["speed_kmh"] == 6.0).all()

    assert unsnapped["id"].tolist() == [12]
    assert unsnapped["note"].tolist() == ["b"]
    assert unsnapped["distance_to_street_m"].tolist() == [412.5]


def test_builder_with_no_formats_and_no_outlets_gives_an_empty_table():
    origins, snap = _origins()
    table, unsnapped = build_access_table(
        origins,
        snap,
        np.zeros((3, 0)),
        np.zeros((3, 0), np.int64),
        np.zeros((3, 0, 1), np.int32),
        [],
        np.array([], dtype=str),
        [15.0],
        4.0,
    )
    assert len(table) == 0 and "n_15min" in table.columns
    assert unsnapped["id"].tolist() == [12]


def test_outlet_names_fall_back_to_ids_and_format_columns_follow_the_formats():
    assert outlet_names(pd.DataFrame({"id": [1, 2]})).tolist() == ["1", "2"]
    assert outlet_names(pd.DataFrame({"id": [1, 2], "name": ["x", "y"]})).tolist() == ["x", "y"]
    cols = format_columns([PROFILE.format("pharmacy"), PROFILE.format("breakfast")])
    assert cols == {
        "format": ["pharmacy", "breakfast"],
        "format_zh": ["药店", "早餐店"],
        "class": ["basic", "basic"],
        "layer_min": [10.0, 5.0],
    }
