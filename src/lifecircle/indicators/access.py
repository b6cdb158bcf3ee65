"""Walking access of a city's communities to its outlets, per format (M1, M7).

Outlets that serve several formats (``formats = "a;b"``, 一店多能) are exploded into one source per
format, so such an outlet counts once in each of its formats. Communities and outlets are snapped
to the network's edges (``profile.walking.snap_max_m`` metres at most); points farther from every
street are reported and left out (their distances are NaN, so they reach nothing).

The engine runs once for all formats: one :func:`nearest_per_category` call (distance does not
depend on speed; minutes at the default and the older residents' speed are derived from it) and
one :func:`count_within` call at the walking layers (5/10/15 minutes at the default speed).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from lifecircle.city.schema import split_formats
from lifecircle.i18n import t
from lifecircle.network import Snapped, WalkNetwork, count_within, nearest_per_category
from lifecircle.network.engine import metres, nearest_per_category_nodes, within
from lifecircle.network.snap import snap_lonlat
from lifecircle.profile import Profile


@dataclass
class ExplodedOutlets:
    """One row per outlet x format: ``outlet`` (row position in the outlets table), ``cat``
    (index into ``profile.codes``). ``unknown`` lists (outlet id, code) pairs not in the profile."""

    outlet: NDArray[np.int64]
    cat: NDArray[np.int64]
    unknown: list[tuple[str, str]] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.outlet)


def explode_outlets(outlets: pd.DataFrame, profile: Profile) -> ExplodedOutlets:
    """Split each outlet's ``formats`` field into one entry per known format code (a code repeated
    in one outlet counts once). Codes the profile does not know are returned in ``unknown``."""
    index = {c: i for i, c in enumerate(profile.codes)}
    rows: list[int] = []
    cats: list[int] = []
    unknown: list[tuple[str, str]] = []
    ids = outlets["id"].astype(str).tolist() if "id" in outlets else [str(i) for i in range(len(outlets))]
    values = outlets["formats"].tolist() if "formats" in outlets else [""] * len(outlets)
    for k, value in enumerate(values):
        if not isinstance(value, str):
            continue
        seen: set[int] = set()
        for code in split_formats(value):
            c = index.get(code)
            if c is None:
                unknown.append((ids[k], code))
            elif c not in seen:
                seen.add(c)
                rows.append(k)
                cats.append(c)
    return ExplodedOutlets(np.asarray(rows, dtype=np.int64), np.asarray(cats, dtype=np.int64), unknown)


@dataclass
class CityAccess:
    """Access matrices of communities (rows, in the communities table's order) to formats (columns,
    in ``profile.codes`` order).

    ``nearest_m``: metres to the nearest outlet of the format (NaN = unreachable or unsnapped);
    ``counts[o, c, k]``: outlets of format ``c`` within ``layers_min[k]`` minutes at ``speed_kmh``;
    ``within`` / ``within_elderly``: the nearest outlet is within the format's ``layer_min`` at
    the default / older residents' speed.
    """

    codes: list[str]
    speed_kmh: float
    elderly_speed_kmh: float
    layers_min: tuple[float, ...]
    nearest_m: NDArray[np.float64]
    counts: NDArray[np.int32]
    within: NDArray[np.bool_]
    within_elderly: NDArray[np.bool_]
    communities: Snapped
    outlets: Snapped
    exploded: ExplodedOutlets

    @property
    def nearest_min(self) -> NDArray[np.float64]:
        """Minutes to the nearest outlet at the default speed."""
        return self.nearest_m / (self.speed_kmh * 1000.0 / 60.0)

    @property
    def nearest_min_elderly(self) -> NDArray[np.float64]:
        """Minutes to the nearest outlet at the older residents' speed."""
        return self.nearest_m / (self.elderly_speed_kmh * 1000.0 / 60.0)


Walks = Callable[
    [WalkNetwork, Snapped, NDArray[np.int64], int, Snapped, list[float]],
    tuple[NDArray[np.float64], NDArray[np.int32]],
]
"""``walks(net, sources, category, n_cat, origins, thresholds_m) -> (nearest, counts)``: the engine
pass of :func:`compute_access` — nearest metres per origin and category (``inf`` = none) and the
counts within each threshold (metres), as :func:`engine_walks` computes them on the whole network.
The province batch passes one holding the same figures computed in tiles
(:mod:`lifecircle.scale.city_tiles`)."""


def engine_walks(
    net: WalkNetwork,
    sources: Snapped,
    category: NDArray[np.int64],
    n_cat: int,
    origins: Snapped,
    thresholds_m: list[float],
) -> tuple[NDArray[np.float64], NDArray[np.int32]]:
    """The one engine pass on the whole network: :func:`nearest_per_category` (metres) and
    :func:`count_within` at ``thresholds_m`` (metres)."""
    dist, _ = nearest_per_category(net, sources, category, n_cat, origins)
    return dist, count_within(net, sources, category, n_cat, origins, thresholds_m)


@dataclass
class NodeKeepingWalks:
    """:func:`engine_walks` that also keeps what its search found at every network node:
    ``node_m``, metres from each node to the nearest source of each category (``(n_nodes,
    n_cat)``, ``inf`` = none; None until called — e.g. a city without communities or outlets is
    never walked). A walking-time surface built after the evaluation takes it
    (:func:`lifecircle.indicators.surface.build_surface`'s ``node_m``) instead of walking again."""

    node_m: NDArray[np.float64] | None = None

    def __call__(
        self,
        net: WalkNetwork,
        sources: Snapped,
        category: NDArray[np.int64],
        n_cat: int,
        origins: Snapped,
        thresholds_m: list[float],
    ) -> tuple[NDArray[np.float64], NDArray[np.int32]]:
        dist, _, self.node_m = nearest_per_category_nodes(net, sources, category, n_cat, origins)
        return dist, count_within(net, sources, category, n_cat, origins, thresholds_m)


