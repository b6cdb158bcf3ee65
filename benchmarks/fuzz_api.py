"""Schemathesis over the whole JSON API, signed in as each role and anonymous: zero 5xx expected.

Starts uvicorn on 127.0.0.1 (a free port) with the quota seed (30 synthetic circles, one account
per role, a district report, a survey and an evidence file so that real ids exist) on a temporary
SQLite database (or ``DATABASE_URL``), reads the OpenAPI document and sends schemathesis' generated
requests — valid ones (``positive``) and ones that break the schema (``negative``), generated at
random and from the coverage phase's boundary values — for every operation, as each role and
without a session. Half of the generated path ids are swapped for ids
that exist, so the requests reach the service layer rather than stop at a 404. Afterwards every
circle page is opened (a stored scorecard must not break it).

Prints, per role: requests, answers by status class, and every 5xx (or dropped connection) found
with the request that caused it. Exits 1 if any was found.

    .venv/bin/python benchmarks/fuzz_api.py [--examples 25] [--seed 0]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import socket
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

ROLES = ["anonymous", "admin", "xiling", "wujiagang", "evaluator", "leader", "merchant", "inspector", "community"]
PASSWORD = "fuzz-password-123"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


@dataclass
class Tally:
    """What one role's run saw."""

    requests: int = 0
    classes: Counter[str] = field(default_factory=Counter)
    failures: list[str] = field(default_factory=list)  # 5xx or dropped connections, with the request
    ok_paths: Counter[str] = field(default_factory=Counter)  # 2xx answers per operation path

    def line(self, role: str) -> str:
        cls = " ".join(f"{k}={v}" for k, v in sorted(self.classes.items()))
        return f"{role:10s} requests={self.requests:5d}  {cls}  5xx-or-dropped={len(self.failures)}"


@contextlib.contextmanager
def serve(app: Any) -> Iterator[str]:
    """``app`` served by uvicorn in a thread on a free localhost port; yields the base URL. The
    socket is bound here and handed to uvicorn: no other process (a parallel pytest worker) can take
    the port in between and answer in its place."""
    import uvicorn

    # IPPROTO_TCP as asyncio's own sockets: asyncio then sets TCP_NODELAY on each connection
    # (without it, Nagle and delayed ACKs add ~40 ms to each request)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    srv = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="critical", lifespan="off"))
    th = threading.Thread(target=srv.run, kwargs={"sockets": [sock]}, daemon=True)
    th.start()
    base = f"http://127.0.0.1:{port}"
    for _ in range(400):
        with contextlib.suppress(httpx.HTTPError):
            httpx.get(f"{base}/healthz", timeout=1)
            break
        time.sleep(0.05)
    try:
        yield base
    finally:
        srv.should_exit = True
        th.join(10)
        sock.close()


def _login(base: str, user: str, password: str) -> str:
    r = httpx.post(f"{base}/api/login", json={"username": user, "password": password}, timeout=30)
    r.raise_for_status()
    return r.json()["token"]


def real_ids(base: str, token: str) -> dict[str, list[Any]]:
    """Ids that exist (made here when missing): circles, a report, a survey and an evidence file."""
    h = {"Authorization": f"Bearer {token}"}
    circles = [c["id"] for c in httpx.get(f"{base}/api/circles", headers=h, timeout=30).json()]
    cid = circles[0]
    httpx.post(f"{base}/api/reports", json={"district": "420502", "period": "2024"}, headers=h, timeout=30)
    httpx.post(
        f"{base}/api/circles/{cid}/surveys",
        json={"period": "2024", "respondents": 10, "satisfied": 9},
        headers=h,
        timeout=30,
    )
    httpx.post(f"{base}/api/circles/{cid}/evidence", files={"file": ("a.png", PNG, "image/png")}, headers=h, timeout=30)
    reports = [r["id"] for r in httpx.get(f"{base}/api/reports", headers=h, timeout=30).json()]
    surveys = [v["id"] for v in httpx.get(f"{base}/api/circles/{cid}/surveys", headers=h, timeout=30).json()]
    return {
        "circle_id": circles,
        "report_id": reports or [1],
        "survey_id": surveys or [1],
        "evidence_id": [1],
        "layer": ["streets", "districts", "circles"],
    }


