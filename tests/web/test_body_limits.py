"""Work before sign-in, on SQLite and PostgreSQL: a write without a session is refused before its
body is read, and every body has a limit (413) — checked on ``Content-Length`` and counted when
streamed. The memory test runs the real server (uvicorn in a subprocess) and reads its peak RSS."""

from __future__ import annotations

import json
import os
import select
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from lifecircle.platform.db import make_engine, session_factory
from lifecircle.platform.programme import load_programme
from lifecircle.platform.seed import init_platform, seed_demo
from lifecircle.platform.settings import load_settings

from .conftest import PASSWORD, make_settings

XL = "420502-P1"
MB = 1_000_000


def chunks(total: int, size: int = 64 * 1024) -> Iterator[bytes]:
    block = b" " * size
    sent = 0
    while sent < total:
        n = min(size, total - sent)
        yield block[:n]
        sent += n


# ------------------------------------------------------------------ in-process: the answers


def test_writes_without_a_session_are_refused_before_the_body(platform):
    c = platform.client
    r = c.post("/api/circles", content=b"{" + b" " * (5 * MB), headers={"Content-Type": "application/json"})
    assert r.status_code == 401 and r.headers["www-authenticate"] == "Bearer"
    r = c.post("/api/circles", content=chunks(5 * MB), headers={"Content-Type": "application/json"})  # chunked
    assert r.status_code == 401
    r = c.post(f"/api/circles/{XL}/evidence", files={"file": ("a.png", b"\x89PNG\r\n\x1a\n" + b"0" * 300_000)})
    assert r.status_code == 401
    r = c.post(f"/api/circles/{XL}/status", json={"status": "building"}, headers={"Authorization": "Bearer forged"})
    assert r.status_code == 401 and "过期" in r.json()["detail"]
    page = c.post(
        f"/circles/{XL}/evidence",
        files={"file": ("a.png", b"0" * 300_000)},
        data={"csrf_token": "x"},
        follow_redirects=False,
    )
    # back to the form's page after signing in (the POST address is not a page)
    assert page.status_code == 303 and page.headers["location"] == f"/login?next=/circles/{XL}&expired=1"
    # signing in needs no session, and is limited too
    assert c.post("/api/login", json={"username": "admin", "password": PASSWORD}).status_code == 200
    c.cookies.clear()
    big = c.post("/api/login", content=b"{" + b" " * (2 * MB), headers={"Content-Type": "application/json"})
    assert big.status_code == 413


def test_bodies_over_their_route_limit_are_413(platform):
    c, h = platform.client, platform.h("admin")
    limit = platform.settings.body_max_bytes
    ok = c.post(f"/api/circles/{XL}/scores", json={"score": 80, "comment": "x" * 1000}, headers=platform.h("evaluator"))
    assert ok.status_code == 201
    r = c.post("/api/circles", content=b" " * (limit + 1), headers=h | {"Content-Type": "application/json"})
    assert r.status_code == 413 and "过大" in r.json()["detail"]
    r = c.post("/api/circles", content=chunks(limit + 10), headers=h | {"Content-Type": "application/json"})
    assert r.status_code == 413  # no Content-Length: counted as it arrives
    up = platform.settings.upload_max_bytes  # 50 kB in the tests
    e = platform.h("xiling")
    png = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
    assert (
        c.post(f"/api/circles/{XL}/evidence", files={"file": ("a.png", png, "image/png")}, headers=e).status_code == 201
    )
    r = c.post(
        f"/api/circles/{XL}/evidence", files={"file": ("b.png", png + b"\x00" * (up + 70_000), "image/png")}, headers=e
    )
    assert r.status_code == 413
    # just over the file limit but within the form's room: the service names the field (422)
    r = c.post(f"/api/circles/{XL}/evidence", files={"file": ("c.png", png + b"\x00" * up, "image/png")}, headers=e)
    assert r.status_code == 422 and "file" in r.text


# ------------------------------------------------------------------ the real server: memory


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def peak_rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    raise AssertionError("no VmHWM")


