"""Islands of the walking network (issue 8, item 3): short pieces dropped and listed, communities
on the pieces that stay apart named in the evaluation, never silently counted as uncovered.

The city (metres in UTM 49N around X0, Y0)::

    main street  y=0,    x = 0 .. 2000   (2,000 m)   outlets: convenience store at x=500
    island       y=1000, x = 0 .. 600    (600 m)     community I (y=1020), no outlet
    stub         y=250,  x = 1000 .. 1100 (100 m)    community S at (1050, 240): 10 m from the
                                                     stub, 240 m from the main street
    community M at (450, 20) on the main street.

With ``min_piece_m = 200`` the stub is dropped (S snaps to the main street 240 m away and reaches
the store at 550 + 240 + ... m); the island (600 m) is kept and I is named on it.
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from pyproj import CRS, Transformer

from lifecircle.city.model import City
from lifecircle.indicators import evaluate_city
from lifecircle.network.islands import drop_small_pieces, find_islands, piece_table
from lifecircle.profile import load_profile
from lifecircle.sources.network_loader import network_from_city

X0, Y0 = 520_000.0, 3_390_000.0
_to_wgs = Transformer.from_crs(CRS.from_epsg(32649), 4326, always_xy=True)


def _ll(x: float, y: float) -> tuple[float, float]:
    lon, lat = _to_wgs.transform(X0 + x, Y0 + y)
    return float(lon), float(lat)


def _line(*pts: tuple[float, float]) -> shapely.LineString:
    return shapely.LineString([_ll(x, y) for x, y in pts])


def _city() -> City:
    streets = gpd.GeoDataFrame(
        {
            "geometry": [
                _line((0, 0), (1000, 0), (2000, 0)),
                _line((0, 1000), (600, 1000)),
                _line((1000, 250), (1100, 250)),
            ]
        },
        geometry="geometry",
        crs=4326,
    )
    comm = []
    for cid, name, (x, y), pop in (
        ("M", "主街小区", (450, 20), 1000),
        ("I", "孤岛小区", (300, 1020), 800),
        ("S", "短路段小区", (1050, 240), 500),
    ):
        lon, lat = _ll(x, y)
        comm.append(
            {
                "id": cid,
                "name": name,
                "district": "420502",
                "lon": lon,
                "lat": lat,
                "population": pop,
                "households": pop // 3,
                "kind": "complete",
                "circle_id": "C1",
            }
        )
    lon, lat = _ll(500, 0)
    outlets = pd.DataFrame([{"id": "o1", "name": "便利店", "formats": "convenience_store", "lon": lon, "lat": lat}])
    return City(name="islands", tables={"streets": streets, "communities": pd.DataFrame(comm), "outlets": outlets})


def test_piece_table_counts_nodes_edges_and_metres():
    net = network_from_city(_city(), min_piece_m=0)
    pieces = piece_table(net)
    assert list(pieces["piece"]) == [0, 1, 2]
    assert pieces["length_m"].round(0).tolist() == [2000.0, 600.0, 100.0]
    assert pieces["nodes"].sum() == net.n_nodes and pieces["edges"].sum() == net.n_edges


def test_short_pieces_are_dropped_and_listed_the_main_piece_never():
    net = network_from_city(_city(), min_piece_m=0)
    kept, dropped = drop_small_pieces(net, 200.0)
    assert len(piece_table(kept)) == 2  # the 100 m stub is gone
    assert dropped["length_m"].round(0).tolist() == [100.0]
    lon, lat = _ll(1000, 250)
    assert dropped["lon"].iloc[0] == pytest.approx(lon, abs=1e-6) and dropped["lat"].iloc[0] == pytest.approx(
        lat, abs=1e-6
    )
    # a limit above every piece still keeps the largest
    kept2, dropped2 = drop_small_pieces(net, 1e9)
    assert len(piece_table(kept2)) == 1 and len(dropped2) == 2
    assert kept2.edge_len.sum() == pytest.approx(2000.0, abs=0.5)
    # nothing to drop: the same network comes back, not a copy
    same, none = drop_small_pieces(net, 50.0)
    assert same is net and len(none) == 0


def test_evaluation_names_the_community_on_the_island_and_snaps_past_dropped_stubs():
    city = _city()
    prof = load_profile()
    net = network_from_city(city)  # the profile's min_piece_m (200 m)
    assert prof.walking.min_piece_m == 200.0 and net.min_piece_m == 200.0
    ev = evaluate_city(city, net, prof)
    comm = ev.communities.set_index("id")
    assert bool(comm.loc["I", "on_island"]) and comm.loc["I", "network_piece"] == 1
    assert not comm.loc["M", "on_island"] and not comm.loc["S", "on_island"]
    # S no longer sits on the dropped stub: it walks 240 m to the main street, then 550 m to the store
    acc = ev.access.set_index(["community_id", "format"])
    assert acc.loc[("S", "convenience_store"), "nearest_m"] == pytest.approx(240 + 550, abs=0.5)
    assert np.isnan(acc.loc[("I", "convenience_store"), "nearest_m"])  # uncovered, but named:
    assert ev.city["n_communities_on_islands"] == 1 and ev.city["population_on_islands"] == 800
    assert ev.city["n_network_islands"] == 1 and ev.city["n_dropped_pieces"] == 1
    circle = ev.circles.set_index("id").loc["C1"]
    assert circle["n_communities_on_islands"] == 1 and circle["communities_on_islands"] == "I"
    assert any("I（孤岛小区）" in n for n in ev.notes), ev.notes
    assert any("剔除" in n for n in ev.notes)
    assert list(ev.islands.on_island("communities")["id"]) == ["I"]


def test_keeping_every_piece_strands_the_stub_community_too():
    city = _city()
    net = network_from_city(city, min_piece_m=0)
    ev = evaluate_city(city, net, load_profile())
    assert sorted(ev.islands.on_island("communities")["id"]) == ["I", "S"]
    assert ev.city["n_dropped_pieces"] == 0


def test_find_islands_without_points_reports_only_pieces():
    net = network_from_city(_city(), min_piece_m=0)
    isl = find_islands(net, net.dropped_pieces, 0.0)
    assert isl.n_islands == 2 and len(isl.points) == 0
    assert len(isl.lines()) == 1  # the pieces line; no community line


def test_profile_refuses_a_negative_min_piece(tmp_path):
    from lifecircle.errors import ConfigError

    p = tmp_path / "p.toml"
    p.write_text('extends = "yichang-2022"\n[walking]\nmin_piece_m = -5\n', encoding="utf-8")
    with pytest.raises(ConfigError, match="min_piece_m"):
        load_profile(p)
