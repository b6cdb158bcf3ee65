"""The one-plan-per-circle document (一圈一策): a printable HTML file and its PDF.

:func:`render_plan_html` turns a :class:`~lifecircle.plans.policy.CirclePlan` into one
self-contained HTML document (inline CSS and SVG, nothing fetched): title, the synthetic-data
banner when the city is synthetic, a map of the circle with its communities, outlets and the
recommended sites, outlets by format, the gap list, the recommended sites with the residents each
adds, indicators and grade now and after the plan with the reasons, a coverage chart, precise
gap-filling (精准补建: the fewest additions to the next grade, verified), notes and credits. The
print CSS lays it out on A4 with page numbers; Chinese text uses Noto Sans CJK SC.

:func:`write_plan_report` writes ``<out>/<circle>.html`` and ``<out>/<circle>.pdf``; the PDF is the
same HTML printed by headless Chromium (Debian ``chromium``). Both files are written atomically.
The map reuses the dashboard's SVG drawing helpers (:mod:`lifecircle.reports.svg`).
"""

from __future__ import annotations

import contextlib
import math
import os
import shutil
import signal
import subprocess
import tempfile
from html import escape
from pathlib import Path
from typing import TYPE_CHECKING, Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from markupsafe import Markup
from pyproj import Transformer

import lifecircle
from lifecircle.errors import LifecircleError
from lifecircle.i18n import t
from lifecircle.network.graph import local_metric_crs
from lifecircle.plans.policy_settings import SITE_KIND_NAMES
from lifecircle.reports import svg
from lifecircle.reports.common import (
    CLASS_COLOURS,
    CLASS_NAMES,
    SYNTHETIC_TITLE,
    check_lang,
    city_origin,
    credits,
    fmt_num,
    fmt_pct,
    fmt_value,
    generated_at,
    grade_style,
    is_missing,
    synthetic_note,
    tr,
    value_label,
)
from lifecircle.sources.files import atomic_output, make_output_dir

if TYPE_CHECKING:
    from lifecircle.city.model import City
    from lifecircle.plans.policy import CirclePlan

TEMPLATE = "plan_report.html.j2"
SITE_COLOUR = "#c2185b"
CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")


class PdfError(LifecircleError):
    """The PDF could not be made (no Chromium, or it failed); the HTML is still written."""


# ------------------------------------------------------------------------------------ the map
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


# ------------------------------------------------------------------------------------ HTML
def _env():
    import jinja2

    return jinja2.Environment(
        loader=jinja2.PackageLoader("lifecircle.reports", "templates"),
        autoescape=jinja2.select_autoescape(["html", "j2"]),
        trim_blocks=True,
        lstrip_blocks=True,
        undefined=jinja2.StrictUndefined,
    )


def _badge(code: str, zh: str, lang: str) -> Markup:
    st = grade_style(code, zh)
    name = tr(lang, st.zh, st.en)
    return Markup('<span class="badge" style="background:{};color:{}">{}</span>').format(st.fill, st.ink, name)


def _delta(key: str, a: Any, b: Any, lang: str) -> tuple[str, str]:
    """Text and CSS class of the change from ``a`` to ``b``."""
    if is_missing(a) or is_missing(b) or isinstance(a, str) or isinstance(b, str):
        return "", ""
    d = float(b) - float(a)
    if abs(d) < 1e-9:
        return "—", "same"
    if key.endswith(("coverage", "completeness", "share")):
        txt = f"{d * 100:+.1f} {tr(lang, '个百分点', 'pp')}"
    else:
        txt = f"{d:+,.0f}"
    return txt, "up" if d > 0 else "down"


def _numbered_sites(plan: CirclePlan) -> tuple[pd.DataFrame, dict[str, int]]:
    """The plan's sites with one marker number per site, in order of first appearance."""
    sites = plan.sites.copy()
    markers: dict[str, int] = {}
    for sid in sites.get("site_id", []):
        markers.setdefault(str(sid), len(markers) + 1)
    sites["marker"] = [markers[str(s)] for s in sites.get("site_id", [])]
    return sites.sort_values("marker", kind="stable"), markers


