"""The HTML dashboard: one self-contained file that works offline.

CSS, JavaScript and every chart and map are inline (SVG drawn from our own data: district
boundaries and streets of the :class:`~lifecircle.city.model.City`, circles and communities of the
evaluation). No font, script or tile is fetched; Chinese text uses the system's Noto Sans CJK SC
(or the usual Chinese UI fonts). A synthetic evaluation carries a large 合成数据 / SYNTHETIC DATA
banner.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

import geopandas as gpd
import jinja2
import numpy as np
import pandas as pd
from markupsafe import Markup

import lifecircle
from lifecircle.reports import svg
from lifecircle.reports.common import (
    CLASS_NAMES,
    GRADE_ORDER,
    GRADES,
    SYNTHETIC_TITLE,
    check_lang,
    city_origin,
    credits,
    flatten_headlines,
    fmt_num,
    fmt_pct,
    fmt_value,
    format_names,
    generated_at,
    grade_style,
    headline_label,
    is_missing,
    is_share,
    label,
    synthetic_note,
    tr,
    value_label,
)
from lifecircle.sources.files import atomic_output

if TYPE_CHECKING:
    from lifecircle.city.model import City
    from lifecircle.indicators.evaluate import Evaluation
    from lifecircle.indicators.surface import Surface
    from lifecircle.indicators.surface_compare import Comparison

# Headline figures shown as cards, in this order, when the evaluation's city dict has them.
CARD_KEYS = (
    "population",
    "n_circles",
    "n_communities",
    "n_outlets",
    "basic_format_coverage",
    "basic_coverage",
    "elderly_basic_format_coverage",
    "chain_share",
    "smart_coverage",
    "service_area_per_100hh",
    "satisfaction",
    "new_commercial_ok_share",
)
# Headline keys that describe the run, shown in the page's header and footer instead.
META_KEYS = {"name", "synthetic", "profile", "rules", "speed_kmh", "elderly_speed_kmh"}
# Columns of the circle table, in order (those present are shown).
CIRCLE_COLUMNS = (
    "name",
    "district",
    "phase",
    "status",
    "grade",
    "population",
    "n_communities",
    "n_outlets",
    "basic_completeness",
    "basic_format_coverage",
    "basic_coverage",
    "elderly_basic_format_coverage",
    "elderly_basic_coverage",
    "quality_formats_present",
    "chain_share",
    "service_area_per_100hh",
    "smart_coverage",
    "satisfaction",
)


@dataclass
class Cell:
    """A table cell: display text, sort key and CSS class."""

    text: str
    sort: Any = None
    cls: str = ""
    html: Markup | None = None


def _env() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.PackageLoader("lifecircle.reports", "templates"),
        autoescape=jinja2.select_autoescape(["html", "j2"]),
        trim_blocks=True,
        lstrip_blocks=True,
        undefined=jinja2.StrictUndefined,
    )


def _static(name: str) -> str:
    return (resources.files("lifecircle.reports") / "static" / name).read_text(encoding="utf-8")


def _district_names(evaluation: Evaluation, city: City | None, lang: str) -> dict[str, str]:
    names: dict[str, str] = {}
    if city is not None:
        d = city.table("districts")
        col = "name_en" if lang == "en" and "name_en" in d else "name_zh"
        for code, n, nz in zip(d.get("code", []), d.get(col, []), d.get("name_zh", []), strict=False):
            names[str(code)] = str(n if not is_missing(n) else nz)
    dd = evaluation.districts
    if len(dd):
        for code, n in zip(dd["code"], dd["name_zh"], strict=True):
            names.setdefault(str(code), str(n))
    return names


def circle_numbers(circles: pd.DataFrame) -> dict[str, int]:
    """The number of each circle on the map and in the tables (1.. in table order)."""
    return {str(cid): i + 1 for i, cid in enumerate(circles["id"])} if len(circles) else {}


def _cards(evaluation: Evaluation, lang: str) -> tuple[list[dict[str, str]], list[tuple[str, str]]]:
    city = dict(evaluation.city)
    cards = []
    for k in CARD_KEYS:
        if k in city and not isinstance(city[k], dict):
            target = city.get(f"{k}_target")
            note = ""
            if target is not None and not is_missing(target):
                note = tr(lang, "目标 ≥ ", "target ≥ ") + fmt_value(k, target, lang)
            cards.append({"key": k, "label": label(k, lang), "value": fmt_value(k, city[k], lang), "note": note})
    shown = {c["key"] for c in cards}
    others = [
        (headline_label(k, lang), fmt_value(k.split(".")[-1] if not is_share(k) else k, v, lang))
        for k, v in flatten_headlines(city)
        if k not in shown and k not in META_KEYS and not k.endswith("_target") and not k.startswith("grade_counts")
    ]
    return cards, others


def _grade_bar(circles: pd.DataFrame, lang: str) -> list[dict[str, Any]]:
    if not len(circles):
        return []
    codes = [
        grade_style(c, z).code
        for c, z in zip(
            circles.get("grade_code", [None] * len(circles)), circles.get("grade", [None] * len(circles)), strict=True
        )
    ]
    n = len(codes)
    out = []
    for g in GRADE_ORDER:
        k = codes.count(g)
        st = GRADES[g]
        out.append(
            {
                "code": g,
                "name": tr(lang, st.zh, st.en),
                "count": k,
                "pct": 100.0 * k / n,
                "fill": st.fill,
                "ink": st.ink,
            }
        )
    return out


def _grade_badge(row: Any, lang: str) -> Markup:
    st = grade_style(row.get("grade_code"), row.get("grade"))
    if lang == "en":
        name = str(row.get("grade_en")) if not is_missing(row.get("grade_en")) else st.en
    else:
        name = st.zh if is_missing(row.get("grade")) else str(row.get("grade"))
    return Markup('<span class="badge" style="background:{};color:{}">{}</span>').format(st.fill, st.ink, name)


def _circle_table(circles: pd.DataFrame, numbers: dict[str, int], dnames: dict[str, str], lang: str):
    cols = [c for c in CIRCLE_COLUMNS if c in circles.columns]
    head = [{"label": "#", "num": True}] + [
        {
            "label": label("district_name" if c == "district" else c, lang),
            "num": c not in ("name", "district", "phase", "status", "grade", "grade_reasons"),
        }
        for c in cols
    ]
    rows = []
    for _, r in circles.iterrows():
        cid = str(r["id"])
        cells = [Cell(str(numbers.get(cid, "")), numbers.get(cid, 0), "num")]
        for c in cols:
            v = r.get(c)
            if c == "grade":
                st = grade_style(r.get("grade_code"), v)
                cells.append(Cell("", GRADE_ORDER.index(st.code), "", _grade_badge(r, lang)))
            elif c == "district":
                cells.append(Cell(dnames.get(str(v), str(v)), str(v), "nowrap"))
            elif c in ("phase", "status"):
                cells.append(Cell(str(value_label(c, v, lang)) if not is_missing(v) else "—", str(v), "nowrap"))
            elif c == "name":
                cells.append(Cell("" if is_missing(v) else str(v), "" if is_missing(v) else str(v), "name"))
            else:
                sort = None if is_missing(v) else float(v)
                cells.append(Cell(fmt_value(c, v, lang), sort, "num"))
        reasons = (
            r.get("grade_reasons_en")
            if lang == "en" and not is_missing(r.get("grade_reasons_en"))
            else r.get("grade_reasons")
        )
        rows.append({"id": cid, "cells": cells, "reasons": "" if is_missing(reasons) else str(reasons)})
    return head, rows


def _district_table(evaluation: Evaluation, dnames: dict[str, str], lang: str):
    dd = evaluation.districts
    if not len(dd):
        return [], []
    cols = [c for c in dd.columns if c not in ("geometry", "name_en")]
    head = [{"label": label(c, lang), "num": c not in ("code", "name_zh", "name")} for c in cols]
    rows = []
    for _, r in dd.iterrows():
        cells = []
        for c in cols:
            v = r.get(c)
            if c == "name_zh":
                cells.append(Cell(dnames.get(str(r.get("code")), str(v)), str(v)))
            elif c in ("code", "name"):
                cells.append(Cell(str(v), str(v)))
            elif isinstance(v, int | float | np.integer | np.floating) and not isinstance(v, bool):
                cells.append(Cell(fmt_value(c, v, lang), None if is_missing(v) else float(v), "num"))
            else:
                cells.append(Cell(fmt_value(c, v, lang), str(v)))
        rows.append({"cells": cells})
    return head, rows


def _gap_rows(
    evaluation: Evaluation, numbers: dict[str, int], dnames: dict[str, str], fnames: dict[str, str], lang: str
):
    circles = evaluation.circles
    gaps = evaluation.gaps
    by_circle: dict[str, list[dict[str, Any]]] = {}
    if len(gaps):
        g = gaps.sort_values(["circle_id", "priority"]) if "priority" in gaps else gaps
        for _, r in g.iterrows():
            code = str(r.get("format"))
            by_circle.setdefault(str(r["circle_id"]), []).append(
                {
                    "name": fnames.get(code) or r.get("format_zh") or code,
                    "cls": r.get("class") or "basic",
                    "share": fmt_pct(r.get("share_within_layer"), 0),
                    "uncovered": fmt_num(r.get("residents_uncovered")),
                    "top": not is_missing(r.get("priority")) and int(r.get("priority")) <= 3,
                }
            )
    rows = []
    for _, r in circles.iterrows():
        cid = str(r["id"])
        chips = by_circle.get(cid)
        if chips is None and not is_missing(r.get("gaps")) and str(r.get("gaps")).strip():
            chips = [
                {"name": fnames.get(c, c), "cls": "basic", "share": "", "uncovered": "", "top": False}
                for c in str(r["gaps"]).split(";")
                if c
            ]
        rows.append(
            {
                "num": numbers.get(cid, ""),
                "id": cid,
                "name": r.get("name", cid),
                "district": dnames.get(str(r.get("district")), str(r.get("district", ""))),
                "badge": _grade_badge(r, lang),
                "chips": chips or [],
                "n": len(chips or []),
            }
        )
    rows.sort(key=lambda x: (-x["n"], x["num"] if isinstance(x["num"], int) else 0))
    return rows


def _heatmaps(evaluation: Evaluation, dnames: dict[str, str], fnames: dict[str, str], lang: str) -> tuple[str, str]:
    fc = evaluation.format_coverage
    if not len(fc):
        return "", ""
    order = evaluation.profile.codes
    classes = {f.code: f.cls for f in evaluation.profile.formats}
    codes = [c for c in order if c in set(fc["format"])]
    col_labels = [fnames.get(c, c) for c in codes]
    col_classes = [classes.get(c, str(fc.loc[fc["format"] == c, "class"].iloc[0])) for c in codes]
    out = []
    for level in ("district", "circle"):
        part = fc[fc["level"] == level]
        if not len(part):
            out.append("")
            continue
        m = part.pivot_table(index="unit_id", columns="format", values="share_within_layer", aggfunc="first")
        m = m.reindex(columns=codes)
        if level == "circle":
            ids = [str(i) for i in evaluation.circles["id"] if str(i) in set(m.index.astype(str))]
            m.index = m.index.astype(str)
            m = m.reindex(ids)
            cn = dict(zip(evaluation.circles["id"].astype(str), evaluation.circles["name"].astype(str), strict=True))
            nums = circle_numbers(evaluation.circles)
            rows = [f"{nums.get(i, '')}. {cn.get(i, i)}" for i in ids]
            anchors = [f"circle-{i}" for i in ids]
        else:
            m.index = m.index.astype(str)
            rows = [dnames.get(i, i) for i in m.index]
            anchors = None
        city_row = fc[fc["level"] == "city"]
        if level == "district" and len(city_row):
            cm = city_row.set_index("format")["share_within_layer"].reindex(codes)
            m = pd.concat([pd.DataFrame([cm.to_numpy()], columns=codes, index=["__city__"]), m])
            rows = [tr(lang, "全市", "City")] + rows
        out.append(svg.heatmap(m, rows, col_labels, col_classes=col_classes, lang=lang, row_anchors=anchors))
    return out[0], out[1]


def render_dashboard(
    evaluation: Evaluation,
    *,
    city: City | None = None,
    lang: str = "zh",
    surface: Surface | None = None,
    surface_format: str | None = None,
    comparison: Comparison | None = None,
) -> str:
    """The dashboard of an evaluation as one self-contained HTML document (a string).

    ``city`` supplies the base map (district boundaries, streets) and credits; without it the map
    shows only circles and communities. With a walking-time ``surface``, the map shows it for
    ``surface_format`` (default: the basic format with most residents in blind spots; a menu and a
    speed switch above the map redraw it for any format, at either speed, in the page) and a
    fairness section lists F15, Gini and mean time per format for everyone and older residents.
    A ``comparison`` (two surfaces: the base or a scenario, and a scenario) adds the 情景对比
    section: the gain/loss map, before/after histograms and a row per format changed.
    """
    check_lang(lang)
    circles: gpd.GeoDataFrame = evaluation.circles
    communities: pd.DataFrame = evaluation.communities
    dnames = _district_names(evaluation, city, lang)
    fnames = format_names(evaluation, lang)
    numbers = circle_numbers(circles)
    districts = city.table("districts") if city is not None else None
    streets = city.table("streets") if city is not None else None
    map_svg, stats = svg.map_svg(
        circles,
        communities,
        districts=districts if districts is not None and len(districts) else None,
        streets=streets if streets is not None and len(streets) else None,
        numbers=numbers,
        district_names=dnames,
        lang=lang,
        overlay=_surface_overlay(surface, surface_format, lang),
    )
    fc = evaluation.format_coverage
    city_fc = fc[fc["level"] == "city"].copy() if len(fc) else pd.DataFrame()
    if len(city_fc):
        city_fc["format_name"] = [
            fnames.get(c, z)
            for c, z in zip(city_fc["format"], city_fc.get("format_zh", city_fc["format"]), strict=True)
        ]
    bars = svg.coverage_bars(
        city_fc, lang, speed_kmh=float(evaluation.speed_kmh), elderly_speed_kmh=float(evaluation.elderly_speed_kmh)
    )
    heat_d, heat_c = _heatmaps(evaluation, dnames, fnames, lang)
    cards, others = _cards(evaluation, lang)
    c_head, c_rows = _circle_table(circles, numbers, dnames, lang)
    d_head, d_rows = _district_table(evaluation, dnames, lang)
    prof = evaluation.profile
    city_name = evaluation.city_name or (city.name if city is not None else "")
    title = tr(lang, f"{city_name}一刻钟便民生活圈评估", f"{city_name} 15-minute convenient living circles: evaluation")
    ctx = {
        "lang": lang,
        "L": lambda zh, en: tr(lang, zh, en),
        "title": title,
        "synthetic": bool(evaluation.synthetic),
        "synthetic_title": SYNTHETIC_TITLE,
        "synthetic_note": synthetic_note(lang),
        "css": Markup(_static("dashboard.css")),
        "js": Markup(_static("dashboard.js")),
        "cards": cards,
        "others": others,
        "grade_bar": _grade_bar(circles, lang),
        "map_svg": Markup(map_svg),
        "map_stats": stats,
        "legend": svg.grade_legend(lang),
        "bars": Markup(bars),
        "heat_districts": Markup(heat_d),
        "heat_circles": Markup(heat_c),
        "gap_rows": _gap_rows(evaluation, numbers, dnames, fnames, lang),
        "circle_head": c_head,
        "circle_rows": c_rows,
        "district_head": d_head,
        "district_rows": d_rows,
        "credits": credits(bool(evaluation.synthetic), city, lang),
        "notes": list(evaluation.notes),
        "city_origin": city_origin(evaluation, lang),
        "generated_at": generated_at(),
        "profile_title": prof.title_en if lang == "en" else prof.title_zh,
        "profile_name": prof.name,
        "profile_version": prof.version,
        "profile_source": prof.source,
        "speed_kmh": float(evaluation.speed_kmh),
        "elderly_speed_kmh": float(evaluation.elderly_speed_kmh),
        "version": lifecircle.__version__,
        **_surface_context(surface, surface_format, evaluation, fnames, lang),
        **_comparison_context(comparison, fnames, lang),
    }
    return _env().get_template("dashboard.html.j2").render(**ctx)


def _surface_overlay(surface: Surface | None, code: str | None, lang: str) -> Callable[[Any], list[str]] | None:
    if surface is None:
        return None
    from lifecircle.reports.surface_report import map_format, surface_layer

    shown = code or map_format(surface)
    return lambda view: surface_layer(surface, shown, view, lang)


def _surface_context(
    surface: Surface | None, code: str | None, evaluation: Evaluation, fnames: dict[str, str], lang: str
) -> dict[str, Any]:
    if surface is None:
        return {"fair_rows": []}
    from lifecircle.indicators.fairness import fairness_table
    from lifecircle.reports.surface_report import (
        fairness_head,
        fairness_rows,
        map_format,
        surface_data,
        surface_legend,
    )

    shown = code or map_format(surface)
    surface.column(shown)  # an unknown code: one clear error
    return {
        "fair_head": fairness_head(lang),
        "fair_rows": fairness_rows(fairness_table(surface, evaluation.profile), fnames, lang),
        "surface_legend": surface_legend(lang),
        "surface_format_name": fnames.get(shown, shown),
        "surface_default": shown,
        "surface_groups": _format_groups(surface.codes, evaluation, fnames, lang),
        "surface_data": Markup(surface_data(surface, shown, fnames, lang)),
        "surface_js": Markup(_static("surface.js")),
    }


def _format_groups(
    codes: list[str], evaluation: Evaluation, fnames: dict[str, str], lang: str
) -> list[tuple[str, list[tuple[str, str]]]]:
    """The surface's formats for the map's menu, by class (基本保障类 first): (class name, [(code, name)])."""
    classes = {f.code: f.cls for f in evaluation.profile.formats}
    groups: dict[str, list[tuple[str, str]]] = {}
    for c in codes:
        groups.setdefault(classes.get(c, "basic"), []).append((c, fnames.get(c, c)))
    return [(tr(lang, *CLASS_NAMES.get(k, (k, k))), v) for k, v in groups.items()]


def _comparison_context(comparison: Comparison | None, fnames: dict[str, str], lang: str) -> dict[str, Any]:
    if comparison is None:
        return {"cmp_title": ""}
    from lifecircle.reports.gain_loss import dashboard_section

    return dashboard_section(comparison, fnames, lang)


def write_dashboard(
    evaluation: Evaluation,
    path: str | Path,
    *,
    city: City | None = None,
    lang: str = "zh",
    surface: Surface | None = None,
    surface_format: str | None = None,
    comparison: Comparison | None = None,
) -> Path:
    """Write the dashboard to ``path`` (UTF-8 HTML, atomically); return the path."""
    html = render_dashboard(
        evaluation, city=city, lang=lang, surface=surface, surface_format=surface_format, comparison=comparison
    )
    p = Path(path)
    with atomic_output(p) as tmp:
        tmp.write_text(html, encoding="utf-8")
    return p
