"""Scenarios: a named set of changes to a city — outlets added, outlets closed, new street links —
evaluated on a *copy* of the city and its walking network, and compared side by side with the base
using the same indicators (circle and city level).

The base data is never changed: :func:`apply_scenario` returns a new :class:`City` (new table
objects where something changed) and a new :class:`WalkNetwork` (``with_edges``) when links are
added. Scenarios are saved as JSON files (UTF-8, one file per scenario, written atomically):

```json
{"lifecircle_scenario": 1, "name": "西陵补菜市场", "description": "...", "city": "yichang-demo",
 "city_provenance": {"generator": "demo", "scale": 1.0, "seed": 2022},
 "created": "2024-05-01T10:00:00+08:00", "origin": "plan XL-01",
 "added_outlets": [{"id": "S-1", "name": "...", "formats": "wet_market", "lon": 111.3, "lat": 30.7}],
 "closed_outlets": ["O000123"],
 "new_links": [{"type": "LineString", "coordinates": [[111.30, 30.70], [111.31, 30.70]]}]}
```

Coordinates are WGS-84 degrees; the added outlets follow the ``outlets`` table schema
(:mod:`lifecircle.city.schema`) and are validated like an import. ``city`` and ``city_provenance``
record the base city the scenario was made on (``City.name`` and ``City.provenance``); a scenario
is refused on another city — another name, or the demo city at another scale or seed.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from shapely.geometry import LineString, mapping, shape

from lifecircle.city.model import City, city_label, same_city
from lifecircle.city.schema import TABLES, split_formats, validate_table
from lifecircle.errors import InputError, InputFileError, ProblemCollector
from lifecircle.i18n import t
from lifecircle.indicators.evaluate import Evaluation, evaluate_city
from lifecircle.indicators.grades import GradingRules
from lifecircle.network import WalkNetwork
from lifecircle.profile import Profile
from lifecircle.sources.files import atomic_output, make_output_dir

FORMAT_VERSION = 1
SCENARIO_SOURCE = "scenario"
BASE_COLUMN = "base"

# Indicators compared side by side: (key, 中文, English). Circle rows read ``Evaluation.circles``,
# the city row ``Evaluation.city``; a key a level does not have is NaN there.
COMPARE_INDICATORS: tuple[tuple[str, str, str], ...] = (
    ("population", "常住人口（人）", "residents"),
    ("n_outlets", "商业网点数", "outlets"),
    ("basic_completeness", "基本业态齐全度", "basic-format completeness"),
    ("basic_coverage", "基本业态全覆盖居民比例", "residents reaching every basic format"),
    ("basic_format_coverage", "基本业态平均覆盖率", "mean basic-format coverage"),
    ("elderly_basic_coverage", "老年步速基本业态全覆盖比例", "basic coverage at older residents' speed"),
    ("elderly_basic_format_coverage", "老年步速基本业态平均覆盖率", "mean basic-format coverage, older residents"),
    ("quality_formats_present", "15分钟内品质业态数", "quality formats within 15 min"),
    ("quality_coverage", "品质业态覆盖居民比例", "residents with enough quality formats"),
    ("chain_share", "连锁化率", "chain share"),
    ("smart_coverage", "智能设施覆盖率", "smart-facility coverage"),
    ("grade", "等级", "grade"),
    ("n_quality", "品质型生活圈数", "circles graded quality"),
    ("n_upgraded", "提升型生活圈数", "circles graded upgraded"),
    ("n_basic", "基础型生活圈数", "circles graded basic"),
    ("n_none", "未达标生活圈数", "circles below standard"),
)
_CIRCLE_ONLY = {"grade", "quality_formats_present"}
_CITY_ONLY = {"n_quality", "n_upgraded", "n_basic", "n_none"}


def _empty_outlets() -> pd.DataFrame:
    return pd.DataFrame({c.name: pd.Series([], dtype=object) for c in TABLES["outlets"]})


@dataclass
class Scenario:
    """A named set of changes. ``added_outlets``: rows of the ``outlets`` schema (id, name,
    formats, lon, lat, ...; WGS-84); ``closed_outlets``: ids of existing outlets that close;
    ``new_links``: new street links as WGS-84 LineStrings (walkable both ways). ``city`` names
    the city it was made for and ``city_provenance`` how that city was made (both checked when
    applied, if given); ``origin`` says where it came from (e.g. ``plan XL-01``)."""

    name: str
    description: str = ""
    added_outlets: pd.DataFrame = field(default_factory=_empty_outlets)
    closed_outlets: list[str] = field(default_factory=list)
    new_links: list[LineString] = field(default_factory=list)
    city: str | None = None
    created: str = ""
    origin: str = ""
    city_provenance: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name.strip():
            raise InputError(t("情景名称不能为空", "a scenario needs a name"))
        self.name = self.name.strip()
        if not self.created:
            self.created = datetime.now().astimezone().isoformat(timespec="seconds")
        self.closed_outlets = [str(x) for x in self.closed_outlets]

    def summary(self) -> dict[str, Any]:
        """Name, description and the number of each kind of change."""
        return {
            "name": self.name,
            "description": self.description,
            "city": city_label(self.city, self.city_provenance) if self.city else "",
            "n_added": len(self.added_outlets),
            "n_closed": len(self.closed_outlets),
            "n_links": len(self.new_links),
            "created": self.created,
            "origin": self.origin,
        }

    # ------------------------------------------------------------------ JSON
    def to_dict(self) -> dict[str, Any]:
        """The JSON-ready form (see the module docstring)."""
        added = []
        for rec in self.added_outlets.to_dict("records"):
            clean = {}
            for k, v in rec.items():
                if k == "geometry" or v is None or v is pd.NA or (isinstance(v, float) and np.isnan(v)):
                    continue
                clean[k] = v.item() if isinstance(v, np.generic) else v
            added.append(clean)
        return {
            "lifecircle_scenario": FORMAT_VERSION,
            "name": self.name,
            "description": self.description,
            "city": self.city,
            "city_provenance": dict(self.city_provenance),
            "created": self.created,
            "origin": self.origin,
            "added_outlets": added,
            "closed_outlets": list(self.closed_outlets),
            "new_links": [mapping(g) for g in self.new_links],
        }

    @classmethod
    def from_dict(cls, data: Any, *, file: str = "scenario") -> Scenario:
        """Read the JSON form; every problem is reported at once (:class:`InputError`)."""
        bag = ProblemCollector(file=file)
        if not isinstance(data, dict):
            raise InputError(t("情景文件应为 JSON 对象", "a scenario file must hold a JSON object"), file=file)
        ver = data.get("lifecircle_scenario")
        if ver != FORMAT_VERSION:
            bag.add(
                t(
                    f"不是 lifecircle 情景文件（版本 {ver!r}，应为 {FORMAT_VERSION}）",
                    f"not a lifecircle scenario file (version {ver!r}, expected {FORMAT_VERSION})",
                ),
                field="lifecircle_scenario",
            )
        name = data.get("name")
        if not isinstance(name, str) or not name.strip():
            bag.add(t("缺少情景名称", "the scenario has no name"), field="name")
        added_raw = data.get("added_outlets") or []
        closed = data.get("closed_outlets") or []
        links_raw = data.get("new_links") or []
        for key, val in (("added_outlets", added_raw), ("closed_outlets", closed), ("new_links", links_raw)):
            if not isinstance(val, list):
                bag.add(t("应为列表", "must be a list"), field=key)
        prov = data.get("city_provenance") or {}
        if not isinstance(prov, dict):
            bag.add(t("应为 JSON 对象", "must be a JSON object"), field="city_provenance")
        bag.raise_if_any()
        links: list[LineString] = []
        for i, g in enumerate(links_raw):
            try:
                geom = shape(g)
            except Exception:  # noqa: BLE001 - any malformed GeoJSON is the user's input
                bag.add(t("不是有效的 GeoJSON 线", "not a valid GeoJSON LineString"), row=i + 1, field="new_links")
                continue
            problem = link_problem(geom)
            if problem:
                bag.add(problem, row=i + 1, field="new_links")
            else:
                links.append(geom)
        added = _empty_outlets()
        if added_raw:
            try:
                added = validate_table("outlets", pd.DataFrame(added_raw), file=f"{file}: added_outlets", row_offset=1)
            except InputError as exc:
                bag.problems.extend(exc.problems)
        bag.raise_if_any()
        return cls(
            name=str(name),
            description=str(data.get("description") or ""),
            added_outlets=added,
            closed_outlets=[str(x) for x in closed],
            new_links=links,
            city=data.get("city") or None,
            created=str(data.get("created") or ""),
            origin=str(data.get("origin") or ""),
            city_provenance=dict(prov),
        )


def link_problem(geom: Any) -> str | None:
    """Why a geometry cannot be a new street link (None when it can): a LineString of WGS-84
    degrees with at least two distinct points."""
    if getattr(geom, "geom_type", None) != "LineString":
        return t("新增道路应为线（LineString）", "a new street link must be a LineString")
    if geom.is_empty or geom.length == 0:
        return t("新增道路长度为零", "the new street link has zero length")
    xy = shapely.get_coordinates(geom)
    if not np.all(np.isfinite(xy)) or np.any(np.abs(xy[:, 0]) > 180) or np.any(np.abs(xy[:, 1]) > 90):
        return t("新增道路坐标应为 WGS-84 经纬度", "new street link coordinates must be WGS-84 longitude/latitude")
    return None


def make_outlets(rows: Sequence[dict[str, Any]], *, file: str = "scenario") -> pd.DataFrame:
    """Validate outlet rows (``outlets`` schema) into a table; ``source`` defaults to ``scenario``."""
    if not rows:
        return _empty_outlets()
    df = pd.DataFrame(list(rows))
    if "source" not in df.columns:
        df["source"] = SCENARIO_SOURCE
    return validate_table("outlets", df, file=file, row_offset=1)


# ---------------------------------------------------------------------------------- apply
def apply_scenario(
    city: City, net: WalkNetwork, scenario: Scenario, *, profile: Profile | None = None
) -> tuple[City, WalkNetwork]:
    """The city and network with the scenario's changes, as new objects; ``city`` and ``net`` are
    not modified. Unknown closed ids, added ids that already exist, format codes the ``profile``
    does not know (when given) and bad links are reported together (:class:`InputError`). Added
    outlets without a district get the district whose boundary contains them."""
    bag = ProblemCollector(file=t(f"情景 {scenario.name}", f"scenario {scenario.name}"))
    problem = city_problem(scenario, city)
    if problem:
        bag.add(problem, field="city")
    outlets = city.outlets
    ids = outlets["id"].astype(str) if len(outlets) else pd.Series([], dtype=str)
    known = set(ids)
    for i, oid in enumerate(scenario.closed_outlets):
        if oid not in known:
            bag.add(
                t(f"要关闭的网点 '{oid}' 不存在", f"outlet '{oid}' to close does not exist"),
                row=i + 1,
                field="closed_outlets",
            )
    added = scenario.added_outlets
    if len(added):
        for i, oid in enumerate(added["id"].astype(str)):
            if oid in known:
                bag.add(
                    t(f"新增网点编号 '{oid}' 与现有网点重复", f"added outlet id '{oid}' already exists"),
                    row=i + 1,
                    field="added_outlets",
                )
        if profile is not None:
            for i, v in enumerate(added["formats"]):
                bad = [c for c in split_formats(str(v)) if c not in profile.by_code]
                if bad:
                    bag.add(
                        t(
                            f"未知业态代码 {', '.join(bad)}（配置 {profile.name}）",
                            f"unknown format codes {', '.join(bad)} (profile {profile.name})",
                        ),
                        row=i + 1,
                        field="added_outlets.formats",
                    )
        _check_added_reachable(added, net, profile, bag)
    for i, g in enumerate(scenario.new_links):
        problem = link_problem(g)
        if problem:
            bag.add(problem, row=i + 1, field="new_links")
    bag.raise_if_any()

    tables = dict(city.tables)  # new dict; unchanged tables are shared read-only
    if scenario.closed_outlets or len(added):
        kept = outlets[~ids.isin(set(scenario.closed_outlets)).to_numpy()] if len(outlets) else outlets
        if len(added):
            add = added.copy()
            if "source" not in add.columns:
                add["source"] = SCENARIO_SOURCE
            add["source"] = add["source"].fillna(SCENARIO_SOURCE)
            add = _with_districts(add, city)
            cols = list(
                dict.fromkeys([*kept.columns, *[c for c in add.columns if c in {x.name for x in TABLES["outlets"]}]])
            )
            parts = [p.reindex(columns=cols) for p in (kept, add) if len(p)]
            merged = pd.concat(parts, ignore_index=True) if parts else kept.reindex(columns=cols)
            for c in ("is_chain", "accepts_cash", "barrier_free", "elderly_counter"):
                if c in merged.columns:
                    merged[c] = merged[c].astype(object)
            tables["outlets"] = merged
        else:
            tables["outlets"] = kept.reset_index(drop=True)
    new_net = net
    if scenario.new_links:
        max_m = profile.walking.snap_max_m if profile is not None else 300.0
        lines = np.array(connect_links(net, scenario.new_links, max_m=max_m, scenario=scenario.name), dtype=object)
        new_net = net.with_edges(lines)
        streets = city.streets
        extra = gpd.GeoDataFrame(
            {
                "highway": ["planned"] * len(lines),
                "name": [f"{scenario.name}" for _ in lines],
                "source": [SCENARIO_SOURCE] * len(lines),
            },
            geometry=list(lines),
            crs=4326,
        )
        tables["streets"] = pd.concat([streets, extra], ignore_index=True) if len(streets) else extra
    new_city = City(
        name=city.name,
        profile=city.profile,
        synthetic=city.synthetic,
        tables=tables,
        credits=list(city.credits),
        title=city.title,
        provenance=dict(city.provenance),
    )
    return new_city, new_net


def city_problem(scenario: Scenario, city: City) -> str | None:
    """Why ``scenario`` cannot be used on ``city`` (None when it can): it was made on another city —
    another name, or the same generator at another scale or seed. Both cities are named."""
    if not scenario.city or same_city(scenario.city, scenario.city_provenance, city.name, city.provenance):
        return None
    made, here = city_label(scenario.city, scenario.city_provenance), city_label(city.name, city.provenance)
    return t(f"情景为城市 {made} 制作，不能用于 {here}", f"the scenario was made on {made}, not on {here}")


def _check_added_reachable(
    added: pd.DataFrame, net: WalkNetwork, profile: Profile | None, bag: ProblemCollector
) -> None:
    """An added outlet farther than the profile's snap limit (metres; 300 m without a profile)
    from every street is outside the city's walking network: no resident could walk to it."""
    from lifecircle.network.snap import snap_points

    max_m = profile.walking.snap_max_m if profile is not None else 300.0
    lon = pd.to_numeric(added["lon"], errors="coerce").to_numpy(float)
    lat = pd.to_numeric(added["lat"], errors="coerce").to_numpy(float)
    ok = np.isfinite(lon) & np.isfinite(lat)
    if not ok.any() or net.n_edges == 0:
        return
    x, y = net.project(lon[ok], lat[ok])
    snapped = snap_points(net, x, y, max_m=max_m)
    for i, good in zip(np.flatnonzero(ok), snapped.ok, strict=True):
        if not good:
            bag.add(
                t(
                    f"新增网点 ({lon[i]:.5f}, {lat[i]:.5f}) 距最近道路超过 {max_m:g} 米，不在城市步行路网范围内",
                    f"added outlet ({lon[i]:.5f}, {lat[i]:.5f}) is more than {max_m:g} m from any street: outside the "
                    "city's walking network",
                ),
                row=int(i) + 1,
                field="added_outlets.lon/lat",
            )


