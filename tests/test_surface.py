"""The walking-time surface (H3 cells from the network nodes inside them) and its blind spots."""

from __future__ import annotations

import geopandas as gpd
import h3
import numpy as np
import pyogrio
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lifecircle.city.demo import build_demo_city
from lifecircle.errors import InputError
from lifecircle.indicators.surface import (
    blind_spots,
    build_surface,
    node_cells,
    node_distances,
    node_distances_k,
    write_surface,
)
from lifecircle.network.engine import minutes
from lifecircle.profile import load_profile
from lifecircle.sources.network_loader import network_from_city


@pytest.fixture(scope="module")
def demo():
    city = build_demo_city(2022, 0.05)
    net = network_from_city(city)
    prof = load_profile(city.profile)
    return city, net, prof, build_surface(city, net, prof)


def test_cell_value_is_the_minimum_over_its_nodes_from_the_engine(demo):
    city, net, prof, s = demo
    node_d = node_distances(net, city.outlets, prof)
    lon, lat = net.node_lonlat()
    by_cell: dict[str, list[int]] = {}
    for n, (x, y) in enumerate(zip(lon, lat, strict=True)):
        by_cell.setdefault(h3.latlng_to_cell(y, x, 9), []).append(n)
    assert sorted(by_cell) == sorted(s.cells["h3"])
    for i, cell in enumerate(s.cells["h3"]):
        np.testing.assert_array_equal(s.dist_m[i], node_d[by_cell[cell]].min(axis=0))
    np.testing.assert_allclose(s.minutes(), minutes(s.dist_m, prof.walking.speed_kmh))
    assert (s.minutes(elderly=True)[np.isfinite(s.dist_m)] >= s.minutes()[np.isfinite(s.dist_m)]).all()


def test_node_distances_kept_from_the_evaluation_give_the_same_surface_without_a_walk(demo, monkeypatch):
    """The evaluation's engine pass keeps its per-node distances (NodeKeepingWalks); a surface
    built from them walks nothing and equals the one that walks; the evaluation is unchanged."""
    import pandas as pd

    from lifecircle.indicators import surface as surface_mod
    from lifecircle.indicators.access import NodeKeepingWalks
    from lifecircle.indicators.evaluate import evaluate_city

    city, net, prof, s = demo
    keep = NodeKeepingWalks()
    ev = evaluate_city(city, net, prof, walks=keep)
    pd.testing.assert_frame_equal(ev.access, evaluate_city(city, net, prof).access)
    assert keep.node_m is not None and keep.node_m.shape == (net.n_nodes, len(prof.codes))

    def no_walk(*args, **kwargs):
        raise AssertionError("walked the network again")

    monkeypatch.setattr(surface_mod, "node_distances", no_walk)
    kept = build_surface(city, net, prof, node_m=keep.node_m)
    np.testing.assert_array_equal(kept.dist_m, s.dist_m)
    pd.testing.assert_frame_equal(kept.cells, s.cells)
    pd.testing.assert_frame_equal(kept.residents.table, s.residents.table)
    with pytest.raises(ValueError, match="node_m"):
        build_surface(city, net, prof, node_m=keep.node_m[:10])
    with pytest.raises(ValueError, match="node_m"):
        build_surface(city, net, prof, k=2, node_m=keep.node_m)


def test_residents_are_placed_without_a_line_per_street(demo, monkeypatch):
    """Placing the residents makes lines for the communities' own streets only, not every edge's
    (``edge_geom``: about 2 s and 500 MB at a million nodes, paid by every city of the province
    batch for its F15); the surface is the same."""
    import pandas as pd

    from lifecircle.network.graph import WalkNetwork

    city, net, prof, s = demo

    def every_line(self):
        raise AssertionError("made a line for every edge")

    monkeypatch.setattr(WalkNetwork, "edge_geom", property(every_line))
    again = build_surface(city, net, prof)
    pd.testing.assert_frame_equal(again.residents.table, s.residents.table)
    pd.testing.assert_frame_equal(again.cells, s.cells)


