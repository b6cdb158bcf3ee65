"""The walking-time surface and the fairness figures in the reports: the hexagon layer of the
dashboard's map (one format, coloured by minutes, blind spots outlined; the classes of every
format at both speeds embedded for the page's format and speed switch), and table rows of the
fairness figures shared by the dashboard, the workbook and the 一圈一策 document."""

from __future__ import annotations

import json
from typing import Any

import h3
import numpy as np
import pandas as pd
from markupsafe import escape
from pyproj import Transformer

from lifecircle.indicators.surface import ALL_BASIC, Surface
from lifecircle.reports.common import fmt_pct, tr

# minutes → colour (upper bound of each class, colour); beyond the last and unreachable: grey
MINUTE_CLASSES: list[tuple[float, str]] = [
    (5.0, "#1a9850"),
    (10.0, "#91cf60"),
    (15.0, "#fee08b"),
    (20.0, "#fc8d59"),
    (30.0, "#d73027"),
    (float("inf"), "#7f0000"),
]
UNREACHABLE = "#9e9e9e"


def minutes_colour(m: float) -> str:
    """The fill of a cell ``m`` minutes from the nearest outlet (grey when unreachable)."""
    if not np.isfinite(m):
        return UNREACHABLE
    for upper, colour in MINUTE_CLASSES:
        if m <= upper:
            return colour
    return UNREACHABLE  # pragma: no cover - the last class is open


def minute_classes(m: np.ndarray) -> np.ndarray:
    """The class of each value of minutes: the index into :data:`MINUTE_CLASSES`, or
    ``len(MINUTE_CLASSES)`` for unreachable (as :func:`minutes_colour`)."""
    uppers = np.array([u for u, _ in MINUTE_CLASSES])
    k = np.searchsorted(uppers, np.where(np.isfinite(m), m, 0.0), side="left")
    return np.where(np.isfinite(m), k, len(MINUTE_CLASSES))


def class_codes(m: np.ndarray, blind: np.ndarray) -> str:
    """One character per cell: its class of minutes as ``0``–``6``, or ``A``–``G`` in a blind spot."""
    k = minute_classes(m) + np.where(blind, ord("A"), ord("0"))
    return "".join(map(chr, k.tolist()))


def surface_data(s: Surface, default: str, fnames: dict[str, str], lang: str) -> str:
    """The JSON the dashboard's format and speed switch reads: the colours and labels of the
    classes, and per format (profile order) its name and one string of :func:`class_codes` per
    speed (``n``: the profile's, ``e``: older residents'). Safe inside a ``<script>`` element."""
    m, me = s.minutes(), s.minutes(elderly=True)
    b, be = s.blind(), s.blind(elderly=True)
    formats = [
        {
            "code": c,
            "name": fnames.get(c, c),
            "basic": bool(s.basic[f]),
            "layer": float(s.layer_min[f]),
            "n": class_codes(m[:, f], b[:, f]),
            "e": class_codes(me[:, f], be[:, f]),
        }
        for f, c in enumerate(s.codes)
    ]
    data = {
        "default": default,
        "colours": [c for _, c in MINUTE_CLASSES] + [UNREACHABLE],
        "labels": [label for _, label in surface_legend(lang)],
        "formats": formats,
    }
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def surface_legend(lang: str) -> list[tuple[str, str]]:
    """(colour, label) of each class of minutes, then unreachable."""
    rows, lower = [], 0.0
    for upper, colour in MINUTE_CLASSES:
        label = f"{lower:g}–{upper:g}" if np.isfinite(upper) else f"> {lower:g}"
        rows.append((colour, label + tr(lang, " 分钟", " min")))
        lower = upper
    rows.append((UNREACHABLE, tr(lang, "不可达", "unreachable")))
    return rows


def map_format(s: Surface) -> str:
    """The format the map shows by default: the basic format with most residents in blind spots."""
    blind = s.blind()
    pop = s.cells["population"].to_numpy(float)
    per = (blind * pop[:, None]).sum(axis=0)
    per = np.where(s.basic, per, -1.0)
    return s.codes[int(np.argmax(per))]


def surface_layer(s: Surface, code: str, view: Any, lang: str) -> list[str]:
    """SVG groups for the map ``view`` (see :func:`lifecircle.reports.svg.map_svg`): one polygon
    per cell filled by minutes to ``code``, and the blind spots outlined."""
    f = s.column(code)
    m = s.minutes()[:, f]
    blind = s.blind()[:, f]
    tr_ = Transformer.from_crs(4326, view.crs, always_xy=True)
    polys, outlines = [], []
    for i, cell in enumerate(s.cells["h3"]):
        ring = np.asarray(h3.cell_to_boundary(cell))  # (lat, lng)
        x, y = tr_.transform(ring[:, 1], ring[:, 0])
        pts = view.frame.xy(np.column_stack([x, y]))
        p = " ".join(f"{a},{b}" for a, b in pts)
        val = f"{m[i]:.1f}" if np.isfinite(m[i]) else tr(lang, "不可达", "unreachable")
        polys.append(f'<polygon class="hex" points="{p}" fill="{minutes_colour(m[i])}"><title>{val}</title></polygon>')
        if blind[i]:
            outlines.append(f'<polygon class="blind" points="{p}"/>')
    sw = max(1.0, view.unit * 1.2)
    return [
        f'<g id="surface" data-format="{escape(code)}" fill-opacity="0.8" stroke="none">' + "".join(polys) + "</g>",
        f'<g id="blind-spots" fill="none" stroke="#000000" stroke-width="{sw:.0f}">' + "".join(outlines) + "</g>",
    ]