def connect_links(
    net: WalkNetwork, links: Sequence[LineString], *, max_m: float = 300.0, scenario: str = ""
) -> list[LineString]:
    """Each link with its two ends joined to the nearest vertex of a street (a straight connector,
    in WGS-84), so that a link drawn between two streets is walkable; the network joins lines only
    where they share a vertex. Vertices, not nodes: in a simplified network a node is only a
    junction or a dead end, and a link may meet a street between junctions. An end farther than
    ``max_m`` metres from every vertex is an :class:`InputError` (all such ends reported together)."""
    from scipy.spatial import cKDTree

    vertices = net.edge_xy
    tree = cKDTree(vertices)
    bag = ProblemCollector(file=t(f"情景 {scenario}", f"scenario {scenario}"))
    out: list[LineString] = []
    for i, g in enumerate(links):
        xy = shapely.get_coordinates(g)
        px, py = net.project(xy[[0, -1], 0], xy[[0, -1], 1])
        dist, idx = tree.query(np.column_stack([px, py]))
        if np.any(dist > max_m):
            bag.add(
                t(
                    f"新增道路端点距最近道路 {dist.max():,.0f} 米，超过 {max_m:g} 米",
                    f"a link end is {dist.max():,.0f} m from the nearest street (more than {max_m:g} m)",
                ),
                row=i + 1,
                field="new_links",
            )
            continue
        nlon, nlat = net.to_wgs84.transform(vertices[idx, 0], vertices[idx, 1])
        pts = [tuple(p) for p in xy]
        if dist[0] > 0.01:
            pts.insert(0, (float(nlon[0]), float(nlat[0])))
        if dist[1] > 0.01:
            pts.append((float(nlon[1]), float(nlat[1])))
        out.append(LineString(pts))
    bag.raise_if_any()
    return out


