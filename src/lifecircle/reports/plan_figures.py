"""The figures of the one-plan-per-circle document (一圈一策): :func:`circle_map_svg`, a map of
the circle with its communities, outlets and the recommended sites (numbered markers), and
:func:`before_after_bars`, the coverage of each gap format now and after the plan.

Both return inline SVG; the map reuses the dashboard's drawing helpers (:mod:`lifecircle.reports.svg`).
"""

from __future__ import annotations

import math
from html import escape
from typing import TYPE_CHECKING, Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from pyproj import Transformer

from lifecircle.network.graph import local_metric_crs
from lifecircle.reports import svg
from lifecircle.reports.common import (
    CLASS_COLOURS,
    fmt_num,
    fmt_pct,
    grade_style,
    is_missing,
    tr,
)

if TYPE_CHECKING:
    from lifecircle.city.model import City
    from lifecircle.plans.policy import CirclePlan

SITE_COLOUR = "#c2185b"


def circle_map_svg(plan: CirclePlan, city: City | None, lang: str, *, max_street_vertices: int = 60_000) -> str:
    """The circle on its streets: neighbouring circles in outline, communities (size by residents,
    dark = every basic format within its layer, red = not), existing outlets (small dots) and the
    recommended sites (numbered markers, as in the sites table). WGS-84 data drawn in the local UTM
    zone, metres; north up."""
    ev = plan.evaluation
    circles = ev.circles
    me = circles[circles["id"].astype(str) == plan.circle_id]
    comm = plan.communities
    sites = plan.sites.drop_duplicates("site_id") if len(plan.sites) else plan.sites
    lon = np.concatenate([comm["lon"].to_numpy(float), sites["lon"].to_numpy(float) if len(sites) else []])
    lat = np.concatenate([comm["lat"].to_numpy(float), sites["lat"].to_numpy(float) if len(sites) else []])
    boxes = []
    geom = me.geometry.iloc[0] if len(me) else None
    if geom is not None and not geom.is_empty:
        boxes.append(np.array(geom.bounds))
    ok = np.isfinite(lon) & np.isfinite(lat)
    if ok.any():
        boxes.append(np.array([lon[ok].min(), lat[ok].min(), lon[ok].max(), lat[ok].max()]))
    if not boxes:
        return ""
    b = np.vstack(boxes)
    lon0, lat0 = float((b[:, 0].min() + b[:, 2].max()) / 2), float((b[:, 1].min() + b[:, 3].max()) / 2)
    crs = local_metric_crs(lon0, lat0)
    tr_ = Transformer.from_crs(4326, crs, always_xy=True)
    x0, y0 = tr_.transform(b[:, [0, 2]].ravel(), b[:, [1, 3]].ravel())
    minx, maxx, miny, maxy = min(x0), max(x0), min(y0), max(y0)
    # a 4:3 frame around the circle, at least 1.2 km across
    cx, cy = (minx + maxx) / 2, (miny + maxy) / 2
    half_w = max((maxx - minx) / 2, (maxy - miny) / 2 * 4 / 3, 600.0) * 1.12
    half_h = half_w * 3 / 4
    frame = svg._Frame(crs, cx - half_w, cy - half_h, cx + half_w, cy + half_h)
    W, H = int(math.ceil(frame.w)), int(math.ceil(frame.h))
    unit = W / 1000.0
    fminx, fminy, fmaxx, fmaxy = frame.minx, frame.miny, frame.maxx, frame.maxy
    layers: list[str] = [f'<rect width="{W}" height="{H}" fill="#eef1f4"/>']

    if city is not None and len(city.table("districts")):
        dp = city.table("districts").to_crs(crs)
        g = shapely.clip_by_rect(dp.geometry.to_numpy(), fminx, fminy, fmaxx, fmaxy)
        ds = svg._pieces_d(shapely.simplify(g, unit), frame, close=True)
        layers.append(
            '<g fill="#f7f5ef" stroke="#9aa0a6" stroke-width="1.2" stroke-dasharray="6 3">'
            + "".join(f'<path d="{d}"/>' for d in ds if d)
            + "</g>"
        )
    others = circles[circles["id"].astype(str) != plan.circle_id]
    if len(others):
        op = others.to_crs(crs)
        g = shapely.clip_by_rect(op.geometry.to_numpy(), fminx, fminy, fmaxx, fmaxy)
        ds = svg._pieces_d(shapely.simplify(g, unit * 0.5), frame, close=True)
        layers.append(
            '<g fill="#e3e7ec" fill-opacity="0.5" stroke="#8c96a3" stroke-width="1">'
            + "".join(f'<path d="{d}"/>' for d in ds if d)
            + "</g>"
        )
    me_d = ""
    if geom is not None and not geom.is_empty:
        mp = me.to_crs(crs)
        me_d = svg._pieces_d(shapely.simplify(mp.geometry.to_numpy(), unit * 0.5), frame, close=True)[0]
        st = grade_style(plan.circle.get("grade_code"), plan.circle.get("grade"))
        layers.append(f'<path d="{me_d}" fill="{st.fill}" fill-opacity="0.16"/>')
    if city is not None and len(city.table("streets")):
        layers.append(_plan_streets(city.table("streets"), crs, frame, unit, max_street_vertices))
    if me_d:
        layers.append(
            f'<path d="{me_d}" fill="none" stroke="#ffffff" stroke-width="5"/>'
            f'<path d="{me_d}" fill="none" stroke="#0b3d6b" stroke-width="2.4"/>'
        )

    layers += _plan_points(ev.outlets, comm, sites, tr_, frame, unit)
    layers.append(svg._scale_bar(W, H, unit, lang))
    layers.append(
        f'<g class="north" transform="translate({W - unit * 40:.0f},{unit * 50:.0f})">'
        f'<path d="M0 {-unit * 30:.0f}L{unit * 10:.0f} {unit * 5:.0f}L0 0L{-unit * 10:.0f} {unit * 5:.0f}z"/>'
        f'<text y="{unit * 26:.0f}" font-size="{unit * 16:.0f}">N</text></g>'
    )
    title = tr(
        lang,
        f"{plan.circle_name}范围、小区、网点与推荐选址",
        f"{plan.circle_name}: communities, outlets and recommended sites",
    )
    return (
        f'<svg class="map" viewBox="0 0 {W} {H}" preserveAspectRatio="xMidYMid meet" role="img" '
        f'aria-label="{escape(title)}">' + "".join(layers) + "</svg>"
    )


