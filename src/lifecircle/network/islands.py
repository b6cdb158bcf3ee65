"""Pieces of a walking network that do not connect to the rest (孤岛), and who lives on them.

Real street files have pieces that reach nothing: a gated compound's internal roads digitised
without their gate, a footpath in a park, a bridge drawn without its ramps. Two rules:

- **Pieces that are too small are dropped** before anything is snapped: a piece with less than
  ``min_piece_m`` metres of street (the profile's ``[walking] min_piece_m``) is removed, so a
  home next to it snaps to the nearest street that goes somewhere (if one is within the snap limit).
  Dropped pieces are listed, never hidden.
- **Points on the pieces that are kept but are not the main network are named.** A community on an
  island reaches only what is on the island; it is listed with its piece (size, metres of street)
  in every command that walks, so that "uncovered" is never a silent artefact of the street data.

Piece 0 is the largest piece (by number of nodes), as in :attr:`WalkNetwork.components`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from lifecircle.i18n import t
from lifecircle.network.graph import WalkNetwork, take_lines
from lifecircle.network.snap import Snapped, snap_lonlat

PIECE_COLUMNS = ["piece", "nodes", "edges", "length_m"]
POINT_COLUMNS = ["table", "id", "name", "piece", "piece_nodes", "piece_length_m"]


def piece_table(net: WalkNetwork) -> pd.DataFrame:
    """One row per connected piece of ``net``: ``piece`` (0 = largest), ``nodes``, ``edges`` and
    ``length_m`` (metres of street), largest first."""
    comp = net.components
    n_p = int(comp.max()) + 1 if len(comp) else 0
    e_comp = comp[net.edge_u]
    return pd.DataFrame(
        {
            "piece": np.arange(n_p, dtype=np.int64),
            "nodes": np.bincount(comp, minlength=n_p).astype(np.int64),
            "edges": np.bincount(e_comp, minlength=n_p).astype(np.int64),
            "length_m": np.bincount(e_comp, weights=net.edge_len, minlength=n_p),
        },
        columns=PIECE_COLUMNS,
    )


def drop_small_pieces(net: WalkNetwork, min_piece_m: float) -> tuple[WalkNetwork, pd.DataFrame]:
    """``net`` without the pieces holding less than ``min_piece_m`` metres of street, and a table
    of the dropped pieces (columns of :func:`piece_table` plus ``lon, lat`` of a node of each).

    The largest piece is always kept. With nothing to drop, ``net`` itself is returned (no copy).
    """
    pieces = piece_table(net)
    small = (pieces["length_m"].to_numpy() < min_piece_m) & (pieces["piece"].to_numpy() != 0)
    if not small.any():
        return net, _with_lonlat(net, pieces.iloc[0:0])
    dropped = _with_lonlat(net, pieces[small])
    keep_node = ~small[net.components]
    new_index = np.full(net.n_nodes, -1, dtype=np.int64)
    new_index[keep_node] = np.arange(int(keep_node.sum()))
    keep_edge = keep_node[net.edge_u]
    xy, ptr = take_lines(net.edge_xy, net.edge_ptr, np.flatnonzero(keep_edge))
    kept = WalkNetwork(
        crs=net.crs,
        node_x=net.node_x[keep_node].copy(),
        node_y=net.node_y[keep_node].copy(),
        edge_u=new_index[net.edge_u[keep_edge]].astype(np.int32),
        edge_v=new_index[net.edge_v[keep_edge]].astype(np.int32),
        edge_len=net.edge_len[keep_edge].copy(),
        edge_xy=xy,
        edge_ptr=ptr,
        node_id=net.node_id[keep_node].copy(),
        source=net.source,
        edge_level=None if net.edge_level is None else net.edge_level[keep_edge].copy(),
        noding=net.noding,
    )
    return kept, dropped


def _with_lonlat(net: WalkNetwork, pieces: pd.DataFrame) -> pd.DataFrame:
    """``pieces`` with the WGS-84 position of one node of each (to find it on a map)."""
    out = pieces.reset_index(drop=True).copy()
    if len(out) == 0:
        out["lon"] = pd.Series(dtype=float)
        out["lat"] = pd.Series(dtype=float)
        return out
    comp = net.components
    first = np.full(int(comp.max()) + 1, -1, dtype=np.int64)
    order = np.arange(net.n_nodes)[::-1]
    first[comp[order]] = order  # the lowest node index of each piece wins (written last)
    nodes = first[out["piece"].to_numpy()]
    lon, lat = net.to_wgs84.transform(net.node_x[nodes], net.node_y[nodes])
    out["lon"], out["lat"] = lon, lat
    return out


@dataclass
class Islands:
    """What sits on the network's islands (pieces other than the largest) and what was dropped.

    ``points``: one row per community / outlet / origin snapped onto an island (columns
    :data:`POINT_COLUMNS`); ``dropped``: pieces removed for being shorter than ``min_piece_m``
    metres; ``pieces``: every piece kept."""

    min_piece_m: float
    pieces: pd.DataFrame
    dropped: pd.DataFrame
    points: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=POINT_COLUMNS))

    @property
    def n_islands(self) -> int:
        """Kept pieces other than the main one."""
        return max(len(self.pieces) - 1, 0)

    def on_island(self, table: str) -> pd.DataFrame:
        """The rows of ``points`` for one table (communities, outlets, origins)."""
        return self.points[self.points["table"] == table]

    def lines(self, max_ids: int = 10) -> list[str]:
        """Plain-language lines for a terminal or a report (empty when the network is one piece
        and nothing was dropped)."""
        out: list[str] = []
        if len(self.dropped):
            m = float(self.dropped["length_m"].sum())
            out.append(
                t(
                    f"路网：{len(self.dropped)} 个不足 {self.min_piece_m:g} 米的孤立路段已剔除（共 {m:,.0f} 米），"
                    "附近的点改连最近的连通道路",
                    f"network: {len(self.dropped)} isolated pieces shorter than {self.min_piece_m:g} m were dropped "
                    f"({m:,.0f} m in all); "
                    "points near them snap to the nearest connected street",
                )
            )
        if self.n_islands:
            main = self.pieces.iloc[0]
            out.append(
                t(
                    f"路网：主网之外还有 {self.n_islands} 个互不连通的部分（孤岛），主网 {int(main['nodes']):,} 个节点",
                    f"network: {self.n_islands} pieces do not connect to the main network (islands); the main one has "
                    f"{int(main['nodes']):,} nodes",
                )
            )
        for table, zh, en in (
            ("communities", "小区", "communities"),
            ("outlets", "网点", "outlets"),
            ("origins", "起点", "origins"),
        ):
            sub = self.on_island(table)
            if len(sub) == 0:
                continue
            ids = "、".join(
                f"{i}（{n}）" if isinstance(n, str) and n and n != i else str(i)
                for i, n in zip(sub["id"].astype(str).head(max_ids), sub["name"].head(max_ids), strict=True)
            )
            more = t(f" 等 {len(sub)} 个", f" and {len(sub) - max_ids} more") if len(sub) > max_ids else ""
            out.append(
                t(
                    f"{len(sub)} 个{zh}位于孤岛上，只能到达孤岛内的设施（请检查道路数据是否缺少连接）：{ids}{more}",
                    f"{len(sub)} {en} sit on islands and reach only what is on their island (check the street data "
                    f"for missing links): {ids}{more}",
                )
            )
        return out


def find_islands(
    net: WalkNetwork,
    dropped: pd.DataFrame,
    min_piece_m: float,
    points: dict[str, tuple[pd.DataFrame, Snapped]] | None = None,
) -> Islands:
    """The :class:`Islands` of ``net``: ``points`` maps a table name to its rows (``id``, optional
    ``name``) and their snapped positions; rows snapped to a piece other than the largest are listed."""
    pieces = piece_table(net)
    parts: list[pd.DataFrame] = []
    comp = net.components
    for table, (df, snapped) in (points or {}).items():
        if len(df) == 0:
            continue
        piece = np.where(snapped.ok, comp[net.edge_u[snapped.edge]], 0)
        on = np.flatnonzero(piece > 0)
        if len(on) == 0:
            continue
        ids = df["id"].astype(str).to_numpy()[on] if "id" in df.columns else on.astype(str)
        names = df["name"].to_numpy(dtype=object)[on] if "name" in df.columns else np.full(len(on), None, dtype=object)
        p = piece[on]
        parts.append(
            pd.DataFrame(
                {
                    "table": table,
                    "id": ids,
                    "name": names,
                    "piece": p.astype(np.int64),
                    "piece_nodes": pieces["nodes"].to_numpy()[p],
                    "piece_length_m": pieces["length_m"].to_numpy()[p],
                },
                columns=POINT_COLUMNS,
            )
        )
    pts = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=POINT_COLUMNS)
    return Islands(min_piece_m=min_piece_m, pieces=pieces, dropped=dropped, points=pts)


def network_islands(net: WalkNetwork, points: dict[str, tuple[pd.DataFrame, Snapped]] | None = None) -> Islands:
    """The islands of ``net`` with the given snapped points on them, and the pieces dropped when
    the network was built (``net.dropped_pieces``, see
    :func:`lifecircle.sources.network_loader.prune_network`)."""
    dropped = net.dropped_pieces if net.dropped_pieces is not None else pd.DataFrame(columns=PIECE_COLUMNS)
    return find_islands(net, dropped, net.min_piece_m, points)


def islands_of_tables(net: WalkNetwork, tables: dict[str, pd.DataFrame], snap_max_m: float) -> Islands:
    """:func:`network_islands` for tables of points (``id``, ``lon``, ``lat``, optional ``name``;
    WGS-84), each snapped within ``snap_max_m`` metres; empty tables are skipped."""
    points = {
        name: (df, snap_lonlat(net, df["lon"].to_numpy(float), df["lat"].to_numpy(float), snap_max_m))
        for name, df in tables.items()
        if df is not None and len(df)
    }
    return network_islands(net, points)
