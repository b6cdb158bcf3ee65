"""The province batch (issue 13 part 3): many cities on a Dask cluster, one task per city, into
one output folder that a rerun continues.

``out_dir`` holds:

- ``cities.db``: one city store (:mod:`lifecircle.city.store`) with every city evaluated, under its
  label;
- ``done/city-<hash>.json``: a done-marker per finished city, holding the city's *key* (a hash of
  its source — kind, seed, scale, store, name, profile —, the store's content for a stored city,
  the profile file and the lifecircle version) and its row of figures. A rerun skips a city only
  if its marker's key equals the key computed now **and** the store holds the city; anything else
  is evaluated again;
- ``cities.csv`` and ``cities.xlsx``: the comparison report, one row per city in the order given,
  with ``status`` (``done`` / ``skipped`` = done by an earlier run / ``failed``) and ``error``.

Tasks are submitted with ``retries``; a city whose task still fails, or whose data cannot be
evaluated, is reported by name with a one-line reason and gets no marker (a rerun tries it again);
the other cities finish. Shares are 0..1, times in seconds.
"""

from __future__ import annotations

import csv
import dataclasses
import hashlib
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from lifecircle import __version__
from lifecircle.errors import ConfigError, InputFileError
from lifecircle.i18n import get_lang, t
from lifecircle.scale.cities import DEMO, STORE, CitySource, evaluate_source_city
from lifecircle.sources.files import atomic_output, write_table

STORE_FILE = "cities.db"
DONE = "done"
REPORT = ("cities.csv", "cities.xlsx")
BATCH_VERSION = 1  # bump when a marker's meaning changes: every city is then evaluated again
PROVINCE_COLUMNS = ("label", "kind", "seed", "scale", "store", "name", "profile")


@dataclass
class BatchResult:
    """What :func:`run_batch` did: the report (one row per city, in order), the labels evaluated
    now, skipped (done by an earlier run) and failed (label → one-line reason), and the files."""

    report: pd.DataFrame
    done: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    store: Path = Path()
    files: list[Path] = field(default_factory=list)


def read_province(path: str | Path) -> list[CitySource]:
    """The cities of a province file: CSV (UTF-8) with a ``label`` per row and the columns of
    :class:`CitySource` — ``kind`` (``demo`` or ``store``), ``seed``, ``scale`` for a demo city,
    ``store`` (file or URL) and ``name`` for a stored city, optional ``profile``. Labels must be
    unique (they name the cities in the store and the report)."""
    p = Path(path)
    if not p.is_file():
        raise InputFileError(t(f"{p}: 省份城市清单不存在", f"{p}: the province file does not exist"))
    with p.open(encoding="utf-8-sig", newline="") as fh:
        rows = list(csv.DictReader(fh))
    if not rows or "label" not in rows[0]:
        raise InputFileError(
            t(
                f"{p}: 需要表头含 label 的 CSV（列：{', '.join(PROVINCE_COLUMNS)}）",
                f"{p}: needs a CSV with a label column ({', '.join(PROVINCE_COLUMNS)})",
            )
        )
    out: list[CitySource] = []
    base = CitySource(DEMO)
    for i, r in enumerate(rows, start=2):
        label = (r.get("label") or "").strip()
        try:
            if not label:
                raise ConfigError(t("label 为空", "empty label"))
            kind = (r.get("kind") or DEMO).strip()
            out.append(
                CitySource(
                    kind,
                    label=label,
                    seed=int(r.get("seed") or base.seed),
                    scale=float(r.get("scale") or base.scale),
                    store=(r.get("store") or "").strip(),
                    name=(r.get("name") or "").strip(),
                    profile=(r.get("profile") or "").strip() or None,
                )
            )
        except (ConfigError, ValueError) as exc:
            raise InputFileError(t(f"{p} 第 {i} 行：{exc}", f"{p} row {i}: {exc}")) from None
    check_labels(out, str(p))
    return out


