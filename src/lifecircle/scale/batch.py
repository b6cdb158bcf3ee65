"""The province batch (issue 13 part 3): many cities on a Dask cluster, one task per city, into
one output folder that a rerun continues.

``out_dir`` holds:

- ``cities.db``: one city store (:mod:`lifecircle.city.store`) with every city evaluated, under its
  batch identity (:attr:`CitySource.city_id`: its label, or ``demo-<seed>`` for a ``--demo`` city,
  whose label is in the UI language: a rerun in the other language finds the same cities);
- ``done/city-<hash>.json``: a done-marker per finished city (named by its identity), holding the
  city's *key* (a hash of its source — identity, kind, seed, scale, store, name, profile, not the
  label shown —, the store's content for a stored city, the profile file, the lifecircle version
  and :data:`BATCH_VERSION`), the batch version that wrote it (``batch``; none before version 2)
  and its row of figures. A rerun skips a city only
  if its marker's key equals the key computed now **and** the store holds the city; anything else
  is evaluated again. A city whose marker an earlier batch version wrote is evaluated again and
  named in :attr:`BatchResult.outdated` (the CLI says so);
- ``cities.csv`` and ``cities.xlsx``: the comparison report, one row per city in the order given,
  with ``status`` (``done`` / ``skipped`` = done by an earlier run / ``failed``) and ``error``; the
  CSV with the column codes (for programs), the workbook in the process language (heads, status in
  words, shares as %, the synthetic note on top); ``cities.html`` the same as a page (bar chart,
  sortable table; in the process language).
  Columns ``f15`` and ``f15_elderly``: the residents' share (0..1) within 15 minutes' walk of
  every basic format, and the older residents' at their speed
  (:func:`lifecircle.scale.cities.city_evaluation`). A city skipped by a rerun keeps the row of its
  marker (labelled in this run's language); one done by batch version 1 (rows without F15) is evaluated again. Column
  ``batch_version``: :data:`BATCH_VERSION`, so that the page tells a city without F15 because
  none of its residents could be placed on its streets (NaN) from a row of an earlier version.

Tasks are submitted with ``retries``; a city whose task still fails, or whose data cannot be
evaluated, is reported by name with a one-line reason and gets no marker (a rerun tries it again);
the other cities finish. Shares are 0..1, times in seconds.

A city whose walking network has more nodes than the threshold (``Tiling.above_nodes``, default
in ``scale-batch.toml``) is computed in tiles (:mod:`lifecircle.scale.city_tiles`): its network
is written under ``networks/`` (or the folder given) while its tiles run, then removed; a failed
tile fails the city with the tile's name. Its figures are those of the untiled evaluation, so its
key is the same: a city done either way is skipped by a rerun; a tiled city stopped half-way has
no marker and is evaluated again from the start (nothing of it was stored). Column ``tiles``:
the number of tiles, 0 for a city evaluated whole.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from lifecircle import __version__
from lifecircle.errors import ConfigError, InputError, InputFileError, Problem
from lifecircle.i18n import get_lang, t
from lifecircle.scale.cities import DEMO, STORE, CitySource
from lifecircle.scale.city_tiles import (
    CityPlan,
    Tiling,
    city_task,
    finish_task,
    submit_key,
    tiling_defaults,
    walk_city,
)
from lifecircle.scale.tiles import TileError
from lifecircle.sources.files import atomic_output, write_table

STORE_FILE = "cities.db"
DONE = "done"
NETWORKS = "networks"  # the networks of tiled cities while their tiles run (removed after)
REPORT = ("cities.csv", "cities.xlsx")
HTML_REPORT = "cities.html"  # the same comparison as a page (lifecircle.reports.comparison)
# bump when a marker's meaning changes: every city is then evaluated again.
# 1: rows without F15; 2: rows with f15 and f15_elderly
BATCH_VERSION = 2
PROVINCE_COLUMNS = ("label", "kind", "seed", "scale", "store", "name", "profile")


@dataclass
class BatchResult:
    """What :func:`run_batch` did: the report (one row per city, in order), the labels evaluated
    now, skipped (done by an earlier run) and failed (label → one-line reason), and the files.
    ``outdated``: the labels whose marker an earlier :data:`BATCH_VERSION` wrote, evaluated again
    for that (each also in ``done`` or ``failed``)."""

    report: pd.DataFrame
    done: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    outdated: list[str] = field(default_factory=list)
    store: Path = Path()
    files: list[Path] = field(default_factory=list)


def read_province(path: str | Path) -> list[CitySource]:
    """The cities of a province file: CSV (UTF-8 or GBK, as Excel saves it) or .xlsx with a
    ``label`` per row and the columns of :class:`CitySource` — ``kind`` (``demo`` or ``store``),
    ``seed``, ``scale`` (0.01–4) for a demo city, ``store`` (file or URL) and ``name`` for a stored
    city, optional ``profile``. Labels must be unique (they name the cities in the store and the
    report); a misspelt column or a bad value is one line naming the file, row and field."""
    from lifecircle.sources.tables import TABLE_SUFFIXES, read_table

    p = Path(path)
    if not p.is_file():
        raise InputFileError(t(f"{p}: 省份城市清单不存在", f"{p}: the province file does not exist"))
    raw = read_table(p, allowed=TABLE_SUFFIXES)
    cols = [str(c) for c in raw.df.columns]
    if "label" not in cols:
        raise InputFileError(
            t(
                f"{p}: 需要表头含 label 的 CSV（列：{', '.join(PROVINCE_COLUMNS)}）",
                f"{p}: needs a CSV with a label column ({', '.join(PROVINCE_COLUMNS)})",
            )
        )
    unknown = [c for c in cols if c not in PROVINCE_COLUMNS]
    if unknown:
        raise InputFileError(
            t(
                f"{p}: 未知的列 {', '.join(unknown)}；可用的列：{', '.join(PROVINCE_COLUMNS)}",
                f"{p}: unknown column {', '.join(unknown)}; the columns are {', '.join(PROVINCE_COLUMNS)}",
            )
        )
    rows = [int(i) for i in raw.df.index]  # spreadsheet row numbers
    out = [_province_row(p, int(i), {c: _cell(v) for c, v in r.items()}) for i, r in raw.df.iterrows()]
    twin = _repeated(out)
    if twin is not None:
        a, b = twin
        raise InputFileError(
            Problem(
                t(
                    f"城市标签 '{out[b].title}' 与第{rows[a]}行重复：每个城市须有自己的标签",
                    f"city label '{out[b].title}' already in row {rows[a]}: every city needs its own label",
                ),
                file=str(p),
                row=rows[b],
                field="label",
            )
        )
    if not out:  # a header only, or blank rows: refused before a cluster starts or a folder is made
        raise InputFileError(
            t(
                f"{p}: 省份城市清单没有城市：表头下每行一个城市（列：{', '.join(PROVINCE_COLUMNS)}）",
                f"{p}: the province file lists no city: one city per row below the header "
                f"({', '.join(PROVINCE_COLUMNS)})",
            )
        )
    return out


def _cell(v: Any) -> str:
    """A province-file cell as text ('' for an empty one; 3.0 from Excel as '3')."""
    if v is None or (isinstance(v, float) and v != v):
        return ""
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    return str(v).strip()


def _province_row(p: Path, row: int, r: dict[str, str]) -> CitySource:
    """One row of a province file (``row``: its spreadsheet number) as a :class:`CitySource`."""

    def bad(fld: str | None, zh: str, en: str) -> InputFileError:
        return InputFileError(Problem(t(zh, en), file=str(p), row=row, field=fld))

    base = CitySource(DEMO)
    label = r.get("label", "")
    if not label:
        raise bad("label", "label 为空：每行需要城市标签", "empty label: every row needs a city label")
    try:
        seed = int(r.get("seed") or base.seed)
    except ValueError:
        raise bad(
            "seed", f"应为整数（收到 '{r.get('seed')}'）", f"must be a whole number (got '{r.get('seed')}')"
        ) from None
    try:
        scale = float(r.get("scale") or base.scale)
    except ValueError:
        scale = float("nan")
    kind = r.get("kind") or DEMO
    if kind == DEMO and not 0.01 <= scale <= 4.0:
        raise bad(
            "scale", f"应为 0.01 到 4 之间的数（收到 '{r.get('scale')}'）", f"must be 0.01–4 (got '{r.get('scale')}')"
        )
    try:
        return CitySource(
            kind,
            label=label,
            seed=seed,
            scale=scale if scale == scale else base.scale,
            store=_beside(p, r.get("store", "")),
            name=r.get("name", ""),
            profile=_beside(p, r.get("profile", "")) or None,
        )
    except ConfigError as exc:  # the kind, or a store row's store or name
        fld = "kind" if kind not in (DEMO, STORE) else "store" if not r.get("store") else "name"
        raise bad(fld, str(exc), str(exc)) from None


def _beside(province: Path, value: str) -> str:
    """A file named in the province file: a relative path is read from the province file's own
    folder (as a spreadsheet's links are), so the batch finds the same files from wherever it is
    run; one that exists only from the current folder is still found there (files written before
    this rule). Absolute paths and database URLs are kept; the result is absolute, so a city's key
    does not depend on the current folder."""
    if not value or "://" in value or Path(value).is_absolute():
        return value
    beside = (province.parent / value).resolve()
    if not beside.exists() and Path(value).exists():
        return str(Path(value).resolve())
    return str(beside)


def _repeated(sources: Sequence[CitySource]) -> tuple[int, int] | None:
    """The positions ``(first, repeat)`` of the first city whose identity (:attr:`CitySource.city_id`)
    an earlier one already has (they would share a marker and a store entry), or None."""
    first: dict[str, int] = {}
    for k, s in enumerate(sources):
        if s.city_id in first:
            return first[s.city_id], k
        first[s.city_id] = k
    return None


def check_labels(sources: Sequence[CitySource], what: str = "") -> None:
    """Refuse two cities with the same label or identity (see :func:`_repeated`)."""
    twin = _repeated(sources)
    if twin is not None:
        title = sources[twin[1]].title
        raise ConfigError(t(f"{what}: 城市标签重复：{title}", f"{what}: duplicate city label: {title}"))


def _file_digest(path: Path) -> str:
    h = hashlib.blake2b(digest_size=16)
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def city_key(src: CitySource) -> str:
    """The content key of a city's evaluation: its source, the content of its inputs (a stored
    city's store file, or its entry's creation time and row counts for a database URL), the
    profile file given and the versions; equal keys mean the same result."""
    source = {k: v for k, v in dataclasses.asdict(src).items() if k != "label"}  # the label is only shown
    source["ident"] = src.city_id
    parts: dict[str, Any] = {"source": source, "lifecircle": __version__, "batch": BATCH_VERSION}
    if src.kind == STORE:
        sp = Path(src.store)
        if sp.is_file():
            parts["store"] = _file_digest(sp)
        else:
            from lifecircle.city.store import list_cities

            try:
                info = [c for c in list_cities(src.store) if c.name == src.name]
            except Exception as exc:  # noqa: BLE001 - an unreadable store is keyed by its error; the task reports it
                info, parts["store_error"] = [], str(exc)
            parts["store"] = [(c.created, sorted(c.tables.items())) for c in info]
    if src.profile and Path(src.profile).is_file():
        parts["profile"] = _file_digest(Path(src.profile))
    return hashlib.blake2b(json.dumps(parts, sort_keys=True, default=str).encode(), digest_size=16).hexdigest()


def _marker(out: Path, label: str) -> Path:
    return out / DONE / f"city-{hashlib.blake2b(label.encode(), digest_size=8).hexdigest()}.json"


def _read_marker(out: Path, name: str) -> dict[str, Any] | None:
    """The marker of the city ``name`` (None without one, or when it is unreadable or another city's)."""
    try:
        data = json.loads(_marker(out, name).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) and data.get("label") == name else None


def _done_before(marker: dict[str, Any] | None, src: CitySource, key: str, stored: set[str]) -> dict[str, Any] | None:
    """The row of an earlier run if the city's ``marker`` matches ``key`` and the store holds it."""
    if marker is None or marker.get("key") != key or src.city_id not in stored:
        return None
    row = marker.get("row")
    return row if isinstance(row, dict) else None


def _outdated(marker: dict[str, Any] | None) -> bool:
    """The city's marker was written by an earlier :data:`BATCH_VERSION` (version 1 wrote none)."""
    if marker is None:
        return False
    try:
        return int(marker.get("batch", 1)) < BATCH_VERSION
    except (TypeError, ValueError):
        return False


def _evaluate_task(src: CitySource, lang: str | None, tiling: Tiling | None = None) -> Any:
    """One city on a worker: its row and the city renamed to its label (None if it failed), or a
    :class:`CityPlan` when its network is large enough to be tiled (see :mod:`.city_tiles`)."""
    return city_task(src, lang, tiling)


def _one_line(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {' '.join(str(exc).split())}"


def batch_tiling(
    out: Path, tile_above: int | None = None, tile_m: float | None = None, network_dir: str | Path | None = None
) -> Tiling:
    """When the batch into ``out`` tiles a city: more than ``tile_above`` nodes, tiles of
    ``tile_m`` metres (defaults from ``scale-batch.toml``), networks written under
    ``network_dir`` (default ``out/networks``; every worker must be able to read it)."""
    above, side = tiling_defaults()
    folder = Path(network_dir) if network_dir else out / NETWORKS
    if folder.exists() and not folder.is_dir():
        raise ConfigError(
            t(
                f"--network-dir {folder}: 是文件，不是文件夹；请给出一个文件夹（远程集群须为共享目录）",
                f"--network-dir {folder}: is a file, not a folder; give a folder (shared with remote workers)",
            )
        )
    return Tiling(above if tile_above is None else int(tile_above), side if tile_m is None else float(tile_m), folder)


@dataclass
class _Batch:
    """The state of one :func:`run_batch`: where it writes, what it found and how it runs tiles."""

    client: Any
    out: Path
    keys: dict[str, str]
    tiling: Tiling
    retries: int
    lang: str
    res: BatchResult
    rows: dict[str, dict[str, Any]]

    def settle(self, s: CitySource, row: dict[str, Any], city: Any) -> None:
        """Store a finished city, then its marker; or record its failure (nothing stored)."""
        from lifecircle.city.store import save_city

        if city is None or row.get("error"):
            self.res.failed[s.title] = str(row.get("error") or "?")
            self.rows[s.city_id] = {**row, "status": "failed"}
            return
        save_city(city, self.res.store, replace=True)  # first the city, then its marker
        with atomic_output(_marker(self.out, s.city_id)) as tmp:
            marker = {
                "label": s.city_id,
                "key": self.keys[s.city_id],
                "version": __version__,
                "batch": BATCH_VERSION,
                "row": row,
            }
            tmp.write_text(json.dumps(marker, ensure_ascii=False, default=str) + "\n", encoding="utf-8")
        self.rows[s.city_id] = {**row, "status": "done"}
        self.res.done.append(s.title)

    def tiles(self, s: CitySource, plan: CityPlan) -> Any:
        """Run a tiled city's tiles here, then submit its last step: that step's future, or
        ``(row, None)`` when a tile failed (named in the row's error)."""
        t0 = time.perf_counter()
        try:
            walks, _ = walk_city(self.client, plan, self.tiling, retries=self.retries)
        except Exception as exc:  # noqa: BLE001 - a tile that failed after its retries: the city is reported
            error = str(exc) if isinstance(exc, TileError) else _one_line(exc)
            size = {"n_nodes": plan.n_nodes, "n_edges": plan.n_edges, "synthetic": s.kind == DEMO}
            return {**plan.row, **size, "error": error}, None
        finally:
            shutil.rmtree(plan.network.folder, ignore_errors=True)
        seconds = plan.seconds + time.perf_counter() - t0
        return self.client.submit(
            finish_task,
            s,
            self.lang,
            plan.city,
            walks,
            seconds,
            retries=self.retries,
            pure=False,
            key=submit_key(s.city_id, "finish"),
        )


def run_batch(
    sources: Sequence[CitySource],
    client: Any,
    out_dir: str | Path,
    *,
    retries: int = 2,
    on_progress: Callable[[int, int], None] | None = None,
    task: Callable[[CitySource, str | None, Tiling | None], Any] | None = None,
    tiling: Tiling | None = None,
) -> BatchResult:
    """Evaluate every city of ``sources`` not done yet into ``out_dir`` (see the module), on the
    cluster behind ``client``; ``retries`` re-runs of a failed task. ``on_progress(done, total)``
    as cities finish. ``tiling`` says which cities are computed in tiles (default
    :func:`batch_tiling` of ``out_dir``: the shipped thresholds; see :mod:`lifecircle.scale.city_tiles`).
    ``task(source, lang, tiling) -> (row, city) | CityPlan`` replaces the first step of one city
    (tests use it to fail on purpose). Returns a :class:`BatchResult`; failures are in
    ``failed``, never raised."""
    from distributed import as_completed

    from lifecircle.city.store import city_names
    from lifecircle.reports.comparison import write_comparison_html, write_comparison_xlsx

    srcs = list(sources)
    check_labels(srcs, str(out_dir))
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise ConfigError(t(f"{out}: 不是文件夹", f"{out}: not a folder"))
    tiling = tiling or batch_tiling(out)
    if (out / DONE).exists() and not (out / DONE).is_dir():  # the user's own file in a folder given as --out
        raise InputError(
            t(
                f"{out / DONE}: 是文件，但批量评估要在这里建完成标记文件夹；请换一个 --out 文件夹或移走它",
                f"{out / DONE}: is a file, but the batch keeps its done-markers in a folder there; "
                "choose another --out folder or move it",
            )
        )
    (out / DONE).mkdir(parents=True, exist_ok=True)
    store = out / STORE_FILE
    stored = set(city_names(store)) if store.exists() else set()
    keys = {s.city_id: city_key(s) for s in srcs}
    b = _Batch(client, out, keys, tiling, retries, get_lang(), BatchResult(pd.DataFrame(), store=store), {})
    todo = []
    for s in srcs:
        marker = _read_marker(out, s.city_id)
        row = _done_before(marker, s, keys[s.city_id], stored)
        if row is None:
            todo.append(s)
            # version 1 named a demo city's marker by its label
            if _outdated(marker or _read_marker(out, s.title)):
                b.res.outdated.append(s.title)
        else:
            b.rows[s.city_id] = {**row, "label": s.title, "status": "skipped"}  # shown in this language
            b.res.skipped.append(s.title)
    first = task or _evaluate_task
    futures = {
        client.submit(first, s, b.lang, tiling, retries=retries, pure=False, key=submit_key(s.city_id, "city")): s
        for s in todo
    }
    pending = as_completed(list(futures))
    n_done = 0
    for fut in pending:
        s = futures.pop(fut)
        try:
            got = fut.result()
        except Exception as exc:  # noqa: BLE001 - a task that failed even after its retries: reported by name
            got = {"label": s.title, "kind": s.kind, "error": _one_line(exc)}, None
        fut.release()
        if isinstance(got, CityPlan):
            got = b.tiles(s, got)
            if not isinstance(got, tuple):  # the last step is running: it comes back through `pending`
                futures[got] = s
                pending.add(got)
                continue
        b.settle(s, *got)
        n_done += 1
        if on_progress:
            on_progress(n_done, len(todo))
    if tiling.folder == out / NETWORKS:  # every city is settled: no tile reads them any more
        _remove_networks(tiling.folder)
    b.res.report = _report(b.rows, srcs)
    b.res.files = [
        write_table(b.res.report, out / REPORT[0], layer="cities"),  # column codes, for programs
        write_comparison_xlsx(b.res.report, out / REPORT[1], lang=b.lang),  # for people, in the UI language
        write_comparison_html(b.res.report, out / HTML_REPORT, lang=b.lang),
    ]
    return b.res


def _remove_networks(folder: Path) -> None:
    """Remove the tiled cities' networks (``net-*``, also those an interrupted run left) from
    ``folder``, then the folder if that left it empty: anything else there is the user's."""
    for d in folder.glob("net-*"):
        shutil.rmtree(d, ignore_errors=True)
    with contextlib.suppress(OSError):  # missing, or holds files that are not ours
        folder.rmdir()


def _report(rows: dict[str, dict[str, Any]], srcs: list[CitySource]) -> pd.DataFrame:
    """One row per city in the order given, ``label, status, error`` first, ``batch_version`` last
    (every row is this version's: done now, or skipped with a key of this version)."""
    report = pd.DataFrame([rows[s.city_id] for s in srcs])
    report["batch_version"] = BATCH_VERSION
    if "synthetic" in report.columns:
        report["synthetic"] = report["synthetic"].astype("boolean").fillna(False).astype(bool)
    first = ["label", "status", "error"]
    return report[[*first, *(c for c in report.columns if c not in first)]]