def _plan_streets(streets: gpd.GeoDataFrame, crs: Any, frame: svg._Frame, unit: float, max_street_vertices: int) -> str:
    """The streets in the frame by tier (planned links dashed), at most ``max_street_vertices``."""
    sp = streets.to_crs(crs)
    g = shapely.clip_by_rect(sp.geometry.to_numpy(), frame.minx, frame.miny, frame.maxx, frame.maxy)
    keep = ~shapely.is_empty(g)
    g = g[keep]
    hw = sp["highway"].astype("string").fillna("").to_numpy()[keep] if "highway" in sp else np.full(len(g), "")
    known = {c for _, cs, _, _ in svg.STREET_TIERS for c in cs}
    parts_out: list[str] = []
    n_vert = 0
    for name, classes, width, colour in [
        *svg.STREET_TIERS,
        svg.OTHER_TIER,
        ("planned", ("planned",), 2.4, SITE_COLOUR),
    ]:
        sel = np.isin(hw, classes) if classes else ~np.isin(hw, [*known, "planned"])
        if not sel.any():
            continue
        merged = shapely.get_parts(
            shapely.line_merge(
                shapely.multilinestrings(
                    [p for p in shapely.get_parts(g[sel]) if p.geom_type == "LineString"] or [shapely.LineString()]
                )
            )
        )
        gg = shapely.simplify(merged, unit * 0.5)
        nv = int(shapely.get_num_coordinates(gg).sum())
        if parts_out and n_vert + nv > max_street_vertices and name != "planned":
            continue
        n_vert += nv
        dash = ' stroke-dasharray="8 4"' if name == "planned" else ""
        parts_out.append(f'<path d="{svg._lines_d(gg, frame)}" stroke="{colour}" stroke-width="{width}"{dash}/>')
    return '<g fill="none" stroke-linecap="round" stroke-linejoin="round">' + "".join(reversed(parts_out)) + "</g>"


