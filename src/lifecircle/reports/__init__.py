"""The outputs of an evaluation: an offline HTML dashboard, an Excel workbook (a sheet per level)
and a GeoPackage (circles, communities, districts).

:func:`write_outputs` is the single entry point; every file is written atomically and says
合成数据 / SYNTHETIC DATA when the evaluation is synthetic.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from lifecircle.errors import InputError
from lifecircle.i18n import t
from lifecircle.reports.common import check_lang

if TYPE_CHECKING:
    from lifecircle.city.model import City

OUTPUT_NAMES = {"html": "dashboard.html", "xlsx": "evaluation.xlsx", "gpkg": "evaluation.gpkg"}

__all__ = ["OUTPUT_NAMES", "write_outputs"]


def write_outputs(evaluation: Any, out_dir: str | Path, *, city: City | None = None, lang: str = "zh") -> dict[str, Path]:
    """Write the dashboard, workbook and GeoPackage of ``evaluation`` into ``out_dir``.

    ``evaluation`` is a :class:`lifecircle.indicators.evaluate.Evaluation`; ``city`` (optional)
    gives the base map (district boundaries, streets), district polygons for the GeoPackage and
    the data credits. ``lang`` is ``"zh"`` (default) or ``"en"``. The folder is created if
    needed. Returns ``{"html": path, "xlsx": path, "gpkg": path}``.
    """
    from lifecircle.reports.dashboard import write_dashboard
    from lifecircle.reports.excel import write_workbook
    from lifecircle.reports.geopackage import write_geopackage

    check_lang(lang)
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise InputError(t(f"{out}: 输出位置已存在且不是文件夹", f"{out}: exists and is not a folder"))
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(t(f"{out}: 无法创建输出文件夹（{exc.strerror}）", f"{out}: cannot create the output folder ({exc.strerror})")) from None
    return {
        "html": write_dashboard(evaluation, out / OUTPUT_NAMES["html"], city=city, lang=lang),
        "xlsx": write_workbook(evaluation, out / OUTPUT_NAMES["xlsx"], city=city, lang=lang),
        "gpkg": write_geopackage(evaluation, out / OUTPUT_NAMES["gpkg"], city=city),
    }
