"""OpenStreetMap PBF: the walking network and the shops and services, classified into formats.

Uses pyrosm (which reads PBF with its own fast parser). Ways are walkable as pyrosm's
``walking`` network defines them; ``oneway`` is ignored for walking. Elements are classified with
the profile's OSM tag rules; an element that matches several formats counts once in each.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from lifecircle.errors import InputError, InputFileError
from lifecircle.i18n import t
from lifecircle.network.graph import WalkNetwork
from lifecircle.profile import Profile
from lifecircle.sources.files import check_input_file
from lifecircle.sources.tables import RawTable

POI_KEYS = ("shop", "amenity", "craft", "office", "leisure", "healthcare", "tourism", "social_facility")


def _open(path: str | Path):  # -> pyrosm.OSM
    p = check_input_file(path, (".pbf", ".osm.pbf"))
    import pyrosm

    try:
        return pyrosm.OSM(str(p)), p
    except Exception as exc:  # noqa: BLE001 - the reader's own errors, whatever their type, become one line naming the file
        raise InputFileError(t(f"{p}: 无法读取 OSM PBF：{exc}", f"{p}: cannot read OSM PBF: {exc}")) from None


def read_osm_network(path: str | Path) -> WalkNetwork:
    """Walking network of an OSM PBF, projected to the local UTM zone (metres). OSM ways that
    meet share a node, so they are joined exactly (no tolerance) and levels need no help."""
    osm, p = _open(path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            edges = osm.get_network(network_type="walking")
        except Exception as exc:  # noqa: BLE001 - the reader's own errors, whatever their type, become one line naming the file
            raise InputFileError(t(f"{p}: 读取路网失败：{exc}", f"{p}: failed to read the network: {exc}")) from None
    if edges is None or len(edges) == 0:
        raise InputError(t(f"{p}: 该区域内没有可步行的道路", f"{p}: the area has no walkable streets"))
    from lifecircle.sources.network_loader import network_from_lines

    return network_from_lines(
        gpd.GeoSeries(edges.geometry.to_numpy(), crs=4326), source=str(p), tolerance_m=0.0, levels=False
    )


STREET_TAGS = ("highway", "name", "bridge", "tunnel", "layer")


def read_osm_street_table(path: str | Path) -> RawTable:
    """The walkable ways of an OSM PBF (pyrosm's ``walking`` network, as :func:`read_osm_network`
    reads them) as a table of WGS-84 LineStrings with ``id`` (the OSM way id) and the tags
    ``highway``, ``name``, ``bridge``, ``tunnel`` and ``layer`` (text as tagged; a missing tag is
    None). Rows are numbered from 2 in pyrosm's order, like a spreadsheet under its header."""
    osm, p = _open(path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            edges = osm.get_network(network_type="walking", extra_attributes=["tunnel", "layer"])
        except Exception as exc:  # noqa: BLE001 - the reader's own errors, whatever their type, become one line naming the file
            raise InputFileError(t(f"{p}: 读取路网失败：{exc}", f"{p}: failed to read the network: {exc}")) from None
    if edges is None or len(edges) == 0:
        raise InputError(t(f"{p}: 该区域内没有可步行的道路", f"{p}: the area has no walkable streets"))
    n = len(edges)
    data: dict[str, list] = {"id": [str(v) for v in edges["id"].tolist()]}
    for tag in STREET_TAGS:
        col = edges[tag].tolist() if tag in edges.columns else [None] * n
        data[tag] = [v if isinstance(v, str) and v.strip() else None for v in col]
    df = gpd.GeoDataFrame(data, geometry=edges.geometry.to_numpy(), crs=4326)
    df.index = pd.RangeIndex(2, n + 2)
    return RawTable(df, p.name, crs="EPSG:4326")


def read_osm_pois(path: str | Path) -> gpd.GeoDataFrame:
    """Shops, amenities, crafts, offices ... of an OSM PBF as points (WGS-84) with their tags.

    Polygons (a shop mapped as a building) become their representative point.
    """
    osm, p = _open(path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            pois = osm.get_pois(custom_filter={k: True for k in POI_KEYS})
        except Exception as exc:  # noqa: BLE001 - the reader's own errors, whatever their type, become one line naming the file
            raise InputFileError(
                t(f"{p}: 读取兴趣点失败：{exc}", f"{p}: failed to read points of interest: {exc}")
            ) from None
    cols = ["id", "name", *POI_KEYS, "geometry"]
    if pois is None or len(pois) == 0:
        return gpd.GeoDataFrame({c: [] for c in cols}, geometry="geometry", crs=4326)
    pois = pois.copy()
    pois["geometry"] = shapely.point_on_surface(pois.geometry.to_numpy())
    tags = pois["tags"] if "tags" in pois else pd.Series([None] * len(pois), index=pois.index)
    out = gpd.GeoDataFrame(pois[[c for c in ("id", "name", "geometry") if c in pois]], geometry="geometry", crs=4326)
    # flatten the keys we classify on: columns first, then the JSON 'tags' column pyrosm keeps
    import json

    extra = [json.loads(x) if isinstance(x, str) else (x if isinstance(x, dict) else {}) for x in tags]
    for k in POI_KEYS + (
        "vending",
        "recycling_type",
        "cuisine",
        "social_facility:for",
        "information",
        "beauty",
        "second_hand",
        "street_vendor",
        "brand",
        "opening_hours",
    ):
        col = pois[k] if k in pois else pd.Series([None] * len(pois), index=pois.index)
        vals = [c if isinstance(c, str) and c else e.get(k) for c, e in zip(col, extra, strict=True)]
        out[k] = vals
    return out


def classify_osm(pois: pd.DataFrame, profile: Profile) -> pd.DataFrame:
    """Long table (poi index, format code) of every format each POI matches by its OSM tags."""
    rows_i, rows_f = [], []
    records = pois.to_dict("records")
    for i, rec in enumerate(records):
        for fmt in profile.formats:
            if any(rule.matches(rec) for rule in fmt.osm):
                rows_i.append(i)
                rows_f.append(fmt.code)
    return pd.DataFrame({"poi": np.asarray(rows_i, dtype=np.int64), "format": rows_f})


def osm_outlets(path: str | Path, profile: Profile) -> pd.DataFrame:
    """The outlets of an OSM PBF, one row per element and format it matches (一店多能 counts in
    each): ``id, name, format, lon, lat`` (WGS-84), as the access table takes them."""
    pois = read_osm_pois(path)
    cls = classify_osm(pois, profile)
    sel = pois.iloc[cls["poi"].to_numpy()]
    return pd.DataFrame(
        {
            "id": sel["id"].astype(str).to_numpy(),
            "name": sel["name"].fillna("").astype(str).to_numpy(),
            "format": cls["format"].to_numpy(),
            "lon": sel.geometry.x.to_numpy(),
            "lat": sel.geometry.y.to_numpy(),
        }
    )