def _format_rows(obf: pd.DataFrame, lang: str) -> list[dict[str, Any]]:
    """Outlets and coverage per format, grouped by class (basic, quality, smart)."""
    rows = []
    for cls in ("basic", "quality", "smart"):
        part = obf[obf["class"] == cls]
        for i, (_, r) in enumerate(part.iterrows()):
            rows.append(
                {
                    "cls": cls,
                    "cls_name": tr(lang, *CLASS_NAMES[cls]),
                    "first": i == 0,
                    "n_in_class": len(part),
                    "name": r["format_en"] if lang == "en" else r["format_zh"],
                    "layer": f"{r['layer_min']:g}",
                    "n": int(r["n_outlets"]),
                    "share_now": fmt_pct(r["share_now"], 0),
                    "share_after": fmt_pct(r["share_after"], 0),
                    "gap": bool(r["is_gap"]),
                    "changed": not is_missing(r["share_now"])
                    and abs(float(r["share_after"]) - float(r["share_now"])) > 1e-9,
                }
            )
    return rows


def _gap_rows(plan: CirclePlan, fnames: dict[str, str], lang: str) -> list[dict[str, Any]]:
    """The circle's gaps in priority order, with whether the plan places sites for each."""
    planned = {f.format: f for f in plan.formats}
    rows = []
    for _, r in plan.gaps.iterrows():
        code = str(r["format"])
        fs = planned.get(code)
        rows.append(
            {
                "priority": int(r["priority"]),
                "name": fnames.get(code, code),
                "cls": str(r["class"]),
                "cls_name": tr(lang, *CLASS_NAMES.get(str(r["class"]), (str(r["class"]), str(r["class"])))),
                "share": fmt_pct(r["share_within_layer"], 0),
                "uncovered": fmt_num(r["residents_uncovered"]),
                "planned": fs is not None,
                "n_sites": len(fs.sites) if fs is not None else 0,
            }
        )
    return rows


def _site_rows(plan: CirclePlan, sites: pd.DataFrame, fnames: dict[str, str], lang: str) -> list[dict[str, Any]]:
    """One row per recommended site (marker, format, kind, residents added, coverage before → after)."""
    planned = {f.format: f for f in plan.formats}
    rows = []
    for _, r in sites.iterrows():
        fs = planned.get(str(r["format"]))
        rows.append(
            {
                "marker": int(r["marker"]),
                "format": fnames.get(str(r["format"]), str(r["format"])),
                "cls": str(r["class"]),
                "name": str(r["site_name"]),
                "id": str(r["site_id"]),
                "kind": tr(lang, *SITE_KIND_NAMES.get(str(r["site_kind"]), (str(r["site_kind"]),) * 2)),
                "added": fmt_num(round(float(r["residents_added"]))),
                "n_comm": int(r["n_communities"]),
                "communities": str(r["communities"]),
                "old_first": bool(r["old_first"]),
                "share": f"{fmt_pct(fs.share_before, 0)} → {fmt_pct(fs.share_after, 0)}" if fs is not None else "",
            }
        )
    return rows


def _solver_rows(plan: CirclePlan, lang: str) -> list[dict[str, Any]]:
    """How each format's sites were chosen: k, covered residents, bound, gap, method."""
    return [
        {
            "name": f.format_en if lang == "en" else f.format_zh,
            "k": f.k,
            "n": len(f.sites),
            "radius": fmt_num(round(f.radius_m)),
            "covered": fmt_num(round(f.covered)),
            "bound": fmt_num(round(f.bound)),
            "gap": fmt_pct(f.gap, 1),
            "method": f.method,
            "optimal": f.optimal,
            "notes": "；".join(f.notes) if lang == "zh" else "; ".join(f.notes),
        }
        for f in plan.formats
    ]


