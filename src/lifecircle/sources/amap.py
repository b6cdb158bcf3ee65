"""Outlets from an Amap (高德) POI export, and the coordinate checks every point import shares.

An Amap export has the columns ``name, type, typecode, address, location`` where ``location`` is
``"lng,lat"`` in GCJ-02 degrees, ``type`` is ``"大类;中类;小类"`` (several types joined by ``|``)
and ``typecode`` is six digits (several joined by ``|``). Separate ``lng``/``lat`` (经度/纬度)
columns and the Chinese headers 名称/类型/类型编码/地址/坐标 are accepted too.

Each POI is classified into the formats of the profile (a POI may match several: 一店多能) with
the profile's ``amap_typecodes`` (typecode prefixes), ``amap_types`` (equal to a segment of the
type, or to a ``/``-separated part of one) and ``name_keywords`` (found in the name). A POI that
matches no format is not an error: it is skipped and counted. Chain brands come from a brand list
(``profiles/chains-yichang.toml``) and from names repeated at several outlets.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from lifecircle.city.ids import point_ids
from lifecircle.config import read_config
from lifecircle.errors import ConfigError, Problem
from lifecircle.i18n import t
from lifecircle.profile import Profile
from lifecircle.sources.coords import SYSTEMS, to_wgs84
from lifecircle.sources.tables import RawTable, rename_columns

DEFAULT_CHAINS = "chains-yichang"

# Mainland China with a margin, degrees (the same box GCJ-02 uses).
CHINA_LON = (72.004, 137.8347)
CHINA_LAT = (0.8293, 55.8271)

AMAP_HEADERS: dict[str, str] = {
    "名称": "name",
    "poi名称": "name",
    "门店名称": "name",
    "店名": "name",
    "类型": "type",
    "poi类型": "type",
    "分类": "type",
    "类型编码": "typecode",
    "类型代码": "typecode",
    "分类编码": "typecode",
    "type_code": "typecode",
    "地址": "address",
    "详细地址": "address",
    "坐标": "location",
    "经纬度": "location",
    "位置": "location",
    "lnglat": "location",
    "经度": "lng",
    "lon": "lng",
    "longitude": "lng",
    "x": "lng",
    "纬度": "lat",
    "latitude": "lat",
    "y": "lat",
    "poi_id": "id",
    "poiid": "id",
    "poi编号": "id",
    "编号": "id",
    "品牌": "brand",
    "是否连锁": "is_chain",
    "连锁": "is_chain",
    "adcode": "district",
    "区县编码": "district",
    "区划代码": "district",
    "行政区划代码": "district",
    "营业时间": "opening_hours",
    "opentime": "opening_hours",
    "open_time": "opening_hours",
    "营业面积": "floor_area_m2",
    "面积": "floor_area_m2",
    "经营面积": "floor_area_m2",
    "name": "name",
    "type": "type",
    "typecode": "typecode",
    "address": "address",
    "location": "location",
    "lng": "lng",
    "lat": "lat",
    "id": "id",
    "brand": "brand",
}

# Values an Amap API dump uses for "nothing".
_NULLS = {"", "[]", "null", "none", "nan", "-", "—"}


def is_empty(v: Any) -> bool:
    """True for None, NaN, and the empty markers of Amap dumps ('', '[]', 'null' ...)."""
    if v is None or v is pd.NA:
        return True
    if isinstance(v, float) and np.isnan(v):
        return True
    return isinstance(v, str) and v.strip().lower() in _NULLS


def _text(v: Any) -> str:
    return "" if is_empty(v) else str(v).strip()


def _typecode(v: Any) -> str:
    """Typecodes as six-digit text: Excel turns '060400' into the number 60400."""
    if isinstance(v, float) and not np.isnan(v) and v == int(v):
        v = int(v)
    parts = [p.strip() for p in re.split(r"[|;,，]", _text(v)) if p.strip()]
    return "|".join(p.zfill(6) if p.isdigit() and len(p) < 6 else p for p in parts)


# --------------------------------------------------------------------------- coordinates


def _number(v: Any) -> float | None:
    if is_empty(v):
        return None
    try:
        x = float(str(v).strip().replace("，", ",")) if isinstance(v, str) else float(v)
    except (TypeError, ValueError):
        return None
    return x if np.isfinite(x) else None


def _in_china(lon: float, lat: float) -> bool:
    return CHINA_LON[0] <= lon <= CHINA_LON[1] and CHINA_LAT[0] <= lat <= CHINA_LAT[1]


def points_from_columns(
    df: pd.DataFrame, *, crs: str, file: str, china_only: bool = True
) -> tuple[pd.Series, pd.Series, list[Problem]]:
    """WGS-84 longitude and latitude (degrees) for every row of ``df``, from a ``location``
    column ("lng,lat") or from ``lng``/``lat`` (or ``lon``/``lat``) columns given in ``crs``.

    Rows with an unreadable, swapped or out-of-China coordinate get NaN and a problem naming
    file, row (the frame's index) and field. A missing coordinate column is one problem without a
    row. Checks are done on the coordinates as given, before conversion. ``china_only=False``
    (origins of ``access``, which may be anywhere) checks only the range of degrees."""
    crs = crs.lower().replace("-", "").replace("_", "")
    if crs not in SYSTEMS:
        raise ConfigError(
            t(
                f"未知坐标系 '{crs}'；可选 {', '.join(SYSTEMS)}",
                f"unknown coordinate system '{crs}'; use one of {', '.join(SYSTEMS)}",
            )
        )
    problems: list[Problem] = []
    n = len(df)
    lon = np.full(n, np.nan)
    lat = np.full(n, np.nan)
    lon_col = "lng" if "lng" in df.columns else "lon" if "lon" in df.columns else None
    if lon_col and "lat" in df.columns:
        pairs = zip(df[lon_col].tolist(), df["lat"].tolist(), strict=True)
        fields = (lon_col, "lat")
        raw: list[tuple[Any, Any, str | None]] = [(a, b, None) for a, b in pairs]
    elif "location" in df.columns:
        fields = ("location", "location")
        raw = [_split_location(v) for v in df["location"].tolist()]
    else:
        problems.append(
            Problem(
                t(
                    '缺少坐标列：需要 location（"经度,纬度"）或 lng 与 lat 两列（经度/纬度）',
                    'no coordinate columns: need location ("lng,lat") or both lng and lat (经度/纬度)',
                ),
                file=file,
                field="location",
            )
        )
        return pd.Series(lon, index=df.index), pd.Series(lat, index=df.index), problems
    ok = np.zeros(n, dtype=bool)
    for i, (row, (a, b, bad)) in enumerate(zip(df.index, raw, strict=True)):
        if bad is not None:
            problems.append(Problem(bad, file=file, row=int(row), field=fields[0]))
            continue
        x, y = _number(a), _number(b)
        if x is None or y is None:
            if is_empty(a) and is_empty(b):
                msg = t("坐标为空", "the coordinate is empty")
                problems.append(Problem(msg, file=file, row=int(row), field=fields[0]))
            if x is None and not (is_empty(a) and is_empty(b)):
                problems.append(
                    Problem(
                        t(f"经度 '{a}' 不是数字", f"longitude '{a}' is not a number"),
                        file=file,
                        row=int(row),
                        field=fields[0],
                    )
                )
            if y is None and not (is_empty(a) and is_empty(b)):
                problems.append(
                    Problem(
                        t(f"纬度 '{b}' 不是数字", f"latitude '{b}' is not a number"),
                        file=file,
                        row=int(row),
                        field=fields[1],
                    )
                )
            continue
        if not china_only:
            if abs(y) > 90 and abs(x) <= 90:
                problems.append(
                    Problem(
                        t(
                            f"纬度 {y:g} 超出 ±90：经纬度可能写反了",
                            f"latitude {y:g} is beyond ±90: lon and lat look swapped",
                        ),
                        file=file,
                        row=int(row),
                        field=fields[1],
                    )
                )
                continue
            if abs(y) > 90 or abs(x) > 180:
                problems.append(
                    Problem(
                        t(f"坐标 ({x:g}, {y:g}) 超出经纬度范围", f"coordinate ({x:g}, {y:g}) is out of range"),
                        file=file,
                        row=int(row),
                        field=fields[0],
                    )
                )
                continue
        elif not _in_china(x, y):
            if _in_china(y, x):
                msg = t(
                    f"经纬度可能颠倒（经度 {x:g}，纬度 {y:g}）：请交换两者",
                    f"longitude and latitude look swapped (lng {x:g}, lat {y:g}); swap them",
                )
            else:
                msg = t(
                    f"坐标 ({x:g}, {y:g}) 不在中国境内：请检查经纬度及其单位（应为度）",
                    f"coordinate ({x:g}, {y:g}) is outside China; check the values and that they are degrees",
                )
            problems.append(Problem(msg, file=file, row=int(row), field=fields[0]))
            continue
        lon[i], lat[i] = x, y
        ok[i] = True
    if ok.any():
        wlon, wlat = to_wgs84(lon[ok], lat[ok], crs)
        lon[ok], lat[ok] = wlon, wlat
    return pd.Series(lon, index=df.index), pd.Series(lat, index=df.index), problems


_LOC_SPLIT = re.compile(r"\s*[,，;；\s]\s*")


def _split_location(v: Any) -> tuple[Any, Any, str | None]:
    if is_empty(v):
        return None, None, None
    parts = [p for p in _LOC_SPLIT.split(str(v).strip()) if p]
    if len(parts) != 2:
        return (
            None,
            None,
            t(
                f'无法解析坐标 \'{v}\'：应为 "经度,纬度"，如 "111.2865,30.6920"',
                f'cannot read location \'{v}\': expected "lng,lat", e.g. "111.2865,30.6920"',
            ),
        )
    return parts[0], parts[1], None


# --------------------------------------------------------------------------- classification


class Classifier:
    """Matches Amap POIs to the formats of a profile (see the module docstring)."""

    def __init__(self, profile: Profile, ignore_name_words: tuple[str, ...] = ()) -> None:
        self.profile = profile
        self.ignore_name_words = tuple(ignore_name_words)
        self._keywords = [(f.code, f.name_keywords) for f in profile.formats if f.name_keywords]
        self._order = {f.code: i for i, f in enumerate(profile.formats)}
        self._by_type: dict[tuple[str, str], frozenset[str]] = {}  # many POIs share a type

    def formats(self, name: str, type_: str, typecode: str) -> list[str]:
        """Codes of every format this POI matches, in catalogue order (empty: no format)."""
        key = (type_, typecode)
        hit = self._by_type.get(key)
        if hit is None:
            hit = self._by_type[key] = frozenset(self._type_formats(type_, typecode))
        found = set(hit)
        if name and not any(w in name for w in self.ignore_name_words):
            found.update(code for code, words in self._keywords if any(k in name for k in words))
        return sorted(found, key=self._order.__getitem__)

    def _type_formats(self, type_: str, typecode: str) -> list[str]:
        codes = [c.strip() for c in re.split(r"[|;,，]", typecode) if c.strip()]
        tokens: set[str] = set()
        for raw in re.split(r"[|;；]", type_):
            seg = raw.strip()
            if seg:
                tokens.add(seg)
                tokens.update(s.strip() for s in seg.split("/") if s.strip())
        return [
            f.code
            for f in self.profile.formats
            if any(c.startswith(p) for p in f.amap_typecodes for c in codes)
            or any(word in tokens for word in f.amap_types)
        ]


# --------------------------------------------------------------------------- chains


@dataclass(frozen=True)
class ChainList:
    """Known chain brands and the repeat rule: a name seen at ``min_outlets`` outlets of one
    import is a chain too."""

    brands: dict[str, tuple[str, ...]]  # brand → spellings (the brand itself included)
    min_outlets: int = 3
    ignore_name_words: tuple[str, ...] = ()
    source: str = ""
    _patterns: list[tuple[re.Pattern[str], str]] = field(default_factory=list, compare=False, repr=False)

    def __post_init__(self) -> None:
        spellings = [(s, b) for b, names in self.brands.items() for s in names]
        spellings.sort(key=lambda sb: -len(sb[0]))
        for s, b in spellings:
            if s.isascii():
                pat = re.compile(rf"(?<![A-Za-z]){re.escape(s)}(?![A-Za-z])", re.IGNORECASE)
            else:
                pat = re.compile(re.escape(s))
            self._patterns.append((pat, b))

    def match(self, name: str) -> str | None:
        """The known brand whose longest spelling occurs in ``name``, else None."""
        for pat, brand in self._patterns:
            if pat.search(name):
                return brand
        return None


def load_chains(name_or_path: str | Path = DEFAULT_CHAINS) -> ChainList:
    """Load a brand list by built-in name (``chains-yichang``) or TOML path."""
    raw, src = read_config(name_or_path, what_zh="连锁品牌名单", what_en="chain brand list", prefix="chains-")
    brands: dict[str, tuple[str, ...]] = {}
    for i, b in enumerate(raw.get("brand", []), start=1):
        name = str(b.get("name", "")).strip()
        if not name:
            raise ConfigError(t(f"{src}: 第 {i} 个 [[brand]] 缺少 name", f"{src}: [[brand]] #{i} has no name"))
        brands[name] = (name, *(str(a).strip() for a in b.get("aliases", []) if str(a).strip()))
    try:
        min_outlets = int(raw.get("chains", {}).get("min_outlets", 3))
    except (TypeError, ValueError):
        min_outlets = 0
    if min_outlets < 2:
        raise ConfigError(
            t(
                f"{src}: [chains] min_outlets 须为不小于 2 的整数",
                f"{src}: [chains] min_outlets must be a whole number >= 2",
            )
        )
    ignore = tuple(str(w) for w in raw.get("name_keywords", {}).get("ignore_if_name_contains", []))
    return ChainList(brands=brands, min_outlets=min_outlets, ignore_name_words=ignore, source=src)


_BRANCH = re.compile(r"\s*[(（【\[].*$")


def base_name(name: str) -> str:
    """The outlet name without its branch part: '张记早餐(夷陵店)' → '张记早餐'."""
    return _BRANCH.sub("", name).strip()


# --------------------------------------------------------------------------- the export


def is_amap_shape(df: pd.DataFrame) -> bool:
    """True unless the file is in our outlets schema shape (it has a ``formats``/业态 column)."""
    cols = set(rename_columns(df, AMAP_HEADERS).columns)
    return not cols & {"formats", "业态", "业态代码"}


@dataclass
class AmapOutlets:
    """Outlets built from an Amap export, before schema validation.

    ``table`` has the outlets schema's columns, indexed by spreadsheet row; ``problems`` are
    errors (file, row, field); ``unclassified`` lists POIs matching no format (skipped)."""

    table: pd.DataFrame
    problems: list[Problem]
    unclassified: list[Problem]


def outlets_from_amap(
    raw: RawTable, *, profile: Profile, crs: str = "gcj02", chains: ChainList | None = None
) -> AmapOutlets:
    """Turn an Amap POI export into outlet rows (WGS-84), classified and with chain brands.

    Every problem of every row is collected; nothing is raised for row problems."""
    chains = chains or load_chains()
    df = rename_columns(raw.df, AMAP_HEADERS)
    file = raw.file
    problems: list[Problem] = []
    if "name" not in df.columns:
        problems.append(
            Problem(t("缺少必填列 'name'（名称）", "required column 'name' (名称) is missing"), file=file, field="name")
        )
    if "type" not in df.columns and "typecode" not in df.columns:
        problems.append(
            Problem(
                t(
                    "缺少 type（类型）或 typecode（类型编码）列，无法判断业态（或按本系统格式给出 formats 列）",
                    "no type (类型) or typecode (类型编码) column: cannot tell the formats "
                    "(or give a formats column, our own shape)",
                ),
                file=file,
                field="typecode",
            )
        )
    if problems:
        return AmapOutlets(pd.DataFrame(), problems, [])
    names = [_text(v) for v in df["name"].tolist()]
    types = [_text(v) for v in df["type"].tolist()] if "type" in df.columns else [""] * len(df)
    codes = [_typecode(v) for v in df["typecode"].tolist()] if "typecode" in df.columns else [""] * len(df)
    clf = Classifier(profile, chains.ignore_name_words)
    formats = [clf.formats(n, ty, c) for n, ty, c in zip(names, types, codes, strict=True)]
    keep = np.array([bool(f) for f in formats])
    unclassified = [
        Problem(
            t(
                f"'{n}'（类型 {ty or '-'}，编码 {c or '-'}）不属于任何业态，已跳过",
                f"'{n}' (type {ty or '-'}, code {c or '-'}) matches no format; skipped",
            ),
            file=file,
            row=int(r),
            field="typecode" if c else "type",
        )
        for r, n, ty, c, k in zip(df.index, names, types, codes, keep, strict=True)
        if not k
    ]
    sub = df[keep]
    lon, lat, coord_problems = points_from_columns(sub, crs=crs, file=file)
    problems.extend(coord_problems)
    kept_names = [n for n, k in zip(names, keep, strict=True) if k]
    out = pd.DataFrame(index=sub.index)
    # rows without an Amap id get one from name + coordinates: stable, so a second export adds
    made = point_ids("amap", kept_names, lon, lat)
    given_ids = [_text(v) for v in sub["id"].tolist()] if "id" in sub.columns else [""] * len(sub)
    out["id"] = [g or m for g, m in zip(given_ids, made, strict=True)]
    out["name"] = kept_names
    out["formats"] = [";".join(f) for f, k in zip(formats, keep, strict=True) if k]
    out["lon"], out["lat"] = lon, lat
    for col in ("district", "address", "opening_hours", "floor_area_m2", "is_chain"):
        if col in sub.columns:
            out[col] = [None if is_empty(v) else v for v in sub[col].tolist()]
    given = [_text(v) for v in sub["brand"].tolist()] if "brand" in sub.columns else [""] * len(sub)
    known = [chains.match(n) for n in kept_names]
    # the repeat rule counts the file's brand where given, else the name without its branch
    keys = [g or k or base_name(n) for g, k, n in zip(given, known, kept_names, strict=True)]
    repeats = Counter(key for key in keys if len(key) >= 2)
    brand: list[str | None] = []
    chain: list[bool] = []
    for g, k, key in zip(given, known, keys, strict=True):
        repeated = len(key) >= 2 and repeats[key] >= chains.min_outlets
        brand.append(g or k or (key if repeated else None))
        chain.append(bool(k) or repeated or (bool(g) and chains.match(g) is not None))
    out["brand"] = brand
    if "is_chain" not in out.columns:
        out["is_chain"] = chain
    else:  # the file's own flag wins where given
        out["is_chain"] = [c if v is None else v for v, c in zip(out["is_chain"].tolist(), chain, strict=True)]
    out["source"] = "amap"
    return AmapOutlets(out, problems, unclassified)