def check_labels(sources: Sequence[CitySource], what: str = "") -> None:
    """Refuse two cities with the same label (they would share a marker and a store entry)."""
    seen: set[str] = set()
    for s in sources:
        if s.title in seen:
            raise ConfigError(t(f"{what}: 城市标签重复：{s.title}", f"{what}: duplicate city label: {s.title}"))
        seen.add(s.title)


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
    parts: dict[str, Any] = {"source": dataclasses.asdict(src), "lifecircle": __version__, "batch": BATCH_VERSION}
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


def _done_before(out: Path, src: CitySource, key: str, stored: set[str]) -> dict[str, Any] | None:
    """The row of an earlier run if the city's marker matches ``key`` and the store holds it."""
    m = _marker(out, src.title)
    try:
        data = json.loads(m.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if data.get("key") != key or data.get("label") != src.title or src.title not in stored:
        return None
    row = data.get("row")
    return row if isinstance(row, dict) else None


def _evaluate_task(src: CitySource, lang: str | None) -> tuple[dict[str, Any], Any]:
    """One city on a worker: its row and the city renamed to its label (None if it failed)."""
    row, city = evaluate_source_city(src, lang)
    if city is not None:
        city = dataclasses.replace(city, name=src.title)
    return row, city


def _one_line(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {' '.join(str(exc).split())}"


def run_batch(
    sources: Sequence[CitySource],
    client: Any,
    out_dir: str | Path,
    *,
    retries: int = 2,
    on_progress: Callable[[int, int], None] | None = None,
    task: Callable[[CitySource, str | None], tuple[dict[str, Any], Any]] | None = None,
) -> BatchResult:
    """Evaluate every city of ``sources`` not done yet into ``out_dir`` (see the module), on the
    cluster behind ``client``; ``retries`` re-runs of a failed task. ``on_progress(done, total)``
    as cities finish. ``task(source, lang) -> (row, city)`` replaces the evaluation of one city
    (tests use it to fail on purpose). Returns a :class:`BatchResult`; failures are in
    ``failed``, never raised."""
    from distributed import as_completed

    from lifecircle.city.store import city_names, save_city

    srcs = list(sources)
    check_labels(srcs, str(out_dir))
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise ConfigError(t(f"{out}: 不是文件夹", f"{out}: not a folder"))
    (out / DONE).mkdir(parents=True, exist_ok=True)
    store = out / STORE_FILE
    stored = set(city_names(store)) if store.exists() else set()
    res = BatchResult(pd.DataFrame(), store=store)
    rows: dict[str, dict[str, Any]] = {}
    keys = {s.title: city_key(s) for s in srcs}
    todo = []
    for s in srcs:
        row = _done_before(out, s, keys[s.title], stored)
        if row is None:
            todo.append(s)
        else:
            rows[s.title] = {**row, "status": "skipped"}
            res.skipped.append(s.title)
    futures = {client.submit(task or _evaluate_task, s, get_lang(), retries=retries, pure=False): s for s in todo}
    for n_done, fut in enumerate(as_completed(list(futures)), start=1):
        s = futures[fut]
        try:
            row, city = fut.result()
        except Exception as exc:  # noqa: BLE001 - a task that failed even after its retries: reported by name
            row, city = {"label": s.title, "kind": s.kind, "error": _one_line(exc)}, None
        if city is None or row.get("error"):
            res.failed[s.title] = str(row.get("error") or "?")
            rows[s.title] = {**row, "status": "failed"}
        else:
            save_city(city, store, replace=True)  # first the city, then its marker
            with atomic_output(_marker(out, s.title)) as tmp:
                marker = {"label": s.title, "key": keys[s.title], "version": __version__, "row": row}
                tmp.write_text(json.dumps(marker, ensure_ascii=False, default=str) + "\n", encoding="utf-8")
            rows[s.title] = {**row, "status": "done"}
            res.done.append(s.title)
        fut.release()
        if on_progress:
            on_progress(n_done, len(futures))
    report = pd.DataFrame([rows[s.title] for s in srcs])
    if "synthetic" in report.columns:
        report["synthetic"] = report["synthetic"].astype("boolean").fillna(False).astype(bool)
    first = ["label", "status", "error"]
    res.report = report[[*first, *(c for c in report.columns if c not in first)]]
    res.files = [write_table(res.report, out / name, layer="cities") for name in REPORT]
    return res