@dataclass
class AccessInputs:
    """What the engine pass of :func:`compute_access` starts from: the communities and outlets
    snapped to the network (metres in its CRS), the outlets exploded by format, the sources (one
    snapped point per outlet × format) and the walking layers as metres at the default speed."""

    communities: Snapped
    outlets: Snapped
    exploded: ExplodedOutlets
    sources: Snapped
    thresholds_m: list[float]


def access_inputs(net: WalkNetwork, communities: pd.DataFrame, outlets: pd.DataFrame, profile: Profile) -> AccessInputs:
    """Snap the communities and outlets (``profile.walking.snap_max_m`` metres at most) and
    explode the outlets by format, as :func:`compute_access` does before its engine pass."""
    w = profile.walking
    comm = snap_lonlat(net, communities["lon"].to_numpy(float), communities["lat"].to_numpy(float), w.snap_max_m)
    outl = snap_lonlat(net, outlets["lon"].to_numpy(float), outlets["lat"].to_numpy(float), w.snap_max_m)
    ex = explode_outlets(outlets, profile)
    sources = outl.subset(ex.outlet) if len(ex) else outl.subset(np.zeros(len(outl), dtype=bool))
    return AccessInputs(comm, outl, ex, sources, [float(metres(float(m), w.speed_kmh)) for m in w.layers_min])


def compute_access(
    net: WalkNetwork,
    communities: pd.DataFrame,
    outlets: pd.DataFrame,
    profile: Profile,
    *,
    walks: Walks | None = None,
) -> CityAccess:
    """Nearest distance and counts within the walking layers from every community to every format.

    Distances in metres along the network (including the walk to and from the street); minutes at
    ``profile.walking.speed_kmh`` and ``elderly_speed_kmh`` (km/h). ``walks`` replaces the engine
    pass (default :func:`engine_walks`; see :data:`Walks`).
    """
    w = profile.walking
    n_fmt = len(profile.codes)
    inputs = access_inputs(net, communities, outlets, profile)
    comm, outl, ex, sources = inputs.communities, inputs.outlets, inputs.exploded, inputs.sources
    n_c = len(communities)
    layers = tuple(float(x) for x in w.layers_min)
    if n_c == 0:
        empty = np.zeros((0, n_fmt))
        return CityAccess(
            profile.codes,
            w.speed_kmh,
            w.elderly_speed_kmh,
            layers,
            empty,
            np.zeros((0, n_fmt, len(layers)), np.int32),
            empty.astype(bool),
            empty.astype(bool),
            comm,
            outl,
            ex,
        )
    if len(ex) and sources.ok.any():
        dist, counts = (walks or engine_walks)(net, sources, ex.cat, n_fmt, comm, inputs.thresholds_m)
    else:
        dist = np.full((n_c, n_fmt), np.inf)
        counts = np.zeros((n_c, n_fmt, len(layers)), dtype=np.int32)
    dist = np.where(np.isfinite(dist), dist, np.nan)
    layer_min = np.array([f.layer_min for f in profile.formats])
    in_layer = within(dist, metres(layer_min, w.speed_kmh)[None, :])
    in_layer_old = within(dist, metres(layer_min, w.elderly_speed_kmh)[None, :])
    return CityAccess(
        profile.codes, w.speed_kmh, w.elderly_speed_kmh, layers, dist, counts, in_layer, in_layer_old, comm, outl, ex
    )


def access_table(acc: CityAccess, community_ids: NDArray | list) -> pd.DataFrame:
    """The long access table: one row per community x format (see the evaluation contract)."""
    n_c, n_f = acc.nearest_m.shape
    data: dict[str, object] = {
        "community_id": np.repeat(np.asarray(community_ids, dtype=object), n_f),
        "format": np.tile(np.asarray(acc.codes, dtype=object), n_c),
        "nearest_m": acc.nearest_m.ravel(),
        "nearest_min": acc.nearest_min.ravel(),
        "nearest_min_elderly": acc.nearest_min_elderly.ravel(),
    }
    for k, m in enumerate(acc.layers_min):
        data[f"n_{m:g}min"] = acc.counts[:, :, k].ravel()
    data["within_layer"] = acc.within.ravel()
    data["within_layer_elderly"] = acc.within_elderly.ravel()
    return pd.DataFrame(data)


def unsnapped_report(acc: CityAccess, communities: pd.DataFrame, outlets: pd.DataFrame, max_m: float) -> pd.DataFrame:
    """Communities and outlets farther than ``max_m`` metres from every street: table, id, name,
    lon, lat, and a message. They are left out of every distance (they reach nothing)."""
    parts = []
    for table, snapped, df in (("communities", acc.communities, communities), ("outlets", acc.outlets, outlets)):
        bad = ~snapped.ok
        if not bad.any():
            continue
        sub = df.loc[bad, [c for c in ("id", "name", "lon", "lat") if c in df.columns]].copy()
        sub.insert(0, "table", table)
        sub["message"] = t(
            f"距最近道路超过 {max_m:g} 米，未计入步行可达",
            f"more than {max_m:g} m from every street; left out of walking access",
        )
        parts.append(sub)
    if not parts:
        return pd.DataFrame(columns=["table", "id", "name", "lon", "lat", "message"])
    return pd.concat(parts, ignore_index=True)
