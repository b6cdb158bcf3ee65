"""Circle boundaries: unions of the communities' Voronoi cells per district, cut to a radius
(metres) around each community and to the district polygon; always valid (Multi)Polygons."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import shapely
from numpy.typing import NDArray
from pyproj import Transformer

from lifecircle.i18n import t
from lifecircle.plans.circles.assign import DistrictAssignment
from lifecircle.plans.circles.candidates import CommunityTable, DistrictCandidates, DistrictShapes


def valid_polygonal(geom: Any) -> Any:
    """``geom`` as a valid (Multi)Polygon, or None: repaired (``make_valid``) and only its polygonal
    parts kept. A union of cells that is valid in metres can self-intersect once projected back to
    degrees (20 of the demo's 30 circles did); every circle boundary written passes here."""
    if geom is None or geom.is_empty:
        return None
    if shapely.is_valid(geom) and shapely.get_type_id(geom) in (3, 6):
        return geom
    polys = [p for p in shapely.get_parts(shapely.make_valid(geom)) if shapely.get_type_id(p) in (3, 6)]
    g = shapely.union_all(polys) if polys else None
    return None if g is None or g.is_empty else g


def _district_cells(x: NDArray, y: NDArray, assign: NDArray, q: int, district: Any, radius_m: float) -> list[Any]:
    """Projected boundary per circle: the union of its communities' Voronoi cells (within the
    district), each cut to ``radius_m`` around its community and to the district polygon."""
    n = len(x)
    pts = shapely.points(x, y)
    if n == 0:
        return [None] * q
    xy = np.column_stack([x, y])
    uniq, first, inv = np.unique(np.round(xy, 3), axis=0, return_index=True, return_inverse=True)
    inv = inv.ravel()
    if len(uniq) == 1:
        cells_u = [shapely.box(-1e12, -1e12, 1e12, 1e12)]
    else:
        env = shapely.envelope(shapely.multipoints(uniq))
        extent = shapely.buffer(
            env if district is None else shapely.union(env, shapely.envelope(district)), 10 * radius_m + 1
        )
        vor = shapely.voronoi_polygons(shapely.multipoints(uniq), extend_to=extent, ordered=True)
        cells_u = list(shapely.get_parts(vor))
        if len(cells_u) != len(uniq):  # defensive: match cells to points by containment
            tree = shapely.STRtree(cells_u)
            hit = tree.query(shapely.points(uniq), predicate="intersects")
            mapped = [None] * len(uniq)
            for pi, ci in zip(*hit, strict=True):
                if mapped[pi] is None:
                    mapped[pi] = cells_u[ci]
            cells_u = [c if c is not None else shapely.Point(*uniq[i]).buffer(radius_m) for i, c in enumerate(mapped)]
    # a cell belongs to the first community at that point; duplicates at one point follow it
    owner = first[inv]
    cells: list[Any] = []
    for i in range(n):
        if owner[i] != i:
            cells.append(None)
            continue
        c = shapely.intersection(cells_u[inv[i]], shapely.buffer(pts[i], radius_m))
        if district is not None:
            c = shapely.intersection(c, district)
        cells.append(c)
    out = []
    for j in range(q):
        parts = [cells[i] for i in np.flatnonzero(assign == j) if cells[i] is not None and not cells[i].is_empty]
        geom = shapely.union_all(parts) if parts else None
        if geom is not None:
            geom = shapely.make_valid(geom)
            polys = [g for g in shapely.get_parts(geom) if shapely.get_type_id(g) in (3, 6)]
            geom = shapely.union_all(polys) if polys else None
        out.append(geom)
    return out


# ------------------------------------------------------------------------------- per district
@dataclass
class DistrictBoundaries:
    """Boundaries of one district's circles in the network's CRS (metres), one per chosen centre
    (None when it has no cell), and notes (no polygon to clip to)."""

    geoms: list[Any]
    notes: list[str] = field(default_factory=list)


def district_boundaries(
    cands: DistrictCandidates,
    assignment: DistrictAssignment,
    n_circles: int,
    comms: CommunityTable,
    shapes: DistrictShapes,
    *,
    radius_m: float,
) -> DistrictBoundaries:
    """Step 5 (per district): each circle's boundary, the union of its communities' Voronoi cells
    cut to ``radius_m`` metres around each community and to the district polygon (if known)."""
    m = cands.members
    geoms = _district_cells(
        comms.snap.x[m], comms.snap.y[m], assignment.column, n_circles, shapes.geoms.get(cands.code), radius_m
    )
    notes = []
    if cands.code not in shapes.geoms and shapes.given:
        label = cands.label
        notes.append(
            t(
                f"区表中没有区 {label} 的边界，生活圈边界未按区裁剪",
                f"no boundary for district {label} in the districts table; its circles are not clipped",
            )
        )
    return DistrictBoundaries(geoms, notes)


def to_wgs84(geoms: list[Any], crs: Any) -> list[Any]:
    """Projected boundaries (``crs``, metres) as valid WGS-84 (Multi)Polygons (None for empty)."""
    back = Transformer.from_crs(crs, 4326, always_xy=True)
    return [
        None
        if g is None or g.is_empty
        else valid_polygonal(shapely.transform(g, lambda xy: np.column_stack(back.transform(xy[:, 0], xy[:, 1]))))
        for g in geoms
    ]
