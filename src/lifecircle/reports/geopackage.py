"""The GeoPackage: layers ``circles`` (boundary polygons with grade and indicators),
``communities`` (points with indicators and the walk in minutes to the nearest outlet of every
format, ``min_<format>``) and ``districts`` (polygons with indicators when the city is given; an
attribute table otherwise). All in WGS-84 (EPSG:4326); column names are the evaluation's codes.

Every layer has a ``synthetic`` column (1 when the evaluation is synthetic). The file is written
to a temporary name and renamed when complete.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio

from lifecircle.reports.common import city_origin
from lifecircle.sources.files import atomic_output

if TYPE_CHECKING:
    from lifecircle.city.model import City
    from lifecircle.indicators.evaluate import Evaluation

LAYERS = ("circles", "communities", "districts")


def _plain(df: pd.DataFrame) -> pd.DataFrame:
    """Columns GDAL can store: nullable booleans and mixed objects become numbers or text."""
    out = df.copy()
    for c in out.columns:
        if c == "geometry" or isinstance(out[c].dtype, gpd.array.GeometryDtype):
            continue
        s = out[c]
        if s.dtype == object or str(s.dtype) in ("boolean", "bool"):
            vals = s.dropna()
            if len(vals) and all(isinstance(v, bool | np.bool_) for v in vals):
                out[c] = pd.array([None if pd.isna(v) else int(bool(v)) for v in s], dtype="Int8")
            elif s.dtype == object:
                out[c] = s.map(
                    lambda v: None if v is None or v is pd.NA or (isinstance(v, float) and np.isnan(v)) else str(v)
                )
    return out


def circles_layer(evaluation: Evaluation) -> gpd.GeoDataFrame:
    """Circle boundaries (WGS-84) with every indicator, grade and gap list."""
    g = gpd.GeoDataFrame(evaluation.circles.copy(), geometry="geometry", crs=evaluation.circles.crs or 4326).to_crs(
        4326
    )
    g["synthetic"] = int(bool(evaluation.synthetic))
    return gpd.GeoDataFrame(_plain(g), geometry="geometry", crs=4326)


def communities_layer(evaluation: Evaluation) -> gpd.GeoDataFrame:
    """Community points (WGS-84) with indicators and ``min_<format>``: minutes to the nearest
    outlet of each format at the usual walking speed (empty when unreachable)."""
    comm = evaluation.communities.copy()
    acc = evaluation.access
    if len(acc):
        wide = acc.pivot_table(
            index="community_id", columns="format", values="nearest_min", aggfunc="first", dropna=False
        )
        order = evaluation.profile.codes
        wide = wide.reindex(columns=[c for c in order if c in wide.columns])
        wide.columns = [f"min_{c}" for c in wide.columns]
        comm = comm.merge(wide.round(2), left_on="id", right_index=True, how="left")
    comm["synthetic"] = int(bool(evaluation.synthetic))
    geom = gpd.points_from_xy(comm["lon"].astype(float), comm["lat"].astype(float), crs=4326)
    return gpd.GeoDataFrame(_plain(comm), geometry=geom, crs=4326)


def districts_layer(evaluation: Evaluation, city: City | None) -> pd.DataFrame:
    """District indicators, with the city's district polygons when ``city`` is given."""
    dd = evaluation.districts.copy()
    poly = city.table("districts") if city is not None else None
    if poly is not None and len(poly):
        base = poly[["code", "name_zh", "geometry"]].copy()
        base["code"] = base["code"].astype(str)
        if len(dd):
            dd["code"] = dd["code"].astype(str)
            extra = dd.drop(columns=[c for c in ("name_zh", "geometry") if c in dd], errors="ignore")
            base = base.merge(extra, on="code", how="left")
        base["synthetic"] = int(bool(evaluation.synthetic))
        return gpd.GeoDataFrame(_plain(base), geometry="geometry", crs=poly.crs or 4326).to_crs(4326)
    dd["synthetic"] = int(bool(evaluation.synthetic))
    return _plain(dd)


def write_geopackage(evaluation: Evaluation, path: str | Path, *, city: City | None = None) -> Path:
    """Write layers circles, communities and districts to ``path`` (.gpkg, atomically)."""
    p = Path(path)
    layers = {
        "circles": circles_layer(evaluation),
        "communities": communities_layer(evaluation),
        "districts": districts_layer(evaluation, city),
    }
    meta = {"lifecircle_city": city_origin(evaluation, "en"), "synthetic": str(bool(evaluation.synthetic))}
    with atomic_output(p) as tmp:
        for name, df in layers.items():
            if isinstance(df, gpd.GeoDataFrame):
                # polygons as MultiPolygon so one layer holds both kinds; points stay points
                pyogrio.write_dataframe(
                    df, tmp, layer=name, driver="GPKG", promote_to_multi=name != "communities", layer_metadata=meta
                )
            else:
                pyogrio.write_dataframe(df, tmp, layer=name, driver="GPKG", layer_metadata=meta)
    return p
