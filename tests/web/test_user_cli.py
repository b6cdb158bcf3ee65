"""``lifecircle user add|reset-password|list`` and ``lifecircle platform init --demo`` on a real
database — an SQLite file and a real PostgreSQL server — the same one ``serve`` would use
(``DATABASE_URL`` / ``LIFECIRCLE_DATA_DIR``)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from lifecircle.errors import InputError
from lifecircle.platform import auth
from lifecircle.platform.db import Circle, MapLayer, User, make_engine, session_factory, transaction
from lifecircle.platform.programme import load_programme
from lifecircle.platform.seed import init_platform, seed_demo
from lifecircle.platform.settings import load_settings
from pg_server import fresh_database


@pytest.fixture(params=["sqlite", "postgresql"])
def env(request, tmp_path) -> Iterator[dict[str, str]]:
    """The environment of a platform on an empty database of this test alone."""
    base = {"LIFECIRCLE_ENV": "test", "LIFECIRCLE_DATA_DIR": str(tmp_path / "data")}
    if request.param == "sqlite":
        yield base | {"DATABASE_URL": ""}
        return
    with fresh_database(request.getfixturevalue("pg_url"), prefix="lc_cli") as url:
        yield base | {"DATABASE_URL": url}


@pytest.fixture
def run(env):
    """Run the CLI with ``env``: (exit code, stdout, stderr)."""
    from lifecircle.cli import _register, app

    _register()
    runner = CliRunner()

    def go(*args: str, stdin: str | None = None):
        r = runner.invoke(app, list(args), input=stdin, env=env, catch_exceptions=False)
        return r.exit_code, r.stdout, r.stderr

    return go


def users(env) -> dict[str, User]:
    settings = load_settings(env)
    engine = make_engine(settings.db_url)
    with transaction(session_factory(engine)) as s:
        out = {u.username: u for u in s.scalars(select(User))}
    engine.dispose()
    return out


def check(env, name: str, password: str) -> bool:
    return auth.verify_password(users(env)[name].password_hash, password, load_settings(env))


def test_the_first_administrator_from_the_command_line(run, env):
    code, out, err = run("user", "list")
    assert code == 0 and "user add" in out  # an empty database says how to begin
    code, out, err = run("user", "add", "chief", "--role", "city_admin")
    assert code == 0, err
    pw = re.search(r"^\s+(\S{16,})\s*$", out, re.M).group(1)  # the generated password, shown once
    assert check(env, "chief", pw) and not auth.password_problems(pw, "chief")
    code, out, err = run(
        "user",
        "add",
        "xl-officer",
        "--role",
        "district_officer",
        "--district",
        "420502",
        "--password-stdin",
        stdin="tram-lantern-47-quay\n",
    )
    assert code == 0 and "tram-lantern" not in out
    assert check(env, "xl-officer", "tram-lantern-47-quay") and users(env)["xl-officer"].district == "420502"
    code, out, err = run("user", "list")
    assert code == 0 and "chief" in out and "city_admin" in out and "420502" in out and pw not in out


def test_the_app_signs_in_with_the_password_the_command_printed(run, env, tmp_path):
    from fastapi.testclient import TestClient

    from lifecircle.web.app import create_app

    _code, out, _ = run("user", "add", "chief", "--role", "city_admin")
    pw = re.search(r"^\s+(\S{16,})\s*$", out, re.M).group(1)
    app = create_app(load_settings(env))
    with TestClient(app) as c:
        r = c.post("/api/login", json={"username": "chief", "password": pw})
        assert r.status_code == 200 and r.json()["user"]["role"] == "city_admin"
    app.state.engine.dispose()


def test_reset_a_forgotten_password(run, env):
    assert (
        run("user", "add", "chief", "--role", "city_admin", "--password-stdin", stdin="tram-lantern-47-quay\n")[0] == 0
    )
    code, out, err = run("user", "reset-password", "chief")
    assert code == 0, err
    pw = re.search(r"^\s+(\S{16,})\s*$", out, re.M).group(1)
    assert check(env, "chief", pw) and not check(env, "chief", "tram-lantern-47-quay")
    code, out, err = run("user", "reset-password", "chief", "--password-stdin", stdin="velvet-canyon-93\n")
    assert code == 0 and check(env, "chief", "velvet-canyon-93")


@pytest.mark.parametrize(
    "args, stdin, message",
    [
        (["user", "add", "x1", "--role", "mayor"], None, "未知角色 'mayor'"),
        (["user", "add", "x1", "--role", "district_officer", "--district", "999999"], None, "有效的区代码"),
        (["user", "add", "x1", "--role", "leader", "--password-stdin"], "1234567890\n", "太常见"),
        (["user", "add", "x1", "--role", "leader", "--password-stdin"], "short\n", "至少 10"),
        (["user", "add", "x1", "--role", "leader", "--password-stdin"], "\n", "没有密码"),
        (["user", "add", "taken", "--role", "leader"], None, "已存在"),
        (["user", "reset-password", "nobody"], None, "nobody"),
        (["user", "reset-password", "taken", "--password-stdin"], "taken12345\n", "用户名"),
    ],
)
def test_mistakes_print_one_line_and_exit_2(run, env, args, stdin, message):
    assert run("user", "add", "taken", "--role", "leader")[0] == 0
    before = {n: u.password_hash for n, u in users(env).items()}
    code, out, err = run(*args, stdin=stdin)
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1 and "Traceback" not in err, (
        code,
        out,
        err,
    )
    assert {n: u.password_hash for n, u in users(env).items()} == before  # nothing changed


def test_demo_seeding_works_and_reruns_cleanly(run, env):
    """``platform init --demo`` (what ``serve --demo`` runs first): the demo city's long data credits
    fit (map_layers.source is Text), the accounts are printed once, a rerun adds nothing."""
    code, out, err = run("platform", "init", "--demo", "--scale", "0.02")
    assert code == 0, err
    names = "admin|xiling|wujiagang|evaluator|leader|merchant|inspector|community"
    shown = dict(re.findall(rf"^\s+({names})\s+(\S+)\s*$", out, re.M))
    assert set(shown) == {"admin", "xiling", "wujiagang", "evaluator", "leader", "merchant", "inspector", "community"}
    assert all(check(env, name, pw) for name, pw in shown.items())
    settings = load_settings(env)
    engine = make_engine(settings.db_url)
    with transaction(session_factory(engine)) as s:
        n = s.scalar(select(func.count(Circle.id)))
        source = s.get(MapLayer, "streets").source
    engine.dispose()
    assert n == 30 and len(source) > 255  # the credits that overflowed varchar(255) on PostgreSQL
    code, out, err = run("platform", "init", "--demo", "--scale", "0.02")
    assert code == 0 and "reset-password" in out and not any(pw in out for pw in shown.values())
    assert len(users(env)) == 8


def test_a_failed_demo_seed_leaves_nothing_behind(env, tmp_path):
    """Seeding is one transaction: when the content cannot be written (here: two circles with one
    id) no account is left whose password was never shown, and a rerun succeeds."""
    from lifecircle.city.demo import build_demo_city

    settings = load_settings(env, argon2_time_cost=1, argon2_memory_kib=1024)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    engine = make_engine(settings.db_url)
    factory = session_factory(engine)
    prog = load_programme()
    init_platform(engine, factory, prog)
    city = build_demo_city(2022, 0.02)
    good = city.circles
    city.circles = pd.concat([good, good.iloc[:1]], ignore_index=True)
    with pytest.raises(InputError, match="已存在"):
        seed_demo(factory, settings, prog, city=city, evaluate=False)
    with transaction(factory) as s:
        assert s.scalar(select(func.count(User.id))) == 0 and s.scalar(select(func.count(Circle.id))) == 0
    city.circles = good
    res = seed_demo(factory, settings, prog, city=city, evaluate=False)
    assert len(res.accounts) == 8 and res.circles == len(good)
    engine.dispose()


def test_long_map_layer_sources_fit_after_the_migration(env):
    settings = load_settings(env)
    Path(settings.data_dir).mkdir(parents=True, exist_ok=True)
    engine = make_engine(settings.db_url)
    factory = session_factory(engine)
    init_platform(engine, factory, load_programme())
    credit = "OpenStreetMap contributors (ODbL); " * 40
    with transaction(factory) as s:
        s.merge(MapLayer(name="streets", geojson={"type": "FeatureCollection", "features": []}, source=credit))
    with transaction(factory) as s:
        assert s.get(MapLayer, "streets").source == credit and len(credit) > 1000
    engine.dispose()
