"""The province batch's comparison report as one self-contained HTML page (``cities.html``).

One row per city in the batch's order (click a column head to sort): status (done, done by an
earlier run, failed with its one-line error), circles, circles per grade, the mean basic-format
coverage, the residents reaching every basic format, F15 (the residents within 15 minutes' walk of
every basic format) and F15 of the older residents at their speed (shares 0..1 shown in %),
residents, network nodes, tiles and seconds. A figure a row lacks — a failed city, a row written
by an earlier version without F15, or F15 of a city none of whose residents could be placed on its
streets — shows "—" and sorts after the numbers; the page names the cities of the last two cases
apart (a row records the batch version that wrote it in ``batch_version``: none before F15).
A horizontal bar chart (SVG) shows the mean basic-format coverage per city, best first; failed
cities are listed by name with their error. Synthetic cities are labelled 合成数据 and the page
carries the synthetic-data banner when any is. The dashboard's CSS and sorting script are reused;
the table scrolls inside its box, so the page fits a 390 px phone.

The same report as a workbook for people (``cities.xlsx``, :func:`write_comparison_xlsx`): heads
in the page's language, status in words, shares formatted as percentages, the synthetic note on top.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
from markupsafe import Markup, escape

import lifecircle
from lifecircle.reports.common import (
    GRADE_ORDER,
    GRADES,
    SYNTHETIC_TITLE,
    check_lang,
    fmt_num,
    fmt_pct,
    generated_at,
    is_missing,
    label,
    synthetic_note,
    tr,
)
from lifecircle.reports.dashboard import _env, _static
from lifecircle.sources.files import atomic_output

KEY = "basic_format_coverage"  # the indicator of the bar chart
STATUS = {
    "done": ("完成", "done"),
    "skipped": ("已完成（上次运行）", "done (earlier run)"),
    "failed": ("失败", "failed"),
}
# F15 of the batch row (every basic format; lifecircle.scale.cities.city_evaluation), not the
# per-format f15 of the fairness tables: its own headers, Chinese first
F15_COLUMNS = {
    "f15": ("F15（15分钟全覆盖居民占比）", "F15 (residents within 15 min of every basic format)"),
    "f15_elderly": (
        "F15 老年步速（15分钟全覆盖老年居民占比）",
        "F15 at the elderly speed (older residents within 15 min of every basic format)",
    ),
}
SHARES = (KEY, "basic_coverage", *F15_COLUMNS)
# the workbook's heads of the batch's own columns (the city figures have theirs in reports.common)
BATCH_HEADS = {
    "kind": ("来源类型", "Source kind"),
    "seed": ("随机种子", "Seed"),
    "scale": ("演示规模", "Demo scale"),
    "source": ("数据来源", "Data source"),
    "name": ("库中城市名", "Name in the store"),
    "n_edges": ("路网边数", "Network edges"),
    "batch_version": ("批量评估版本", "Batch version"),
}
KINDS = {"demo": ("演示", "demo"), "store": ("城市库", "city store")}  # synthetic: said by the label
F15_SINCE_BATCH = 2  # the first lifecircle.scale.batch.BATCH_VERSION whose rows carry F15
NAMES_SHOWN = 10  # cities named in a note, then "and n more"
LONG_HEAD = 24  # a column head wider than this (in Latin letters; a Chinese character counts 2) gets a wider column
PAGE_CSS = """
header.top { padding: 16px 18px 12px; }
header.top h1 { font-size: 24px; }
main { padding: 8px 12px 20px; }
section { padding: 14px 14px; }
.status-failed { color: var(--warn); font-weight: 700; }
.status-done, .status-skipped { color: #1a7f37; }
td.error { min-width: 16em; color: var(--warn); font-size: 12.5px; }
#city-table th.long { min-width: 11em; }  /* F15's heads wrap to a few lines, not a column of words */
ul.failed li { margin: 4px 0; overflow-wrap: anywhere; }
svg.bars .fail { fill: var(--warn); font-weight: 600; }
svg.cities { width: 480px; }
svg.cities .name { font-size: 12.5px; }
@media (max-width: 600px) {
  header.top h1 { font-size: 20px; } html { font-size: 14px; }
  .cards { grid-template-columns: repeat(2, minmax(0, 1fr)); gap: 8px; }
  .synthetic-banner { flex-wrap: wrap; gap: 2px 10px; padding: 6px 12px; font-size: 12.5px; }
  .synthetic-banner strong { font-size: 16px; white-space: normal; letter-spacing: 1px; }
}
"""


@dataclass
class Cell:
    """A table cell: its text, the value it sorts by (number or text), and a CSS class."""

    text: str
    sort: Any = None
    cls: str = ""
    html: Markup | None = None


def _mixed_note(lang: str) -> str:
    """The banner's sentence when only some cities are synthetic: which ones it applies to."""
    return tr(
        lang,
        "标注「合成数据」的城市由程序生成的演示数据计算，仅用于演示；其余城市来自各自的数据库。",
        "the cities marked synthetic are computed from generated demonstration data; the others from their stores.",
    )


def _is_synthetic(r: dict[str, Any]) -> bool:
    return bool(r.get("synthetic")) and not is_missing(r.get("synthetic"))


def _num(v: Any) -> float | None:
    """The sort value of a number; None (no ``data-sort``: sorted by its text "—", after the numbers) if missing."""
    return None if is_missing(v) else float(v)


def _f15_gap(r: dict[str, Any], status: str) -> str:
    """Why an evaluated city shows "—" for F15: ``old`` (a row with residents written before the
    batch had F15: no ``batch_version``, or one before :data:`F15_SINCE_BATCH`), ``unplaced`` (a
    row of a version with F15 whose city had no residents to place on its streets: F15 is NaN),
    or "" (it has F15, or it failed)."""
    if status == "failed" or not is_missing(r.get("f15")):
        return ""
    version = _num(r.get("batch_version"))
    if version is not None and version >= F15_SINCE_BATCH:
        return "unplaced"
    pop = _num(r.get("population"))
    return "old" if pop is not None and pop > 0 else ""


def name_list(labels: list[str], lang: str) -> str:
    """The first :data:`NAMES_SHOWN` of ``labels``, then how many more (the page's notes, the
    CLI's lines)."""
    more = len(labels) - NAMES_SHOWN
    if more <= 0:
        return tr(lang, "、".join(labels), ", ".join(labels))
    shown = labels[:NAMES_SHOWN]
    return tr(lang, f"{'、'.join(shown)} 等 {len(labels)} 个城市", f"{', '.join(shown)} and {more} more")


def _f15_notes(recs: list[dict[str, Any]], status: list[str], lang: str) -> list[str]:
    """The page's notes on the F15 "—" of evaluated cities, each naming its cities: rows of an
    earlier version, cities without residents on their streets (see :func:`_f15_gap`), and cities
    with F15 but no older residents (F15 at the elderly speed undefined)."""
    gap = [_f15_gap(r, s) for r, s in zip(recs, status, strict=True)]
    no_old = [  # F15 defined, its elderly figure not: no older residents among those placed
        s != "failed" and not is_missing(r.get("f15")) and is_missing(r.get("f15_elderly"))
        for r, s in zip(recs, status, strict=True)
    ]
    cases = (
        (
            [g == "old" for g in gap],
            "“—”（{}）：该城市的结果由未计算 F15 的早期版本写出，没有此项；重跑批量评估会重新评估它。",
            "“—” ({}): the city’s row was written by an earlier version without F15 and lacks it; "
            "rerunning the batch evaluates it again.",
        ),
        (
            [g == "unplaced" for g in gap],
            "“—”（{}）：没有居民能落到街道上（如各小区离街道都超过吸附距离），F15 无定义。",
            "“—” ({}): no residents could be placed on the streets (e.g. every community is "
            "beyond the snapping distance of every street), so F15 is not defined.",
        ),
        (
            no_old,
            "F15 老年步速“—”（{}）：该城市的小区数据没有老年居民（老年人口为 0 或缺失），此项无定义。",
            "F15 at the elderly speed “—” ({}): the city’s communities record no older residents "
            "(elderly population 0 or missing), so it is not defined.",
        ),
    )
    notes = []
    for hit, zh, en in cases:
        labels = [str(r.get("label")) for r, h in zip(recs, hit, strict=True) if h]
        if labels:
            names = name_list(labels, lang)
            notes.append(tr(lang, zh.format(names), en.format(names)))
    return notes


def _columns(report: pd.DataFrame, lang: str) -> list[tuple[str, str]]:
    """(column, header) of the table; the grade counts only when the report has them, F15 always
    (a report of rows written before F15 shows "—")."""
    cols = [("label", tr(lang, "城市", "City")), ("status", tr(lang, "状态", "Status"))]
    cols.append(("n_circles", label("n_circles", lang)))
    cols += [(f"n_{g}", tr(lang, GRADES[g].zh, GRADES[g].en)) for g in GRADE_ORDER if f"n_{g}" in report.columns]
    cols += [(KEY, label(KEY, lang)), ("basic_coverage", label("basic_coverage", lang))]
    cols += [(c, tr(lang, *pair)) for c, pair in F15_COLUMNS.items()]
    cols.append(("population", label("population", lang)))
    cols += [
        ("n_nodes", tr(lang, "路网节点", "Network nodes")),
        ("tiles", tr(lang, "分块数", "Tiles")),
        ("seconds", tr(lang, "用时（秒）", "Time (s)")),
        ("error", tr(lang, "错误", "Error")),
    ]
    return cols


def _cell(col: str, r: dict[str, Any], lang: str) -> Cell:
    v = r.get(col)
    if col == "label":
        tag = f' <span class="tag-synthetic">{tr(lang, "合成数据", "synthetic")}</span>' if _unsaid_synthetic(r) else ""
        return Cell(str(v), str(v), "name", Markup(f"{escape(str(v))}{tag}"))
    if col == "status":
        s = str(v or "failed")
        return Cell(tr(lang, *STATUS.get(s, (s, s))), s, f"nowrap status-{s}")
    if col == "error":
        return Cell("" if is_missing(v) else str(v), None, "error")
    if col in SHARES:
        return Cell(fmt_pct(v), _num(v), "num")
    if col == "seconds":
        n = _num(v)
        return Cell("—" if n is None else f"{n:.1f}", n, "num")
    return Cell(fmt_num(v), _num(v), "num")


def _width(text: str) -> int:
    """The width of ``text`` in Latin letters: a Chinese (full-width) character counts 2."""
    return sum(2 if ord(ch) > 0x2E7F else 1 for ch in text)


def _unsaid_synthetic(r: dict[str, Any]) -> bool:
    """The city is synthetic and its label does not say so (a demo city's does: 演示-1（合成） /
    demo-1 (synthetic)): the table and the chart mark it once."""
    lab = str(r.get("label"))
    return _is_synthetic(r) and not ("合成" in lab or "synthetic" in lab.lower())


def _chart_label(r: dict[str, Any], lang: str) -> str:
    """A city's name on the chart, marked synthetic once: demo labels already say so."""
    return str(r.get("label")) + (tr(lang, "（合成数据）", " (synthetic)") if _unsaid_synthetic(r) else "")


def coverage_chart(report: pd.DataFrame, lang: str) -> str:
    """Bars of the mean basic-format coverage per city (0..1 shown in %), best first, each city's
    name above its bar (narrow enough for a phone); a city without the figure (failed) at the end,
    marked. Synthetic cities say 合成数据."""
    recs = report.to_dict("records")
    recs.sort(key=lambda r: (is_missing(r.get(KEY)), -float(0 if is_missing(r.get(KEY)) else r[KEY])))
    row_h, bar_w, width = 40, 330, 400
    parts: list[str] = []
    for i, r in enumerate(recs):
        y = 4 + i * row_h
        lab = _chart_label(r, lang)
        v = r.get(KEY)
        parts.append(f'<g class="bar-row"><title>{escape(lab)}: {fmt_pct(v)}</title>')
        parts.append(f'<text class="name" x="0" y="{y + 13}">{escape(lab)}</text>')
        parts.append(f'<rect class="track" x="0" y="{y + 18}" width="{bar_w}" height="16"/>')
        if is_missing(v):
            text = tr(lang, "失败", "failed") if r.get("status") == "failed" else "—"
            parts.append(f'<text class="val fail" x="6" y="{y + 31}">{escape(text)}</text></g>')
            continue
        w = bar_w * min(max(float(v), 0.0), 1.0)
        parts.append(f'<rect x="0" y="{y + 18}" width="{w:.1f}" height="16" fill="#2b8cbe"/>')
        parts.append(f'<text class="val" x="{bar_w + 6}" y="{y + 31}">{fmt_pct(v)}</text></g>')
    height = 4 + len(recs) * row_h
    grid = "".join(
        f'<line x1="{bar_w * q}" x2="{bar_w * q}" y1="0" y2="{height}"/>'
        f'<text x="{min(max(bar_w * q, 10), bar_w - 10)}" y="{height + 14}">{int(q * 100)}%</text>'
        for q in (0, 0.25, 0.5, 0.75, 1.0)
    )
    title = escape(label(KEY, lang))
    return (
        f'<svg class="chart bars cities" viewBox="0 0 {width} {height + 20}" width="{width}" role="img" '
        f'aria-label="{title}"><g class="grid">{grid}</g>{"".join(parts)}</svg>'
    )


def render_comparison_html(report: pd.DataFrame, *, lang: str = "zh", title: str = "") -> str:
    """The comparison page of a batch report (:attr:`lifecircle.scale.batch.BatchResult.report`:
    one row per city with ``label``, ``status``, ``error`` and the city-level figures)."""
    check_lang(lang)
    recs = report.to_dict("records")
    cols = _columns(report, lang)
    synthetic = any(_is_synthetic(r) for r in recs)
    mixed = synthetic and not all(_is_synthetic(r) for r in recs)  # real stores beside demo cities
    status = [str(r.get("status") or "failed") for r in recs]
    residents = sum(float(r["population"]) for r in recs if not is_missing(r.get("population")))
    cards = [
        (tr(lang, "城市", "Cities"), fmt_num(len(recs))),
        (tr(lang, "已完成", "Done"), fmt_num(sum(s != "failed" for s in status))),
        (tr(lang, "失败", "Failed"), fmt_num(status.count("failed"))),
        (tr(lang, "居民合计（人）", "Residents in all"), fmt_num(residents)),
    ]
    ctx = {
        "lang": lang,
        "L": lambda zh, en: tr(lang, zh, en),
        "title": title or tr(lang, "各城市一刻钟便民生活圈对比", "15-minute living circles: city comparison"),
        "synthetic": synthetic,
        "synthetic_title": "含合成数据 / PARTLY SYNTHETIC DATA" if mixed else SYNTHETIC_TITLE,
        "synthetic_note": _mixed_note(lang) if mixed else synthetic_note(lang),
        "synthetic_tag": tr(lang, "含合成数据", "PARTLY SYNTHETIC") if mixed else tr(lang, "合成数据", "SYNTHETIC"),
        "css": Markup(_static("dashboard.css") + PAGE_CSS),
        "js": Markup(_static("dashboard.js")),
        "cards": cards,
        "chart": Markup(coverage_chart(report, lang)) if recs else "",
        "chart_title": label(KEY, lang),
        "head": [h for _, h in cols],
        "numeric": [c not in ("label", "status", "error") for c, _ in cols],
        "long": [_width(h) > LONG_HEAD for _, h in cols],
        "rows": [[_cell(c, r, lang) for c, _ in cols] for r in recs],
        "failed": [
            (str(r.get("label")), str(r.get("error") or "")) for r, s in zip(recs, status, strict=True) if s == "failed"
        ],
        "f15_notes": _f15_notes(recs, status, lang),
        "generated_at": generated_at(),
        "version": lifecircle.__version__,
    }
    return _env().get_template("comparison.html.j2").render(**ctx)


def write_comparison_html(report: pd.DataFrame, path: str | Path, *, lang: str = "zh", title: str = "") -> Path:
    """Write :func:`render_comparison_html` to ``path`` atomically; returns the path."""
    html = render_comparison_html(report, lang=lang, title=title)
    p = Path(path)
    with atomic_output(p) as tmp:
        tmp.write_text(html, encoding="utf-8")
    return p


def write_comparison_xlsx(report: pd.DataFrame, path: str | Path, *, lang: str = "zh") -> Path:
    """Write the batch report as a workbook for people to ``path`` atomically (one sheet, 城市对比 /
    Cities): every column with its head in ``lang`` (the page's, else the report labels), status
    and source kind in words, shares 0..1 (F15 too) formatted as percentages, the synthetic note
    in the first row when a city is synthetic. Returns the path."""
    from openpyxl import Workbook

    from lifecircle.reports.excel import _write_table

    check_lang(lang)
    cols = [str(c) for c in report.columns]
    page = dict(_columns(report, lang))
    heads = [page.get(c) or (tr(lang, *BATCH_HEADS[c]) if c in BATCH_HEADS else label(c, lang)) for c in cols]
    df = report.copy()
    if "status" in df.columns:
        df["status"] = [tr(lang, *STATUS.get(str(v), (str(v), str(v)))) for v in df["status"]]
    if "kind" in df.columns:
        df["kind"] = [tr(lang, *KINDS[v]) if v in KINDS else v for v in df["kind"]]
    if "source" in df.columns:
        df["source"] = [tr(lang, "合成数据", "synthetic") if v == "synthetic" else v for v in df["source"]]
    synthetic = any(_is_synthetic(r) for r in report.to_dict("records"))
    wb = Workbook()
    ws = wb.active
    ws.title = tr(lang, "城市对比", "Cities")
    _write_table(ws, df, cols, lang=lang, synthetic=synthetic, headers=heads)
    top = 3 if synthetic else 2
    for j, c in enumerate(cols, start=1):
        if c in F15_COLUMNS:  # shares the report labels do not know as such
            for i in range(top, top + len(df)):
                ws.cell(row=i, column=j).number_format = "0.0%"
    p = Path(path)
    with atomic_output(p) as tmp:
        wb.save(tmp)
    return p