def _indicator_rows(plan: CirclePlan, lang: str) -> list[dict[str, Any]]:
    """The circle's indicators now and after the plan, with the change (the grade is shown apart)."""
    rows = []
    for _, r in plan.indicators.iterrows():
        key = str(r["indicator"])
        a, b = r["now"], r["after"]
        if key == "grade":
            continue
        d, dcls = _delta(key, a, b, lang)
        rows.append(
            {
                "label": r["label_en"] if lang == "en" else r["label_zh"],
                "now": fmt_value(key, a, lang),
                "after": fmt_value(key, b, lang),
                "delta": d,
                "dcls": dcls,
            }
        )
    return rows


def _community_rows(plan: CirclePlan, lang: str) -> list[dict[str, Any]]:
    """The circle's communities, largest first."""
    return [
        {
            "name": str(r["name"]),
            "kind": value_label("kind", r["kind"], lang),
            "population": fmt_num(r["population"]),
            "hh": fmt_num(r.get("households")),
            "basic_n": int(r["basic_formats_within_layer"]),
            "ok": bool(r["basic_complete"]),
        }
        for _, r in plan.communities.sort_values("population", ascending=False).iterrows()
    ]


def _gapfill_context(plan: CirclePlan, lang: str) -> dict[str, Any] | None:
    """The precise gap-filling (精准补建) section: sentence, additions and the target's conditions."""
    g = plan.gapfill
    if g is None:
        return None
    from lifecircle.i18n import use_lang
    from lifecircle.indicators.grades import format_value, indicator_name

    names = plan.evaluation.rules.grade_names() if plan.evaluation.rules is not None else {}
    with use_lang(lang):
        return {
            "sentence": g.sentence(),
            "reached": g.reached,
            "badge_target": _badge(g.target[0], g.target[1], lang),
            "badge_after": _badge(g.grade_after[0], g.grade_after[1], lang),
            "rows": [
                {
                    "site": a.site_id,
                    "site_name": a.site_name,
                    "format": a.name,
                    "added": fmt_num(round(a.residents_added)),
                    "area": a.area_check(),
                    "lonlat": f"{a.lon:.5f}, {a.lat:.5f}",
                }
                for a in g.additions
            ],
            "cond_rows": [
                {
                    "grade": tr(lang, *names.get(c.grade, (c.grade, c.grade))),
                    "indicator": indicator_name(c.indicator),
                    "now": format_value(c.indicator, c.now),
                    "after": format_value(c.indicator, c.after),
                    "needed": f"{c.condition.op.replace('>=', '≥').replace('<=', '≤')} "
                    f"{format_value(c.indicator, c.needed)}",
                    "met": c.met_after,
                    "fixable": c.fixable,
                }
                for c in g.conditions
            ],
            "notes": list(g.notes),
        }


