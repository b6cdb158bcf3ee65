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
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from lifecircle.city.ids import point_ids
from lifecircle.city.schema import TABLES, split_formats, validate_table
from lifecircle.errors import ConfigError, InputError, Problem
from lifecircle.i18n import t
from lifecircle.profile import DEFAULT_PROFILE, Profile, load_profile
from lifecircle.sources.amap import (
    CHINA_LAT,
    CHINA_LON,
    ChainList,
    is_amap_shape,
    is_empty,
    load_chains,
    outlets_from_amap,
    points_from_columns,
)
from lifecircle.sources.coords import SYSTEMS, to_wgs84
from lifecircle.sources.tables import (
    GEO_SUFFIXES,
    TABLE_SUFFIXES,
    RawTable,
    read_table,
    rename_columns,
)

KINDS = ("outlets", "communities", "districts", "circles", "candidate_sites", "centre_candidates", "surveys", "streets")
_ALLOWED = {k: TABLE_SUFFIXES for k in KINDS} | {
    "districts": GEO_SUFFIXES,
    "circles": TABLE_SUFFIXES + GEO_SUFFIXES,
    "streets": GEO_SUFFIXES + (".pbf",),
}
_ID_PREFIX = {"outlets": "o", "communities": "c", "candidate_sites": "s", "centre_candidates": "cc"}

# Common Chinese (and English) headers → schema columns. Schema names map to themselves.
_COMMON = {
    "编号": "id",
    "序号编号": "id",
    "名称": "name",
    "经度": "lon",
    "lng": "lon",
    "longitude": "lon",
    "纬度": "lat",
    "latitude": "lat",
    "坐标": "location",
    "经纬度": "location",
    "区": "district",
    "所属区": "district",
    "行政区": "district",
    "区县": "district",
    "所属区县": "district",
    "类型": "kind",
    "类别": "kind",
    "来源": "source",
    "地址": "address",
    "面积": "floor_area_m2",
    "建筑面积": "floor_area_m2",
}
HEADERS: dict[str, dict[str, str]] = {
    "communities": {
        "小区编号": "id",
        "小区代码": "id",
        "小区名称": "name",
        "小区": "name",
        "社区名称": "name",
        "人口": "population",
        "常住人口": "population",
        "人口数": "population",
        "居民人数": "population",
        "户数": "households",
        "住户数": "households",
        "总户数": "households",
        "建成年代": "build_year",
        "建成年份": "build_year",
        "建成时间": "build_year",
        "竣工年份": "build_year",
        "总建筑面积": "floor_area_m2",
        "商业面积": "commercial_floor_area_m2",
        "商业建筑面积": "commercial_floor_area_m2",
        "商业服务面积": "commercial_floor_area_m2",
        "服务用房面积": "service_floor_area_m2",
        "社区服务用房面积": "service_floor_area_m2",
        "老年人口占比": "elderly_share",
        "60岁以上占比": "elderly_share",
        "老龄化率": "elderly_share",
        "小区类型": "kind",
        "所属生活圈": "circle_id",
        "生活圈编号": "circle_id",
    },
    "outlets": {
        "门店名称": "name",
        "店名": "name",
        "业态": "formats",
        "业态代码": "formats",
        "品牌": "brand",
        "是否连锁": "is_chain",
        "连锁": "is_chain",
        "营业时间": "opening_hours",
        "营业面积": "floor_area_m2",
        "收现金": "accepts_cash",
        "无障碍": "barrier_free",
        "适老窗口": "elderly_counter",
    },
    "districts": {
        "代码": "code",
        "区划代码": "code",
        "行政区划代码": "code",
        "adcode": "code",
        "名称": "name_zh",
        "区名": "name_zh",
        "name": "name_zh",
        "中文名": "name_zh",
        "英文名": "name_en",
    },
    "circles": {
        "生活圈编号": "id",
        "生活圈名称": "name",
        "批次": "phase",
        "阶段": "phase",
        "中心": "centre_id",
        "中心编号": "centre_id",
        "状态": "status",
    },
    "candidate_sites": {"场地名称": "name"},
    "centre_candidates": {},
    "surveys": {
        "生活圈": "circle_id",
        "生活圈编号": "circle_id",
        "期次": "period",
        "调查期": "period",
        "时间": "period",
        "受访人数": "respondents",
        "样本数": "respondents",
        "调查人数": "respondents",
        "满意人数": "satisfied",
        "满意": "satisfied",
    },
}
# Common Chinese values of choice columns → codes.
VALUES: dict[tuple[str, str], dict[str, str]] = {
    ("communities", "kind"): {
        "老旧小区": "old",
        "老旧": "old",
        "完整社区": "complete",
        "完整": "complete",
        "新建小区": "new",
        "新建": "new",
        "新小区": "new",
        "产业园区": "industrial",
        "园区": "industrial",
    },
    ("candidate_sites", "kind"): {
        "闲置厂房": "idle_factory",
        "厂房": "idle_factory",
        "仓库": "warehouse",
        "闲置仓库": "warehouse",
        "公房": "public_housing",
        "公有住房": "public_housing",
        "空置商铺": "vacant_shop",
        "闲置商铺": "vacant_shop",
        "商铺": "vacant_shop",
        "公共建筑": "public_building",
        "公共用房": "public_building",
    },
    ("centre_candidates", "kind"): {
        "社区服务中心": "community_service_centre",
        "党群服务中心": "community_service_centre",
        "社区卫生服务中心": "health_centre",
        "卫生服务中心": "health_centre",
        "文化中心": "culture_centre",
        "文化活动中心": "culture_centre",
        "交通枢纽": "transit_hub",
        "公交枢纽": "transit_hub",
        "地铁站": "transit_hub",
        "购物中心": "shopping_centre",
        "商业中心": "shopping_centre",
    },
    ("circles", "phase"): {"试点": "pilot", "推广": "rollout", "全面推广": "rollout"},
    ("circles", "status"): {
        "规划": "planned",
        "计划": "planned",
        "建设中": "building",
        "在建": "building",
        "自评": "self_assessed",
        "预验收": "pre_accepted",
        "已验收": "accepted",
        "验收": "accepted",
        "退回": "returned",
    },
}
_UNITS = re.compile(r"\s*(年代|年|人|户|平方米|平米|㎡|m²|m2|万元)$")


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


