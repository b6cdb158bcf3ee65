"""One demo city (issue 8 item 7): every ``--demo`` command builds the demo city at one default
scale and seed, and every output and scenario records the city it was made on (name, scale, seed)
so that figures from different demo cities are never mixed up."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from lifecircle.city.demo import DEMO_SCALE, DEMO_SEED, build_demo_city, demo_settings
from lifecircle.city.model import City, city_label, same_city

SCALE = 0.05  # small, so the suite stays quick; the default is tested by introspection


def _demo_commands() -> dict:
    """Command path → click command, for ``demo`` and every command with a --demo flag."""
    import typer

    from lifecircle.cli import _register, app

    _register()
    found = {}

    def walk(cmd, path):
        for name, sub in getattr(cmd, "commands", {}).items():
            walk(sub, [*path, name])
        if path == ["demo"] or any("--demo" in p.opts for p in getattr(cmd, "params", [])):
            found[" ".join(path)] = cmd

    walk(typer.main.get_command(app), [])
    return found


def test_the_default_scale_and_seed_are_one_setting_in_demo_toml() -> None:
    city = demo_settings()["city"]
    assert (float(city["default_scale"]), int(city["default_seed"])) == (DEMO_SCALE, DEMO_SEED)


def test_every_demo_command_defaults_to_the_one_demo_city() -> None:
    cmds = _demo_commands()
    assert {
        "demo",
        "plan circles",
        "plan types",
        "plan sites",
        "plan report",
        "scenario create",
        "scenario compare",
        "serve",
        "platform init",
    } <= set(cmds)
    for name, cmd in cmds.items():
        if name == "scale cities":  # N different cities (seeds 1..N) for the benchmark, not THE demo city
            continue
        params = {p.name: p for p in cmd.params}
        # serve / platform init leave None: seed_demo then takes the same DEMO_SCALE / DEMO_SEED
        assert params["scale"].default in (DEMO_SCALE, None), name
        if "seed" in params:
            assert params["seed"].default in (DEMO_SEED, None), name


def test_seed_demo_defaults_are_the_demo_city_defaults() -> None:
    import inspect

    from lifecircle.platform.seed import seed_demo

    sig = inspect.signature(seed_demo)
    assert sig.parameters["scale"].default is None and sig.parameters["seed"].default is None
    src = inspect.getsource(seed_demo)
    assert "DEMO_SCALE" in src and "DEMO_SEED" in src


def test_demo_city_records_how_it_was_made() -> None:
    c = build_demo_city(7, SCALE)
    assert c.provenance == {"generator": "demo", "scale": SCALE, "seed": 7}
    assert c.origin_label == "yichang-demo (demo, scale 0.05, seed 7)"
    assert City(name="x").provenance == {} and City(name="x").origin_label == "x"


def test_same_city_compares_name_scale_and_seed() -> None:
    a = {"generator": "demo", "scale": 1.0, "seed": 2022}
    assert same_city("d", a, "d", {"generator": "demo", "scale": 1, "seed": 2022})
    assert not same_city("d", a, "d", {**a, "scale": 0.5})
    assert not same_city("d", a, "d", {**a, "seed": 1})
    assert not same_city("d", a, "e", a)
    assert same_city("d", a, "d", {})  # imported before provenance was recorded: by name
    assert city_label("d", a) == "d (demo, scale 1, seed 2022)"


@pytest.fixture(scope="module")
def evaluated():
    from lifecircle.cli.plan_circles import network_for_city
    from lifecircle.indicators.evaluate import evaluate_city
    from lifecircle.profile import load_profile

    city = build_demo_city(DEMO_SEED, SCALE)
    net = network_for_city(city)
    prof = load_profile(city.profile)
    return city, net, prof, evaluate_city(city, net, prof)


def test_reports_name_the_city_they_were_made_on(evaluated, tmp_path: Path) -> None:
    import openpyxl
    import pyogrio

    from lifecircle.reports import write_outputs

    city, _, _, ev = evaluated
    assert ev.city_provenance == city.provenance and ev.city_key == city.name
    label = city.origin_label
    files = write_outputs(ev, tmp_path / "out", city=city)
    assert label in files["html"].read_text(encoding="utf-8")
    about = openpyxl.load_workbook(files["xlsx"]).worksheets[-1]
    assert any(label in str(c.value) for row in about.iter_rows() for c in row if c.value)
    assert label in pyogrio.read_info(files["gpkg"], layer="circles")["layer_metadata"]["lifecircle_city"]


def test_plan_report_names_the_city(evaluated) -> None:
    from lifecircle.plans.policy import circle_plan
    from lifecircle.reports.plan_report import render_plan_html

    city, net, prof, ev = evaluated
    plan = circle_plan(city, net, prof, ev, str(ev.circles["id"].iloc[0]))
    assert plan.scenario.city_provenance == city.provenance
    assert city.origin_label in render_plan_html(plan, city=city)


def test_scenario_records_base_city_and_is_refused_on_another(cli, tmp_path: Path) -> None:
    code, _, err = cli(
        "scenario",
        "create",
        "plus",
        "--dir",
        tmp_path,
        "--demo",
        "--scale",
        SCALE,
        "--add",
        "convenience_store,111.29,30.70",
    )
    assert code == 0, err
    data = json.loads((tmp_path / "plus.json").read_text(encoding="utf-8"))
    assert data["city"] == "yichang-demo"
    assert data["city_provenance"] == {"generator": "demo", "scale": SCALE, "seed": DEMO_SEED}
    code, _, err = cli("scenario", "compare", "plus", "--dir", tmp_path, "--demo", "--scale", "0.06")
    assert code == 2 and "Traceback" not in err
    flat = " ".join(err.split())
    assert "scale 0.05" in flat and "scale 0.06" in flat  # both cities named
    code, _, err = cli("scenario", "compare", "plus", "--dir", tmp_path, "--demo", "--scale", SCALE, "--seed", "3")
    assert code == 2 and "seed 3" in " ".join(err.split())


def test_scenario_without_provenance_still_reads(tmp_path: Path) -> None:
    from lifecircle.plans.scenarios import load_scenario

    p = tmp_path / "old.json"
    p.write_text(json.dumps({"lifecircle_scenario": 1, "name": "old", "city": "yichang-demo"}), encoding="utf-8")
    s = load_scenario(p)
    assert s.city_provenance == {} and s.to_dict()["city_provenance"] == {}
