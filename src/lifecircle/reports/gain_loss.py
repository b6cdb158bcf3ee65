"""The scenario comparison as a page: the gain/loss surface (hexagons coloured by minutes saved
or lost to one format) and before/after histograms of residents by walking time, as inline SVG
in one self-contained HTML file."""

from __future__ import annotations

from html import escape
from pathlib import Path

import numpy as np
import pandas as pd
import shapely

from lifecircle.network.graph import local_metric_crs
from lifecircle.reports.common import tr
from lifecircle.sources.files import atomic_output

# minutes saved (upper bound, colour): losses red, no change grey, gains blue
GAIN_CLASSES: list[tuple[float, str]] = [
    (-5.0, "#b2182b"),
    (-0.05, "#ef8a62"),
    (0.05, "#e0e0e0"),
    (2.0, "#d1e5f0"),
    (5.0, "#67a9cf"),
    (float("inf"), "#2166ac"),
]
NO_VALUE = "#ffffff"


def gain_colour(g: float) -> str:
    """The fill of a cell whose walk is ``g`` minutes shorter (negative: longer)."""
    if np.isnan(g):
        return NO_VALUE
    for upper, colour in GAIN_CLASSES:
        if g <= upper:
            return colour
    return GAIN_CLASSES[-1][1]


def gain_map_svg(g, code: str, lang: str, width: int = 900) -> str:
    """The gain/loss surface of ``code`` (a :func:`~lifecircle.indicators.surface_compare.gain_loss`
    table) as SVG: one polygon per cell."""
    if not len(g):
        return ""
    b = g.total_bounds
    crs = local_metric_crs((b[0] + b[2]) / 2, (b[1] + b[3]) / 2)
    proj = g.to_crs(crs)
    minx, miny, maxx, maxy = proj.total_bounds
    k = width / max(maxx - minx, 1.0)
    H = int((maxy - miny) * k) + 1
    polys = []
    for geom, v in zip(proj.geometry, g[f"gain_{code}"].to_numpy(float), strict=True):
        xy = shapely.get_coordinates(geom)[:-1]
        pts = " ".join(f"{(x - minx) * k:.1f},{(maxy - y) * k:.1f}" for x, y in xy)
        label = "—" if np.isnan(v) else f"{v:+.1f}"
        polys.append(f'<polygon class="gain" points="{pts}" fill="{gain_colour(v)}"><title>{label}</title></polygon>')
    title = tr(lang, f"步行时间变化（分钟）：{code}", f"Change in walking time (minutes): {code}")
    return (
        f'<svg id="gain-map" viewBox="0 0 {width} {H}" role="img" aria-label="{escape(title)}" '
        f'style="background:#f4f6f8;max-width:100%">' + "".join(polys) + "</svg>"
    )


def histogram_svg(h: pd.DataFrame, code: str, before: str, after: str, lang: str) -> str:
    """Before/after bars of residents by walking time to ``code``."""
    part = h[h["format"] == code]
    if not len(part):
        return ""
    top = max(float(part[["before", "after"]].to_numpy().max()), 1.0)
    W, H, pad = 640, 260, 40
    bw = (W - 2 * pad) / len(part)
    bars = []
    for i, r in enumerate(part.to_dict("records")):
        x = pad + i * bw
        for j, (col, fill) in enumerate((("before", "#9e9e9e"), ("after", "#2166ac"))):
            hh = (H - 2 * pad) * float(r[col]) / top
            bars.append(
                f'<rect class="bar {col}" x="{x + 4 + j * (bw - 8) / 2:.1f}" y="{H - pad - hh:.1f}" '
                f'width="{(bw - 8) / 2:.1f}" height="{hh:.1f}" fill="{fill}"><title>{r[col]:,.0f}</title></rect>'
            )
        upto = "∞" if not np.isfinite(r["to_min"]) else f"{r['to_min']:g}"
        bars.append(
            f'<text x="{x + bw / 2:.1f}" y="{H - pad + 16}" text-anchor="middle" font-size="12">'
            f"{r['from_min']:g}–{upto}</text>"
        )
    what = tr(lang, "居民（按步行分钟）", "residents by minutes")
    legend = (
        f'<text x="{pad}" y="20" font-size="13"><tspan fill="#9e9e9e">■</tspan> {escape(before)} '
        f'<tspan fill="#2166ac">■</tspan> {escape(after)} · {what}</text>'
    )
    return f'<svg id="gain-histogram" viewBox="0 0 {W} {H}" style="max-width:100%">{legend}{"".join(bars)}</svg>'


def write_gain_page(g, h: pd.DataFrame, code: str, path: str | Path, *, before: str, after: str, lang: str) -> Path:
    """Write the comparison page (map and histogram of ``code``) to ``path`` atomically."""
    legend = "".join(
        f'<li><span style="display:inline-block;width:14px;height:14px;background:{c}"></span> '
        f"{'≤' if np.isfinite(u) else '>'} {u if np.isfinite(u) else GAIN_CLASSES[-2][0]:g}</li>"
        for u, c in GAIN_CLASSES
    )
    title = tr(lang, f"情景对比：{before} → {after}", f"Scenario comparison: {before} → {after}")
    html = (
        f'<!doctype html><html lang="{lang}"><meta charset="utf-8"><title>{escape(title)}</title>'
        f"<body style=\"font-family:'Noto Sans CJK SC',sans-serif;margin:24px\"><h1>{escape(title)}</h1>"
        f"<h2>{escape(tr(lang, '步行时间节省（分钟；负值为变慢）', 'Minutes saved (negative: longer)'))}</h2>"
        f'<div style="display:flex;gap:16px"><div style="flex:1">{gain_map_svg(g, code, lang)}</div>'
        f'<ul style="list-style:none">{legend}</ul></div>'
        f"<h2>{escape(tr(lang, '居民步行时间分布', 'Residents by walking time'))}</h2>"
        f"{histogram_svg(h, code, before, after, lang)}</body></html>"
    )
    p = Path(path)
    with atomic_output(p) as tmp:
        tmp.write_text(html, encoding="utf-8")
    return p


def pick_format(g, codes: list[str]) -> str:
    """The format with the largest population-weighted gain (the one the scenario changes most)."""
    pop = g["population"].to_numpy(float)
    best, score = codes[0], -1.0
    for c in codes:
        v = np.nan_to_num(np.abs(g[f"gain_{c}"].to_numpy(float)), posinf=60.0, neginf=60.0)
        s = float((v * np.maximum(pop, 1.0)).sum())
        if s > score:
            best, score = c, s
    return best
