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

The document is built from :mod:`lifecircle.reports.plan_sections` (the template's values),
:mod:`lifecircle.reports.plan_figures` (map and chart) and :mod:`lifecircle.reports.pdf`
(printing); this module renders the template and writes the files. The old names stay importable
from here.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from lifecircle.reports.common import check_lang
from lifecircle.reports.pdf import (
    CHROMIUM_NAMES,  # noqa: F401 - re-exported
    PdfError,
    find_chromium,
    html_to_pdf,
)
from lifecircle.reports.plan_figures import (
    SITE_COLOUR,  # noqa: F401 - re-exported
    before_after_bars,
    circle_map_svg,
)
from lifecircle.reports.plan_sections import plan_context
from lifecircle.sources.files import atomic_output, make_output_dir

if TYPE_CHECKING:
    from lifecircle.city.model import City
    from lifecircle.plans.policy import CirclePlan


TEMPLATE = "plan_report.html.j2"


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


def render_plan_html(plan: CirclePlan, *, city: City | None = None, lang: str = "zh", surface: Any = None) -> str:
    """The plan document as one self-contained HTML string (``lang`` ``zh`` or ``en``).
    ``city`` gives the base map (districts, streets) and the data credits; a walking-time
    ``surface`` adds the circle's fairness figures (F15, Gini)."""
    return _env().get_template(TEMPLATE).render(**plan_context(plan, city=city, lang=lang, surface=surface))


def write_plan_report(
    plan: CirclePlan,
    out_dir: str | Path,
    *,
    city: City | None = None,
    lang: str = "zh",
    pdf: bool = True,
    surface: Any = None,
) -> dict[str, Path]:
    """Write ``<out_dir>/<circle>.html`` and (with ``pdf``) ``<out_dir>/<circle>.pdf``, atomically;
    the folder is created. Returns ``{"html": path, "pdf": path}``."""
    check_lang(lang)
    d = make_output_dir(out_dir)
    stem = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in plan.circle_id) or "circle"
    html_path = d / f"{stem}.html"
    html = render_plan_html(plan, city=city, lang=lang, surface=surface)
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
