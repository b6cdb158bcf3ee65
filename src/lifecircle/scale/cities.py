"""Evaluate many cities in parallel on a Dask cluster: one task per city, each loading or building
its city, building its walking network and running
:func:`lifecircle.indicators.evaluate.evaluate_city`; the client gets one row of headline figures
per city (shares 0..1, speeds km/h, times in seconds).

Each row also carries ``f15`` and ``f15_elderly`` (:func:`city_evaluation`): the residents' share
within 15 minutes' walk of every basic format, from the city's walking-time surface, as the
fairness table gives it (older residents at their speed, weighted by older residents).

A city that cannot be evaluated because of its data (a :class:`LifecircleError`) does not stop
the others: its row carries the one-line message in ``error``. Anything else is a bug and is
raised.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from lifecircle.errors import ConfigError, LifecircleError
from lifecircle.i18n import get_lang, t, use_lang
from lifecircle.scale.cluster import use_worker_threads, wait_all

DEMO = "demo"
STORE = "store"


@dataclass(frozen=True)
class CitySource:
    """Where one city comes from: the synthetic demo generator (``seed``, ``scale``) or a city
    ``name`` in a city store (``store``: SQLite file or database URL). ``profile`` overrides the
    city's own profile; ``label`` names the row (default: the city name or ``demo-<seed>``).
    ``ident`` names the city in a batch (its marker, its entry in the batch's store, see
    :attr:`city_id`) when the label is only for display: a demo city's label is in the UI language."""

    kind: str
    label: str = ""
    seed: int = 2022
    scale: float = 0.05
    store: str = ""
    name: str = ""
    profile: str | None = None
    ident: str = ""

    def __post_init__(self) -> None:
        if self.kind not in (DEMO, STORE):
            raise ConfigError(
                t(
                    f"城市来源类型须为 demo 或 store，而不是 '{self.kind}'",
                    f"a city source must be demo or store, not '{self.kind}'",
                )
            )
        if self.kind == STORE and not (self.store and self.name):
            raise ConfigError(t("store 类城市来源需要 store 与 name", "a store city source needs store and name"))

    @property
    def title(self) -> str:
        """The name shown for the city (its row's label)."""
        if self.label:
            return self.label
        return f"demo-{self.seed}" if self.kind == DEMO else self.name

    @property
    def city_id(self) -> str:
        """The city's identity in a batch, the same in every UI language: ``ident``, else the title."""
        return self.ident or self.title


def demo_sources(n: int, *, scale: float = 0.05, first_seed: int = 1) -> list[CitySource]:
    """``n`` synthetic demo cities with seeds ``first_seed ..`` and scales cycling around
    ``scale`` (×1, ×1.5, ×2) so the cities differ in size as well as layout."""
    if n < 1:
        raise ConfigError(t(f"--demo 须至少为 1（收到 {n}）", f"--demo must be at least 1 (got {n})"))
    if not 0.01 <= scale <= 4.0:  # NaN too: min(4, nan) below would run the largest cities
        raise ConfigError(
            t(
                f"--demo-scale 须在 0.01 到 4 之间（收到 {scale}）",
                f"--demo-scale must be between 0.01 and 4 (got {scale})",
            )
        )
    factors = (1.0, 1.5, 2.0)
    return [
        CitySource(
            DEMO,
            label=t(f"演示-{first_seed + i}（合成）", f"demo-{first_seed + i} (synthetic)"),
            ident=f"demo-{first_seed + i}",  # a rerun in the other language is the same city
            seed=first_seed + i,
            scale=min(4.0, scale * factors[i % len(factors)]),
        )
        for i in range(n)
    ]


def evaluate_source(src: CitySource, lang: str | None = None) -> dict[str, Any]:
    """Load or build one city, build its network and evaluate it; one row of headline figures.
    Runs on a worker (or anywhere)."""
    return evaluate_source_city(src, lang)[0]


def evaluate_source_city(src: CitySource, lang: str | None = None) -> tuple[dict[str, Any], Any]:
    """:func:`evaluate_source`, and the city itself (a :class:`lifecircle.city.model.City`, None
    when it could not be loaded or built), for a batch that stores it."""
    use_worker_threads()
    t0 = time.perf_counter()
    row = base_row(src)
    with use_lang(lang):
        try:
            city, net, profile = source_city_network(src)
            ev, fair = city_evaluation(city, net, profile)
        except LifecircleError as exc:
            return failed_row(row, src, exc, t0), None
    return evaluation_row(row, net, ev, t0, fair), city


