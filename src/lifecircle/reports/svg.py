"""Inline SVG pieces of the dashboard: the map of circles on our own streets, bar charts and
heat maps. Everything is drawn from the data; nothing is fetched.

The map is projected to the local UTM zone (metres); the SVG user unit is one metre, with y
flipped (north up), and coordinates are rounded to whole metres and written relative
(``l dx dy``) to keep the file small. Strokes use ``vector-effect: non-scaling-stroke`` so their
widths are screen pixels whatever the map's size.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from html import escape
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from numpy.typing import NDArray
from pyproj import Transformer

from lifecircle.network.graph import local_metric_crs
from lifecircle.reports.common import (
    CLASS_COLOURS,
    CLASS_NAMES,
    GRADES,
    fmt_num,
    fmt_pct,
    grade_style,
    is_missing,
    tr,
)

# Street classes from the most to the least important; a tier is drawn only while the vertex
# budget allows, so at city scale the base map keeps the main roads and drops footpaths.
STREET_TIERS: list[tuple[str, tuple[str, ...], float, str]] = [
    ("major", ("motorway", "motorway_link", "trunk", "trunk_link", "primary", "primary_link"), 2.2, "#8d8d8d"),
    ("secondary", ("secondary", "secondary_link"), 1.5, "#9e9e9e"),
    ("tertiary", ("tertiary", "tertiary_link"), 1.1, "#ababab"),
    ("local", ("residential", "unclassified", "living_street", "road", "service", "pedestrian"), 0.6, "#bdbdbd"),
    ("path", ("footway", "path", "steps", "cycleway", "track", "corridor", "bridleway"), 0.4, "#cfcfcf"),
]
OTHER_TIER = ("other", (), 0.6, "#bdbdbd")


@dataclass
class MapStats:
    """What went into the map: circles drawn, street tiers kept and their vertex count."""

    n_circles: int
    n_communities: int
    street_tiers: list[str]
    street_vertices: int
    width_m: float
    height_m: float


class _Frame:
    """WGS-84 → SVG user units (metres from the top-left corner, y down)."""

    def __init__(self, crs: Any, minx: float, miny: float, maxx: float, maxy: float):
        self.crs = crs
        self.minx, self.miny, self.maxx, self.maxy = minx, miny, maxx, maxy
        self.w = maxx - minx
        self.h = maxy - miny

    def xy(self, coords: NDArray[np.float64]) -> NDArray[np.int64]:
        """Projected coordinates → rounded SVG coordinates."""
        out = np.empty_like(coords)
        out[:, 0] = coords[:, 0] - self.minx
        out[:, 1] = self.maxy - coords[:, 1]
        return np.round(out).astype(np.int64)


def _pieces_d(geoms: Iterable[Any], frame: _Frame, *, close: bool) -> list[str]:
    """One SVG path ``d`` per geometry: its rings (polygons) or lines, relative moves."""
    out: list[str] = []
    for g in geoms:
        if g is None or g.is_empty:
            out.append("")
            continue
        if close:
            parts = shapely.get_parts(g)
            rings = [r for p in parts if p.geom_type == "Polygon" for r in shapely.get_rings(p)]
        else:
            rings = [p for p in shapely.get_parts(g) if p.geom_type == "LineString"]
        segs: list[str] = []
        for r in rings:
            xy = frame.xy(shapely.get_coordinates(r))
            if close and len(xy) > 1:
                xy = xy[:-1]
            if len(xy) < 2:
                continue
            d = np.diff(xy, axis=0)
            d = d[(d != 0).any(axis=1)]
            if len(d) == 0:
                continue
            segs.append(f"M{xy[0, 0]} {xy[0, 1]}l" + " ".join(map(str, d.ravel().tolist())) + ("z" if close else ""))
        out.append("".join(segs))
    return out


def _lines_d(lines: NDArray[np.object_], frame: _Frame) -> str:
    """All lines of a tier as one path ``d`` (vectorised: one transform for all coordinates)."""
    parts = shapely.get_parts(lines)
    parts = parts[shapely.get_type_id(parts) == 1]
    if len(parts) == 0:
        return ""
    coords, idx = shapely.get_coordinates(parts, return_index=True)
    xy = frame.xy(coords)
    bounds = np.flatnonzero(np.diff(idx)) + 1
    chunks: list[str] = []
    for piece in np.split(xy, bounds):
        if len(piece) < 2:
            continue
        d = np.diff(piece, axis=0)
        d = d[(d != 0).any(axis=1)]
        if len(d) == 0:
            continue
        chunks.append(f"M{piece[0, 0]} {piece[0, 1]}l" + " ".join(map(str, d.ravel().tolist())))
    return "".join(chunks)


def _nice_length(target_m: float) -> float:
    """A round scale-bar length (1, 2 or 5 × 10^k metres) not above ``target_m``."""
    k = 10 ** math.floor(math.log10(max(target_m, 1.0)))
    for m in (5, 2, 1):
        if m * k <= target_m:
            return m * k
    return k


def map_svg(
    circles: gpd.GeoDataFrame,
    communities: pd.DataFrame,
    *,
    districts: gpd.GeoDataFrame | None,
    streets: gpd.GeoDataFrame | None,
    numbers: dict[str, int],
    district_names: dict[str, str],
    lang: str,
    max_street_vertices: int = 150_000,
    overlay: Callable[[_MapView], list[str]] | None = None,
) -> tuple[str, MapStats]:
    """The map of circles coloured by grade over district boundaries and streets, as inline SVG.

    ``numbers`` maps circle id → the number printed on the map and in the tables.
    ``max_street_vertices`` bounds the base map's size (about 8 bytes per vertex). ``overlay``
    gives layers drawn over the circles, under the streets (e.g. the walking-time surface).
    """
    circles = circles[~circles.geometry.isna() & ~circles.geometry.is_empty] if len(circles) else circles
    view = _map_view(circles, communities, districts)
    if view is None:
        return "", MapStats(0, 0, [], 0, 0.0, 0.0)
    layers: list[str] = []
    dist_layer, dist_labels = _district_layer(districts, view, district_names)
    layers += dist_layer
    fills, outlines, labels = _circle_layers(view, numbers, district_names, lang)
    if len(view.circles):
        layers.append('<g id="circles">' + "".join(fills) + "</g>")
    if overlay is not None:
        layers += overlay(view)
    street_layer, tiers_kept, n_vert = _street_layer(streets, view, max_street_vertices)
    layers += street_layer
    if outlines:
        layers.append(
            '<g id="circle-outlines" fill="none" stroke="#ffffff" stroke-width="2.2">' + "".join(outlines) + "</g>"
        )
        layers.append('<g fill="none" stroke="#3b3b3b" stroke-width="0.9">' + "".join(outlines) + "</g>")
    layers += _community_layer(communities, view)
    layers.append('<g id="district-labels">' + "".join(dist_labels) + "</g>")
    layers.append('<g id="circle-labels">' + "".join(labels) + "</g>")
    layers += _decorations(view, lang)
    W, H = view.W, view.H
    title = tr(lang, "生活圈分布与等级", "Living circles by grade")
    svg = (
        f'<svg id="map" class="map" viewBox="0 0 {W} {H}" '
        f'preserveAspectRatio="xMidYMid meet" role="img" aria-label="{escape(title)}">'
        f'<rect class="sea" width="{W}" height="{H}"/>' + "".join(layers) + "</svg>"
    )
    return svg, MapStats(len(fills), len(view.comm_xy), tiers_kept, n_vert, view.frame.w, view.frame.h)


@dataclass
class _MapView:
    """What every layer of the map needs: the projected frame (metres in ``crs``), its size in
    SVG units, one "map pixel" (``unit``, metres at 1000 px wide), and the projected circles and
    community points."""

    crs: Any
    frame: _Frame
    W: int
    H: int
    unit: float
    circles: gpd.GeoDataFrame
    comm_xy: np.ndarray


def _map_view(
    circles: gpd.GeoDataFrame, communities: pd.DataFrame, districts: gpd.GeoDataFrame | None
) -> _MapView | None:
    """The map's frame around the circles and communities (else the districts), padded by 5%;
    None when there is nothing to draw."""
    lon = communities["lon"].to_numpy(float) if len(communities) else np.array([])
    lat = communities["lat"].to_numpy(float) if len(communities) else np.array([])
    boxes = []
    if len(circles):
        boxes.append(circles.total_bounds)
    if len(lon):
        boxes.append(np.array([np.nanmin(lon), np.nanmin(lat), np.nanmax(lon), np.nanmax(lat)]))
    if not boxes and districts is not None and len(districts):
        boxes.append(districts.total_bounds)
    if not boxes:
        return None
    b = np.vstack(boxes)
    lon0 = float((b[:, 0].min() + b[:, 2].max()) / 2)
    lat0 = float((b[:, 1].min() + b[:, 3].max()) / 2)
    crs = local_metric_crs(lon0, lat0)

    circ_p = circles.to_crs(crs) if len(circles) else circles
    comm_xy = np.empty((0, 2))
    if len(lon):
        cx, cy = Transformer.from_crs(4326, crs, always_xy=True).transform(lon, lat)
        comm_xy = np.column_stack([cx, cy])
    ext = []
    if len(circ_p):
        ext.append(circ_p.total_bounds)
    if len(comm_xy):
        ext.append(np.array([comm_xy[:, 0].min(), comm_xy[:, 1].min(), comm_xy[:, 0].max(), comm_xy[:, 1].max()]))
    if not ext:
        ext.append(districts.to_crs(crs).total_bounds)  # type: ignore[union-attr]
    e = np.vstack(ext)
    minx, miny, maxx, maxy = e[:, 0].min(), e[:, 1].min(), e[:, 2].max(), e[:, 3].max()
    pad = 0.05 * max(maxx - minx, maxy - miny, 500.0)
    frame = _Frame(crs, minx - pad, miny - pad, maxx + pad, maxy + pad)
    W, H = int(math.ceil(frame.w)), int(math.ceil(frame.h))
    return _MapView(crs, frame, W, H, max(W, H) / 1000.0, circ_p, comm_xy)


def _bbox(view: _MapView) -> tuple[float, float, float, float]:
    f = view.frame
    return f.minx, f.miny, f.maxx, f.maxy


def _district_layer(
    districts: gpd.GeoDataFrame | None, view: _MapView, district_names: dict[str, str]
) -> tuple[list[str], list[str]]:
    """District polygons (alternating fills, names as tooltips) and their labels."""
    if districts is None or not len(districts):
        return [], []
    frame, unit = view.frame, view.unit
    dp = districts.to_crs(view.crs)
    geoms = shapely.clip_by_rect(dp.geometry.to_numpy(), *_bbox(view))
    geoms = shapely.simplify(geoms, unit * 0.8)
    ds = _pieces_d(geoms, frame, close=True)
    codes = dp["code"].astype(str).tolist() if "code" in dp else [""] * len(dp)
    paths, labels = [], []
    for i, (d, code) in enumerate(zip(ds, codes, strict=True)):
        if not d:
            continue
        name = district_names.get(code, code)
        fill = "#f4f1ea" if i % 2 == 0 else "#eef1f4"
        paths.append(
            f'<path class="district" data-code="{escape(code)}" d="{d}" fill="{fill}">'
            f"<title>{escape(name)}</title></path>"
        )
        pt = shapely.point_on_surface(geoms[i])
        if not pt.is_empty:
            ((px, py),) = frame.xy(np.array([[pt.x, pt.y]]))
            labels.append(
                f'<text class="district-label" x="{px}" y="{py}" font-size="{unit * 22:.0f}">{escape(name)}</text>'
            )
    return ['<g id="districts">' + "".join(paths) + "</g>"], labels


def _circle_layers(
    view: _MapView, numbers: dict[str, int], district_names: dict[str, str], lang: str
) -> tuple[list[str], list[str], list[str]]:
    """Circle fills (coloured by grade, linked to their table row), outlines and number labels."""
    fills: list[str] = []
    outlines: list[str] = []
    labels: list[str] = []
    circ_p, frame, unit = view.circles, view.frame, view.unit
    if not len(circ_p):
        return fills, outlines, labels
    cgeoms = shapely.simplify(circ_p.geometry.to_numpy(), unit * 0.5)
    ds = _pieces_d(cgeoms, frame, close=True)
    for (_, row), d, g in zip(circ_p.iterrows(), ds, cgeoms, strict=True):
        if not d:
            continue
        st = grade_style(row.get("grade_code"), row.get("grade"))
        cid = str(row["id"])
        num = numbers.get(cid, 0)
        tip = (
            f"{num}. {row.get('name', cid)}"
            f"（{district_names.get(str(row.get('district')), row.get('district', ''))}）\n"
            f"{tr(lang, '等级', 'Grade')}: {tr(lang, st.zh, st.en)}\n"
            f"{tr(lang, '基本业态覆盖率', 'Basic coverage')}: {fmt_pct(row.get('basic_coverage'))}\n"
            f"{tr(lang, '人口', 'Population')}: {fmt_num(row.get('population'))}"
        )
        fills.append(
            f'<a href="#circle-{escape(cid)}"><path class="circle grade-{st.code}" data-id="{escape(cid)}" '
            f'data-grade="{st.code}" d="{d}" fill="{st.fill}"><title>{escape(tip)}</title></path></a>'
        )
        outlines.append(f'<path d="{d}"/>')
        pt = shapely.point_on_surface(g)
        ((px, py),) = frame.xy(np.array([[pt.x, pt.y]]))
        labels.append(f'<text x="{px}" y="{py}" font-size="{unit * 15:.0f}">{num}</text>')
    return fills, outlines, labels


def _street_layer(
    streets: gpd.GeoDataFrame | None, view: _MapView, max_street_vertices: int
) -> tuple[list[str], list[str], int]:
    """Streets by tier, major first, until ``max_street_vertices`` vertices; returns the layer,
    the tiers kept and the number of vertices drawn."""
    tiers_kept: list[str] = []
    n_vert = 0
    if streets is None or not len(streets):
        return [], tiers_kept, n_vert
    frame, unit = view.frame, view.unit
    sp = streets.to_crs(view.crs)
    geoms = shapely.clip_by_rect(sp.geometry.to_numpy(), *_bbox(view))
    keep = ~shapely.is_empty(geoms)
    geoms = geoms[keep]
    hw = sp["highway"].astype("string").fillna("").to_numpy()[keep] if "highway" in sp else np.full(len(geoms), "")
    known = {c for _, cs, _, _ in STREET_TIERS for c in cs}
    street_layers = []
    for name, classes, width, colour in [*STREET_TIERS, OTHER_TIER]:
        sel = np.isin(hw, classes) if classes else ~np.isin(hw, list(known))
        if not sel.any():
            continue
        parts = shapely.get_parts(geoms[sel])
        parts = parts[shapely.get_type_id(parts) == 1]
        if len(parts) == 0:
            continue
        # join the network's edge pieces into long lines, then drop sub-pixel detail
        merged = shapely.get_parts(shapely.line_merge(shapely.multilinestrings(parts)))
        g = shapely.simplify(merged, unit * 0.6)
        nv = int(shapely.get_num_coordinates(g).sum())
        if tiers_kept and n_vert + nv > max_street_vertices:
            break
        if not tiers_kept and nv > max_street_vertices:  # even the main roads are too many: coarser
            g = shapely.simplify(merged, unit * 2.0)
            nv = int(shapely.get_num_coordinates(g).sum())
        n_vert += nv
        tiers_kept.append(name)
        street_layers.append(
            f'<path class="street street-{name}" d="{_lines_d(g, frame)}" stroke="{colour}" stroke-width="{width}"/>'
        )
    layer = (
        '<g id="streets" fill="none" stroke-linecap="round" stroke-linejoin="round">'
        + "".join(reversed(street_layers))
        + "</g>"
    )
    return [layer], tiers_kept, n_vert


def _community_layer(communities: pd.DataFrame, view: _MapView) -> list[str]:
    """Community dots: green when every basic format is within its layer, red otherwise."""
    if not len(view.comm_xy):
        return []
    pts = view.frame.xy(view.comm_xy)
    ok = communities["basic_complete"].to_numpy() if "basic_complete" in communities else np.ones(len(pts), bool)
    r = view.unit * 2.6
    dots = []
    for (x, y), good, name in zip(pts, ok, communities.get("name", pd.Series([""] * len(pts))), strict=True):
        cls = "ok" if (not is_missing(good) and bool(good)) else "gap"
        dots.append(
            f'<circle class="community {cls}" cx="{x}" cy="{y}" r="{r:.0f}"><title>{escape(str(name))}</title></circle>'
        )
    return ['<g id="communities">' + "".join(dots) + "</g>"]


def _decorations(view: _MapView, lang: str) -> list[str]:
    """The scale bar and the north arrow."""
    W, H, unit = view.W, view.H, view.unit
    return [
        _scale_bar(W, H, unit, lang),
        f'<g class="north" transform="translate({W - unit * 40:.0f},{unit * 50:.0f})">'
        f'<path d="M0 {-unit * 30:.0f}L{unit * 10:.0f} {unit * 5:.0f}L0 0L{-unit * 10:.0f} {unit * 5:.0f}z"/>'
        f'<text y="{unit * 26:.0f}" font-size="{unit * 16:.0f}">N</text></g>',
    ]


def _scale_bar(W: int, H: int, unit: float, lang: str) -> str:
    length = _nice_length(W / 5)
    x, y = unit * 20, H - unit * 25
    text = f"{length / 1000:g} km" if length >= 1000 else f"{length:g} m"
    return (
        f'<g class="scale" transform="translate({x:.0f},{y:.0f})">'
        f'<rect x="{-unit * 6:.0f}" y="{-unit * 24:.0f}" width="{length + unit * 12:.0f}" height="{unit * 34:.0f}" '
        f'rx="{unit * 3:.0f}"/>'
        f'<path d="M0 0H{length:.0f}M0 {-unit * 6:.0f}V0M{length:.0f} {-unit * 6:.0f}V0"/>'
        f'<text x="{length / 2:.0f}" y="{-unit * 9:.0f}" font-size="{unit * 14:.0f}">{text}</text></g>'
    )


# ---------------------------------------------------------------- colour scale
_STOPS = [
    (0.0, (215, 48, 39)),
    (0.5, (253, 174, 97)),
    (0.75, (254, 224, 139)),
    (0.9, (166, 217, 106)),
    (1.0, (26, 152, 80)),
]


def share_colour(v: Any) -> str:
    """Red (0) → yellow → green (1) for a share; light grey when missing."""
    if is_missing(v):
        return "#eeeeee"
    x = min(max(float(v), 0.0), 1.0)
    for (a, ca), (b, cb) in itertools.pairwise(_STOPS):
        if x <= b:
            f = (x - a) / (b - a) if b > a else 0
            r, g, bl = (round(ca[i] + (cb[i] - ca[i]) * f) for i in range(3))
            return f"#{r:02x}{g:02x}{bl:02x}"
    return "#1a9850"


# ---------------------------------------------------------------- charts
def coverage_bars(fc: pd.DataFrame, lang: str, *, speed_kmh: float, elderly_speed_kmh: float) -> str:
    """Horizontal bars: share of residents reaching each format within its layer, at the usual
    and at the older residents' speed (km/h), grouped by class."""
    if fc is None or len(fc) == 0:
        return ""
    row_h, label_w, bar_w, right = 24, 230, 520, 120
    rows: list[str] = []
    y = 8
    for cls in ("basic", "quality", "smart"):
        part = fc[fc["class"] == cls] if "class" in fc else fc
        if len(part) == 0:
            continue
        rows.append(f'<text class="group" x="0" y="{y + 16}">{escape(tr(lang, *CLASS_NAMES[cls]))}</text>')
        y += row_h + 2
        colour = CLASS_COLOURS[cls]
        for _, r in part.iterrows():
            s = r.get("share_within_layer")
            se = r.get("share_within_layer_elderly")
            name = r.get("format_name") or r.get("format_zh") or r.get("format")
            layer = r.get("layer_min")
            lab = f"{name}（{layer:g} {tr(lang, '分钟', 'min')}）" if not is_missing(layer) else str(name)
            w = 0 if is_missing(s) else bar_w * min(max(float(s), 0), 1)
            we = 0 if is_missing(se) else bar_w * min(max(float(se), 0), 1)
            tip = (
                f"{name}: {fmt_pct(s)} ({speed_kmh:g} km/h), {fmt_pct(se)} ({elderly_speed_kmh:g} km/h); "
                f"{tr(lang, '未覆盖', 'not covered')} {fmt_num(r.get('residents_uncovered'))}"
            )
            rows.append(
                f'<g class="bar-row"><title>{escape(tip)}</title>'
                f'<text class="lab" x="{label_w - 8}" y="{y + 15}">{escape(lab)}</text>'
                f'<rect class="track" x="{label_w}" y="{y + 2}" width="{bar_w}" height="{row_h - 6}"/>'
                f'<rect x="{label_w}" y="{y + 2}" width="{w:.1f}" height="{row_h - 10}" fill="{colour}"/>'
                f'<rect x="{label_w}" y="{y + row_h - 8}" width="{we:.1f}" height="4" fill="#444" opacity="0.55"/>'
                f'<text class="val" x="{label_w + bar_w + 8}" y="{y + 15}">{fmt_pct(s)}'
                f'<tspan class="sub"> / {fmt_pct(se)}</tspan></text></g>'
            )
            y += row_h
        y += 6
    grid = "".join(
        f'<line x1="{label_w + bar_w * q}" x2="{label_w + bar_w * q}" y1="0" y2="{y}"/>'
        f'<text x="{label_w + bar_w * q}" y="{y + 14}">{int(q * 100)}%</text>'
        for q in (0, 0.25, 0.5, 0.75, 1.0)
    )
    width = label_w + bar_w + right
    return (
        f'<svg class="chart bars" viewBox="0 0 {width} {y + 22}" width="{width}" '
        f'role="img"><g class="grid">{grid}</g>{"".join(rows)}</svg>'
    )


