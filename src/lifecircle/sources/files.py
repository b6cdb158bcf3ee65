"""File helpers shared by readers and writers: existence and type checks with clear messages,
and atomic output (a result file appears whole or not at all)."""

from __future__ import annotations

import contextlib
import errno
import os
import re
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from lifecircle.errors import InputError, InputFileError
from lifecircle.i18n import t

# The first bytes of formats we read, to catch "a file that is not what its extension says".
_MAGIC = {
    ".parquet": [b"PAR1"],
    ".gpkg": [b"SQLite format 3\x00"],
    ".xlsx": [b"PK\x03\x04"],
    ".zip": [b"PK\x03\x04"],
    ".shp": [b"\x00\x00\x27\x0a"],
}


def check_input_file(path: str | Path, allowed: tuple[str, ...] | None = None) -> Path:
    """Check that ``path`` exists, is a readable file with an allowed extension, and that its first
    bytes agree with the extension. Returns the path; raises :class:`InputFileError` otherwise."""
    p = Path(path)
    if not p.exists():
        raise InputFileError(t(f"{p}: 文件不存在，请检查路径", f"{p}: file not found; check the path"))
    if not p.is_file():
        raise InputFileError(t(f"{p}: 不是文件", f"{p}: not a file"))
    if not os.access(p, os.R_OK):
        raise InputFileError(t(f"{p}: 没有读取权限", f"{p}: not readable (permission denied)"))
    suffix = "".join(p.suffixes[-2:]) if p.name.endswith(".osm.pbf") else p.suffix.lower()
    if allowed is not None and suffix not in allowed and p.suffix.lower() not in allowed:
        raise InputFileError(
            t(
                f"{p}: 不支持的文件类型 '{p.suffix}'；支持：{', '.join(allowed)}",
                f"{p}: unsupported file type '{p.suffix}'; supported: {', '.join(allowed)}",
            )
        )
    if p.stat().st_size == 0:
        raise InputFileError(t(f"{p}: 文件为空", f"{p}: the file is empty"))
    magic = _MAGIC.get(p.suffix.lower())
    if magic:
        with p.open("rb") as fh:
            head = fh.read(16)
        if not any(head.startswith(m) for m in magic):
            raise InputFileError(
                t(
                    f"{p}: 内容不是 {p.suffix} 格式（文件可能损坏或扩展名不对）",
                    f"{p}: content is not a {p.suffix} file (corrupt, or the extension is wrong)",
                )
            )
    if p.suffix.lower() in (".csv", ".txt", ".tsv"):
        _check_text_not_workbook(p)
    if p.suffix.lower() == ".pbf":
        _check_pbf(p)
    return p


def _check_text_not_workbook(p: Path) -> None:
    """A workbook saved (or renamed) as .csv is named as such, not as an unknown text encoding."""
    with p.open("rb") as fh:
        head = fh.read(8)
    if head.startswith(b"PK\x03\x04"):
        raise InputFileError(
            t(
                f"{p}: 内容是 Excel 工作簿（.xlsx），不是 CSV 文本："
                "请把扩展名改为 .xlsx，或在 Excel 中另存为“CSV UTF-8”",
                f"{p}: this is an Excel workbook (.xlsx), not CSV text: rename it to .xlsx, or save it as 'CSV UTF-8'",
            )
        )
    if head.startswith(b"\xd0\xcf\x11\xe0"):
        raise InputFileError(
            t(
                f"{p}: 内容是旧版 Excel 工作簿（.xls）：请在 Excel 中另存为 .xlsx 或“CSV UTF-8”",
                f"{p}: this is an old Excel workbook (.xls): save it as .xlsx or 'CSV UTF-8'",
            )
        )


def _check_pbf(p: Path) -> None:
    """An OSM PBF starts with a 4-byte length then a BlobHeader whose type is 'OSMHeader'."""
    with p.open("rb") as fh:
        head = fh.read(64)
    if len(head) < 16 or b"OSMHeader" not in head:
        raise InputFileError(
            t(f"{p}: 不是 OSM PBF 文件（缺少 OSMHeader）", f"{p}: not an OSM PBF file (no OSMHeader block)")
        )


OUTPUT_SUFFIXES = (".parquet", ".gpkg", ".csv", ".geojson", ".xlsx")


def check_output_path(path: str | Path, allowed: tuple[str, ...] = OUTPUT_SUFFIXES) -> Path:
    """Check an output path before any work is done: known extension, writable folder."""
    p = Path(path)
    if p.suffix.lower() not in allowed:
        raise InputError(
            t(
                f"{p}: 不支持的输出类型 '{p.suffix}'；支持：{', '.join(allowed)}",
                f"{p}: unsupported output type '{p.suffix}'; use one of {', '.join(allowed)}",
            )
        )
    parent = p.parent if str(p.parent) else Path(".")
    if not parent.exists():
        raise InputError(t(f"{p}: 输出目录 {parent} 不存在", f"{p}: output folder {parent} does not exist"))
    if not parent.is_dir():
        raise InputError(t(f"{p}: {parent} 不是目录", f"{p}: {parent} is not a folder"))
    if p.is_dir():
        raise InputError(t(f"{p}: 已存在同名目录，请给出文件名", f"{p}: is an existing folder; give a file name"))
    _check_writable(parent, p)
    return p