def city_evaluation(city: Any, net: Any, profile: Any, *, walks: Any = None) -> tuple[Any, dict[str, float]]:
    """:func:`lifecircle.indicators.evaluate.evaluate_city` of ``city`` on ``net``, and its F15:
    ``{"f15": ..., "f15_elderly": ...}`` (shares 0..1, NaN without residents), the city row of
    :func:`lifecircle.indicators.fairness.city_f15` on the city's walking-time surface
    (:func:`lifecircle.indicators.surface.build_surface`, H3 resolution 9).

    Cost: the surface is built once per city. Evaluated whole, it takes the per-node nearest
    distances of the evaluation's own engine pass (:class:`NodeKeepingWalks`), so the network is
    walked once; what it adds is an H3 cell per node, the communities snapped again and the
    per-node distances kept (``n_nodes × n_formats`` × 8 bytes) until the surface is built. With
    ``walks`` (a city computed in tiles, whose tiles walk from the communities only) the surface
    walks the whole network once more: one nearest search per format over every node, no counts."""
    from lifecircle.indicators.access import NodeKeepingWalks
    from lifecircle.indicators.evaluate import evaluate_city
    from lifecircle.indicators.fairness import city_f15
    from lifecircle.indicators.surface import build_surface

    keep = NodeKeepingWalks() if walks is None else None
    ev = evaluate_city(city, net, profile, walks=walks or keep)
    node_m = keep.node_m if keep is not None else None
    surface = build_surface(city, net, profile, node_m=node_m)
    return ev, {"f15": city_f15(surface), "f15_elderly": city_f15(surface, elderly=True)}


def source_city_network(src: CitySource) -> tuple[Any, Any, Any]:
    """The city of ``src``, its walking network and its profile (the row's ``profile``, else the
    city's own): what every batch step evaluates. Raises :class:`LifecircleError` on bad input."""
    from lifecircle.profile import load_profile
    from lifecircle.sources.network_loader import network_from_city

    city = source_city(src)
    return city, network_from_city(city), load_profile(src.profile or city.profile)


def base_row(src: CitySource) -> dict[str, Any]:
    """The first columns of a city's row: ``label, kind, seed, scale, error``."""
    return {
        "label": src.title,
        "kind": src.kind,
        "seed": src.seed if src.kind == DEMO else None,
        "scale": src.scale if src.kind == DEMO else None,
        "error": "",
    }


def source_city(src: CitySource) -> Any:
    """The city of ``src`` (a :class:`lifecircle.city.model.City`): built by the demo generator
    or loaded from its store. Raises a :class:`LifecircleError` when it cannot be."""
    if src.kind == DEMO:
        from lifecircle.city.demo import build_demo_city

        return build_demo_city(seed=src.seed, scale=src.scale)
    from lifecircle.city.store import load_city

    return load_city(src.store, src.name)


def failed_row(row: dict[str, Any], src: CitySource, exc: BaseException, t0: float) -> dict[str, Any]:
    """``row`` of a city that could not be evaluated: the message in ``error``, seconds since ``t0``."""
    row.update(synthetic=src.kind == DEMO, seconds=time.perf_counter() - t0, error=str(exc))
    return row


def evaluation_row(
    row: dict[str, Any], net: Any, ev: Any, t0: float, fairness: dict[str, float] | None = None
) -> dict[str, Any]:
    """``row`` completed from an evaluation ``ev`` on ``net``: ``source``, network size, the
    city-level figures (scalars), the ``fairness`` figures (``f15``, ``f15_elderly``: shares 0..1,
    see :func:`city_evaluation`) and ``seconds`` since ``t0``."""
    row["source"] = "synthetic" if ev.synthetic else ""
    row["n_nodes"] = net.n_nodes
    row["n_edges"] = net.n_edges
    for k, v in ev.city.items():
        if isinstance(v, str | bool | int | float) or v is None:
            row[k] = v
    row.update(fairness or {})
    row["seconds"] = time.perf_counter() - t0
    return row


def evaluate_many(
    city_sources: Sequence[CitySource],
    client: Any,
    *,
    on_progress: Callable[[int, int], None] | None = None,
) -> pd.DataFrame:
    """Evaluate every city of ``city_sources`` on the cluster behind ``client`` (one task per
    city); rows in the order given. ``on_progress(done, total)`` is called as cities finish.
    Columns: ``label, kind, seed, scale, error, source, n_nodes, n_edges``, the city-level figures
    of the evaluation (``population``, ``basic_coverage`` ... see
    :mod:`lifecircle.indicators.evaluate`) and ``seconds`` (wall time of the task)."""
    srcs = list(city_sources)
    futures = [client.submit(evaluate_source, s, get_lang(), pure=False) for s in srcs]
    wait_all(futures, on_progress)
    rows = client.gather(futures)
    client.cancel(futures)
    df = pd.DataFrame(rows)
    if "synthetic" in df.columns:
        df["synthetic"] = df["synthetic"].fillna(False).astype(bool)
    return df


def store_sources(store: str | Path, names: Sequence[str], profile: str | None = None) -> list[CitySource]:
    """One source per city ``names`` in the city store ``store`` (SQLite file or database URL)."""
    return [CitySource(STORE, label=n, store=str(store), name=n, profile=profile) for n in names]
