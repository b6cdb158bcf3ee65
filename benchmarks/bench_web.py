"""Load check of the officials' platform: the dashboard and a circle scorecard page.

Starts uvicorn on 127.0.0.1 (a free port; loopback traffic only) with the demo content on a
temporary SQLite database (or ``DATABASE_URL``), signs in, then sends a bounded number of requests
per page (default 500, concurrency 8, httpx in threads) and prints the request rate (requests/s),
median and p95 latency (milliseconds) and the machine.

    .venv/bin/python benchmarks/bench_web.py [--requests 500] [--concurrency 8] [--scale 0.05]
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import uvicorn

from lifecircle.platform.seed import seed_demo
from lifecircle.platform.settings import load_settings
from lifecircle.web.app import create_app

from _machine import describe_machine


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run(path: str, base: str, cookies: dict[str, str], n: int, conc: int) -> dict[str, float]:
    """Send ``n`` GETs of ``path`` with ``conc`` threads; latencies in milliseconds."""
    lat: list[float] = []
    errors = 0
    lock = threading.Lock()
    local = threading.local()

    def one(_: int) -> None:
        nonlocal errors
        if not hasattr(local, "c"):
            local.c = httpx.Client(base_url=base, cookies=cookies, timeout=30)
        t0 = time.perf_counter()
        r = local.c.get(path)
        dt_ms = (time.perf_counter() - t0) * 1000
        with lock:
            lat.append(dt_ms)
            if r.status_code != 200:
                errors += 1

    t0 = time.perf_counter()
    with ThreadPoolExecutor(conc) as ex:
        list(ex.map(one, range(n)))
    wall = time.perf_counter() - t0
    lat.sort()
    return {
        "rate": n / wall,
        "median": statistics.median(lat),
        "p95": lat[int(0.95 * (len(lat) - 1))],
        "errors": errors,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--requests", type=int, default=500, help="requests per page (bounded)")
    ap.add_argument("--concurrency", type=int, default=8)
    ap.add_argument("--scale", type=float, default=0.05, help="demo city size")
    a = ap.parse_args()
    n = max(1, min(a.requests, 5000))
    tmp = Path(tempfile.mkdtemp(prefix="lc-bench-"))
    env = {"LIFECIRCLE_DATA_DIR": str(tmp), "LIFECIRCLE_ENV": "dev"}
    if os.environ.get("DATABASE_URL"):
        env["DATABASE_URL"] = os.environ["DATABASE_URL"]
    settings = load_settings(env)
    app = create_app(settings)
    pw = "bench-password-123"
    seed_demo(app.state.factory, settings, app.state.prog, scale=a.scale, passwords={"admin": pw})
    port = _free_port()
    srv = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", access_log=False))
    th = threading.Thread(target=srv.run, daemon=True)
    th.start()
    while not srv.started:
        time.sleep(0.05)
    base = f"http://127.0.0.1:{port}"
    r = httpx.post(f"{base}/api/login", json={"username": "admin", "password": pw})
    r.raise_for_status()
    cookies = {"lc_session": r.json()["token"]}
    circle = httpx.get(f"{base}/api/circles", cookies=cookies).json()[0]["id"]
    print(f"machine: {describe_machine()}")
    print(
        f"database: {app.state.engine.url.get_backend_name()}; {n} requests per page, concurrency {a.concurrency}, "
        f"uvicorn 1 worker on 127.0.0.1"
    )
    for label, path in (
        ("dashboard", "/dashboard"),
        ("circle scorecard", f"/circles/{circle}"),
        ("dashboard API", "/api/dashboard"),
    ):
        run(path, base, cookies, min(20, n), a.concurrency)  # warm-up
        s = run(path, base, cookies, n, a.concurrency)
        print(
            f"{label:<17} {path:<22} {s['rate']:7.1f} req/s   median {s['median']:6.1f} ms   p95 {s['p95']:6.1f} ms"
            f"   errors {s['errors']}"
        )
    srv.should_exit = True
    th.join(timeout=10)


if __name__ == "__main__":
    main()
