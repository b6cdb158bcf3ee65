"""District reports as documents: the report text (the small Markdown subset that
:func:`lifecircle.platform.service.generate_report_text` writes and officials edit — ``#``/``##``
headings, ``>`` notes, ``|`` tables, ``-`` lists, paragraphs) parsed into blocks, and the blocks as
the page's HTML, a printable HTML document → PDF (headless Chromium, as the plan reports) and a
Word file (python-docx)."""

from __future__ import annotations

import io
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from jinja2 import Environment, select_autoescape

from lifecircle.i18n import t


@dataclass
class Block:
    kind: str  # h1 h2 h3 quote table ul p
    text: str = ""
    rows: list[list[str]] = field(default_factory=list)  # table rows (the first is the header) or list items


def _cells(line: str) -> list[str]:
    return [c.strip() for c in line.strip().strip("|").split("|")]


def parse(body: str) -> list[Block]:
    """The report text as blocks (anything unrecognised is a paragraph; nothing is lost)."""
    blocks: list[Block] = []
    para: list[str] = []

    def flush() -> None:
        if para:
            blocks.append(Block("p", "\n".join(para)))
            para.clear()

    for raw in (body or "").replace("\r\n", "\n").split("\n"):
        line = raw.rstrip()
        s = line.strip()
        if not s:
            flush()
            continue
        if s.startswith("#"):
            flush()
            level = len(s) - len(s.lstrip("#"))
            blocks.append(Block(f"h{min(level, 3)}", s[level:].strip()))
        elif s.startswith(">"):
            flush()
            if blocks and blocks[-1].kind == "quote":
                blocks[-1].text += "\n" + s[1:].strip()
            else:
                blocks.append(Block("quote", s[1:].strip()))
        elif s.startswith("|"):
            flush()
            cells = _cells(s)
            if all(c and set(c) <= set("-: ") for c in cells):
                continue  # the header separator row
            if blocks and blocks[-1].kind == "table":
                blocks[-1].rows.append(cells)
            else:
                blocks.append(Block("table", rows=[cells]))
        elif s.startswith(("- ", "* ")):
            flush()
            if blocks and blocks[-1].kind == "ul":
                blocks[-1].rows.append([s[2:].strip()])
            else:
                blocks.append(Block("ul", rows=[[s[2:].strip()]]))
        else:
            para.append(s)
    flush()
    return blocks


def title_of(blocks: list[Block], fallback: str) -> str:
    return next((b.text for b in blocks if b.kind == "h1"), fallback)


_ENV = Environment(autoescape=select_autoescape(default=True, default_for_string=True))

BLOCKS_HTML = _ENV.from_string("""{% for b in blocks %}
{%- if b.kind in ('h1', 'h2', 'h3') %}<{{ b.kind }}>{{ b.text }}</{{ b.kind }}>
{%- elif b.kind == 'quote' %}<blockquote>{{ b.text }}</blockquote>
{%- elif b.kind == 'ul' %}<ul>{% for r in b.rows %}<li>{{ r[0] }}</li>{% endfor %}</ul>
{%- elif b.kind == 'table' %}<div class="tw"><table><thead><tr>\
{% for c in b.rows[0] %}<th>{{ c }}</th>{% endfor %}</tr></thead><tbody>
{%- for r in b.rows[1:] %}<tr>{% for c in r %}<td>{{ c }}</td>{% endfor %}</tr>{% endfor %}</tbody></table></div>
{%- else %}<p>{% for l in b.text.split('\\n') %}{{ l }}{% if not loop.last %}<br>{% endif %}{% endfor %}</p>{% endif %}
{% endfor %}""")

PRINT_HTML = _ENV.from_string("""<!doctype html>
<html lang="{{ 'en' if lang == 'en' else 'zh-CN' }}"><head><meta charset="utf-8"><title>{{ title }}</title>
<style>
@page { size: A4; margin: 18mm 16mm; }
body { font-family: "Noto Sans CJK SC","Noto Sans SC","Microsoft YaHei",sans-serif; \
font-size: 11pt; color: #1d2733; line-height: 1.6; }
h1 { font-size: 17pt; color: #1f4e79; margin: 0 0 8pt; } h2 { font-size: 13pt; color: #1f4e79; margin: 14pt 0 6pt; }
blockquote { margin: 0 0 8pt; padding: 4pt 10pt; background: #fff4e5; border-left: 3pt solid #f0c36d; }
table { border-collapse: collapse; width: 100%; font-size: 10pt; } \
th, td { border: 0.5pt solid #b8c2cf; padding: 3pt 6pt; text-align: left; }
th { background: #eef2f7; } .meta { color: #5b6878; font-size: 9pt; margin-bottom: 10pt; }
</style></head><body>
<div class="meta">{{ meta }}</div>
{{ body }}
</body></html>""")


def blocks_html(blocks: list[Block]) -> str:
    from markupsafe import Markup

    return Markup(BLOCKS_HTML.render(blocks=blocks))


def print_html(blocks: list[Block], *, title: str, meta: str, lang: str) -> str:
    return PRINT_HTML.render(body=blocks_html(blocks), title=title, meta=meta, lang=lang)


def to_pdf(blocks: list[Block], *, title: str, meta: str, lang: str) -> bytes:
    """The report printed to PDF by headless Chromium (raises PdfError when it cannot)."""
    from lifecircle.reports.pdf import html_to_pdf

    with tempfile.TemporaryDirectory(prefix="lifecircle-report-") as work:
        src = Path(work) / "report.html"
        src.write_text(print_html(blocks, title=title, meta=meta, lang=lang), encoding="utf-8")
        return html_to_pdf(src, Path(work) / "report.pdf", timeout_s=60).read_bytes()


def to_docx(blocks: list[Block], *, title: str, meta: str) -> bytes:
    """The report as a Word document (headings, notes, tables, lists, paragraphs)."""
    from docx import Document
    from docx.oxml.ns import qn
    from docx.shared import Pt

    doc = Document()
    doc.core_properties.title = title
    style = doc.styles["Normal"]
    style.font.name = "Noto Sans CJK SC"
    style.font.size = Pt(11)
    style.element.rPr.rFonts.set(qn("w:eastAsia"), "Noto Sans CJK SC")
    doc.add_paragraph(meta).runs[0].font.size = Pt(9)
    for b in blocks:
        if b.kind in ("h1", "h2", "h3"):
            doc.add_heading(b.text, level=int(b.kind[1]))
        elif b.kind == "quote":
            doc.add_paragraph(b.text, style="Intense Quote")
        elif b.kind == "ul":
            for r in b.rows:
                doc.add_paragraph(r[0], style="List Bullet")
        elif b.kind == "table":
            ncol = max(len(r) for r in b.rows)
            table = doc.add_table(rows=len(b.rows), cols=ncol)
            table.style = "Table Grid"
            for i, r in enumerate(b.rows):
                for j, c in enumerate(r):
                    table.cell(i, j).text = c
                    if i == 0:
                        for run in table.cell(i, j).paragraphs[0].runs:
                            run.bold = True
        else:
            doc.add_paragraph(b.text)
    buf = io.BytesIO()
    doc.save(buf)
    return buf.getvalue()


def meta_line(district: str, period: str, version: int, generated: bool) -> str:
    kind = t("自动生成", "generated") if generated else t("编辑", "edited")
    return t(f"{district} · {period} · 版本 {version}（{kind}）", f"{district} · {period} · version {version} ({kind})")