def plan_context(plan: CirclePlan, *, city: City | None = None, lang: str = "zh") -> dict[str, Any]:
    """Everything the template shows, as plain values (for tests and other renderers)."""
    check_lang(lang)
    c0, c1 = plan.circle, plan.circle_after
    g0, g1 = plan.grade_now, plan.grade_after
    sites, markers = _numbered_sites(plan)
    map_svg = circle_map_svg(_with_sites(plan, sites) if len(sites) else plan, city, lang)
    obf = plan.outlets_by_format
    fnames = {f.code: (f.en if lang == "en" else f.zh) for f in plan.evaluation.profile.formats}
    chart_rows = obf[obf["is_gap"] | (obf["n_sites"] > 0)].copy()
    chart_rows["_p"] = chart_rows["priority"].fillna(99)
    chart = before_after_bars(chart_rows.sort_values("_p"), lang)
    n_basic = int((obf["class"] == "basic").sum())
    n_sites = len(markers)
    ev = plan.evaluation
    prof = ev.profile
    title = tr(lang, f"{plan.circle_name}“一圈一策”建设方案", f"{plan.circle_name}: one plan for the circle (一圈一策)")
    district = plan.district_name or plan.district
    return {
        "lang": lang,
        "L": lambda zh, en: tr(lang, zh, en),
        "title": title,
        "doc_kind": tr(lang, "一圈一策", "One plan per circle · 一圈一策"),
        "city_name": plan.city_name,
        "circle_id": plan.circle_id,
        "circle_name": plan.circle_name,
        "district": district,
        "phase": value_label("phase", c0.get("phase"), lang) if not is_missing(c0.get("phase")) else "—",
        "status": value_label("status", c0.get("status"), lang) if not is_missing(c0.get("status")) else "—",
        "synthetic": plan.synthetic,
        "synthetic_title": SYNTHETIC_TITLE,
        "synthetic_note": synthetic_note(lang),
        "badge_now": _badge(g0[0], g0[1], lang),
        "badge_after": _badge(g1[0], g1[1], lang),
        "grade_changed": g0[0] != g1[0],
        "reasons_now": str(c0.get("grade_reasons_en" if lang == "en" else "grade_reasons", "") or ""),
        "reasons_after": str(c1.get("grade_reasons_en" if lang == "en" else "grade_reasons", "") or ""),
        "cards": [
            (tr(lang, "常住人口", "Residents"), fmt_num(c0.get("population"))),
            (tr(lang, "小区", "Communities"), fmt_num(c0.get("n_communities"))),
            (tr(lang, "商业网点", "Outlets"), fmt_num(c0.get("n_outlets"))),
            (
                tr(lang, "基本业态齐全度", "Basic completeness"),
                f"{fmt_pct(c0.get('basic_completeness'), 0)} → {fmt_pct(c1.get('basic_completeness'), 0)}",
            ),
            (tr(lang, "缺口业态", "Gap formats"), str(len(plan.gaps))),
            (tr(lang, "推荐选址", "Sites recommended"), str(n_sites)),
        ],
        "map_svg": Markup(map_svg),
        "fmt_rows": _format_rows(obf, lang),
        "n_basic": n_basic,
        "gap_rows": _gap_rows(plan, fnames, lang),
        "site_rows": _site_rows(plan, sites, fnames, lang),
        "solver_rows": _solver_rows(plan, lang),
        "ind_rows": _indicator_rows(plan, lang),
        "gapfill": _gapfill_context(plan, lang),
        "chart": Markup(chart),
        "comm_rows": _community_rows(plan, lang),
        "notes": list(plan.notes) + list(ev.notes),
        "k": plan.formats[0].k if plan.formats else plan.settings.k_per_format,
        "chain_assumed": plan.settings.new_outlets_chain,
        "policy_name": plan.settings.name,
        "policy_version": plan.settings.version,
        "profile_name": prof.name,
        "profile_version": prof.version,
        "rules_name": ev.rules.name if ev.rules is not None else "",
        "speed_kmh": float(ev.speed_kmh),
        "elderly_speed_kmh": float(ev.elderly_speed_kmh),
        "credits": credits(plan.synthetic, city, lang),
        "city_origin": city_origin(plan.evaluation, lang),
        "generated_at": generated_at(),
        "version": lifecircle.__version__,
    }


def _with_sites(plan: CirclePlan, sites: pd.DataFrame) -> CirclePlan:
    import copy

    p = copy.copy(plan)
    p.sites = sites
    return p


def render_plan_html(plan: CirclePlan, *, city: City | None = None, lang: str = "zh") -> str:
    """The plan document as one self-contained HTML string (``lang`` ``zh`` or ``en``).
    ``city`` gives the base map (districts, streets) and the data credits."""
    return _env().get_template(TEMPLATE).render(**plan_context(plan, city=city, lang=lang))