def _with_districts(add: pd.DataFrame, city: City) -> pd.DataFrame:
    """Fill a missing ``district`` of added outlets from the district boundaries."""
    from lifecircle.indicators.membership import point_in_polygons

    dist = city.districts
    if "district" not in add.columns:
        add["district"] = None
    missing = add["district"].isna().to_numpy() | (add["district"].astype(str).str.strip() == "").to_numpy()
    if missing.any() and len(dist):
        pos = point_in_polygons(
            add.loc[missing, "lon"].to_numpy(float), add.loc[missing, "lat"].to_numpy(float), dist["geometry"]
        )
        codes = dist["code"].astype(str).to_numpy(dtype=object)
        add.loc[missing, "district"] = [codes[p] if p >= 0 else None for p in pos]
    return add


# ---------------------------------------------------------------------------------- files
_UNSAFE = re.compile(r'[\\/:*?"<>|\s]+')


def scenario_filename(name: str) -> str:
    """The file name of a scenario: its name with characters unsafe in file names replaced."""
    stem = _UNSAFE.sub("_", name.strip()).strip("._") or "scenario"
    return f"{stem}.json"


def save_scenario(scenario: Scenario, folder: str | Path, *, overwrite: bool = False) -> Path:
    """Write ``scenario`` as ``<folder>/<name>.json`` (UTF-8, atomically); the folder is created."""
    d = make_output_dir(folder)
    p = d / scenario_filename(scenario.name)
    if p.exists() and not overwrite:
        raise InputError(
            t(f"{p}: 同名情景已存在（可用 --overwrite 覆盖）", f"{p}: a scenario of that name exists (use --overwrite)")
        )
    with atomic_output(p) as tmp:
        tmp.write_text(json.dumps(scenario.to_dict(), ensure_ascii=False, indent=2), encoding="utf-8")
    return p