def send(
    port: int,
    path: str,
    total: int,
    headers: dict[str, str],
    *,
    chunked: bool = False,
    ctype: str = "application/json",
    prefix: bytes = b"",
) -> int:
    """POST ``total`` bytes to ``path`` from a fixed buffer (the client allocates nothing), stopping
    as soon as the server answers; returns the status code."""
    head = [f"POST {path} HTTP/1.1", "Host: 127.0.0.1", f"Content-Type: {ctype}"]
    head += [f"{k}: {v}" for k, v in headers.items()]
    head.append("Transfer-Encoding: chunked" if chunked else f"Content-Length: {total}")
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.sendall(("\r\n".join(head) + "\r\n\r\n").encode())
        if prefix:
            sock.sendall(b"%x\r\n%b\r\n" % (len(prefix), prefix) if chunked else prefix)
        block, sent = b" " * 65536, len(prefix)
        try:
            while sent < total:
                if select.select([sock], [], [], 0)[0]:
                    break  # the server answered early
                piece = block[: min(len(block), total - sent)]
                sock.sendall(b"%x\r\n%b\r\n" % (len(piece), piece) if chunked else piece)
                sent += len(piece)
            else:
                if chunked:
                    sock.sendall(b"0\r\n\r\n")
        except (BrokenPipeError, ConnectionResetError):
            pass
        data = sock.recv(4096)
    return int(data.split(b" ", 2)[1])


@pytest.fixture
def server(db_url, tmp_path) -> Iterator[tuple[int, int]]:
    """``uvicorn lifecircle.web.asgi:app`` on ``db_url`` in a subprocess: (port, pid)."""
    env = {
        **os.environ,
        "LIFECIRCLE_ENV": "test",
        "DATABASE_URL": db_url,
        "LIFECIRCLE_DATA_DIR": str(tmp_path / "d"),
        "LIFECIRCLE_UPLOAD_MAX_MB": "2",
    }
    settings = make_settings(db_url, tmp_path / "d")
    engine = make_engine(settings.db_url)
    init_platform(engine, session_factory(engine), load_programme())
    seed_demo(
        session_factory(engine),
        load_settings({k: v for k, v in env.items() if k.startswith(("LIFECIRCLE", "DATABASE"))}),
        load_programme(),
        use_demo_city=False,
        passwords={"admin": PASSWORD, "xiling": PASSWORD},
    )
    engine.dispose()
    port = _free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "lifecircle.web.asgi:app", "--port", str(port), "--log-level", "warning"],
        env=env,
    )
    try:
        for _ in range(200):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.1)
        yield port, proc.pid
    finally:
        proc.terminate()
        proc.wait(timeout=20)


def login_token(port: int, user: str) -> str:
    import urllib.request

    req = urllib.request.Request(
        f"http://127.0.0.1:{port}/api/login",
        method="POST",
        data=json.dumps({"username": user, "password": PASSWORD}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(req) as r:
        return json.load(r)["token"]


FILE_PART = (
    b'--b0undary\r\nContent-Disposition: form-data; name="file"; filename="a.png"\r\n'
    b"Content-Type: image/png\r\n\r\n\x89PNG\r\n\x1a\n"
)


def test_a_50_mb_body_costs_the_server_no_memory(server):
    port, pid = server
    auth = {"Authorization": f"Bearer {login_token(port, 'admin')}"}
    assert send(port, "/api/circles", 1000, {}) == 401  # warm up: every code path once
    assert send(port, "/api/circles", 2 * MB, auth) == 413
    base = peak_rss_kb(pid)
    assert send(port, "/api/circles", 50 * MB, {}) == 401  # no session, with Content-Length
    assert send(port, "/api/circles", 50 * MB, {}, chunked=True) == 401  # no session, streamed
    assert send(port, "/api/circles", 50 * MB, auth, chunked=True) == 413  # signed in, streamed past 1 MB
    assert (
        send(
            port,
            f"/api/circles/{XL}/evidence",
            50 * MB,
            auth,
            chunked=True,  # past the 2 MB upload limit
            ctype="multipart/form-data; boundary=b0undary",
            prefix=FILE_PART,
        )
        == 413
    )
    grown_mb = (peak_rss_kb(pid) - base) / 1024
    print(f"peak RSS growth after 4 × 50 MB bodies: {grown_mb:.1f} MB")
    assert grown_mb < 10