def _plan_points(
    outl: pd.DataFrame, comm: pd.DataFrame, sites: pd.DataFrame, tr_: Transformer, frame: svg._Frame, unit: float
) -> list[str]:
    """Existing outlets (small dots), communities (size by residents; dark = every basic format
    within its layer, red = not; named when few) and the numbered recommended sites."""
    layers: list[str] = []

    def pts(lo: Any, la: Any) -> np.ndarray:
        x, y = tr_.transform(np.asarray(lo, float), np.asarray(la, float))
        return frame.xy(np.column_stack([x, y]))

    if len(outl):
        ox, oy = tr_.transform(outl["lon"].to_numpy(float), outl["lat"].to_numpy(float))
        inside = (ox > frame.minx) & (ox < frame.maxx) & (oy > frame.miny) & (oy < frame.maxy)
        if inside.any():
            sub = outl[inside]
            xy = frame.xy(np.column_stack([ox[inside], oy[inside]]))
            dots = [
                f'<circle cx="{x}" cy="{y}" r="{unit * 3.2:.1f}"><title>{escape(str(n))}</title></circle>'
                for (x, y), n in zip(xy, sub["name"].astype(str), strict=True)
            ]
            layers.append(
                '<g fill="#5c6bc0" fill-opacity="0.8" stroke="#fff" stroke-width="0.6">' + "".join(dots) + "</g>"
            )
    if len(comm):
        xy = pts(comm["lon"], comm["lat"])
        pop = comm["population"].to_numpy(float)
        pmax = max(float(np.nanmax(pop)) if len(pop) else 1.0, 1.0)
        good = comm["basic_complete"].to_numpy(bool) if "basic_complete" in comm else np.ones(len(comm), bool)
        dots = []
        for (x, y), p, okk, name in zip(xy, pop, good, comm["name"].astype(str), strict=True):
            r = unit * (5 + 9 * math.sqrt(max(p, 0) / pmax))
            fill = "#263238" if okk else "#d7301f"
            dots.append(
                f'<circle cx="{x}" cy="{y}" r="{r:.1f}" fill="{fill}"><title>{escape(name)} · '
                f"{fmt_num(p)}</title></circle>"
            )
        layers.append('<g stroke="#fff" stroke-width="1.2" fill-opacity="0.9">' + "".join(dots) + "</g>")
        labels = [
            f'<text x="{x}" y="{y - unit * 16:.0f}" font-size="{unit * 15:.0f}">{escape(n)}</text>'
            for (x, y), n in zip(xy, comm["name"].astype(str), strict=True)
        ]
        if len(labels) <= 25:
            layers.append('<g class="lab" fill="#1f2933">' + "".join(labels) + "</g>")
    if len(sites):
        xy = pts(sites["lon"], sites["lat"])
        marks = []
        s = unit * 13
        for (x, y), num, name in zip(xy, sites["marker"], sites["site_name"].astype(str), strict=True):
            marks.append(
                f'<g transform="translate({x},{y})"><title>{escape(name)}</title>'
                f'<path d="M0 {-s * 1.9:.0f}L{s:.0f} {-s * 0.9:.0f}L{s:.0f} {s * 0.6:.0f}L{-s:.0f} '
                f'{s * 0.6:.0f}L{-s:.0f} {-s * 0.9:.0f}z" '
                f'transform="translate(0,{s * 0.65:.0f})" fill="{SITE_COLOUR}" stroke="#fff" stroke-width="1.5"/>'
                f'<text y="{s * 0.35:.0f}" font-size="{s * 1.25:.0f}" fill="#fff" stroke="none" '
                f'font-weight="700">{num}</text></g>'
            )
        layers.append('<g class="sites">' + "".join(marks) + "</g>")
    return layers


# ------------------------------------------------------------------------------------ chart
def before_after_bars(rows: pd.DataFrame, lang: str) -> str:
    """Horizontal bars per format: share of the circle's residents within its walking layer now
    (grey) and after the plan (class colour), with the figures."""
    if rows is None or not len(rows):
        return ""
    row_h, label_w, bar_w, right = 30, 200, 430, 130
    parts: list[str] = []
    y = 6
    for _, r in rows.iterrows():
        name = r["format_en"] if lang == "en" else r["format_zh"]
        s0, s1 = r["share_now"], r["share_after"]
        w0 = 0 if is_missing(s0) else bar_w * min(max(float(s0), 0), 1)
        w1 = 0 if is_missing(s1) else bar_w * min(max(float(s1), 0), 1)
        colour = CLASS_COLOURS.get(str(r["class"]), "#555")
        parts.append(
            f'<text class="lab" x="{label_w - 8}" y="{y + 17}">{escape(str(name))}（{r["layer_min"]:g}'
            f"{tr(lang, '分钟', ' min')}）</text>"
            f'<rect x="{label_w}" y="{y + 3}" width="{bar_w}" height="{row_h - 8}" fill="#f1f3f5"/>'
            f'<rect x="{label_w}" y="{y + 3}" width="{w1:.1f}" height="{row_h - 8}" fill="{colour}"/>'
            f'<rect x="{label_w}" y="{y + 9}" width="{w0:.1f}" height="{row_h - 20}" fill="#37474f" '
            'fill-opacity="0.55"/>'
            f'<text class="val" x="{label_w + bar_w + 8}" y="{y + 17}">{fmt_pct(s0, 0)} → <tspan '
            f'font-weight="700">{fmt_pct(s1, 0)}</tspan></text>'
        )
        y += row_h
    grid = "".join(
        f'<line x1="{label_w + bar_w * q}" x2="{label_w + bar_w * q}" y1="0" y2="{y}" stroke="#d0d5db" '
        'stroke-dasharray="3 3"/>'
        f'<text class="tick" x="{label_w + bar_w * q}" y="{y + 14}">{int(q * 100)}%</text>'
        for q in (0, 0.25, 0.5, 0.75, 1.0)
    )
    width = label_w + bar_w + right
    return (
        f'<svg class="chart" viewBox="0 0 {width} {y + 22}" role="img" '
        f'aria-label="{escape(tr(lang, "规划前后业态覆盖率", "coverage before and after the plan"))}">{grid}'
        f"{''.join(parts)}</svg>"
    )
