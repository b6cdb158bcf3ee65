"""``lifecircle import KIND FILE``: add one file of real data to a city in the store.

A thin shell over :func:`lifecircle.sources.importer.import_file` (read, convert, validate) and
the city store (one transaction). Nothing is stored from a file with errors unless
``--skip-bad-rows`` is given; every problem is printed on its own line and, with ``--report``,
written to a CSV together with the skipped rows.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import typer
from rich.table import Table

from lifecircle.cli.app import command, console, out
from lifecircle.errors import InputError, Problem
from lifecircle.i18n import t
from lifecircle.profile import DEFAULT_PROFILE, Profile, load_profile
from lifecircle.sources.files import atomic_output, check_output_path
from lifecircle.sources.importer import KINDS, ImportReport, import_file

MAX_LINES = 50  # problems printed on the terminal; the --report file has all of them


@command("import")
def import_cmd(
    kind: str = typer.Argument(..., help=f"数据类型 / kind: {'|'.join(KINDS)}"),
    file: Path = typer.Argument(..., help="CSV / Excel (.xlsx) / GeoJSON / GeoPackage / GeoParquet"),
    city: str = typer.Option("yichang", "--city", help="城市名称 / city name in the store"),
    # a str, not a Path: Path would fold the '//' of a database URL (postgresql://...)
    db: str = typer.Option("lifecircle.db", "--db",
                           help="城市数据库：SQLite 文件或数据库 URL / city store: SQLite file or database URL"),
    crs: str | None = typer.Option(
        None, "--crs", help="文件坐标系 gcj02|bd09|wgs84（高德导出默认 gcj02，其余默认 wgs84）/ coordinates of the file"),
    profile: str = typer.Option(DEFAULT_PROFILE, "--profile", help="业态目录配置名或 .toml 路径 / format catalogue"),
    chains: str | None = typer.Option(None, "--chains", help="连锁品牌名单 .toml（默认 chains-yichang）/ chain brand list"),
    skip_bad_rows: bool = typer.Option(False, "--skip-bad-rows", help="跳过有错误的行，导入其余行 / leave bad rows out"),
    report: Path | None = typer.Option(None, "--report", help="跳过行清单 CSV / CSV of skipped rows and problems"),
) -> None:
    """导入真实数据（高德 POI 导出、小区表、区界、生活圈……）。Import real data into a city."""
    if report is not None:
        check_output_path(report, (".csv",))
    prof = load_profile(profile)
    codes = _district_codes(db, city)
    try:
        table, rep = import_file(kind, file, crs=crs, profile=prof, skip_bad_rows=skip_bad_rows,
                                 chains=chains, district_codes=codes)
    except InputError as exc:
        _print_problems(exc.problems)
        if report is not None:
            _write_report(report, _frame(exc.problems, "error"))
        console.print(t("未导入任何数据（可用 --skip-bad-rows 跳过错误行）",
                        "nothing was stored (--skip-bad-rows leaves bad rows out)"), highlight=False)
        raise
    _store(db, city, kind, table, prof.name)
    if rep.errors:
        _print_problems(rep.errors)
    if report is not None:
        _write_report(report, rep.to_frame())
    _print_summary(rep, city, prof)


def _district_codes(db: str, city: str) -> dict[str, str] | None:
    """District name → code of the city already in the store (to accept '西陵区' for 420502)."""
    from lifecircle.city import store

    if city not in {c.name for c in store.list_cities(db)}:
        return None
    d = store.load_city(db, city).table("districts")
    if d.empty:
        return None
    return {str(n): str(code) for n, code in zip(d["name_zh"], d["code"], strict=True)}


def _store(db: str, city: str, kind: str, table: pd.DataFrame, profile: str) -> None:
    """Add or replace table ``kind`` of ``city`` in one transaction; a new city is created with
    just this table (its other tables are not read or rewritten)."""
    from lifecircle.city import store
    from lifecircle.city.model import City

    if city in {c.name for c in store.list_cities(db)}:
        store.replace_table(db, city, kind, table)
    else:
        store.save_city(City(name=city, profile=profile, tables={kind: table}), db)


def _frame(problems: list[Problem], reason: str) -> pd.DataFrame:
    return pd.DataFrame([(p.file, p.row, p.field, reason, p.message) for p in problems],
                        columns=["file", "row", "field", "reason", "message"])


def _write_report(path: Path, frame: pd.DataFrame) -> None:
    with atomic_output(path) as tmp:
        frame.to_csv(tmp, index=False, encoding="utf-8-sig")  # BOM: Excel opens it as UTF-8


def _print_problems(problems: list[Problem]) -> None:
    for p in problems[:MAX_LINES]:
        console.print(str(p), highlight=False, soft_wrap=True, markup=False)
    if len(problems) > MAX_LINES:
        more = len(problems) - MAX_LINES
        console.print(t(f"……另有 {more} 处问题（用 --report 导出全部）", f"... {more} more problems (--report lists all)"))


def _print_summary(rep: ImportReport, city: str, prof: Profile) -> None:
    tab = Table(title=t(f"导入 {rep.file} → {city}.{rep.kind}", f"import {rep.file} → {city}.{rep.kind}"))
    tab.add_column(t("项目", "item"))
    tab.add_column(t("数量", "count"), justify="right")
    tab.add_row(t("读取行数", "rows read"), str(rep.rows_read))
    tab.add_row(t("已导入", "stored"), str(rep.rows_kept))
    tab.add_row(t("跳过：有错误", "skipped: errors"), str(len({p.row for p in rep.errors})))
    if rep.kind == "outlets":
        tab.add_row(t("跳过：不属于任何业态", "skipped: no format"), str(len(rep.unclassified)))
        if rep.chain_outlets is not None:
            tab.add_row(t("连锁网点", "chain outlets"), str(rep.chain_outlets))
    tab.add_row(t("坐标系（已转为 WGS-84）", "coordinates (converted to WGS-84)"), rep.crs)
    if rep.encoding:
        tab.add_row(t("文件编码", "file encoding"), rep.encoding)
    out.print(tab)
    if rep.format_counts:
        ft = Table(title=t("各业态网点数（一店多能计入每个业态）", "outlets per format (one outlet may count in several)"))
        ft.add_column(t("代码", "code"))
        ft.add_column(t("业态", "format"))
        ft.add_column(t("网点", "outlets"), justify="right")
        for code, n in rep.format_counts.items():
            ft.add_row(code, prof.format(code).name(), str(n))
        out.print(ft)
    for note in rep.notes:
        out.print(note, highlight=False)