def fairness_frame(table: pd.DataFrame, fnames: dict[str, str], lang: str) -> pd.DataFrame:
    """A fairness table (:func:`lifecircle.indicators.fairness.fairness_table`) with display
    columns in ``lang``: format name and group."""
    df = table.copy()
    names = {**fnames, ALL_BASIC: tr(lang, "全部基础业态", "all basic formats")}
    df.insert(df.columns.get_loc("format") + 1, "format_name", [names.get(c, c) for c in df["format"]])
    df["group_name"] = [
        tr(lang, "全体居民", "all residents") if g == "all" else tr(lang, "老年人", "older") for g in df["group"]
    ]
    return df


def fairness_rows(table: pd.DataFrame, fnames: dict[str, str], lang: str) -> list[dict[str, str]]:
    """Rows for an HTML table: format, group, residents, mean minutes, F15, in layer, Gini."""
    rows = []
    for r in fairness_frame(table, fnames, lang).to_dict("records"):
        rows.append(
            {
                "format": str(r["format_name"]),
                "group": str(r["group_name"]),
                "residents": f"{r['residents']:,.0f}",
                "mean": f"{r['mean_min']:.1f}" if np.isfinite(r["mean_min"]) else "—",
                "f15": fmt_pct(r["f15"]),
                "f_layer": fmt_pct(r["f_layer"]),
                "gini": f"{r['gini']:.3f}" if np.isfinite(r["gini"]) else "—",
                "unreachable": fmt_pct(r["unreachable"]),
            }
        )
    return rows


def fairness_head(lang: str) -> list[str]:
    return [
        tr(lang, "业态", "Format"),
        tr(lang, "人群", "Group"),
        tr(lang, "居民", "Residents"),
        tr(lang, "平均步行（分钟）", "Mean walk (min)"),
        tr(lang, "15 分钟内（F15）", "Within 15 min (F15)"),
        tr(lang, "业态圈层内", "Within the format's layer"),
        tr(lang, "基尼系数", "Gini"),
        tr(lang, "不可达", "Unreachable"),
    ]


def workbook_tables(
    s: Surface, profile: Any, fnames: dict[str, str], dnames: dict[str, str], cnames: dict[str, str], lang: str
) -> list[tuple[str, pd.DataFrame, list[str], list[str], list[str]]]:
    """The workbook's surface sheets: (sheet name, table, columns, headers, share columns) for the fairness
    figures (city, districts, circles) and the blind spots by district and format."""
    from lifecircle.indicators.fairness import fairness_table
    from lifecircle.indicators.surface import blind_spots

    parts = [fairness_table(s, profile, by) for by in (None, "district", "circle")]
    fair = fairness_frame(pd.concat(parts, ignore_index=True), fnames, lang)
    level = {
        "city": tr(lang, "全市", "city"),
        "district": tr(lang, "区", "district"),
        "circle": tr(lang, "生活圈", "circle"),
    }
    fair["level_name"] = [level[x] for x in fair["level"]]
    fair["unit_name"] = [
        dnames.get(u, u) if lv == "district" else cnames.get(u, u) if lv == "circle" else ""
        for lv, u in zip(fair["level"], fair["unit"], strict=True)
    ]
    fcols = [
        "level_name",
        "unit_name",
        "format",
        "format_name",
        "group_name",
        "residents",
        "mean_min",
        "f15",
        "f_layer",
        "gini",
        "unreachable",
    ]
    fheads = [
        tr(lang, "层级", "Level"),
        tr(lang, "单元", "Unit"),
        tr(lang, "业态代码", "Format code"),
        *fairness_head(lang),
    ]
    blind = blind_spots(s, profile, None, dnames)
    blind = blind[blind["blind_cells"] > 0].copy()
    blind["format_name"] = [fnames.get(c, c) for c in blind["format"]]
    bcols = [
        "district_name",
        "format",
        "format_name",
        "layer_min",
        "blind_cells",
        "blind_residents",
        "blind_elderly",
        "residents",
    ]
    bheads = [
        tr(lang, "区", "District"),
        tr(lang, "业态代码", "Format code"),
        tr(lang, "业态", "Format"),
        tr(lang, "步行圈层（分钟）", "Layer (min)"),
        tr(lang, "盲区六边形", "Blind-spot hexagons"),
        tr(lang, "盲区居民", "Residents in blind spots"),
        tr(lang, "盲区老年人（老年人步速）", "Older residents in blind spots (their speed)"),
        tr(lang, "区内居民", "Residents of the district"),
    ]
    return [
        (tr(lang, "可达公平性", "Fairness"), fair, fcols, fheads, ["f15", "f_layer", "unreachable"]),
        (tr(lang, "盲区", "Blind spots"), blind, bcols, bheads, []),
    ]
