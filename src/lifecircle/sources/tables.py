"""Readers for the tabular and spatial files a city brings: CSV (UTF-8, UTF-8 with BOM, GBK/GB18030,
UTF-16 with BOM — the encoding is detected), Excel (.xlsx), GeoJSON, GeoPackage and GeoParquet.

Each reader returns a :class:`RawTable`: the data as read (CSV cells as text, so that validation can
say exactly which value is wrong), the file name for messages, and how the file was read. A file
that cannot be read raises :class:`~lifecircle.errors.InputFileError` naming the file.
"""

from __future__ import annotations

import csv
import io
import itertools
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from lifecircle.errors import InputFileError, Problem
from lifecircle.i18n import t
from lifecircle.sources.files import check_input_file

CSV_SUFFIXES = (".csv", ".txt", ".tsv")
EXCEL_SUFFIXES = (".xlsx",)
GEO_SUFFIXES = (".geojson", ".json", ".gpkg", ".parquet", ".geoparquet", ".shp", ".zip")  # .zip: a zipped shapefile
TABLE_SUFFIXES = CSV_SUFFIXES + EXCEL_SUFFIXES
ALL_SUFFIXES = TABLE_SUFFIXES + GEO_SUFFIXES

# Tried in order when a CSV has no byte-order mark. GB18030 is a superset of GBK and GB2312 (the
# encodings of CSVs saved by Chinese Excel and WPS), so it reads all three.
_ENCODINGS = ("utf-8", "gb18030")


@dataclass
class RawTable:
    """A table as read from a file, before validation.

    ``df`` has the file's own column names (stripped of spaces) and is indexed by the spreadsheet
    row number of each row (header = row 1; blank rows are dropped, so numbers may skip);
    ``file`` is the name used in messages.
    ``encoding`` is set for CSV files; ``crs`` for spatial files (as declared in the file).
    """

    df: pd.DataFrame
    file: str
    encoding: str | None = None
    crs: str | None = None


def read_table(path: str | Path, *, allowed: tuple[str, ...] = ALL_SUFFIXES, layer: str | None = None) -> RawTable:
    """Read a CSV, Excel or spatial file, chosen by extension (see the module docstring)."""
    p = check_input_file(path, allowed)
    suffix = p.suffix.lower()
    if suffix in CSV_SUFFIXES:
        return read_csv(p)
    if suffix in EXCEL_SUFFIXES:
        return read_excel(p)
    return read_geo(p, layer=layer)


def detect_encoding(data: bytes) -> str:
    """The text encoding of CSV bytes: a byte-order mark decides; otherwise UTF-8 if the bytes
    are valid UTF-8, else GB18030 (GBK). Raises ``UnicodeError`` when none fits."""
    if data.startswith(b"\xef\xbb\xbf"):
        return "utf-8-sig"
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return "utf-16"
    for enc in _ENCODINGS:
        try:
            data.decode(enc)
        except UnicodeDecodeError:
            continue
        return enc
    raise UnicodeError("no known encoding fits")


def _sniff_delimiter(text: str) -> str:
    sample = "\n".join(text.splitlines()[:20])
    try:
        return csv.Sniffer().sniff(sample, delimiters=",\t;|").delimiter
    except csv.Error:
        return ","


def read_csv(path: str | Path) -> RawTable:
    """Read a CSV with a header row; every cell is text ('' for an empty cell)."""
    p = check_input_file(path, CSV_SUFFIXES)
    data = p.read_bytes()
    try:
        enc = detect_encoding(data)
    except UnicodeError:
        raise InputFileError(
            t(
                f"{p.name}: 无法识别文件编码（支持 UTF-8、GBK/GB18030）；请在 Excel 中另存为“CSV UTF-8”",
                f"{p.name}: unknown text encoding (UTF-8 and GBK/GB18030 are supported); save it as 'CSV UTF-8'",
            )
        ) from None
    text = data.decode(enc)
    if text.startswith("\ufeff"):
        text = text[1:]
    if not text.strip():
        raise InputFileError(t(f"{p.name}: 文件没有内容", f"{p.name}: the file has no content"))
    sep = _sniff_delimiter(text)
    head = list(itertools.islice(csv.reader(io.StringIO(text), delimiter=sep), 2))
    # a title line (宜昌市……统计表,,,,) above the header, as a merged title exports: header in row 2
    skip = int(
        len(head) == 2
        and len(head[0]) > 1
        and bool(head[0][0].strip())
        and not any(c.strip() for c in head[0][1:])
        and sum(bool(c.strip()) for c in head[1]) > 1
    )
    _check_unique_headers(head[skip] if head else [], p.name, 1 + skip)
    try:
        df = pd.read_csv(
            io.StringIO(text),
            sep=sep,
            dtype=str,
            keep_default_na=False,
            skipinitialspace=True,
            skip_blank_lines=False,
            skiprows=skip,
        )
    except (pd.errors.ParserError, pd.errors.EmptyDataError, csv.Error) as exc:
        raise InputFileError(t(f"{p.name}: 不是有效的 CSV：{exc}", f"{p.name}: not a valid CSV: {exc}")) from None
    return RawTable(_clean_headers(df, p.name, first_row=2 + skip), p.name, encoding=enc)


