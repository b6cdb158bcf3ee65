"""Communities assigned to user-given circle boundaries (WGS-84 polygons) by point in polygon."""

from __future__ import annotations

from dataclasses import dataclass, field

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from lifecircle.errors import ProblemCollector
from lifecircle.i18n import t
from lifecircle.plans.circles.boundaries import valid_polygonal


@dataclass
class GivenAssignment:
    """Communities assigned to user-given circle boundaries by point in polygon.

    ``communities``: ``id, name, district, population, circle_id`` (None outside every circle),
    ``n_circles`` (how many boundaries contain the point; >1 = overlapping boundaries, the first
    listed wins), ``district_mismatch`` (circle's district differs from the community's).
    ``outside``: the communities in no circle. ``circles``: GeoDataFrame (WGS-84) per circle
    ``id, name, district, n_communities, population, geometry``.
    """

    communities: pd.DataFrame
    outside: pd.DataFrame
    circles: gpd.GeoDataFrame
    notes: list[str] = field(default_factory=list)


def assign_to_given_circles(communities: pd.DataFrame, circles_gdf: gpd.GeoDataFrame) -> GivenAssignment:
    """Assign each community (``lon, lat`` WGS-84) to the circle polygon that contains it.

    ``circles_gdf``: ``id`` (+ ``name``, ``district``) and polygon ``geometry``; reprojected to
    WGS-84 if it has another CRS. Communities outside every circle are reported, not guessed.
    """
    bag = ProblemCollector(file="circles")
    if "id" not in circles_gdf.columns:
        bag.add(t("缺少必填列 'id'", "required column 'id' is missing"), field="id")
    if not isinstance(circles_gdf, gpd.GeoDataFrame) or circles_gdf.geometry is None:
        bag.add(t("没有几何列（边界多边形）", "no geometry column (boundary polygons)"), field="geometry")
    bag.raise_if_any()
    g = circles_gdf.to_crs(4326) if circles_gdf.crs is not None and not circles_gdf.crs.equals(4326) else circles_gdf
    g = g.reset_index(drop=True)
    for i, geom in enumerate(g.geometry):
        if geom is None or geom.is_empty:
            bag.add(t("边界为空", "empty boundary"), row=i + 2, field="geometry")
        elif shapely.get_type_id(geom) not in (3, 6):
            bag.add(
                t(
                    f"边界应为多边形，而不是 {geom.geom_type}",
                    f"the boundary must be a polygon, not a {geom.geom_type}",
                ),
                row=i + 2,
                field="geometry",
            )
    ids = g["id"].astype(str)
    for r in np.flatnonzero(ids.duplicated().to_numpy()):
        bag.add(t(f"生活圈 id '{ids.iloc[r]}' 重复", f"circle id '{ids.iloc[r]}' repeats"), row=int(r) + 2, field="id")
    bag.raise_if_any()
    comm = communities.reset_index(drop=True)
    pts = shapely.points(comm["lon"].to_numpy(float), comm["lat"].to_numpy(float))
    geoms = np.asarray([shapely.make_valid(x) for x in g.geometry], dtype=object)
    tree = shapely.STRtree(geoms)
    pi, gi = tree.query(pts, predicate="intersects")
    n = len(comm)
    first = np.full(n, -1, dtype=np.int64)
    count = np.bincount(pi, minlength=n) if len(pi) else np.zeros(n, dtype=np.int64)
    order = np.lexsort((gi, pi))
    for p_, g_ in zip(pi[order][::-1], gi[order][::-1], strict=True):
        first[p_] = g_
    circle_id = np.where(first >= 0, ids.to_numpy()[np.maximum(first, 0)], None)
    c_district = g["district"].astype(str).to_numpy() if "district" in g else None
    out = pd.DataFrame(
        {
            "id": comm["id"].astype(str),
            "name": comm["name"] if "name" in comm else comm["id"].astype(str),
            "district": comm["district"].astype(str) if "district" in comm else None,
            "population": pd.to_numeric(comm["population"], errors="coerce").fillna(0).astype(np.int64)
            if "population" in comm
            else 0,
            "circle_id": circle_id,
            "n_circles": count.astype(np.int64),
        }
    )
    if c_district is not None and "district" in comm:
        cd = np.where(first >= 0, c_district[np.maximum(first, 0)], None)
        out["district_mismatch"] = (first >= 0) & (cd != out["district"].to_numpy())
    else:
        out["district_mismatch"] = False
    notes = []
    outside = out[out["circle_id"].isna()].reset_index(drop=True)
    if len(outside):
        notes.append(
            t(
                f"{len(outside)} 个小区（{int(outside['population'].sum()):,} 人）不在任何生活圈边界内",
                f"{len(outside)} communities ({int(outside['population'].sum()):,} residents) lie outside every "
                "circle boundary",
            )
        )
    if (count > 1).any():
        notes.append(
            t(
                f"{int((count > 1).sum())} 个小区位于重叠的生活圈边界内，已划入先列出的生活圈",
                f"{int((count > 1).sum())} communities lie where circle boundaries overlap; each went to the circle "
                "listed first",
            )
        )
    if out["district_mismatch"].any():
        notes.append(
            t(
                f"{int(out['district_mismatch'].sum())} 个小区所在生活圈属于其他区",
                f"{int(out['district_mismatch'].sum())} communities fall in a circle of another district",
            )
        )
    per = out.groupby("circle_id").agg(n_communities=("id", "size"), population=("population", "sum"))
    circ = gpd.GeoDataFrame(
        {
            "id": ids,
            "name": g["name"].astype(str) if "name" in g else ids,
            "district": g["district"].astype(str) if "district" in g else None,
        },
        geometry=gpd.GeoSeries([valid_polygonal(x) for x in geoms], crs=4326),
        crs=4326,
    )
    circ = circ.join(per, on="id")
    circ[["n_communities", "population"]] = circ[["n_communities", "population"]].fillna(0).astype(np.int64)
    empty = circ[circ["n_communities"] == 0]
    if len(empty):
        notes.append(
            t(
                f"{len(empty)} 个生活圈边界内没有小区：{', '.join(empty['id'][:10])}",
                f"{len(empty)} circle boundaries contain no community: {', '.join(empty['id'][:10])}",
            )
        )
    return GivenAssignment(out, outside, circ, notes)