def _district_code(v: Any, codes: dict[str, str]) -> Any:
    if is_empty(v):
        return v
    s = str(v).strip()
    return codes.get(s) or codes.get(s.removesuffix("区")) or codes.get(s + "区") or s


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


def _prepare(
    kind: str, raw: RawTable, *, crs: str, profile: Profile, notes: list[str]
) -> tuple[pd.DataFrame, list[Problem]]:
    """Map headers and values onto the schema; coordinates and geometry to WGS-84."""
    spec = {c.name: c for c in TABLES[kind]}
    aliases = {
        **{k: v for k, v in _COMMON.items() if v in spec or v == "location"},
        **HEADERS.get(kind, {}),
        **{c: c for c in spec},
    }
    if kind == "districts":
        aliases = {k: v for k, v in aliases.items() if v != "name" and k != "名称"} | HEADERS["districts"]
    df = rename_columns(raw.df, aliases)
    file = raw.file
    problems: list[Problem] = []
    if "lon" in spec:
        lon, lat, coord = points_from_columns(df, crs=crs, file=file)
        df = df.drop(columns=[c for c in ("location", "lng") if c in df.columns])
        df["lon"], df["lat"] = lon, lat
        problems += coord
    if "geometry" in spec and "geometry" in df.columns:
        geoms, gp = _geometry_to_wgs84(kind, raw, df["geometry"], crs)
        df["geometry"] = geoms
        problems += gp
    if "id" in spec and "id" not in df.columns and kind in _ID_PREFIX:
        names = df["name"].tolist() if "name" in df.columns else [None] * len(df)
        df["id"] = point_ids(_ID_PREFIX[kind], names, df["lon"].tolist(), df["lat"].tolist())
        notes.append(
            t(
                "文件没有 id 列：已按名称和坐标生成 id（同一行每次导入得到同一 id）",
                "the file has no id column; ids were made from name and coordinates "
                "(the same row always gets the same id)",
            )
        )
    for (k, col), mapping in VALUES.items():
        if k == kind and col in df.columns:
            df[col] = [mapping.get(str(v).strip(), v) if not is_empty(v) else v for v in df[col].tolist()]
    for name, column in spec.items():
        if column.kind in ("int", "float") and name in df.columns and name not in ("lon", "lat"):
            df[name] = [_strip_units(v, share=name.endswith("_share")) for v in df[name].tolist()]
    if kind == "outlets" and "formats" in df.columns:
        df["formats"], fp = _format_codes(df, profile, file)
        problems += fp
    if kind == "surveys":
        problems += _check_surveys(df, file)
    if "source" in spec:
        src = df["source"].tolist() if "source" in df.columns else [None] * len(df)
        df["source"] = ["import" if is_empty(v) else v for v in src]
    return df, problems


def _strip_units(v: Any, *, share: bool) -> Any:
    """'2005年' → '2005', '1,200㎡' → '1200', '18%' → 0.18 (shares only)."""
    if not isinstance(v, str):
        return v
    s = _UNITS.sub("", v.strip()).replace(",", "").replace("，", "")
    if share and s.endswith("%"):
        try:
            return float(s[:-1]) / 100.0
        except ValueError:
            return v
    return s


