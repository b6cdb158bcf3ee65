"""The :class:`City`: every validated table of one city, plus its profile and provenance."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import geopandas as gpd
import pandas as pd

from lifecircle.city.schema import TABLES


@dataclass
class City:
    """A city's validated data (all WGS-84). Empty tables are allowed except districts/streets
    for an evaluation. ``synthetic`` is True when any table was generated, and everything shown
    from such a city says so (合成数据 / synthetic)."""

    name: str
    profile: str = "yichang-2022"
    synthetic: bool = False
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    credits: list[str] = field(default_factory=list)  # data sources to credit wherever shown
    title: str = ""  # display name, e.g. 宜昌市; ``name`` is the store key
    # how the city was made, e.g. {"name": "yichang-demo", "scale": 0.1, "seed": 7}; stored as JSON
    provenance: dict[str, Any] = field(default_factory=dict)

    @property
    def display_name(self) -> str:
        """The name to show people: the title, else the store name."""
        return self.title or self.name

    @property
    def origin_label(self) -> str:
        """The city it is, for footers and messages: name plus how it was made (scale, seed)."""
        return city_label(self.name, self.provenance)

    def table(self, name: str) -> pd.DataFrame:
        """The table ``name`` (an empty frame with the schema's columns if the city has none)."""
        if name not in TABLES:
            raise KeyError(name)
        df = self.tables.get(name)
        if df is None:
            cols = [c.name for c in TABLES[name]]
            df = pd.DataFrame({c: [] for c in cols})
            if "geometry" in cols:
                df = gpd.GeoDataFrame(df, geometry="geometry", crs=4326)
        return df

    def __getattr__(self, name: str) -> pd.DataFrame:
        if name in TABLES:
            return self.table(name)
        raise AttributeError(name)


def city_label(name: str | None, provenance: dict[str, Any] | None) -> str:
    """``name`` with its provenance, e.g. ``yichang-demo (demo, scale 1, seed 2022)``: the one
    spelling of "which city" used in report footers, scenario files and refusals."""
    prov = provenance or {}
    parts = []
    if prov.get("generator"):
        parts.append(str(prov["generator"]))
    for key in ("scale", "seed"):
        if prov.get(key) is not None:
            v = prov[key]
            parts.append(f"{key} {v:g}" if isinstance(v, float) else f"{key} {v}")
    parts += [f"{k} {v}" for k, v in prov.items() if k not in ("generator", "scale", "seed")]
    return f"{name or '?'} ({', '.join(parts)})" if parts else str(name or "?")


def same_city(
    name_a: str | None, prov_a: dict[str, Any] | None, name_b: str | None, prov_b: dict[str, Any] | None
) -> bool:
    """Whether two (name, provenance) pairs are the same city. A missing provenance on either side
    (data imported before provenance was recorded) compares by name only."""
    if (name_a or None) != (name_b or None):
        return False
    if not prov_a or not prov_b:
        return True
    keys = ("generator", "scale", "seed")
    return all(_norm(prov_a.get(k)) == _norm(prov_b.get(k)) for k in keys)


def _norm(v: Any) -> Any:
    return float(v) if isinstance(v, int | float) and not isinstance(v, bool) else v