def test_every_resident_is_placed_and_blind_spots_add_up(demo):
    city, _, prof, s = demo
    assert s.cells["population"].sum() + s.residents.left_out_population == city.communities["population"].sum()
    b = blind_spots(s, prof)
    f = prof.codes.index("wet_market")
    beyond = s.minutes()[:, f] > prof.formats[f].layer_min
    want = s.cells["population"][beyond].sum()
    assert b[b["format"] == "wet_market"]["blind_residents"].sum() == pytest.approx(want)


def test_written_to_geopackage_and_geoparquet_in_wgs84(demo, tmp_path):
    city, _, prof, s = demo
    write_surface(s, tmp_path / "s.gpkg", prof, ["wet_market"], city=city)
    write_surface(s, tmp_path / "s.parquet", prof)
    layers = dict(pyogrio.list_layers(tmp_path / "s.gpkg"))
    assert set(layers) == {"surface", "blind_spots"}
    g = gpd.read_file(tmp_path / "s.gpkg", layer="surface")
    assert g.crs.to_epsg() == 4326 and len(g) == len(s.cells) and "min_wet_market" in g
    assert gpd.read_parquet(tmp_path / "s.parquet").crs.to_epsg() == 4326


def test_k_th_nearest_columns_and_the_nearest_unchanged(demo, tmp_path):
    city, net, prof, s = demo
    s3 = build_surface(city, net, prof, k=3)
    assert s.k == 1 and s.dist_k_m is None and s3.k == 3
    np.testing.assert_array_equal(s3.dist_m, s.dist_m)  # nearest, blind spots and fairness as with k = 1
    np.testing.assert_array_equal(s3.blind(), s.blind())
    fin = np.isfinite(s3.dist_k_m)
    assert fin.any() and (~fin).any() and (s3.dist_k_m >= s3.dist_m).all()
    _, node_k = node_distances_k(net, city.outlets, prof, 3)
    node_2, _ = node_distances_k(net, city.outlets, prof, 2)
    np.testing.assert_array_equal(node_2, node_distances(net, city.outlets, prof))
    i = int(np.flatnonzero(fin.any(axis=1))[0])
    nodes = np.flatnonzero(s3.node_cell == i)
    np.testing.assert_array_equal(s3.dist_k_m[i], node_k[nodes].min(axis=0))
    write_surface(s3, tmp_path / "s.parquet", prof, ["wet_market"])
    g = gpd.read_parquet(tmp_path / "s.parquet")
    assert {"min_wet_market", "k3_min_wet_market", "k3_min_elderly_wet_market"} <= set(g.columns)
    np.testing.assert_allclose(
        g["k3_min_wet_market"], np.where(fin, s3.minutes_k(), np.nan)[:, s3.column("wet_market")]
    )


@pytest.mark.parametrize("k", [0, 11])
def test_k_outside_1_to_10_is_refused_clearly(demo, k):
    city, net, prof, _ = demo
    with pytest.raises(InputError, match=f"--k {k}：应在 1–10"):
        build_surface(city, net, prof, k=k)


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 15), st.integers(0, 10_000), st.integers(1, 200))
def test_node_cells_equal_the_sorted_cell_strings(resolution, seed, n):
    """Cells made on H3's integers equal ``np.unique`` of each point's cell string (ids in the same
    order, every point's index), at any resolution and anywhere on the globe."""
    rng = np.random.default_rng(seed)
    lon, lat = rng.uniform(-180, 180, n), rng.uniform(-89, 89, n)
    lon[n // 2 :] = 111.3 + rng.normal(0, 0.01, n - n // 2)  # many points in few cells too
    lat[n // 2 :] = 30.7 + rng.normal(0, 0.01, n - n // 2)
    want_ids, want_cell = np.unique(
        [h3.latlng_to_cell(b, a, resolution) for a, b in zip(lon, lat, strict=True)], return_inverse=True
    )
    ids, cell = node_cells(lon, lat, resolution)
    assert ids.tolist() == want_ids.tolist()
    np.testing.assert_array_equal(cell, want_cell.ravel())
