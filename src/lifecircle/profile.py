"""City profiles: the format catalogue (M6) and walking settings, loaded from versioned TOML.

A profile is named (``yichang-2022``, shipped in ``lifecircle/profiles/``) or a path to a TOML file.
A city file may say ``extends = "yichang-2022"`` and override only what differs:

```toml
extends = "yichang-2022"
[walking]
speed_kmh = 4.5
[[format]]            # same code: fields replace the parent's; new code: a new format
code = "breakfast"
layer_min = 10
disable = ["forward_warehouse"]   # formats to drop
```
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import cached_property
from importlib import resources
from pathlib import Path
from typing import Any

from lifecircle.config import read_config, unknown_keys
from lifecircle.errors import ConfigError
from lifecircle.i18n import t

FORMAT_CLASSES = ("basic", "quality", "smart")
DEFAULT_PROFILE = "yichang-2022"


@dataclass(frozen=True)
class OsmRule:
    """One OSM tag rule: every (key, value) must match; value ``*`` means any value."""

    conditions: tuple[tuple[str, str], ...]

    @classmethod
    def parse(cls, text: str) -> OsmRule:
        conds = []
        for part in text.split("&"):
            if "=" not in part:
                raise ConfigError(t(f"OSM 规则 '{text}' 应写成 key=value", f"OSM rule '{text}' must read key=value"))
            k, v = part.split("=", 1)
            conds.append((k.strip(), v.strip()))
        return cls(tuple(conds))

    def matches(self, tags: dict[str, Any]) -> bool:
        for k, v in self.conditions:
            have = tags.get(k)
            if have is None or have != have or have == "":  # missing or NaN
                return False
            if v != "*" and str(have) != v:
                return False
        return True


@dataclass(frozen=True)
class Format:
    """A business format (业态) of the catalogue. ``layer_min`` is the walking layer in minutes."""

    code: str
    zh: str
    en: str
    cls: str
    layer_min: float
    osm: tuple[OsmRule, ...] = ()
    amap_typecodes: tuple[str, ...] = ()
    amap_types: tuple[str, ...] = ()
    name_keywords: tuple[str, ...] = ()
    typical_floor_area_m2: float | None = None  # floor area an outlet of this format typically needs

    def name(self) -> str:
        """Display name in the current language."""
        return t(self.zh, self.en)


@dataclass(frozen=True)
class Walking:
    """Walking settings. Speeds in km/h, distances in metres."""

    speed_kmh: float = 4.0
    elderly_speed_kmh: float = 3.0
    snap_max_m: float = 300.0
    layers_min: tuple[float, ...] = (5.0, 10.0, 15.0)
    isochrone_buffer_m: float = 40.0
    min_piece_m: float = 200.0  # pieces of the network with less street than this (metres) are dropped
    join_ends_m: float = 2.0
    """Street-line ends this close (metres) to another end or line are joined when a network is
    built from street lines (not OSM, whose ways share nodes); see :mod:`lifecircle.network.noding`."""

    def metres(self, minutes: float, speed_kmh: float | None = None) -> float:
        """Walking distance in metres covered in ``minutes`` at ``speed_kmh`` (default speed)."""
        return minutes * (speed_kmh or self.speed_kmh) * 1000.0 / 60.0


@dataclass
class Profile:
    """A city's catalogue of formats and its walking settings."""

    name: str
    title_zh: str
    title_en: str
    version: str
    walking: Walking
    formats: list[Format]
    source: str = ""
    extra: dict[str, Any] = field(default_factory=dict)  # other tables (grading, quotas ...)

    @cached_property
    def by_code(self) -> dict[str, Format]:
        return {f.code: f for f in self.formats}

    @property
    def codes(self) -> list[str]:
        return [f.code for f in self.formats]

    def format(self, code: str) -> Format:
        """The format with this code; a clear error listing the known codes otherwise."""
        try:
            return self.by_code[code]
        except KeyError:
            raise ConfigError(
                t(
                    f"未知业态代码 '{code}'（配置 {self.name}）；可用代码：{', '.join(self.codes)}",
                    f"unknown format code '{code}' in profile {self.name}; known codes: {', '.join(self.codes)}",
                )
            ) from None

    def of_class(self, cls: str) -> list[Format]:
        return [f for f in self.formats if f.cls == cls]

    def title(self) -> str:
        return t(self.title_zh, self.title_en)


def builtin_profiles() -> list[str]:
    """Names of the profiles shipped with lifecircle."""
    folder = resources.files("lifecircle") / "profiles"
    # the folder also holds other versioned rule files (grading, plan quotas, chains ...):
    # a profile is a file that defines formats
    return sorted(
        p.name[:-5]
        for p in folder.iterdir()
        if p.name.endswith(".toml") and "[[format]]" in p.read_text(encoding="utf-8")
    )