def _scenarios_there(folder: str | Path) -> str:
    """'；现有情景：A、B' (or that the folder holds none, or is missing), for a scenario not found."""
    known = [str(n) for n in list_scenarios(folder)["name"]]
    if known:
        return t(f"；现有情景：{'、'.join(known)}", f"; there: {', '.join(known)}")
    if Path(folder).is_dir():
        return t("；该文件夹中没有情景", "; no scenario there")
    return t("；该文件夹不存在", "; no such folder")


def load_scenario(name_or_path: str | Path, folder: str | Path | None = None) -> Scenario:
    """Read a scenario from a ``.json`` path, or by name from ``folder``."""
    p = Path(name_or_path)
    if not (p.suffix.lower() == ".json" and p.exists()) and folder is not None:
        p = Path(folder) / scenario_filename(str(name_or_path))
    if not p.is_file():
        where = t(f"（在 {folder} 中）", f" (in {folder})") if folder is not None else ""
        have = _scenarios_there(folder) if folder is not None else ""
        raise InputFileError(
            t(f"找不到情景 {name_or_path}{where}{have}", f"scenario {name_or_path} not found{where}{have}")
        )
    try:
        data = json.loads(p.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputFileError(t(f"{p}: 不是有效的 JSON（{exc}）", f"{p}: not valid JSON ({exc})")) from None
    return Scenario.from_dict(data, file=str(p))


def list_scenarios(folder: str | Path) -> pd.DataFrame:
    """The scenarios saved in ``folder``: name, description, city, n_added, n_closed, n_links,
    created, origin, file (files that do not read are listed with their problem in ``error``)."""
    cols = ["name", "description", "city", "n_added", "n_closed", "n_links", "created", "origin", "file", "error"]
    d = Path(folder)
    if not d.is_dir():
        return pd.DataFrame(columns=cols)
    rows = []
    for p in sorted(d.glob("*.json")):
        try:
            rows.append({**load_scenario(p).summary(), "file": str(p), "error": ""})
        except InputError as exc:
            rows.append({"name": p.stem, "file": str(p), "error": str(exc)})
    return pd.DataFrame(rows, columns=cols)


# ---------------------------------------------------------------------------------- compare
@dataclass
class BaseCase:
    """The base a scenario changes: the city, its walking network, the profile and grading rules.
    The base evaluation is computed once, on first use."""

    city: City
    net: WalkNetwork
    profile: Profile
    rules: GradingRules | str | Path | None = None
    _evaluation: Evaluation | None = field(default=None, repr=False)

    @property
    def evaluation(self) -> Evaluation:
        if self._evaluation is None:
            self._evaluation = evaluate_city(self.city, self.net, self.profile, rules=self.rules)
        return self._evaluation


def evaluate_scenario(base: BaseCase, scenario: Scenario) -> Evaluation:
    """Evaluate the city with the scenario applied (on a copy; the base is untouched)."""
    city, net = apply_scenario(base.city, base.net, scenario, profile=base.profile)
    return evaluate_city(city, net, base.profile, rules=base.rules)


def indicator_rows(ev: Evaluation, *, circles: Sequence[str] | None = None, lang: str = "zh") -> pd.DataFrame:
    """The compared indicators of one evaluation, long: level (city|circle), unit_id, unit_name,
    indicator, label, value. Shares are 0..1; counts are numbers; ``grade`` is the grade's name."""
    rows: list[tuple[Any, ...]] = []
    city = ev.city
    for key, zh, en in COMPARE_INDICATORS:
        if key in _CIRCLE_ONLY:
            continue
        v = city.get(key, np.nan)
        rows.append(("city", "", ev.city_name, key, en if lang == "en" else zh, v))
    cdf = ev.circles
    if circles is not None:
        want = [str(c) for c in circles]
        unknown = sorted(set(want) - set(cdf["id"].astype(str)))
        if unknown:
            raise InputError(t(f"未知生活圈：{', '.join(unknown)}", f"unknown circles: {', '.join(unknown)}"))
        cdf = cdf.set_index(cdf["id"].astype(str)).loc[want].reset_index(drop=True)
    for rec in cdf.to_dict("records"):
        for key, zh, en in COMPARE_INDICATORS:
            if key in _CITY_ONLY:
                continue
            v = rec.get("grade_en" if key == "grade" and lang == "en" else key, np.nan)
            rows.append(("circle", str(rec["id"]), str(rec["name"]), key, en if lang == "en" else zh, v))
    return pd.DataFrame(rows, columns=["level", "unit_id", "unit_name", "indicator", "label", "value"])


def compare_scenarios(
    base: BaseCase,
    scenarios: Sequence[Scenario],
    *,
    circles: Sequence[str] | None = None,
    lang: str = "zh",
) -> pd.DataFrame:
    """The same indicators for the base and each scenario, side by side.

    One row per (level, unit, indicator) — the city first, then every circle (or only
    ``circles``) — with columns ``level, unit_id, unit_name, indicator, label, base`` and one column
    per scenario (its name). Values: shares 0..1, counts, or the grade name. The base data is not
    changed; each scenario is applied to a copy.
    """
    names = [s.name for s in scenarios]
    dup = sorted({n for n in names if names.count(n) > 1} | ({BASE_COLUMN} & set(names)))
    if dup:
        raise InputError(
            t(
                f"情景名称重复或与保留名冲突：{', '.join(dup)}",
                f"scenario names repeat or are reserved: {', '.join(dup)}",
            )
        )
    wrong = [f"{s.name}: {p}" for s in scenarios if (p := city_problem(s, base.city))]
    if wrong:  # before the (slow) base evaluation
        raise InputError("; ".join(wrong))
    table = indicator_rows(base.evaluation, circles=circles, lang=lang).rename(columns={"value": BASE_COLUMN})
    key = ["level", "unit_id", "indicator"]
    for s in scenarios:
        vals = indicator_rows(evaluate_scenario(base, s), circles=circles, lang=lang)
        table = table.merge(vals[[*key, "value"]].rename(columns={"value": s.name}), on=key, how="left")
    return table