def heatmap(
    matrix: pd.DataFrame,
    row_labels: Sequence[str],
    col_labels: Sequence[str],
    *,
    col_classes: Sequence[str] | None = None,
    lang: str = "zh",
    row_anchors: Sequence[str] | None = None,
) -> str:
    """A heat map of shares (rows × formats), each cell coloured red→green and printed in %."""
    if matrix is None or matrix.size == 0:
        return ""
    cw, ch, label_w, head_h = 34, 24, 190, 150
    n_r, n_c = matrix.shape
    width, height = label_w + cw * n_c + 10, head_h + ch * n_r + 4
    parts: list[str] = []
    for j, lab in enumerate(col_labels):
        x = label_w + cw * j + cw / 2
        colour = CLASS_COLOURS.get(col_classes[j], "#555") if col_classes else "#555"
        parts.append(
            f'<text class="colhead" transform="translate({x + 4:.0f},{head_h - 6}) rotate(-55)" '
            f'fill="{colour}">{escape(lab)}</text>'
        )
    vals = matrix.to_numpy(dtype=float)
    for i, lab in enumerate(row_labels):
        y = head_h + ch * i
        text = escape(lab)
        if row_anchors:
            text = f'<a href="#{escape(row_anchors[i])}">{text}</a>'
        parts.append(f'<text class="rowhead" x="{label_w - 8}" y="{y + 16}">{text}</text>')
        for j in range(n_c):
            v = vals[i, j]
            x = label_w + cw * j
            txt = "" if math.isnan(v) else f"{v * 100:.0f}"
            ink = "#fff" if (not math.isnan(v) and v < 0.35) else "#222"
            parts.append(
                f'<rect x="{x}" y="{y}" width="{cw - 1}" height="{ch - 1}" fill="{share_colour(v)}">'
                f"<title>{escape(lab)} · {escape(col_labels[j])}: {fmt_pct(v)}</title></rect>"
                f'<text class="cell" x="{x + cw / 2 - 0.5:.1f}" y="{y + 16}" fill="{ink}">{txt}</text>'
            )
    return f'<svg class="chart heat" viewBox="0 0 {width} {height}" width="{width}" role="img">{"".join(parts)}</svg>'


def grade_legend(lang: str) -> list[tuple[str, str, str]]:
    """(code, colour, name) of every grade, best first."""
    return [(g.code, g.fill, tr(lang, g.zh, g.en)) for g in GRADES.values()]