def read_excel(path: str | Path, *, sheet: str | int = 0) -> RawTable:
    """Read the first (or the named) sheet of an .xlsx workbook, header in row 1."""
    p = check_input_file(path, EXCEL_SUFFIXES)
    try:
        df = pd.read_excel(p, sheet_name=sheet, dtype=object, engine="openpyxl")
    except ValueError as exc:  # unknown sheet
        raise InputFileError(t(f"{p.name}: {exc}", f"{p.name}: {exc}")) from None
    except Exception as exc:  # noqa: BLE001 - the reader's own errors, whatever their type, become one line naming the file
        raise InputFileError(
            t(
                f"{p.name}: 无法读取 Excel 文件（{type(exc).__name__}: {exc}）",
                f"{p.name}: cannot read the Excel file ({type(exc).__name__}: {exc})",
            )
        ) from None
    header_row = 1
    if _is_title_row(df):  # a merged title across the top (宜昌市……统计表): the header is row 2
        df = pd.read_excel(p, sheet_name=sheet, dtype=object, engine="openpyxl", header=1)
        header_row = 2
    if any(str(c).rsplit(".", 1)[0] in {str(x) for x in df.columns} for c in df.columns if "." in str(c)):
        head = pd.read_excel(p, sheet_name=sheet, header=None, nrows=header_row, engine="openpyxl")
        _check_unique_headers(list(head.iloc[header_row - 1]), p.name, header_row)
    return RawTable(_clean_headers(df, p.name, first_row=header_row + 1), p.name)


def _check_unique_headers(names: list, file: str, row: int) -> None:
    """A column name given twice would silently lose one of the two columns: refuse it."""
    seen: set[str] = set()
    for n in names:
        s = "" if n is None or (isinstance(n, float) and n != n) else str(n).strip().lstrip("\ufeff")
        if s and s in seen:
            raise InputFileError(
                Problem(
                    t(
                        f"列名 '{s}' 出现了两次：请删除或改名其中一列",
                        f"column '{s}' appears twice: remove or rename one of them",
                    ),
                    file=file,
                    row=row,
                    field=s,
                )
            )
        seen.add(s)


def _is_title_row(df: pd.DataFrame) -> bool:
    """True when row 1 holds one title cell (merged across the columns) and nothing else."""
    cols = [str(c) for c in df.columns]
    return (
        len(cols) > 1
        and not cols[0].startswith("Unnamed:")
        and all(c.startswith("Unnamed:") for c in cols[1:])
        and len(df) > 0
        and df.iloc[0].notna().sum() > 1
    )


