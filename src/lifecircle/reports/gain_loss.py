"""The scenario comparison drawn: the gain/loss surface (hexagons coloured by minutes saved or lost
to one format; gains on a blue ramp, losses on a red one) and before/after histograms of residents
by walking time, as inline SVG — in one self-contained HTML page (``lifecircle surface --compare``)
and in the dashboard's 情景对比 section and the workbook's sheet (:func:`dashboard_section`,
:func:`workbook_table`)."""

from __future__ import annotations

from html import escape
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import shapely

from lifecircle.indicators.surface import ALL_BASIC
from lifecircle.indicators.surface_compare import Comparison, histograms
from lifecircle.network.graph import local_metric_crs
from lifecircle.reports.common import fmt_pct, synthetic_note, tr
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


def gain_legend(lang: str) -> list[tuple[str, str]]:
    """(colour, label) of each class of :data:`GAIN_CLASSES`, then cells reached neither time."""
    labels = [
        ("变慢 5 分钟以上（含不再可达）", "over 5 min longer (or no longer reached)"),
        ("变慢 0–5 分钟", "up to 5 min longer"),
        ("基本不变", "about the same"),
        ("节省 0–2 分钟", "up to 2 min saved"),
        ("节省 2–5 分钟", "2–5 min saved"),
        ("节省 5 分钟以上（含新可达）", "over 5 min saved (or newly reached)"),
    ]
    rows = [(c, tr(lang, zh, en)) for (_, c), (zh, en) in zip(GAIN_CLASSES, labels, strict=True)]
    return [*rows, (NO_VALUE, tr(lang, "前后均不可达", "reached neither time"))]


def gain_map_svg(
    g, code: str, lang: str, width: int = 900, svg_id: str = "gain-map", *, name: str | None = None
) -> str:
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
    shown = name or code  # the format's name in the page's language, else its code
    title = tr(lang, f"步行时间变化（分钟）：{shown}", f"Change in walking time (minutes): {shown}")
    return (
        f'<svg id="{svg_id}" viewBox="0 0 {width} {H}" role="img" aria-label="{escape(title)}" '
        f'style="background:#f4f6f8;max-width:100%">' + "".join(polys) + "</svg>"
    )


def histogram_svg(
    h: pd.DataFrame, code: str, before: str, after: str, lang: str, svg_id: str = "gain-histogram"
) -> str:
    """Before/after bars of residents by walking time to ``code``."""
    part = h[h["format"] == code]
    if not len(part):
        return ""
    top = max(float(part[["before", "after"]].to_numpy().max()), 1.0)
    W, H, pad = 520, 260, 40  # narrow enough that the labels stay legible on a 390 px phone
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
            f'<text x="{x + bw / 2:.1f}" y="{H - pad + 16}" text-anchor="middle" font-size="14">'
            f"{r['from_min']:g}–{upto}</text>"
        )
    what = tr(lang, "居民（按步行分钟）", "residents by minutes")
    legend = (
        f'<text x="{pad}" y="20" font-size="15"><tspan fill="#9e9e9e">■</tspan> {escape(before)} '
        f'<tspan fill="#2166ac">■</tspan> {escape(after)} · {what}</text>'
    )
    return f'<svg id="{svg_id}" viewBox="0 0 {W} {H}" style="max-width:100%">{legend}{"".join(bars)}</svg>'


