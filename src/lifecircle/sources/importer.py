"""Import one file of real data as one validated city table (``lifecircle import``).

:func:`import_file` reads a CSV/Excel/GeoJSON/GeoPackage/GeoParquet/Shapefile file (streets also
from an OSM PBF, :func:`import_streets`), maps common Chinese headers and values onto the schema
(:mod:`lifecircle.city.schema`), converts coordinates to WGS-84, validates every row and returns the
clean table with a report. It stores nothing: the caller merges the table into a city in one
transaction (:func:`lifecircle.city.store.merge_table`). A file without an id column gets ids made
from each row's content (name + coordinates, or a street's geometry), never from row numbers, so a
second file adds to the first and the same file twice changes nothing.

The all-or-nothing rule: if any row has a problem, :class:`~lifecircle.errors.InputError` lists
every problem (file, row, field) and no table is returned — unless ``skip_bad_rows=True``, in
which case the bad rows are left out and listed in the report. Amap POIs that match no format are
never errors; they are skipped and counted.

This module owns the pipeline (:func:`import_file`, :func:`import_streets`, :class:`ImportReport`,
validation against the schema and the all-or-nothing rule). The headers and values it accepts are
:mod:`lifecircle.sources.import_headers`; the per-kind conversion of a table onto the schema
(coordinates, geometry, ids, units, format codes) is :mod:`lifecircle.sources.import_convert`.
Both are re-exported here under their old names.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field, replace
from pathlib import Path

import pandas as pd

from lifecircle.city.schema import TABLES, split_formats, validate_table
from lifecircle.errors import ConfigError, InputError, Problem
from lifecircle.i18n import t
from lifecircle.profile import DEFAULT_PROFILE, Profile, load_profile
from lifecircle.sources.amap import ChainList, is_amap_shape, is_empty, load_chains, outlets_from_amap
from lifecircle.sources.coords import SYSTEMS
from lifecircle.sources.import_convert import (
    _ID_PREFIX,  # noqa: F401 - re-exported
    _UNITS,  # noqa: F401 - re-exported
    _check_surveys,  # noqa: F401 - re-exported
    _district_code,
    _format_codes,  # noqa: F401 - re-exported
    _geometry_to_wgs84,  # noqa: F401 - re-exported
    _prepare,
    _repair_polygon,  # noqa: F401 - re-exported
    _strip_units,  # noqa: F401 - re-exported
)
from lifecircle.sources.import_headers import (
    _COMMON,
    HEADERS,
    VALUES,  # noqa: F401 - re-exported
)
from lifecircle.sources.tables import GEO_SUFFIXES, TABLE_SUFFIXES, read_table, rename_columns

KINDS = ("outlets", "communities", "districts", "circles", "candidate_sites", "centre_candidates", "surveys", "streets")
_ALLOWED = {k: TABLE_SUFFIXES for k in KINDS} | {
    "districts": GEO_SUFFIXES,
    "circles": TABLE_SUFFIXES + GEO_SUFFIXES,
    "streets": GEO_SUFFIXES + (".pbf",),
}


@dataclass
class ImportReport:
    """What an import read, kept and left out. ``errors`` are bad rows left out (only with
    ``skip_bad_rows``); ``unclassified`` are POIs matching no format (always left out)."""

    kind: str
    file: str
    crs: str
    encoding: str | None = None
    rows_read: int = 0
    rows_kept: int = 0
    errors: list[Problem] = field(default_factory=list)
    unclassified: list[Problem] = field(default_factory=list)
    format_counts: dict[str, int] = field(default_factory=dict)
    chain_outlets: int | None = None
    notes: list[str] = field(default_factory=list)
    length_km: float | None = None  # streets: total length of the lines kept, km
    file_rows: list[int] = field(default_factory=list)  # the file's row number of each kept row, in order

    @property
    def rows_skipped(self) -> int:
        """Rows read but not kept (bad rows and unclassified POIs)."""
        return self.rows_read - self.rows_kept

    def to_frame(self) -> pd.DataFrame:
        """One line per skipped row problem: file, row, field, reason (error|unclassified), message."""
        rows = [(p.file, p.row, p.field, "error", p.message) for p in self.errors]
        rows += [(p.file, p.row, p.field, "unclassified", p.message) for p in self.unclassified]
        return pd.DataFrame(rows, columns=["file", "row", "field", "reason", "message"])


def import_file(
    kind: str,
    path: str | Path,
    *,
    crs: str | None = None,
    profile: Profile | str | Path | None = None,
    skip_bad_rows: bool = False,
    chains: ChainList | str | Path | None = None,
    district_codes: dict[str, str] | None = None,
    layer: str | None = None,
) -> tuple[pd.DataFrame, ImportReport]:
    """Read, convert and validate one file as the city table ``kind`` (one of :data:`KINDS`).

    ``crs`` is the coordinate system of the file's coordinates (``wgs84``, ``gcj02``, ``bd09``);
    by default ``gcj02`` for an Amap export and ``wgs84`` otherwise (a spatial file's own
    projected CRS is honoured first). ``district_codes`` maps district names (西陵区) to codes.
    Returns the clean table (WGS-84 degrees, indexed 0..n-1) and the report; raises
    :class:`InputError` with every problem if any row is bad and ``skip_bad_rows`` is False."""
    if kind not in KINDS:
        raise ConfigError(
            t(
                f"未知数据类型 '{kind}'；可选：{', '.join(KINDS)}",
                f"unknown kind '{kind}'; use one of {', '.join(KINDS)}",
            )
        )
    if crs is not None and crs.lower().replace("-", "").replace("_", "") not in SYSTEMS:
        raise ConfigError(
            t(
                f"未知坐标系 '{crs}'；可选 {', '.join(SYSTEMS)}",
                f"unknown coordinate system '{crs}'; use one of {', '.join(SYSTEMS)}",
            )
        )
    if kind == "streets":
        return import_streets(path, crs=crs, skip_bad_rows=skip_bad_rows, layer=layer)
    prof = profile if isinstance(profile, Profile) else load_profile(profile or DEFAULT_PROFILE)
    raw = read_table(path, allowed=_ALLOWED[kind], layer=layer)
    if raw.df.empty:  # a header and nothing under it: say so, not "column missing"
        raise InputError(
            Problem(t("文件只有表头，没有数据行", "the file has a header but no data rows"), file=raw.file)
        )
    unclassified: list[Problem] = []
    notes: list[str] = []
    if kind == "outlets" and is_amap_shape(raw.df):
        crs = crs or "gcj02"
        chain_list = chains if isinstance(chains, ChainList) else load_chains(chains) if chains else load_chains()
        res = outlets_from_amap(raw, profile=prof, crs=crs, chains=chain_list)
        df, problems, unclassified = res.table, res.problems, res.unclassified
        if unclassified:
            notes.append(
                t(
                    f"{len(unclassified)} 个 POI 不属于任何业态，已跳过",
                    f"{len(unclassified)} POIs match no format and were skipped",
                )
            )
    else:
        crs = crs or "wgs84"
        df, problems = _prepare(kind, raw, crs=crs, profile=prof, notes=notes)
    crs = crs.lower().replace("-", "").replace("_", "")
    whole_file = [p for p in problems if p.row is None]
    if whole_file:
        raise InputError(whole_file)
    if district_codes and "district" in df.columns:
        df["district"] = [_district_code(v, district_codes) for v in df["district"].tolist()]
    clean, problems = _validate_all(kind, df, raw.file, problems)
    problems = [_with_headers(kind, p) for p in problems]
    report = ImportReport(
        kind=kind,
        file=raw.file,
        crs=crs,
        encoding=raw.encoding,
        rows_read=len(raw.df),
        unclassified=unclassified,
        notes=notes,
    )
    if problems:
        if not skip_bad_rows:
            raise InputError(problems)
        report.errors = problems
        bad = {p.row for p in problems}
        clean, more = _validate_all(kind, df[~df.index.isin(bad)], raw.file, [])
        if more:  # cannot happen for row problems; a safety net against silent loss
            raise InputError(more)
    if clean is None or clean.empty:
        raise InputError(Problem(t("没有可导入的行", "no rows left to import"), file=raw.file))
    report.rows_kept = len(clean)
    report.file_rows = [int(r) for r in clean.index]
    if kind == "outlets":
        counts = Counter(code for v in clean["formats"] for code in split_formats(v))
        report.format_counts = {c: counts[c] for c in prof.codes if counts[c]}
        if "is_chain" in clean.columns:
            report.chain_outlets = int(clean["is_chain"].fillna(False).astype(bool).sum())
    return clean.reset_index(drop=True), report


def _with_headers(kind: str, p: Problem) -> Problem:
    """A missing required column named by the headers a bureau's file would have for it:
    'population' → 'population'（表头可写 人口、常住人口……）."""
    if p.row is not None or not p.field or p.field not in {c.name for c in TABLES[kind]}:
        return p
    if not (p.message.startswith("缺少必填列") or p.message.startswith("required column")):
        return p
    names = [k for k, v in {**_COMMON, **HEADERS.get(kind, {})}.items() if v == p.field and not k.isascii()]
    if not names:
        return p
    return replace(
        p, message=p.message + t(f"（表头可写：{'、'.join(names)}）", f" (headers accepted: {', '.join(names)})")
    )


def _validate_all(
    kind: str, df: pd.DataFrame, file: str, problems: list[Problem]
) -> tuple[pd.DataFrame | None, list[Problem]]:
    """Validate against the schema; merge its problems (rows mapped to the file's row numbers)
    with ``problems`` found earlier, dropping empty-coordinate echoes of coordinate problems."""
    rows = df.index
    try:
        clean = validate_table(kind, df.reset_index(drop=True), file=file, row_offset=2)
        clean.index = rows
        found: list[Problem] = []
    except InputError as exc:
        clean = None
        found = [p if p.row is None else replace(p, row=int(rows[p.row - 2])) for p in exc.problems]
    coord_rows = {p.row for p in problems if p.field in ("location", "lng", "lon", "lat")}
    found = [p for p in found if not (p.row in coord_rows and p.field in ("lon", "lat"))]
    allp = problems + found
    if allp:
        clean = None
    allp.sort(key=lambda p: (p.row or 0, p.field or ""))
    return clean, allp


def import_streets(
    path: str | Path,
    *,
    crs: str | None = None,
    skip_bad_rows: bool = False,
    layer: str | None = None,
) -> tuple[pd.DataFrame, ImportReport]:
    """Read street lines as the ``streets`` table: GeoPackage, Shapefile (.shp or zipped .zip),
    GeoJSON, GeoParquet, or the walkable ways of an OSM PBF (with their OSM id and the tags
    highway, name, bridge, tunnel, layer).

    Geometry comes back in WGS-84 degrees: the file's declared CRS is honoured, a file without one
    is taken as WGS-84 only when its coordinates look like degrees in China, and ``crs`` (``gcj02``
    / ``bd09``) converts Chinese map coordinates. MultiLineStrings are split into their parts;
    other geometry types are problems naming the row. Rows without an id get a hash of their
    geometry, so importing the same file again gives the same ids. The report carries lines read
    and kept and their total length (km)."""
    from lifecircle.sources import streets as st
    from lifecircle.sources.osm import read_osm_street_table

    crs = (crs or "wgs84").lower().replace("-", "").replace("_", "")
    is_pbf = Path(path).suffix.lower() == ".pbf"
    if is_pbf:
        raw = read_osm_street_table(path)
    else:
        raw = read_table(path, allowed=_ALLOWED["streets"], layer=layer)
    if "geometry" not in raw.df.columns:
        raise InputError(
            Problem(
                t("文件没有几何列：道路需要线几何", "the file has no geometry column; streets need lines"),
                file=raw.file,
            )
        )
    notes: list[str] = []
    df = rename_columns(raw.df, {**st.STREET_HEADERS, **{c.name: c.name for c in TABLES["streets"]}})
    geoms, whole = st.lines_to_wgs84(df["geometry"].tolist(), raw.crs, crs, raw.file, notes)
    if whole:
        raise InputError(whole)
    df = pd.DataFrame(df.drop(columns=["geometry"]))
    df["geometry"] = list(geoms)
    df, problems, split = st.explode_lines(df, geoms, raw.file)
    if split:
        notes.append(
            t(
                f"{split} 条多段线（MultiLineString）已拆成单独的线",
                f"{split} MultiLineStrings were split into their parts",
            )
        )
    df["id"] = st.street_ids(df)
    for col in ("bridge", "tunnel"):
        if col in df.columns:
            df[col] = [st.yes_no(v) for v in df[col].tolist()]
    if "layer" in df.columns:
        df["layer"] = [st.osm_layer(v) for v in df["layer"].tolist()] if is_pbf else df["layer"].tolist()
    if "highway" in df.columns:
        df["highway"] = [
            st.HIGHWAY_VALUES.get(str(v).strip(), v) if not is_empty(v) else None for v in df["highway"].tolist()
        ]
    src = df["source"].tolist() if "source" in df.columns else [None] * len(df)
    df["source"] = [("osm" if is_pbf else "import") if is_empty(v) else v for v in src]
    df = df.drop(columns=["_part"])
    clean, problems = _validate_all("streets", df, raw.file, problems)
    report = ImportReport(
        kind="streets", file=raw.file, crs=crs, encoding=raw.encoding, rows_read=len(raw.df), notes=notes
    )
    if problems:
        if not skip_bad_rows:
            raise InputError(problems)
        report.errors = problems
        bad = {p.row for p in problems}
        clean, more = _validate_all("streets", df[~df.index.isin(bad)], raw.file, [])
        if more:
            raise InputError(more)
    if clean is None or clean.empty:
        raise InputError(Problem(t("没有可导入的道路", "no streets left to import"), file=raw.file))
    report.rows_kept = len(clean)
    report.length_km = st.length_km(clean.geometry.tolist())
    return clean.reset_index(drop=True), report