def read_geo(path: str | Path, *, layer: str | None = None) -> RawTable:
    """Read a GeoJSON, GeoPackage (first layer unless ``layer``), GeoParquet or Shapefile (``.shp``
    with its ``.dbf``/``.shx``/``.prj`` beside it, or all of them in one ``.zip``).

    Geometry stays in the file's CRS (``RawTable.crs``); a file without a CRS is taken as
    WGS-84 longitude/latitude, which is what GeoJSON means."""
    import geopandas as gpd

    p = check_input_file(path, GEO_SUFFIXES)
    try:
        if p.suffix.lower() in (".parquet", ".geoparquet"):
            gdf = gpd.read_parquet(p)
        else:
            gdf = read_vector(p, layer=layer)
    except Exception as exc:  # noqa: BLE001 - the reader's own errors, whatever their type, become one line naming the file
        raise InputFileError(
            t(f"{p.name}: 无法读取空间数据文件（{exc}）", f"{p.name}: cannot read the spatial file ({exc})")
        ) from None
    if not isinstance(gdf, gpd.GeoDataFrame) or gdf.geometry.name not in gdf.columns:
        raise InputFileError(t(f"{p.name}: 文件中没有几何列", f"{p.name}: the file has no geometry column"))
    crs = gdf.crs.to_string() if gdf.crs is not None else None
    if gdf.geometry.name != "geometry":
        gdf = gdf.rename_geometry("geometry")
    df = _clean_headers(pd.DataFrame(gdf), p.name)
    return RawTable(gpd.GeoDataFrame(df, geometry="geometry", crs=gdf.crs), p.name, crs=crs)


def read_vector(p: Path, *, layer: str | None = None):
    """``gpd.read_file``, except that a Shapefile whose ``.dbf`` has no ``.cpg`` beside it (Chinese
    desktop GIS writes GBK and often no ``.cpg``) is not read as Latin-1 mojibake: when every
    non-ASCII header and text reads as UTF-8 or GBK with Chinese characters, it is read again in
    that encoding (else the 桥梁 / 图层高度 columns would be lost without a word)."""
    import geopandas as gpd

    gdf = gpd.read_file(p, layer=layer) if layer else gpd.read_file(p)
    if p.suffix.lower() not in (".shp", ".zip"):
        return gdf
    enc = _mojibake_encoding(gdf)
    if enc is None:
        return gdf
    return gpd.read_file(p, layer=layer, encoding=enc) if layer else gpd.read_file(p, encoding=enc)


def _mojibake_encoding(gdf: pd.DataFrame) -> str | None:
    """'utf-8' or 'gbk' when the non-ASCII headers and texts of ``gdf`` are Latin-1 mojibake of
    Chinese text in that encoding; None otherwise."""
    texts = [str(c) for c in gdf.columns]
    for col in gdf.columns:
        if col != getattr(gdf, "_geometry_column_name", "geometry") and gdf[col].dtype == object:
            texts += [v for v in gdf[col].head(1000).tolist() if isinstance(v, str)]
    raw = [s for s in texts if any(ord(ch) > 127 for ch in s)]
    if not raw:
        return None
    try:
        data = [s.encode("latin-1") for s in raw]
    except UnicodeEncodeError:  # real non-Latin text: decoded correctly already
        return None
    for enc in ("utf-8", "gbk"):
        try:
            decoded = [b.decode(enc) for b in data]
        except UnicodeDecodeError:
            continue
        if any("\u4e00" <= ch <= "\u9fff" for s in decoded for ch in s):
            return enc
    return None


def _clean_headers(df: pd.DataFrame, name: str, *, first_row: int = 2) -> pd.DataFrame:
    """Strip spaces and stray byte-order marks from the column names, index the rows by their
    spreadsheet row number (``first_row`` is the first data row; header = row 1 by default) and
    drop rows with no value at all."""
    df = df.copy()
    df.columns = [str(c).strip().lstrip("\ufeff") for c in df.columns]
    df.index = pd.RangeIndex(first_row, len(df) + first_row)
    if "geometry" in df.columns or not len(df.columns):
        return df
    blank = pd.Series(True, index=df.index)
    for col in df.columns:
        s = df[col]
        blank &= s.isna() | s.astype("string").str.strip().eq("").fillna(True)
    if blank.any():
        df = df[~blank]
    return df


def rename_columns(df: pd.DataFrame, aliases: dict[str, str]) -> pd.DataFrame:
    """Rename columns by ``aliases`` (header as found → our name; ASCII compared case-insensitively).

    A column already named as the target keeps precedence: an alias is not applied when the
    target exists, so a file with both ``name`` and ``名称`` keeps ``name``."""
    lookup = {k.lower(): v for k, v in aliases.items()}
    mapping: dict[str, str] = {}
    taken = set(df.columns)
    for col in df.columns:
        target = lookup.get(str(col).lower())
        if target and target != col and target not in taken:
            mapping[col] = target
            taken.add(target)
    return df.rename(columns=mapping)