def write_gain_page(
    g,
    h: pd.DataFrame,
    code: str,
    path: str | Path,
    *,
    before: str,
    after: str,
    lang: str,
    city: str = "",
    synthetic: bool = False,
    name: str | None = None,
) -> Path:
    """Write the comparison page (map and histogram of ``code``) to ``path`` atomically; ``city``
    names the city computed on, ``synthetic`` marks the page 合成数据 (title and a banner), ``name`` is
    the format's name shown for ``code``."""
    legend = "".join(
        f'<li><span style="display:inline-block;width:14px;height:14px;border:1px solid #ccc;background:{c}"></span> '
        f"{escape(text)}</li>"
        for c, text in gain_legend(lang)
    )
    title = tr(lang, f"情景对比：{before} → {after}", f"Scenario comparison: {before} → {after}")
    tag = f"[{tr(lang, '合成数据', 'SYNTHETIC')}] " if synthetic else ""
    banner = (
        f'<p class="synthetic-banner" style="background:#b91c1c;color:#fff;padding:8px 12px;font-weight:bold">'
        f"{escape(synthetic_note(lang))}</p>"
        if synthetic
        else ""
    )
    origin = f"<p>{escape(tr(lang, f'计算所用城市：{city}', f'Computed on the city: {city}'))}</p>" if city else ""
    html = (
        f'<!doctype html><html lang="{lang}"><meta charset="utf-8"><title>{escape(tag + title)}</title>'
        f"<body style=\"font-family:'Noto Sans CJK SC',sans-serif;margin:24px\">{banner}<h1>{escape(title)}</h1>"
        f"{origin}"
        f"<h2>{escape(tr(lang, '步行时间节省（分钟；负值为变慢）', 'Minutes saved (negative: longer)'))}</h2>"
        f'<div style="display:flex;gap:16px"><div style="flex:1">{gain_map_svg(g, code, lang, name=name)}</div>'
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


def _changed_rows(changes: pd.DataFrame, code: str) -> pd.DataFrame:
    """The formats the comparison changes (anyone gaining or losing, or F15 moved), and ``code``."""
    moved = (changes["gaining"] > 0) | (changes["losing"] > 0) | (changes["f15_before"] != changes["f15_after"])
    return changes[moved | (changes["format"] == code)]


def change_head(before: str, after: str, lang: str) -> list[str]:
    """Headers of the per-format table of a comparison (the dashboard's and the workbook's)."""
    return [
        tr(lang, "业态", "Format"),
        tr(lang, "变快的居民", "Residents gaining"),
        tr(lang, "变慢的居民", "Residents losing"),
        tr(lang, "平均节省（分钟，变化者）", "Mean minutes saved (those changed)"),
        tr(lang, f"F15（{before}）", f"F15 ({before})"),
        tr(lang, f"F15（{after}）", f"F15 ({after})"),
    ]


def dashboard_section(cmp: Comparison, fnames: dict[str, str], lang: str) -> dict[str, Any]:
    """The template context of the dashboard's 情景对比 section: the gain/loss map of the shown
    format with its legend, before/after histograms (that format and all basic formats) and a row
    per format the comparison changes."""
    from markupsafe import Markup

    code = cmp.shown_format()
    changes = cmp.changes()
    h = histograms(cmp.before, cmp.after, [code, ALL_BASIC])
    names = {**fnames, ALL_BASIC: tr(lang, "全部基础业态", "all basic formats")}
    b, a = cmp.before_name, cmp.after_name
    rows = [
        {
            "format": names.get(r["format"], r["format"]),
            "shown": r["format"] == code,
            "gaining": f"{r['gaining']:,.0f}",
            "losing": f"{r['losing']:,.0f}",
            "mean": f"{r['mean_saved_min']:+.1f}" if np.isfinite(r["mean_saved_min"]) else "—",
            "f15_before": fmt_pct(r["f15_before"]),
            "f15_after": fmt_pct(r["f15_after"]),
        }
        for r in _changed_rows(changes, code).to_dict("records")
    ]
    return {
        "cmp_title": tr(lang, f"情景对比：{b} → {a}", f"Scenario comparison: {b} → {a}"),
        "cmp_before": b,
        "cmp_after": a,
        "cmp_format_name": names.get(code, code),
        "cmp_all_name": names[ALL_BASIC],
        "cmp_map": Markup(gain_map_svg(cmp.gain_loss(), code, lang, name=names.get(code))),
        "cmp_legend": gain_legend(lang),
        "cmp_hist": Markup(histogram_svg(h, code, b, a, lang)),
        "cmp_hist_all": Markup(histogram_svg(h, ALL_BASIC, b, a, lang, svg_id="gain-histogram-all")),
        "cmp_head": change_head(b, a, lang),
        "cmp_rows": rows,
    }


def workbook_table(
    cmp: Comparison, fnames: dict[str, str], lang: str
) -> tuple[str, pd.DataFrame, list[str], list[str], list[str]]:
    """The workbook's 情景对比 sheet: (sheet name, table, columns, headers, share columns), a row
    per format."""
    df = cmp.changes()
    df.insert(1, "format_name", [fnames.get(c, c) for c in df["format"]])
    df[["gaining", "losing"]] = df[["gaining", "losing"]].round().astype("int64")
    cols = ["format", "format_name", "gaining", "losing", "mean_saved_min", "f15_before", "f15_after"]
    heads = [tr(lang, "业态代码", "Format code"), *change_head(cmp.before_name, cmp.after_name, lang)]
    return tr(lang, "情景对比", "Scenario comparison"), df, cols, heads, ["f15_before", "f15_after"]
