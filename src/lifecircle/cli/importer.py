"""``lifecircle import KIND FILE``: add one file of real data to a city in the store.

A thin shell over :func:`lifecircle.sources.importer.import_file` (read, convert, validate) and
:func:`lifecircle.city.store.merge_table` (one transaction). By default an import adds rows and
updates rows with the same id (districts: code; surveys: circle + period), and says so:
"新增 N，更新 M，未变 K，删除 0"; ``--replace`` makes the table exactly the file; ``--dry-run``
prints the same counts and stores nothing. Nothing is stored from a file with errors unless
``--skip-bad-rows`` is given; every problem is printed once, on its own line, and with
``--report`` written to a CSV together with the skipped rows.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd
import typer
from rich.table import Table

from lifecircle.cli.app import command, console, out
from lifecircle.errors import InputError, Problem
from lifecircle.i18n import t
from lifecircle.profile import DEFAULT_PROFILE, Profile, load_profile
from lifecircle.sources.files import atomic_output, check_output_path
from lifecircle.sources.importer import KINDS, ImportReport, import_file

if TYPE_CHECKING:
    from lifecircle.city.store import MergeResult

MAX_LINES = 50  # problems printed on the terminal; the --report file has all of them


@command("import")
def import_cmd(
    kind: str = typer.Argument(..., help=f"数据类型 / kind: {'|'.join(KINDS)}"),
    file: Path = typer.Argument(
        ..., help="CSV / Excel (.xlsx) / GeoJSON / GeoPackage / GeoParquet / Shapefile (.shp, .zip) / OSM PBF (streets)"
    ),
    city: str = typer.Option("yichang", "--city", help="城市名称 / city name in the store"),
    # a str, not a Path: Path would fold the '//' of a database URL (postgresql://...)
    db: str = typer.Option(
        "lifecircle.db", "--db", help="城市数据库：SQLite 文件或数据库 URL / city store: SQLite file or database URL"
    ),
    crs: str | None = typer.Option(
        None, "--crs", help="文件坐标系 gcj02|bd09|wgs84（高德导出默认 gcj02，其余默认 wgs84）/ coordinates of the file"
    ),
    profile: str = typer.Option(DEFAULT_PROFILE, "--profile", help="业态目录配置名或 .toml 路径 / format catalogue"),
    chains: str | None = typer.Option(
        None, "--chains", help="连锁品牌名单 .toml（默认 chains-yichang）/ chain brand list"
    ),
    skip_bad_rows: bool = typer.Option(
        False, "--skip-bad-rows", help="跳过有错误的行，导入其余行 / leave bad rows out"
    ),
    report: Path | None = typer.Option(None, "--report", help="跳过行清单 CSV / CSV of skipped rows and problems"),
    replace: bool = typer.Option(
        False, "--replace", help="用本文件替换该表（默认按 id 新增和更新）/ replace the table instead of adding to it"
    ),
    dry_run: bool = typer.Option(False, "--dry-run", help="只统计将新增、更新多少行，不写入 / count, store nothing"),
    create: bool = typer.Option(False, "--create", help="数据库中没有该城市时新建 / start a new city in the store"),
) -> None:
    """导入真实数据（高德 POI 导出、小区表、区界、道路……）：默认按 id 新增和更新。
    Import real data into a city: rows are added, or updated by id."""
    if report is not None:
        check_output_path(report, (".csv",))
    prof = load_profile(profile)
    codes = _district_codes(db, city)
    try:
        table, rep = import_file(
            kind, file, crs=crs, profile=prof, skip_bad_rows=skip_bad_rows, chains=chains, district_codes=codes
        )
    except InputError as exc:  # printed here, each problem once; not re-raised to the guard
        _print_problems(exc.problems)
        if report is not None:
            _write_report(report, _frame(exc.problems, "error"))
        hint = any(p.row is not None for p in exc.problems) and not skip_bad_rows
        console.print(
            t(
                "未导入任何数据（可用 --skip-bad-rows 跳过错误行）",
                "nothing was stored (--skip-bad-rows leaves bad rows out)",
            )
            if hint
            else t("未导入任何数据", "nothing was stored"),
            highlight=False,
        )
        raise typer.Exit(2) from None
    result = _store(db, city, kind, table, prof.name, replace=replace, dry_run=dry_run, create=create)
    if rep.errors:
        _print_problems(rep.errors)
    if report is not None:
        _write_report(report, rep.to_frame())
    _print_summary(rep, city, prof, result)
    if kind == "districts" and not dry_run:
        _recode_districts(db, city, table)


def _recode_districts(db: str, city: str, table: pd.DataFrame) -> None:
    """Tables imported before the districts hold district names (西陵区): store the codes instead, and say so."""
    from lifecircle.city import store

    codes = {str(n): str(c) for n, c in zip(table["name_zh"], table["code"], strict=True) if not pd.isna(n)}
    changed = store.recode_districts(db, city, codes)
    if changed:
        done = "，".join(f"{k} {n} 行" for k, n in changed.items())
        done_en = ", ".join(f"{k} {n} rows" for k, n in changed.items())
        out.print(
            t(
                f"已将先前导入的区名改为区划代码：{done}",
                f"district names imported earlier now carry their codes: {done_en}",
            ),
            highlight=False,
        )


def _district_codes(db: str, city: str) -> dict[str, str] | None:
    """District name → code of the city already in the store (to accept '西陵区' for 420502)."""
    from lifecircle.city import store

    d = store.load_table(db, city, "districts")
    if d is None or d.empty:
        return None
    return {str(n): str(code) for n, code in zip(d["name_zh"], d["code"], strict=True)}


def _store(
    db: str, city: str, kind: str, table: pd.DataFrame, profile: str, *, replace: bool, dry_run: bool, create: bool
) -> MergeResult:
    """Merge table ``kind`` into ``city`` (one transaction; see :func:`lifecircle.city.store.merge_table`):
    add new rows, update rows with a known id, or with ``replace`` make the table exactly this file.
    The first city of an empty store is created; another new city needs ``create``."""
    from lifecircle.city import store

    return store.merge_table(db, city, kind, table, replace=replace, dry_run=dry_run, create=create, profile=profile)


def _frame(problems: list[Problem], reason: str) -> pd.DataFrame:
    return pd.DataFrame(
        [(p.file, p.row, p.field, reason, p.message) for p in problems],
        columns=["file", "row", "field", "reason", "message"],
    )


def _write_report(path: Path, frame: pd.DataFrame) -> None:
    with atomic_output(path) as tmp:
        frame.to_csv(tmp, index=False, encoding="utf-8-sig")  # BOM: Excel opens it as UTF-8


def _print_problems(problems: list[Problem]) -> None:
    for p in problems[:MAX_LINES]:
        console.print(str(p), highlight=False, soft_wrap=True, markup=False)
    if len(problems) > MAX_LINES:
        more = len(problems) - MAX_LINES
        console.print(
            t(f"……另有 {more} 处问题（用 --report 导出全部）", f"... {more} more problems (--report lists all)")
        )


def _print_summary(rep: ImportReport, city: str, prof: Profile, result: MergeResult) -> None:
    tab = Table(title=t(f"导入 {rep.file} → {city}.{rep.kind}", f"import {rep.file} → {city}.{rep.kind}"))
    tab.add_column(t("项目", "item"))
    tab.add_column(t("数量", "count"), justify="right")
    tab.add_row(t("读取行数", "rows read"), str(rep.rows_read))
    tab.add_row(t("有效行", "rows kept") if result.dry_run else t("已导入", "stored"), str(rep.rows_kept))
    tab.add_row(t("跳过：有错误", "skipped: errors"), str(len({p.row for p in rep.errors})))
    if rep.kind == "outlets":
        tab.add_row(t("跳过：不属于任何业态", "skipped: no format"), str(len(rep.unclassified)))
        if rep.chain_outlets is not None:
            tab.add_row(t("连锁网点", "chain outlets"), str(rep.chain_outlets))
    if rep.length_km is not None:
        tab.add_row(t("道路总长（公里）", "total length (km)"), f"{rep.length_km:.1f}")
    tab.add_row(t("坐标系（已转为 WGS-84）", "coordinates (converted to WGS-84)"), rep.crs)
    if rep.encoding:
        tab.add_row(t("文件编码", "file encoding"), rep.encoding)
    out.print(tab)
    if rep.format_counts:
        ft = Table(
            title=t("各业态网点数（一店多能计入每个业态）", "outlets per format (one outlet may count in several)")
        )
        ft.add_column(t("代码", "code"))
        ft.add_column(t("业态", "format"))
        ft.add_column(t("网点", "outlets"), justify="right")
        for code, n in rep.format_counts.items():
            ft.add_row(code, prof.format(code).name(), str(n))
        out.print(ft)
    for note in rep.notes:
        out.print(note, highlight=False)
    _print_result(result, city)


def _print_result(result: MergeResult, city: str) -> None:
    """One line: what the import did to the stored table (or would do, with --dry-run)."""
    line = result.summary()
    if result.created_city:
        line = t(f"新建城市 '{city}'；", f"new city '{city}'; ") + line
    if result.dry_run:
        line = t(f"试运行（未写入）：{line}", f"dry run (nothing stored): {line}")
    out.print(line, highlight=False)
