"""A Dask client: connect to a running scheduler, or start a local cluster of worker processes.

The address comes from the argument, else the environment variable ``LIFECIRCLE_DASK_SCHEDULER``
(e.g. ``tcp://scheduler.example:8786``); without either, a :class:`distributed.LocalCluster`
is started with worker *processes* (the engine's numba kernels hold the GIL-free cores best that
way), its dashboard off (``dashboard_address=None``) and every listener — the scheduler, the
workers and the scheduler's small HTTP health endpoint — on 127.0.0.1, so nothing is reachable
from outside the machine. Dask's own log chatter is kept to errors.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import threading
import warnings
from collections.abc import Iterator
from typing import Any

from lifecircle.errors import ConfigError
from lifecircle.i18n import t

SCHEDULER_ENV = "LIFECIRCLE_DASK_SCHEDULER"
_NOISY = (
    "distributed",
    "distributed.nanny",
    "distributed.scheduler",
    "distributed.worker",
    "distributed.core",
    "distributed.comm",
    "distributed.http",
    "tornado",
    "bokeh",
)


def quiet_dask_logs(level: int = logging.ERROR) -> None:
    """Keep Dask's (and tornado's) loggers at ``level`` and above."""
    for name in _NOISY:
        logging.getLogger(name).setLevel(level)


def get_client(
    address: str | None = None,
    *,
    n_workers: int | None = None,
    threads_per_worker: int = 1,
    memory_limit: str | float | None = "auto",
    timeout: str = "20s",
) -> Any:  # distributed.Client (imported lazily: dask is only needed here)
    """A :class:`distributed.Client`.

    ``address``: a scheduler address (``tcp://host:8786``); default the environment variable
    ``LIFECIRCLE_DASK_SCHEDULER``; if neither is set a local cluster is started with
    ``n_workers`` worker processes (default: one per core) of ``threads_per_worker`` threads.
    ``memory_limit`` is per worker (bytes or a string such as ``"4GiB"``; ``"auto"`` shares the
    machine's memory); ``timeout`` bounds the wait for a remote scheduler. Closing the client
    closes a local cluster it started.
    """
    from distributed import Client, LocalCluster

    quiet_dask_logs()
    address = address or os.environ.get(SCHEDULER_ENV) or None
    if address:
        try:
            return Client(address, timeout=timeout)
        except (OSError, TimeoutError) as exc:
            raise ConfigError(
                t(
                    f"无法连接 Dask 调度器 {address}：{exc}（检查 --scheduler 或环境变量 {SCHEDULER_ENV}）",
                    f"cannot reach the Dask scheduler at {address}: {exc} (check --scheduler or {SCHEDULER_ENV})",
                )
            ) from None
    if n_workers is not None and n_workers < 1:
        raise ConfigError(
            t(
                f"工作进程数须至少为 1（收到 {n_workers}）",
                f"the number of workers must be at least 1 (got {n_workers})",
            )
        )
    if threads_per_worker < 1:
        raise ConfigError(
            t(
                f"每个工作进程的线程数须至少为 1（收到 {threads_per_worker}）",
                f"threads per worker must be at least 1 (got {threads_per_worker})",
            )
        )
    import dask

    # no Active Memory Manager: its ReduceReplicas policy would drop the broadcast copies of a
    # network kept on the workers (DistributedNetwork), which would then travel again between
    # workers. A remote scheduler should be started the same way
    # (distributed.scheduler.active-memory-manager.start: false) for the same saving.
    with warnings.catch_warnings(), dask.config.set({"distributed.scheduler.active-memory-manager.start": False}):
        # "port 8787 in use" of the scheduler's small HTTP endpoint (health checks, no dashboard):
        # it then takes another loopback port, which is fine
        warnings.simplefilter("ignore", UserWarning)
        with _workers_ignore_ctrl_c():
            cluster = _local_cluster(LocalCluster, n_workers, threads_per_worker, memory_limit)
    client = Client(cluster)
    client._lifecircle_owns_cluster = True  # type: ignore[attr-defined]  # close() of the client then also closes the cluster
    return client


def _local_cluster(LocalCluster: Any, n_workers: int | None, threads_per_worker: int, memory_limit: Any) -> Any:
    return LocalCluster(
        n_workers=n_workers or (os.cpu_count() or 1),
        threads_per_worker=threads_per_worker,
        processes=True,
        host="127.0.0.1",
        dashboard_address=None,
        memory_limit=memory_limit,
        silence_logs=logging.ERROR,
    )


@contextlib.contextmanager
def _workers_ignore_ctrl_c() -> Iterator[None]:
    """Start worker processes with SIGINT ignored (an ignored signal stays ignored in a spawned
    process, and Python then installs no KeyboardInterrupt handler): Ctrl-C in the terminal goes
    to every process of the foreground group, and each worker would print its own traceback. The
    command itself stops on Ctrl-C ("已中断") and closes the cluster, which ends the workers."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    before = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, before)


def close_client(client: Any) -> None:
    """Close ``client`` and the local cluster :func:`get_client` started for it (if any)."""
    cluster = getattr(client, "cluster", None)
    owns = getattr(client, "_lifecircle_owns_cluster", False)
    client.close()
    if owns and cluster is not None:
        cluster.close()


def worker_threads() -> int:
    """Threads of the Dask worker running the current task (1 outside a worker)."""
    try:
        from distributed import get_worker

        return max(1, int(get_worker().state.nthreads))
    except (ValueError, AttributeError):
        return 1


def use_worker_threads() -> None:
    """Give the engine's numba kernels as many threads as the worker has, no more: worker
    processes sharing a machine must not each take every core."""
    import numba

    limit = int(numba.config.NUMBA_NUM_THREADS)  # type: ignore[attr-defined]
    numba.set_num_threads(max(1, min(worker_threads(), limit)))


def wait_all(futures: list, on_progress: Any = None) -> None:
    """Wait for every future; ``on_progress(done, total)`` after each one finishes."""
    from distributed import as_completed

    for done, _ in enumerate(as_completed(futures), start=1):
        if on_progress:
            on_progress(done, len(futures))
