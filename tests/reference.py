"""An independent reference for the engine: networkx Dijkstra on a graph where every snapped
point is an explicit node, joined to the split street by a spur of its offset length."""

from __future__ import annotations

import networkx as nx
import numpy as np

from lifecircle.network import Snapped, WalkNetwork


def build_reference(net: WalkNetwork, groups: dict[str, Snapped]) -> nx.Graph:
    """Graph with nodes ('n', i) for network nodes and (name, k) for each snapped point."""
    g = nx.Graph()
    on_edge: dict[int, list[tuple[float, tuple]]] = {}
    for name, pts in groups.items():
        for k in range(len(pts)):
            if not pts.ok[k]:
                continue
            on_edge.setdefault(int(pts.edge[k]), []).append((float(pts.pos_m[k]), (name, k), float(pts.offset_m[k])))
    for i in range(net.n_nodes):
        g.add_node(("n", i))
    for e in range(net.n_edges):
        u, v, L = int(net.edge_u[e]), int(net.edge_v[e]), float(net.edge_len[e])
        stops = sorted(on_edge.get(e, []), key=lambda s: s[0])
        prev, prev_pos = ("n", u), 0.0
        for pos, key, off in stops:
            anchor = ("a",) + key
            g.add_edge(prev, anchor, weight=pos - prev_pos) if prev != anchor else None
            g.add_edge(anchor, key, weight=off)
            prev, prev_pos = anchor, pos
        w = L - prev_pos
        if g.has_edge(prev, ("n", v)):
            w = min(w, g[prev][("n", v)]["weight"])
        g.add_edge(prev, ("n", v), weight=w)
    return g


def reference_nearest(net: WalkNetwork, origins: Snapped, sources: Snapped, cat: np.ndarray, n_cat: int) -> np.ndarray:
    g = build_reference(net, {"o": origins, "s": sources})
    out = np.full((len(origins), n_cat), np.inf)
    for c in range(n_cat):
        srcs = [("s", k) for k in range(len(sources)) if sources.ok[k] and cat[k] == c]
        if not srcs:
            continue
        dist = nx.multi_source_dijkstra_path_length(g, srcs, weight="weight")
        for o in range(len(origins)):
            if origins.ok[o]:
                out[o, c] = dist.get(("o", o), np.inf)
    return out


def reference_counts(
    net: WalkNetwork, origins: Snapped, sources: Snapped, cat: np.ndarray, n_cat: int, thr: list[float]
) -> np.ndarray:
    g = build_reference(net, {"o": origins, "s": sources})
    out = np.zeros((len(origins), n_cat, len(thr)), dtype=int)
    for o in range(len(origins)):
        if not origins.ok[o]:
            continue
        dist = nx.single_source_dijkstra_path_length(g, ("o", o), cutoff=max(thr) + 1e-9, weight="weight")
        for k in range(len(sources)):
            d = dist.get(("s", k))
            if d is None or not sources.ok[k]:
                continue
            for j, tt in enumerate(thr):
                if d <= tt + 1e-9:
                    out[o, cat[k], j] += 1
    return out