# The keys a profile file may hold; anything else is a typo to report, not to ignore.
TOP_KEYS = ("profile", "walking", "format", "extends", "disable", "grading", "sites")
PROFILE_KEYS = ("name", "title_zh", "title_en", "version", "source")
FORMAT_KEYS = (
    "code",
    "zh",
    "en",
    "class",
    "layer_min",
    "osm",
    "amap_typecodes",
    "amap_types",
    "name_keywords",
    "typical_floor_area_m2",
)


def _check_keys(raw: dict[str, Any], src: str) -> None:
    """Refuse unknown keys (``[walkin]``, ``speed_km`` ...) naming the nearest valid one."""
    problems = [msg for _, msg in unknown_keys(raw, TOP_KEYS)]
    for table, allowed in (("profile", PROFILE_KEYS), ("walking", Walking.__dataclass_fields__)):
        if isinstance(raw.get(table), dict):
            problems += [msg for _, msg in unknown_keys(raw[table], allowed, table=table)]
    formats = raw.get("format", [])
    for i, f in enumerate(formats if isinstance(formats, list) else [], start=1):
        if isinstance(f, dict):
            where = f"format #{i}" + (f" {f['code']}" if f.get("code") else "")
            problems += [msg for _, msg in unknown_keys(f, FORMAT_KEYS, table=where)]
    if problems:
        raise ConfigError(f"{src}: " + "; ".join(problems))


def _read_toml(name_or_path: str | Path) -> tuple[dict[str, Any], str]:
    raw, src = read_config(name_or_path, what_zh="配置", what_en="profile", known=builtin_profiles())
    _check_keys(raw, src)
    return raw, src


def _merge(parent: dict[str, Any], child: dict[str, Any]) -> dict[str, Any]:
    out = dict(parent)
    for key, val in child.items():
        if key in ("extends", "format", "disable"):
            continue
        if isinstance(val, dict) and isinstance(out.get(key), dict):
            out[key] = {**out[key], **val}
        else:
            out[key] = val
    formats = [dict(f) for f in parent.get("format", [])]
    index = {f.get("code"): i for i, f in enumerate(formats)}
    for f in child.get("format", []):
        code = f.get("code")
        if code in index:
            formats[index[code]].update(f)
        else:
            index[code] = len(formats)
            formats.append(dict(f))
    drop = set(child.get("disable", []))
    out["format"] = [f for f in formats if f.get("code") not in drop]
    return out


def load_profile(name_or_path: str | Path = DEFAULT_PROFILE) -> Profile:
    """Load a profile by built-in name or TOML path, following ``extends`` chains."""
    raw, src = _read_toml(name_or_path)
    seen = {src}
    while "extends" in raw:
        parent, psrc = _read_toml(raw["extends"])
        if psrc in seen:
            raise ConfigError(t(f"{src}: extends 循环引用", f"{src}: extends forms a cycle"))
        seen.add(psrc)
        raw = _merge(parent, raw)
    return _build(raw, src)