def output_error(path: str | Path, exc: OSError) -> InputError:
    """The one-line user error for an output that cannot be written (read-only folder, full disk)."""
    if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return InputError(
            t(
                f"{path}: 没有写入权限，请换一个输出位置",
                f"{path}: not writable (permission denied); choose another output",
            )
        )
    reason = exc.strerror or type(exc).__name__
    return InputError(t(f"{path}: 无法写入（{reason}）", f"{path}: cannot be written ({reason})"))


def _check_writable(folder: Path, shown: Path) -> None:
    """Create and remove a probe file in ``folder``: permission bits alone do not tell (root
    ignores them, read-only mounts do not show in them)."""
    try:
        fd, probe = tempfile.mkstemp(prefix=".lifecircle-probe.", dir=folder)
    except OSError as exc:
        raise output_error(shown, exc) from None
    os.close(fd)
    os.unlink(probe)


def check_output_dir(path: str | Path) -> Path:
    """Check an output folder before any work: not an existing file, and writable — the folder
    itself, or the nearest existing folder above it (where it will be created)."""
    d = Path(path)
    if d.exists() and not d.is_dir():
        raise InputError(
            t(f"{d}: 已存在且不是文件夹，--out 须为文件夹", f"{d}: exists and is not a folder; --out must be a folder")
        )
    base = d
    while not base.exists() and base != base.parent:
        base = base.parent
    if not base.is_dir():
        raise InputError(t(f"{d}: {base} 不是文件夹", f"{d}: {base} is not a folder"))
    _check_writable(base, d)
    return d


def make_output_dir(path: str | Path) -> Path:
    """:func:`check_output_dir`, then create the folder (and its parents)."""
    d = check_output_dir(path)
    try:
        d.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise output_error(d, exc) from None
    return d


@contextlib.contextmanager
def atomic_output(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success it is renamed onto ``path``, on any
    error it is removed, so a half-written result never appears under the real name."""
    p = Path(path)
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{p.stem}.", suffix=p.suffix, dir=p.parent if str(p.parent) else ".")
    except OSError as exc:
        raise output_error(p, exc) from None
    os.close(fd)
    os.unlink(tmp)  # writers such as GDAL want to create the file themselves
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        try:
            os.replace(tmp_path, p)
        except OSError as exc:
            raise output_error(p, exc) from None
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


# A text cell starting with one of these is run as a formula by Excel / LibreOffice / WPS
# (CSV injection, e.g. an outlet named =HYPERLINK("http://...")).
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_PLAIN_NUMBER = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?")


def spreadsheet_safe(value: Any) -> Any:
    """``value`` as a spreadsheet will show it, never run it: text that starts like a formula
    (``=``, ``+``, ``-``, ``@``, tab, CR) gets a leading ``'``; numbers (also the text ``-3``)
    and everything else are unchanged. The one rule of every CSV and Excel writer."""
    if isinstance(value, str) and value.startswith(FORMULA_START) and not _PLAIN_NUMBER.fullmatch(value):
        return "'" + value
    return value


def spreadsheet_safe_frame(df: Any) -> Any:
    """A copy of ``df`` with :func:`spreadsheet_safe` applied to its text columns (and headers)."""
    import pandas as pd

    out = df.copy()
    for c in out.columns:
        if out[c].dtype == object or pd.api.types.is_string_dtype(out[c].dtype):
            out[c] = out[c].map(spreadsheet_safe, na_action="ignore")
    return out.rename(columns=lambda c: spreadsheet_safe(c) if isinstance(c, str) else c)


def write_table(df, path: str | Path, *, layer: str = "data") -> Path:
    """Write a table by the extension of ``path`` (.parquet, .csv, .gpkg, .geojson, .xlsx), atomically.

    Tables without geometry but with ``lon``/``lat`` get point geometry for .gpkg/.geojson.
    CSV is written as UTF-8 with a BOM so that Excel shows Chinese correctly.
    """
    import geopandas as gpd

    p = check_output_path(path)
    suffix = p.suffix.lower()
    if suffix in (".gpkg", ".geojson") and not isinstance(df, gpd.GeoDataFrame):
        df = gpd.GeoDataFrame(df, geometry=gpd.points_from_xy(df["lon"], df["lat"]), crs=4326)
    with atomic_output(p) as tmp:
        if suffix == ".parquet":
            df.to_parquet(tmp, index=False)
        elif suffix == ".csv":
            out = spreadsheet_safe_frame(df.drop(columns="geometry") if "geometry" in df.columns else df)
            out.to_csv(tmp, index=False, encoding="utf-8-sig")
        elif suffix == ".gpkg":
            df.to_file(tmp, layer=layer, driver="GPKG", engine="pyogrio")
        elif suffix == ".geojson":
            df.to_file(tmp, driver="GeoJSON", engine="pyogrio")
        elif suffix == ".xlsx":
            out = spreadsheet_safe_frame(df.drop(columns="geometry") if "geometry" in df.columns else df)
            out.to_excel(tmp, index=False)
    return p
