"""The outputs of an evaluation: an offline HTML dashboard, an Excel workbook (a sheet per level)
and a GeoPackage (circles, communities, districts).

:func:`write_outputs` is the single entry point; every file is written atomically and says
合成数据 / SYNTHETIC DATA when the evaluation is synthetic.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from lifecircle.reports.common import check_lang
from lifecircle.sources.files import make_output_dir

if TYPE_CHECKING:
    from lifecircle.city.model import City
    from lifecircle.indicators.evaluate import Evaluation

OUTPUT_NAMES = {"html": "dashboard.html", "xlsx": "evaluation.xlsx", "gpkg": "evaluation.gpkg"}

__all__ = ["OUTPUT_NAMES", "write_outputs"]


def write_outputs(
    evaluation: Evaluation,
    out_dir: str | Path,
    *,
    city: City | None = None,
    lang: str = "zh",
    surface: Any = None,
    comparison: Any = None,
) -> dict[str, Path]:
    """Write the dashboard, workbook and GeoPackage of ``evaluation`` into ``out_dir``.

    ``evaluation`` is a :class:`lifecircle.indicators.evaluate.Evaluation`; ``city`` (optional)
    gives the base map (district boundaries, streets), district polygons for the GeoPackage and
    the data credits. ``lang`` is ``"zh"`` (default) or ``"en"``. The folder is created if
    needed. A walking-time ``surface`` (:class:`lifecircle.indicators.surface.Surface`) adds its
    map layer and the fairness figures to the dashboard and the workbook; a ``comparison``
    (:class:`lifecircle.indicators.surface_compare.Comparison`) their 情景对比 section and sheet. Returns
    ``{"html": path, "xlsx": path, "gpkg": path}``.
    """
    from lifecircle.reports.dashboard import write_dashboard
    from lifecircle.reports.excel import write_workbook
    from lifecircle.reports.geopackage import write_geopackage

    check_lang(lang)
    out = make_output_dir(out_dir)
    extra = {"city": city, "lang": lang, "surface": surface, "comparison": comparison}
    return {
        "html": write_dashboard(evaluation, out / OUTPUT_NAMES["html"], **extra),
        "xlsx": write_workbook(evaluation, out / OUTPUT_NAMES["xlsx"], **extra),
        "gpkg": write_geopackage(evaluation, out / OUTPUT_NAMES["gpkg"], city=city),
    }