def _walking(w: dict[str, Any], src: str, problems: list[str]) -> Walking:
    """The ``[walking]`` table as :class:`Walking`; every out-of-range value is added to
    ``problems`` (speeds km/h, distances metres, layers minutes)."""
    try:
        walking = Walking(
            speed_kmh=float(w.get("speed_kmh", 4.0)),
            elderly_speed_kmh=float(w.get("elderly_speed_kmh", 3.0)),
            snap_max_m=float(w.get("snap_max_m", 300.0)),
            layers_min=tuple(float(x) for x in w.get("layers_min", (5, 10, 15))),
            isochrone_buffer_m=float(w.get("isochrone_buffer_m", 40.0)),
            min_piece_m=float(w.get("min_piece_m", 200.0)),
            join_ends_m=float(w.get("join_ends_m", 2.0)),
        )
    except (TypeError, ValueError) as exc:
        raise ConfigError(t(f"{src}: [walking] 数值无效：{exc}", f"{src}: invalid [walking] value: {exc}")) from None
    for key, v in (("speed_kmh", walking.speed_kmh), ("elderly_speed_kmh", walking.elderly_speed_kmh)):
        if not (0 < v <= 20):  # also NaN; 67 would be metres per minute, not km/h
            problems.append(
                t(
                    f"[walking] {key} = {v:g} 不合理：步行速度应在 0–20 km/h 之间",
                    f"[walking] {key} = {v:g} is not a walking speed (0–20 km/h)",
                )
            )
    if not (0 < walking.snap_max_m < math.inf):
        problems.append(
            t(
                f"[walking] snap_max_m = {walking.snap_max_m:g} 须为正数（米）",
                f"[walking] snap_max_m = {walking.snap_max_m:g} must be a positive number of metres",
            )
        )
    if not (0 <= walking.isochrone_buffer_m < math.inf):
        problems.append(
            t(
                f"[walking] isochrone_buffer_m = {walking.isochrone_buffer_m:g} 须为非负数（米）",
                f"[walking] isochrone_buffer_m = {walking.isochrone_buffer_m:g} must be ≥ 0 metres",
            )
        )
    if not (0 <= walking.min_piece_m < math.inf):
        problems.append(
            t(
                f"[walking] min_piece_m = {walking.min_piece_m:g} 须为非负数（米）",
                f"[walking] min_piece_m = {walking.min_piece_m:g} must be ≥ 0 metres",
            )
        )
    if not (0 <= walking.join_ends_m < 100):
        problems.append(
            t(
                f"[walking] join_ends_m = {walking.join_ends_m:g} 须在 0–100 米之间",
                f"[walking] join_ends_m = {walking.join_ends_m:g} must be 0–100 metres",
            )
        )
    if not walking.layers_min or not all(0 < m < math.inf for m in walking.layers_min):
        problems.append(
            t(
                f"[walking] layers_min = {list(walking.layers_min)} 须为正的分钟数",
                f"[walking] layers_min = {list(walking.layers_min)} must be positive minutes",
            )
        )
    return walking


def _build(raw: dict[str, Any], src: str) -> Profile:
    problems: list[str] = []
    meta = raw.get("profile", {})
    walking = _walking(raw.get("walking", {}), src, problems)
    formats: list[Format] = []
    seen: set[str] = set()
    for i, f in enumerate(raw.get("format", []), start=1):
        code = f.get("code")
        where = t(f"第 {i} 个业态", f"format #{i}") + (f" ({code})" if code else "")
        if not code or not str(code).isascii() or not str(code).replace("_", "").isalnum():
            problems.append(
                t(f"{where}: code 须为 ASCII 字母数字和下划线", f"{where}: code must be ASCII letters, digits, _")
            )
            continue
        if code in seen:
            problems.append(t(f"{where}: 代码重复", f"{where}: duplicate code"))
        seen.add(code)
        cls = f.get("class")
        if cls not in FORMAT_CLASSES:
            problems.append(
                t(f"{where}: class 须为 {FORMAT_CLASSES} 之一", f"{where}: class must be one of {FORMAT_CLASSES}")
            )
        try:
            layer = float(f.get("layer_min", 15))
            if not (0 < layer < math.inf):
                raise ValueError
        except (TypeError, ValueError):
            problems.append(
                t(f"{where}: layer_min 须为正数（分钟）", f"{where}: layer_min must be a positive number of minutes")
            )
            layer = 15.0
        area = f.get("typical_floor_area_m2")
        if area is not None:
            try:
                area = float(area)
                if not (0 < area < math.inf):
                    raise ValueError
            except (TypeError, ValueError):
                problems.append(
                    t(
                        f"{where}: typical_floor_area_m2 须为正数（平方米）",
                        f"{where}: typical_floor_area_m2 must be a positive number of m²",
                    )
                )
                area = None
        try:
            rules = tuple(OsmRule.parse(r) for r in f.get("osm", []))
        except ConfigError as exc:
            problems.append(f"{where}: {exc}")
            rules = ()
        formats.append(
            Format(
                code=str(code),
                zh=str(f.get("zh", code)),
                en=str(f.get("en", code)),
                cls=str(cls),
                layer_min=layer,
                osm=rules,
                amap_typecodes=tuple(str(c) for c in f.get("amap_typecodes", [])),
                amap_types=tuple(f.get("amap_types", [])),
                name_keywords=tuple(f.get("name_keywords", [])),
                typical_floor_area_m2=area,
            )
        )
    if not formats:
        problems.append(t("配置中没有任何业态 [[format]]", "the profile defines no [[format]]"))
    if problems:
        raise ConfigError(f"{src}: " + "; ".join(problems))
    extra = {k: v for k, v in raw.items() if k not in ("profile", "walking", "format", "extends", "disable")}
    return Profile(
        name=str(meta.get("name", Path(src).stem)),
        title_zh=str(meta.get("title_zh", "")),
        title_en=str(meta.get("title_en", "")),
        version=str(meta.get("version", "")),
        source=str(meta.get("source", "")),
        walking=walking,
        formats=formats,
        extra=extra,
    )
