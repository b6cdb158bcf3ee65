"""The long accessibility table: one row per origin and format, as the ``access`` command writes.

Columns: ``origin_id, lon, lat, format, format_zh, class, layer_min, nearest_m, nearest_min,
n_5min, n_10min, n_15min (one per layer minute), within_layer, nearest_outlet``. ``nearest_m`` is
empty (NaN) when no outlet of the format is reachable.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from lifecircle.network.engine import count_within, metres, minutes, nearest_per_category, within
from lifecircle.network.graph import WalkNetwork
from lifecircle.network.snap import Snapped, snap_lonlat
from lifecircle.profile import Format, Profile


@dataclass
class AccessTable:
    """The table plus what was left out: points farther than the snap limit from every street."""

    table: pd.DataFrame
    unsnapped_origins: pd.DataFrame
    unsnapped_outlets: pd.DataFrame
    notes: list[str] = field(default_factory=list)


def access_table(
    net: WalkNetwork,
    origins: pd.DataFrame | None,
    outlets: pd.DataFrame,
    profile: Profile,
    *,
    speed_kmh: float | None = None,
    formats: list[str] | None = None,
) -> AccessTable:
    """Nearest walking distance and counts within each layer, per origin and format.

    ``origins``: ``id, lon, lat`` (WGS-84) or None for every network node — in the lean network
    built from street lines that is every junction, dead end and level change (not every vertex
    of a street), so shares over nodes weigh junctions, not metres of street. ``outlets``: ``id, name,
    format, lon, lat`` (one row per outlet and format). ``speed_kmh`` defaults to the profile's.
    """
    speed = speed_kmh or profile.walking.speed_kmh
    # a code given twice would leave its first column empty (the outlets go to the last): once each
    fmts = [profile.format(c) for c in dict.fromkeys(formats)] if formats else list(profile.formats)
    codes = [f.code for f in fmts]
    cat_of = {c: i for i, c in enumerate(codes)}
    outlets = outlets[outlets["format"].isin(codes)].reset_index(drop=True)
    max_snap = profile.walking.snap_max_m

    if origins is None:
        lon, lat = net.node_lonlat()
        origins = pd.DataFrame({"id": net.node_id.astype(str), "lon": lon, "lat": lat})
        o_snap = Snapped.at_nodes(net, np.arange(net.n_nodes))
    else:
        o_snap = snap_lonlat(net, origins["lon"].to_numpy(float), origins["lat"].to_numpy(float), max_snap)
    s_snap = snap_lonlat(net, outlets["lon"].to_numpy(float), outlets["lat"].to_numpy(float), max_snap)
    cat = outlets["format"].map(cat_of).to_numpy(np.int64)

    dist, src = nearest_per_category(net, s_snap, cat, len(codes), o_snap)
    layer_min = sorted(set(profile.walking.layers_min))
    counts = count_within(net, s_snap, cat, len(codes), o_snap, [float(metres(m, speed)) for m in layer_min])

    table, unsnapped_o = build_access_table(
        origins, o_snap, dist, src, counts, fmts, outlet_names(outlets), layer_min, speed
    )
    unsnapped_s = outlets.iloc[np.flatnonzero(~s_snap.ok)].copy()
    return AccessTable(table, unsnapped_o, unsnapped_s)


def outlet_names(outlets: pd.DataFrame) -> np.ndarray:
    """The label of each outlet row in the ``nearest_outlet`` column: its ``name``, else its ``id``."""
    return outlets["name"].astype(str).to_numpy() if "name" in outlets else outlets["id"].astype(str).to_numpy()


def format_columns(fmts: Sequence[Format]) -> dict[str, list]:
    """The per-format columns of the table, one entry per format in order: ``format, format_zh,
    class, layer_min`` (the format's walking layer in minutes)."""
    return {
        "format": [f.code for f in fmts],
        "format_zh": [f.zh for f in fmts],
        "class": [f.cls for f in fmts],
        "layer_min": [f.layer_min for f in fmts],
    }


def build_access_table(
    origins: pd.DataFrame,
    o_snap: Snapped,
    dist_m: np.ndarray,
    source: np.ndarray,
    counts: np.ndarray,
    fmts: Sequence[Format],
    names: np.ndarray,
    layer_min: Sequence[float],
    speed_kmh: float,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The long table from computed arrays — the one builder that :func:`access_table` and the
    Dask path (:func:`lifecircle.scale.access.access_table_dask`, per chunk too) share.

    ``origins``: ``id, lon, lat`` (WGS-84), one row per origin, and ``o_snap`` the same origins
    snapped (``ok`` False = farther than the snap limit from every street). ``dist_m[o, f]``:
    nearest walking metres to an outlet of format ``fmts[f]`` (``inf`` = unreachable);
    ``source[o, f]``: that outlet's row in ``names`` (``-1`` = none); ``counts[o, f, k]``: outlets
    within ``layer_min[k]`` minutes (ascending) at ``speed_kmh`` km/h.

    Returns ``(table, unsnapped_origins)``: one row per snapped origin and format, origin-major,
    with ``nearest_m`` NaN where unreachable, ``nearest_min`` in minutes, ``n_<m>min`` per layer,
    ``within_layer`` (nearest within the format's own layer, :func:`within`), ``nearest_outlet``
    (None where unreachable) and ``speed_kmh``; and the unsnapped origins' rows with their
    ``distance_to_street_m`` (metres).
    """
    fcols = format_columns(fmts)
    keep = np.flatnonzero(o_snap.ok)
    n_o, n_f = len(keep), len(fmts)
    d = dist_m[keep]
    nearest_name = np.where(
        source[keep] >= 0, names[np.clip(source[keep], 0, None)] if len(names) else "", np.array(None, dtype=object)
    )
    table = pd.DataFrame(
        {
            "origin_id": np.repeat(origins["id"].astype(str).to_numpy()[keep], n_f),
            "lon": np.repeat(origins["lon"].to_numpy(float)[keep], n_f),
            "lat": np.repeat(origins["lat"].to_numpy(float)[keep], n_f),
            **{k: np.tile(v, n_o) for k, v in fcols.items()},
            "nearest_m": np.where(np.isfinite(d), d, np.nan).ravel(),
        }
    )
    table["nearest_min"] = minutes(table["nearest_m"].to_numpy(), speed_kmh)
    for k, m in enumerate(layer_min):
        table[f"n_{m:g}min"] = counts[keep, :, k].ravel()
    table["within_layer"] = within(table["nearest_m"].to_numpy(), metres(table["layer_min"].to_numpy(), speed_kmh))
    table["nearest_outlet"] = nearest_name.ravel()
    table["speed_kmh"] = speed_kmh
    unsnapped_o = origins.iloc[np.flatnonzero(~o_snap.ok)].copy()
    unsnapped_o["distance_to_street_m"] = o_snap.offset_m[~o_snap.ok]
    return table, unsnapped_o


def coverage_summary(table: pd.DataFrame) -> pd.DataFrame:
    """Per format: origins reached within the layer (share), median nearest minutes, mean count
    within 15 minutes."""
    g = table.groupby(["format", "format_zh", "class", "layer_min"], sort=False)
    last = [c for c in table.columns if c.startswith("n_") and c.endswith("min")][-1]
    return g.agg(
        origins=("origin_id", "size"),
        share_within_layer=("within_layer", "mean"),
        median_nearest_min=("nearest_min", "median"),
        mean_count=(last, "mean"),
    ).reset_index()