# ------------------------------------------------------------------------------------ PDF
def find_chromium() -> str | None:
    """Path of a Chromium/Chrome executable (``LIFECIRCLE_CHROMIUM`` first), or None."""
    env = os.environ.get("LIFECIRCLE_CHROMIUM")
    if env and Path(env).is_file():
        return env
    for name in CHROMIUM_NAMES:
        p = shutil.which(name)
        if p:
            return p
    return None


def html_to_pdf(html_path: str | Path, pdf_path: str | Path, *, timeout_s: float = 120.0, attempts: int = 2) -> Path:
    """Print ``html_path`` to ``pdf_path`` with headless Chromium (A4 and margins from the page's
    CSS, no browser header/footer), atomically. Retries once; raises :class:`PdfError` with the
    reason when no PDF comes out."""
    exe = find_chromium()
    if exe is None:
        raise PdfError(
            t(
                "找不到 chromium，无法生成 PDF（Debian：apt-get install chromium；或设置 LIFECIRCLE_CHROMIUM）",
                "chromium not found; cannot make the PDF (Debian: apt-get install chromium, or set "
                "LIFECIRCLE_CHROMIUM)",
            )
        )
    src = Path(html_path).resolve()
    out = Path(pdf_path)
    last = ""
    for _ in range(max(1, attempts)):
        with tempfile.TemporaryDirectory(prefix="lifecircle-chromium-") as work:
            made = Path(work) / "out.pdf"
            cmd = [
                exe,
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--disable-extensions",
                "--mute-audio",
                f"--user-data-dir={Path(work) / 'profile'}",
                "--no-pdf-header-footer",
                f"--print-to-pdf={made}",
                src.as_uri(),
            ]
            proc = subprocess.Popen(
                cmd,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                start_new_session=True,
                env={**os.environ, "HOME": work},
            )
            try:
                _, err = proc.communicate(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(proc.pid, signal.SIGKILL)
                _, err = proc.communicate()
                last = t(f"chromium 超过 {timeout_s:g} 秒未完成", f"chromium did not finish within {timeout_s:g} s")
                continue
            finally:
                with contextlib.suppress(ProcessLookupError, PermissionError):  # leave no helper process behind
                    os.killpg(proc.pid, signal.SIGKILL)
            if made.is_file() and made.stat().st_size > 1000 and made.read_bytes()[:5] == b"%PDF-":
                with atomic_output(out) as tmp:
                    shutil.copyfile(made, tmp)
                return out
            tail = (err or b"").decode("utf-8", "replace").strip().splitlines()[-1:] or [""]
            last = t(
                f"chromium 未生成 PDF（退出码 {proc.returncode}）：{tail[0]}",
                f"chromium made no PDF (exit {proc.returncode}): {tail[0]}",
            )
    raise PdfError(last)


def write_plan_report(
    plan: CirclePlan, out_dir: str | Path, *, city: City | None = None, lang: str = "zh", pdf: bool = True
) -> dict[str, Path]:
    """Write ``<out_dir>/<circle>.html`` and (with ``pdf``) ``<out_dir>/<circle>.pdf``, atomically;
    the folder is created. Returns ``{"html": path, "pdf": path}``."""
    check_lang(lang)
    d = make_output_dir(out_dir)
    stem = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in plan.circle_id) or "circle"
    html_path = d / f"{stem}.html"
    html = render_plan_html(plan, city=city, lang=lang)
    with atomic_output(html_path) as tmp:
        tmp.write_text(html, encoding="utf-8")
    paths = {"html": html_path}
    if pdf:
        paths["pdf"] = html_to_pdf(html_path, d / f"{stem}.pdf")
    return paths


__all__ = [
    "PdfError",
    "before_after_bars",
    "circle_map_svg",
    "find_chromium",
    "html_to_pdf",
    "plan_context",
    "render_plan_html",
    "write_plan_report",
]