def fuzz(
    app: Any,
    base: str,
    passwords: dict[str, str],
    *,
    examples: int = 25,
    seed: int = 0,
    roles: list[str] | None = None,
    coverage_roles: list[str] | None = None,
    paths: tuple[str, ...] | None = None,
) -> dict[str, Tally]:
    """Run schemathesis against the served ``app`` as each role (``examples`` generated cases per
    operation) and its coverage phase as ``coverage_roles`` (default: every role); the tally per role.
    ``paths``: only the operations whose path starts with one of these (default: all)."""
    import hypothesis
    import requests
    import schemathesis
    from hypothesis import HealthCheck, given
    from hypothesis import strategies as st
    from schemathesis import GenerationMode

    schema = schemathesis.openapi.from_dict(app.openapi())
    operations = [r.ok() for r in schema.get_all_operations()]
    if paths is not None:
        operations = [op for op in operations if op.path.startswith(paths)]
    admin_token = _login(base, "admin", passwords["admin"])
    ids = real_ids(base, admin_token)
    roles = roles or ROLES
    out: dict[str, Tally] = {role: Tally() for role in roles}
    tokens = {role: _login(base, role, passwords[role]) if role != "anonymous" else "" for role in roles}
    session_ = requests.Session()

    def send(case: Any, role: str) -> None:
        """One generated request as ``role``; a 5xx or a dropped connection is a finding."""
        tally = out[role]
        headers = {"Authorization": f"Bearer {tokens[role]}"} if tokens[role] else {}
        session_.cookies.clear()  # a fuzzed login must not sign the next request in
        tally.requests += 1
        try:
            r = case.call(base_url=base, headers=headers, session=session_, timeout=30)
        except Exception as exc:  # noqa: BLE001 - a dropped connection is a finding, not a crash
            tally.classes["dropped"] += 1
            tally.failures.append(f"dropped: {case.method} {case.formatted_path} {type(exc).__name__}: {exc}"[:400])
            return
        tally.classes[f"{r.status_code // 100}xx"] += 1
        if r.status_code < 300:
            tally.ok_paths[case.operation.path] += 1
        if r.status_code >= 500:
            tally.failures.append(
                f"{role} {r.status_code} {case.method} {case.formatted_path} query={case.query!r} "
                f"body={str(case.body)[:300]!r} answer={r.text[:200]!r}"
            )
        if case.operation.path == "/api/logout" and r.status_code == 200 and role != "anonymous":
            tokens[role] = _login(base, role, passwords[role])  # keep fuzzing signed in

    def one_operation(op: Any) -> None:
        """``examples`` generated cases of ``op`` (valid and schema-breaking), each sent as every role
        (generating is the slow part; the same request as each role is also the fairer comparison)."""
        strategy = st.one_of(
            op.as_strategy(generation_mode=GenerationMode.POSITIVE),
            op.as_strategy(generation_mode=GenerationMode.NEGATIVE),
        )

        @hypothesis.settings(
            max_examples=examples,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
            phases=[hypothesis.Phase.generate],
        )
        @hypothesis.seed(seed)
        @given(data=st.data())
        def run(data: Any) -> None:
            case = data.draw(strategy)
            for name in list(case.path_parameters or {}):
                if name in ids and data.draw(st.booleans()):
                    case.path_parameters[name] = data.draw(st.sampled_from(ids[name]))
            for role in roles:
                send(case, role)

        run()

    for op in operations:
        one_operation(op)
        # schemathesis' coverage phase: the schema's boundary values and just past them (the largest
        # id and the one beyond, empty and over-long strings, wrong types), deterministic and cheap
        # to generate, as the ``coverage_roles``
        modes = [GenerationMode.POSITIVE, GenerationMode.NEGATIVE]
        for case in schema.iter_coverage_cases(
            op, generation_modes=modes, generation_config=schema.config.generation_for(operation=op)
        ):
            for role in roles if coverage_roles is None else coverage_roles:
                send(case, role)
    session_.close()
    # the circle pages after all those writes (a stored scorecard must not break a page)
    pages = out.setdefault("pages", Tally())
    h = {"Authorization": f"Bearer {_login(base, 'admin', passwords['admin'])}"}
    with httpx.Client(base_url=base, timeout=30) as cl:
        cl.cookies.set("lc_session", h["Authorization"][7:])
        for cid in ids["circle_id"]:
            for path in (f"/circles/{cid}", f"/api/circles/{cid}"):
                r = cl.get(path)
                pages.requests += 1
                pages.classes[f"{r.status_code // 100}xx"] += 1
                if r.status_code >= 500:
                    pages.failures.append(f"{r.status_code}: GET {path}")
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--examples", type=int, default=25, help="generated requests per operation and role (about)")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)

    from lifecircle.platform.seed import seed_demo
    from lifecircle.platform.settings import load_settings
    from lifecircle.web.app import create_app

    with tempfile.TemporaryDirectory(prefix="lc-fuzz-") as tmp:
        url = os.environ.get("DATABASE_URL") or f"sqlite:///{Path(tmp) / 'platform.db'}"
        settings = load_settings(
            {"LIFECIRCLE_ENV": "test", "DATABASE_URL": url, "LIFECIRCLE_DATA_DIR": tmp},
            argon2_time_cost=1,
            argon2_memory_kib=1024,
            upload_max_bytes=50_000,
            login_max_failures=10**6,
            public_burst=10**6,  # one address sends everything: no 429 from the public endpoints' limit
        )
        app = create_app(settings)
        accounts = [r for r in ROLES if r != "anonymous"]
        seed_demo(
            app.state.factory,
            settings,
            app.state.prog,
            use_demo_city=False,
            passwords=dict.fromkeys(accounts, PASSWORD),
        )
        t0 = time.perf_counter()
        with serve(app) as base:
            res = fuzz(app, base, dict.fromkeys(accounts, PASSWORD), examples=args.examples, seed=args.seed)
        dt = time.perf_counter() - t0
        app.state.engine.dispose()
    print(f"schemathesis over {url.split(':')[0]}, {args.examples} examples/operation budget, {dt:.0f} s")
    for role, tally in res.items():
        print(tally.line(role))
    found = [f for t in res.values() for f in t.failures]
    for f in found[:30]:
        print("  " + f)
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
