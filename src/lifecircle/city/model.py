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