def _format_codes(df: pd.DataFrame, profile: Profile, file: str) -> tuple[list[Any], list[Problem]]:
    """Format codes of each outlet (Chinese names accepted); unknown codes are problems."""
    by_name = {f.zh: f.code for f in profile.formats} | {f.en.lower(): f.code for f in profile.formats}
    out: list[Any] = []
    problems: list[Problem] = []
    for row, v in zip(df.index, df["formats"].tolist(), strict=True):
        if is_empty(v):
            out.append(None)
            continue
        codes = []
        for part in split_formats(str(v)):
            code = part if part in profile.by_code else by_name.get(part) or by_name.get(part.lower())
            if code is None:
                problems.append(
                    Problem(
                        t(
                            f"未知业态 '{part}'（配置 {profile.name}）；可用代码：{', '.join(profile.codes)}",
                            f"unknown format '{part}' in profile {profile.name}; "
                            f"known codes: {', '.join(profile.codes)}",
                        ),
                        file=file,
                        row=int(row),
                        field="formats",
                    )
                )
            elif code not in codes:
                codes.append(code)
        out.append(";".join(codes) if codes else v)
    return out, problems


def _check_surveys(df: pd.DataFrame, file: str) -> list[Problem]:
    problems: list[Problem] = []
    if "respondents" not in df.columns or "satisfied" not in df.columns:
        return problems
    for row, n, s in zip(df.index, df["respondents"].tolist(), df["satisfied"].tolist(), strict=True):
        try:
            n_, s_ = float(n), float(s)
        except (TypeError, ValueError):
            continue
        if s_ > n_:
            problems.append(
                Problem(
                    t(f"满意人数 {s_:g} 大于受访人数 {n_:g}", f"satisfied {s_:g} exceeds respondents {n_:g}"),
                    file=file,
                    row=int(row),
                    field="satisfied",
                )
            )
    return problems


def _geometry_to_wgs84(kind: str, raw: RawTable, geoms: pd.Series, crs: str) -> tuple[list[Any], list[Problem]]:
    """Geometries in WGS-84 degrees: the file's own CRS first, then ``crs`` (GCJ-02/BD-09
    vertices are converted). Districts must be polygons; invalid polygons are repaired."""
    import geopandas as gpd
    import shapely

    gs = gpd.GeoSeries(geoms, crs=raw.crs or "EPSG:4326")
    if gs.crs is not None and not gs.crs.equals("EPSG:4326"):
        gs = gs.to_crs(4326)
    arr = np.asarray(gs.values, dtype=object)
    if crs != "wgs84":

        def fn(xy: np.ndarray) -> np.ndarray:
            return np.column_stack(to_wgs84(xy[:, 0], xy[:, 1], crs))

        ok = np.array([g is not None for g in arr])
        arr[ok] = shapely.transform(arr[ok], fn)
    problems: list[Problem] = []
    out: list[Any] = []
    for row, g in zip(raw.df.index, arr, strict=True):
        if g is None or g.is_empty:
            out.append(None)  # the schema reports a required empty geometry
            continue
        if kind == "districts" or g.geom_type in ("Polygon", "MultiPolygon"):
            if g.geom_type not in ("Polygon", "MultiPolygon"):
                problems.append(
                    Problem(
                        t(
                            f"几何类型为 {g.geom_type}，应为面（Polygon）",
                            f"geometry is a {g.geom_type}; a polygon is needed",
                        ),
                        file=raw.file,
                        row=int(row),
                        field="geometry",
                    )
                )
                out.append(None)
                continue
            g = _repair_polygon(g)  # noqa: PLW2901 - the repaired polygon replaces the input
        c = g.representative_point()
        if not (CHINA_LON[0] <= c.x <= CHINA_LON[1] and CHINA_LAT[0] <= c.y <= CHINA_LAT[1]):
            problems.append(
                Problem(
                    t(
                        f"几何位置 ({c.x:.4g}, {c.y:.4g}) 不在中国境内：文件坐标系可能缺失或有误",
                        f"geometry at ({c.x:.4g}, {c.y:.4g}) is outside China; the file's CRS may be missing or wrong",
                    ),
                    file=raw.file,
                    row=int(row),
                    field="geometry",
                )
            )
        out.append(g)
    return out, problems


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


def _repair_polygon(g: Any) -> Any:
    """A valid polygon for ``g``: invalid rings are made valid, keeping only the polygonal parts."""
    import shapely

    if g.is_valid:
        return g
    g = shapely.make_valid(g)
    if g.geom_type == "GeometryCollection":
        g = shapely.union_all([p for p in g.geoms if p.geom_type in ("Polygon", "MultiPolygon")])
    return g
