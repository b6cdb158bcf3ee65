"""The Excel workbook: one sheet per level — 城市 city, 区 district, 生活圈 circle, 小区 community,
业态覆盖 format coverage, 缺口 gaps — plus 说明 (about: profile, speeds, credits, time).

Headers are in the report language (Chinese by default), frozen, with filters and widths that fit
the content. Shares are stored as fractions 0..1 formatted as percentages, so they stay numbers.
When the evaluation is synthetic, the first row of every sheet says 合成数据 / SYNTHETIC DATA.
"""

from __future__ import annotations

import math
import unicodedata
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from openpyxl import Workbook
from openpyxl.styles import Alignment, Border, Font, PatternFill, Side
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.worksheet import Worksheet

import lifecircle
from lifecircle.reports.common import (
    check_lang,
    city_origin,
    credits,
    flatten_headlines,
    format_names,
    gap_names,
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
from lifecircle.sources.files import atomic_output, spreadsheet_safe

if TYPE_CHECKING:
    from lifecircle.city.model import City
    from lifecircle.indicators.evaluate import Evaluation
    from lifecircle.indicators.surface import Surface
    from lifecircle.indicators.surface_compare import Comparison

# (sheet key, 中文 name, English name)
SHEETS: list[tuple[str, str, str]] = [
    ("city", "城市", "City"),
    ("district", "区", "Districts"),
    ("circle", "生活圈", "Circles"),
    ("community", "小区", "Communities"),
    ("format_coverage", "业态覆盖", "Format coverage"),
    ("gaps", "缺口", "Gaps"),
    ("islands", "路网孤岛", "Network islands"),
    ("about", "说明", "About"),
]

_HEAD_FONT = Font(bold=True, color="FFFFFF")
_HEAD_FILL = PatternFill("solid", fgColor="0B3D6B")
_NOTE_FONT = Font(bold=True, color="FFFFFF", size=12)
_NOTE_FILL = PatternFill("solid", fgColor="B3261E")
_THIN = Border(bottom=Side(style="thin", color="C7CED8"))


def sheet_names(lang: str = "zh") -> list[str]:
    """The workbook's sheet names, in order, in ``lang``."""
    return [tr(lang, zh, en) for _, zh, en in SHEETS]


def _text_width(v: Any) -> int:
    """Display width of a value in Excel character units (CJK counts double)."""
    s = str(v)
    return sum(2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1 for ch in s)


def _cell_value(v: Any) -> Any:
    if is_missing(v):
        return None
    if isinstance(v, np.bool_ | bool):
        return bool(v)
    if isinstance(v, np.integer):
        return int(v)
    if isinstance(v, np.floating):
        return None if math.isnan(float(v)) else float(v)
    if isinstance(v, list | tuple | set | dict):
        return spreadsheet_safe(str(v))
    return spreadsheet_safe(v)


def _write_table(
    ws: Worksheet,
    df: pd.DataFrame,
    cols: Sequence[str],
    *,
    lang: str,
    synthetic: bool,
    headers: Sequence[str] | None = None,
) -> None:
    """Write ``df[cols]`` with a styled, frozen, filterable header row (below the synthetic note)."""
    top = 1
    if synthetic:
        ws.cell(row=1, column=1, value=synthetic_note(lang)).font = _NOTE_FONT
        for j in range(1, max(len(cols), 1) + 1):
            ws.cell(row=1, column=j).fill = _NOTE_FILL
        ws.row_dimensions[1].height = 22
        top = 2
    heads = list(headers) if headers is not None else [label(c, lang) for c in cols]
    widths = [_text_width(h) for h in heads]
    for j, h in enumerate(heads, start=1):
        c = ws.cell(row=top, column=j, value=h)
        c.font, c.fill = _HEAD_FONT, _HEAD_FILL
        c.alignment = Alignment(vertical="center", wrap_text=True)
    ws.row_dimensions[top].height = 30
    share_cols = [is_share(c) for c in cols]
    for i, row in enumerate(df[list(cols)].itertuples(index=False, name=None), start=top + 1):
        for j, raw in enumerate(row, start=1):
            v = _cell_value(raw)
            c = ws.cell(row=i, column=j, value=v)
            if v is None:
                continue
            if share_cols[j - 1] and isinstance(v, float):
                c.number_format = "0.0%"
                w = 7
            elif isinstance(v, float):
                c.number_format = "#,##0.0"
                w = len(f"{v:,.1f}")
            elif isinstance(v, int) and not isinstance(v, bool):
                c.number_format = "#,##0"
                w = len(f"{v:,}")
            else:
                w = _text_width(v)
            if i < top + 400 and w > widths[j - 1]:  # widths from the first rows: enough, and fast
                widths[j - 1] = w
    for j, w in enumerate(widths, start=1):
        ws.column_dimensions[get_column_letter(j)].width = min(max(w + 2, 8), 60)
    ws.freeze_panes = ws.cell(row=top + 1, column=1)
    if len(cols):
        ws.auto_filter.ref = f"A{top}:{get_column_letter(len(cols))}{top + max(len(df), 1)}"


def _localise(df: pd.DataFrame, lang: str, dnames: dict[str, str], fnames: dict[str, str]) -> pd.DataFrame:
    """Coded values → display names (phase, status, kind, class, level); district names added."""
    out = df.copy()
    for col in ("phase", "status", "kind", "class", "level"):
        if col in out:
            out[col] = [value_label(col, v, lang) for v in out[col]]
    if "district" in out:
        out.insert(
            list(out.columns).index("district") + 1,
            "district_name",
            [dnames.get(str(v), v) if not is_missing(v) else None for v in out["district"]],
        )
    if "gaps" in out:
        out["gaps_zh"] = [gap_names(v, fnames) for v in out["gaps"]]
    if "format" in out and "format_zh" in out and lang == "en":
        out["format_zh"] = [fnames.get(c, z) for c, z in zip(out["format"], out["format_zh"], strict=True)]
    if lang == "en":
        if "grade_en" in out:
            out["grade"] = out["grade_en"]
        elif "grade" in out and "grade_code" in out:
            out["grade"] = [grade_style(c, g).en for c, g in zip(out["grade_code"], out["grade"], strict=True)]
        if "grade_reasons_en" in out:
            out["grade_reasons"] = out["grade_reasons_en"]
        out = out.drop(columns=[c for c in ("grade_en", "grade_reasons_en") if c in out])
    return out


def _district_names(evaluation: Evaluation, city: City | None) -> dict[str, str]:
    names: dict[str, str] = {}
    dd = evaluation.districts
    if len(dd):
        names.update(zip(dd["code"].astype(str), dd["name_zh"].astype(str), strict=True))
    if city is not None:
        d = city.table("districts")
        for code, n in zip(d.get("code", []), d.get("name_zh", []), strict=False):
            names.setdefault(str(code), str(n))
    return names


def build_workbook(
    evaluation: Evaluation,
    *,
    city: City | None = None,
    lang: str = "zh",
    surface: Surface | None = None,
    comparison: Comparison | None = None,
) -> Workbook:
    """The workbook of an evaluation (not yet saved); with a walking-time ``surface``, two more
    sheets before 说明: the fairness figures (city, districts, circles) and the blind spots; with a
    ``comparison`` of two surfaces, 情景对比 (a row per format: residents gaining and losing, mean
    minutes saved, F15 before and after)."""
    check_lang(lang)
    synthetic = bool(evaluation.synthetic)
    dnames = _district_names(evaluation, city)
    fnames = format_names(evaluation, lang)
    wb = Workbook()
    wb.remove(wb.active)
    names = dict(zip([k for k, _, _ in SHEETS], sheet_names(lang), strict=True))

    # 城市
    pairs = [(headline_label(k, lang), _cell_value(v)) for k, v in flatten_headlines(evaluation.city)]
    city_df = pd.DataFrame(pairs, columns=["k", "v"])
    ws = wb.create_sheet(names["city"])
    _write_table(
        ws,
        city_df,
        ["k", "v"],
        lang=lang,
        synthetic=synthetic,
        headers=[tr(lang, "指标", "Figure"), tr(lang, "数值", "Value")],
    )
    top = 3 if synthetic else 2
    keys = [k for k, _ in flatten_headlines(evaluation.city)]
    for i, k in enumerate(keys):
        c = ws.cell(row=top + i, column=2)
        if isinstance(c.value, float) and is_share(k.split(".")[0]):
            c.number_format = "0.0%"

    # 区, 生活圈, 小区, 业态覆盖, 缺口
    tables: list[tuple[str, pd.DataFrame]] = [
        ("district", evaluation.districts),
        ("circle", pd.DataFrame(evaluation.circles.drop(columns="geometry", errors="ignore"))),
        ("community", evaluation.communities),
        ("format_coverage", evaluation.format_coverage),
        ("gaps", evaluation.gaps),
    ]
    cnames = dict(zip(evaluation.circles["id"].astype(str), evaluation.circles["name"].astype(str), strict=True))
    for key, given in tables:
        df = pd.DataFrame(given)
        if key == "format_coverage" and len(df):
            unit_names = {"city": {}, "district": dnames, "circle": cnames}
            df = df.copy()
            df.insert(
                list(df.columns).index("unit_id") + 1,
                "unit_name",
                [
                    evaluation.city_name if lvl == "city" else unit_names.get(lvl, {}).get(str(u), u)
                    for lvl, u in zip(df["level"], df["unit_id"], strict=True)
                ],
            )
        df = _localise(df, lang, dnames, fnames)
        cols = [c for c in df.columns if c != "geometry"]
        _write_table(wb.create_sheet(names[key]), df, cols, lang=lang, synthetic=synthetic)

    # 路网孤岛: who sits on a piece apart from the main network, and which short pieces were dropped
    _write_table(wb.create_sheet(names["islands"]), *_islands_frame(evaluation, lang), lang=lang, synthetic=synthetic)

    if surface is not None:
        _surface_sheets(wb, surface, evaluation, dnames, fnames, cnames, lang, synthetic)
    if comparison is not None:
        from lifecircle.reports.gain_loss import workbook_table

        _styled_sheet(wb, workbook_table(comparison, fnames, lang), lang, synthetic)

    # 说明
    prof = evaluation.profile
    about = [
        (tr(lang, "城市", "City"), evaluation.city_name),
        (tr(lang, "城市来源", "City made from"), city_origin(evaluation, lang)),
        (
            tr(lang, "数据性质", "Data"),
            tr(lang, "合成数据（演示）", "SYNTHETIC (demonstration)")
            if synthetic
            else tr(lang, "真实数据", "real data"),
        ),
        (tr(lang, "评估配置", "Profile"), f"{prof.name} {prof.version}".strip()),
        (tr(lang, "依据", "Basis"), prof.title_en if lang == "en" else prof.title_zh),
        (tr(lang, "文件", "Documents"), prof.source),
        (tr(lang, "步行速度（km/h）", "Walking speed (km/h)"), float(evaluation.speed_kmh)),
        (tr(lang, "老年人步行速度（km/h）", "Older residents' speed (km/h)"), float(evaluation.elderly_speed_kmh)),
        (
            tr(lang, "距离", "Distances"),
            tr(lang, "沿步行路网计算（非直线）", "along the walking network (not straight lines)"),
        ),
        (
            tr(lang, "占比", "Shares"),
            tr(lang, "以 0–1 的小数存储，显示为百分比", "stored as fractions 0–1, shown as percentages"),
        ),
        (tr(lang, "生成时间", "Generated"), generated_at()),
        (tr(lang, "软件", "Software"), f"lifecircle {lifecircle.__version__}"),
    ] + [(tr(lang, "数据来源", "Credit"), c) for c in credits(synthetic, city, lang)]
    about += [(tr(lang, "数据提示", "Data note"), n) for n in evaluation.notes]
    _write_table(
        wb.create_sheet(names["about"]),
        pd.DataFrame(about, columns=["k", "v"]),
        ["k", "v"],
        lang=lang,
        synthetic=synthetic,
        headers=[tr(lang, "项目", "Item"), tr(lang, "内容", "Value")],
    )
    return wb


def _islands_frame(evaluation: Evaluation, lang: str) -> tuple[pd.DataFrame, list[str]]:
    """The islands sheet: points on islands, then the dropped pieces (one row each)."""
    cols = ["table", "id", "name", "piece", "piece_nodes", "piece_length_m"]
    isl = evaluation.islands
    if isl is None:
        return pd.DataFrame(columns=cols), cols
    pts = isl.points[cols].copy()
    pts["table"] = [tr(lang, {"communities": "小区", "outlets": "网点"}.get(x, x), x) for x in pts["table"]]
    dropped = isl.dropped
    if len(dropped):
        extra = pd.DataFrame(
            {
                "table": tr(
                    lang, f"已剔除路段（< {isl.min_piece_m:g} 米）", f"dropped piece (< {isl.min_piece_m:g} m)"
                ),
                "id": [f"{lon:.5f},{lat:.5f}" for lon, lat in zip(dropped["lon"], dropped["lat"], strict=True)],
                "name": None,
                "piece": dropped["piece"].to_numpy(),
                "piece_nodes": dropped["nodes"].to_numpy(),
                "piece_length_m": dropped["length_m"].round(1).to_numpy(),
            }
        )
        pts = pd.concat([pts, extra], ignore_index=True) if len(pts) else extra
    return pts, cols


def _surface_sheets(wb, surface, evaluation, dnames, fnames, cnames, lang: str, synthetic: bool) -> None:
    from lifecircle.reports.surface_report import workbook_tables

    for table in workbook_tables(surface, evaluation.profile, fnames, dnames, cnames, lang):
        _styled_sheet(wb, table, lang, synthetic)


def _styled_sheet(wb, table: tuple, lang: str, synthetic: bool) -> None:
    """A sheet from (name, table, columns, headers, share columns): shares shown as percentages."""
    name, df, cols, heads, shares = table
    ws = wb.create_sheet(name)
    _write_table(ws, df, cols, lang=lang, synthetic=synthetic, headers=heads)
    top = 3 if synthetic else 2
    for j, c in enumerate(cols, start=1):
        if c in shares:
            for i in range(top, top + len(df)):
                ws.cell(row=i, column=j).number_format = "0.0%"


def write_workbook(
    evaluation: Evaluation,
    path: str | Path,
    *,
    city: City | None = None,
    lang: str = "zh",
    surface: Surface | None = None,
    comparison: Comparison | None = None,
) -> Path:
    """Write the workbook to ``path`` (.xlsx, atomically); return the path."""
    wb = build_workbook(evaluation, city=city, lang=lang, surface=surface, comparison=comparison)
    p = Path(path)
    with atomic_output(p) as tmp:
        wb.save(tmp)
    return p
