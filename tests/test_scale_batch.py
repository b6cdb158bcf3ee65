"""The province batch (issue 13 part 3): `lifecircle scale cities --province FILE --out DIR` on a
local 2-worker cluster writes one city store, one report and a done-marker per city; a rerun skips
the finished cities (by content key, not by the marker's existence); a city with bad input is
reported by name with its reason while the others finish."""

from __future__ import annotations

import json
import re
import sys

import pandas as pd
import pytest

from lifecircle.city.store import city_names
from lifecircle.scale import get_client
from lifecircle.scale.batch import DONE, read_province
from lifecircle.scale.cluster import close_client


@pytest.fixture(scope="module")
def client():
    c = get_client(n_workers=2, threads_per_worker=1, memory_limit="2GiB")
    yield c
    close_client(c)


def _province(path, rows) -> None:
    lines = ["label,kind,seed,scale,store,name"] + [",".join(str(v) for v in r) for r in rows]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def _run(cli, client, *args):
    """The CLI in English; stdout with its line wrapping undone."""
    code, stdout, stderr = cli("--lang", "en", "scale", "cities", *args, "--scheduler", client.scheduler.address)
    return code, " ".join(stdout.split()), stderr


LABELS = [f"city-{i:02d}" for i in range(1, 21)]


@pytest.fixture(scope="module")
def twenty(cli, client, tmp_path_factory):
    """20 small generated cities evaluated once into a batch folder (about 2,000 nodes each)."""
    tmp = tmp_path_factory.mktemp("province")
    prov = tmp / "province.csv"
    rows = [(lab, "demo", i, 0.01, "", "") for i, lab in enumerate(LABELS, start=1)]
    _province(prov, rows)
    out = tmp / "batch"
    code, stdout, stderr = _run(cli, client, "--province", prov, "--out", out)
    return prov, rows, out, code, stdout, stderr


def test_twenty_cities_go_into_one_store_one_report_and_markers(twenty):
    _, _, out, code, stdout, stderr = twenty
    assert code == 0, stderr
    assert "20 done, 0 skipped" in stdout
    assert sorted(city_names(out / "cities.db")) == LABELS
    rep = pd.read_csv(out / "cities.csv")
    assert rep["label"].tolist() == LABELS and (rep["status"] == "done").all()
    assert rep["population"].gt(0).all() and rep["synthetic"].all()
    assert (out / "cities.xlsx").exists()
    assert len(list((out / DONE).glob("*.json"))) == 20
    page = (out / "cities.html").read_text(encoding="utf-8")  # the run was in English
    assert re.findall(r'<tr data-label="([^"]+)"', page) == LABELS
    assert page.count(">synthetic</span>") == 20 and "SYNTHETIC DATA" in page and "<svg" in page


def test_a_rerun_skips_the_finished_cities(cli, client, twenty):
    prov, _, out, *_ = twenty
    code, stdout, _ = _run(cli, client, "--province", prov, "--out", out)
    assert code == 0 and "0 done, 20 skipped" in stdout
    assert (pd.read_csv(out / "cities.csv")["status"] == "skipped").all()


def test_a_changed_input_or_marker_is_evaluated_again(cli, client, twenty):
    """city-03's scale changes and city-07's marker holds another content key: those two run
    again, the 18 others are skipped with their figures unchanged."""
    prov, rows, out, *_ = twenty
    rep = pd.read_csv(out / "cities.csv")
    rows = list(rows)
    rows[2] = ("city-03", "demo", 3, 0.02, "", "")
    _province(prov, rows)
    marker = next(m for m in (out / DONE).glob("*.json") if json.loads(m.read_text())["label"] == "city-07")
    marker.write_text(json.dumps({**json.loads(marker.read_text()), "key": "0" * 32}))
    code, stdout, _ = _run(cli, client, "--province", prov, "--out", out)
    assert code == 0 and "2 done, 18 skipped" in stdout
    assert "earlier version" not in stdout  # same batch version: not named as outdated
    rep2 = pd.read_csv(out / "cities.csv")
    again = ("city-03", "city-07")
    assert rep2.set_index("label")["status"].to_dict() == {
        lab: ("done" if lab in again else "skipped") for lab in LABELS
    }
    assert rep2.loc[2, "scale"] == 0.02
    keep = ~rep["label"].isin(again)
    cols = [c for c in rep.columns if c != "status"]
    pd.testing.assert_frame_equal(rep.loc[keep, cols], rep2.loc[keep, cols])  # skipped rows keep their figures
    assert sorted(city_names(out / "cities.db")) == LABELS  # nothing duplicated in the store


def test_a_rerun_in_another_language_skips_every_demo_city(cli, client, tmp_path):
    """A demo city's label follows the UI language (演示-1（合成） / demo-1 (synthetic)), its identity
    in the batch does not: a --demo batch run in Chinese, then again in English, skips every city;
    the English report names them in English with the Chinese run's figures, and the store holds
    each city once, under a name of no language."""
    out = tmp_path / "batch"
    args = ("--demo", "3", "--demo-scale", "0.01", "--out", out)
    code, _, stderr = cli("--lang", "zh", "scale", "cities", *args, "--scheduler", client.scheduler.address)
    assert code == 0, stderr
    zh = pd.read_csv(out / "cities.csv")
    assert zh["label"].tolist() == ["演示-1（合成）", "演示-2（合成）", "演示-3（合成）"]
    code, stdout, stderr = _run(cli, client, *args)
    assert code == 0, stderr
    assert "0 done, 3 skipped" in stdout
    en = pd.read_csv(out / "cities.csv")
    labels = ["demo-1 (synthetic)", "demo-2 (synthetic)", "demo-3 (synthetic)"]
    assert en["label"].tolist() == labels and (en["status"] == "skipped").all()
    same = [c for c in zh.columns if c not in ("label", "status")]
    pd.testing.assert_frame_equal(zh[same], en[same])  # the Chinese run's figures
    assert sorted(city_names(out / "cities.db")) == ["demo-1", "demo-2", "demo-3"]
    assert len(list((out / DONE).glob("*.json"))) == 3
    page = (out / "cities.html").read_text(encoding="utf-8")
    assert re.findall(r'<tr data-label="([^"]+)" data-status="([^"]+)"', page) == [(x, "skipped") for x in labels]
    assert "done (earlier run)" in page and "演示" not in page


def test_a_bad_city_is_reported_by_name_and_the_others_finish(cli, client, tmp_path):
    from lifecircle.city.demo import build_demo_city
    from lifecircle.city.store import save_city

    db = tmp_path / "in.db"
    save_city(build_demo_city(seed=9, scale=0.01), db)
    stored = city_names(db)[0]
    prov = tmp_path / "province.csv"
    _province(
        prov,
        [
            ("good-a", "demo", 1, 0.01, "", ""),
            ("broken", "store", "", "", db, "no-such-city"),
            ("good-b", "store", "", "", db, stored),
        ],
    )
    out = tmp_path / "batch"
    code, stdout, stderr = _run(cli, client, "--province", prov, "--out", out)
    assert code == 1
    assert "2 done, 0 skipped as already done, 1 failed" in stdout, stdout[-600:]
    assert "broken" in stderr + stdout and "no-such-city" in stderr + stdout
    rep = pd.read_csv(out / "cities.csv", keep_default_na=False).set_index("label")
    assert rep.loc["broken", "status"] == "failed" and "no-such-city" in rep.loc["broken", "error"]
    assert rep.loc[["good-a", "good-b"], "status"].tolist() == ["done", "done"]
    assert sorted(city_names(out / "cities.db")) == ["good-a", "good-b"]
    page = (out / "cities.html").read_text(encoding="utf-8")
    assert re.findall(r'<tr data-label="([^"]+)" data-status="([^"]+)"', page) == [
        ("good-a", "done"),
        ("broken", "failed"),
        ("good-b", "done"),
    ]
    failed = re.findall(r'<li data-label="([^"]+)"><strong>[^<]+</strong>: ([^<]+)</li>', page)
    assert len(failed) == 1 and failed[0][0] == "broken" and "no-such-city" in failed[0][1]
    # a rerun tries only the failed city again
    code, stdout, _ = _run(cli, client, "--province", prov, "--out", out)
    assert code == 1 and "0 done, 2 skipped as already done, 1 failed" in stdout


def test_province_file_errors_name_the_file_and_row(cli, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    prov = tmp_path / "p.csv"
    _province(prov, [("a", "demo", 1, 0.01, "", ""), ("a", "demo", 2, 0.01, "", "")])
    code, _, stderr = cli("scale", "cities", "--province", prov, "--out", tmp_path / "o")
    assert code == 2 and "a" in stderr and len(stderr.strip().splitlines()) <= 2
    _province(prov, [("x", "mars", 1, 0.01, "", "")])
    code, _, stderr = cli("--lang", "en", "scale", "cities", "--province", prov, "--out", tmp_path / "o")
    assert code == 2 and "row 2" in stderr and "mars" in stderr and "Traceback" not in stderr
    _province(prov, [("x", "demo", 1, 0.01, "", "")])
    code, _, stderr = cli(
        "--lang", "en", "scale", "cities", "--province", prov, "--out", tmp_path / "o", "--tile-m", "0"
    )
    assert code == 2 and "tile size must be positive" in stderr and not (tmp_path / "o").exists()
    code, _, stderr = cli(
        "--lang", "en", "scale", "cities", "--demo", "1", "--out", tmp_path / "c.csv", "--tile-above", "5"
    )
    assert code == 2 and "province batch only" in stderr
    assert read_province.__doc__


def _flaky(folder: str, src, lang, tiling=None):
    """Fails once for 'flaky' and always for 'doomed' (attempts counted in files under ``folder``)."""
    from pathlib import Path

    from lifecircle.scale.batch import _evaluate_task

    n = len(list(Path(folder).glob(f"{src.title}-*"))) + 1
    (Path(folder) / f"{src.title}-{n}").touch()
    if src.title == "doomed" or (src.title == "flaky" and n == 1):
        raise RuntimeError(f"attempt {n} broke")
    return _evaluate_task(src, lang, tiling)


def test_failing_tasks_are_retried_and_reported_by_name(client, tmp_path):
    import functools

    import cloudpickle

    from lifecircle.scale.batch import run_batch
    from lifecircle.scale.cities import CitySource

    cloudpickle.register_pickle_by_value(sys.modules[__name__])
    tries = tmp_path / "tries"
    tries.mkdir()
    srcs = [CitySource("demo", label=lab, seed=i, scale=0.01) for i, lab in enumerate(("flaky", "doomed"), start=1)]
    res = run_batch(srcs, client, tmp_path / "out", retries=2, task=functools.partial(_flaky, str(tries)))
    assert res.done == ["flaky"]
    assert res.failed == {"doomed": "RuntimeError: attempt 3 broke"}  # tried 1 + 2 retries, then reported
    assert len(list(tries.glob("flaky-*"))) == 2 and len(list(tries.glob("doomed-*"))) == 3
    assert res.report.set_index("label")["status"].to_dict() == {"flaky": "done", "doomed": "failed"}


# ---------------------------------------------------------------------------- a large city cut into tiles
def _marker_rows(out) -> dict[str, dict]:
    rows = [json.loads(m.read_text(encoding="utf-8")) for m in (out / DONE).glob("*.json")]
    return {r["label"]: r["row"] for r in rows}


def test_a_city_above_the_threshold_is_tiled_with_the_same_figures(cli, client, twenty, tmp_path):
    """city-05 of the twenty (about 2,000 nodes) forced into 8 km tiles: every figure of its row
    equals the untiled evaluation's (in the twenty's markers); the network written for the tiles
    is gone afterwards, and a rerun skips the city."""
    _, _, untiled_out, *_ = twenty
    untiled = _marker_rows(untiled_out)
    prov = tmp_path / "province.csv"
    _province(prov, [("city-05", "demo", 5, 0.01, "", "")])
    out = tmp_path / "batch"
    args = ("--province", prov, "--out", out, "--tile-above", "1000", "--tile-m", "8000")
    code, stdout, stderr = _run(cli, client, *args)
    assert code == 0, stderr
    assert "1 done, 0 skipped" in stdout
    tiled, plain = _marker_rows(out)["city-05"], untiled["city-05"]
    assert tiled["tiles"] > 1 and plain["tiles"] == 0
    skip = ("seconds", "tiles")
    assert {k: v for k, v in tiled.items() if k not in skip} == {k: v for k, v in plain.items() if k not in skip}
    assert len(tiled) > 30 and tiled["population"] > 0
    for col in ("f15", "f15_elderly"):  # F15 from the city's surface: the same, tiled or not
        assert col in tiled and tiled[col] == plain[col]
    assert city_names(out / "cities.db") == ["city-05"]
    assert not (out / "networks").exists()
    code, stdout, _ = _run(cli, client, *args)
    assert code == 0 and "0 done, 1 skipped" in stdout


def _torn_tiles(src, lang, tiling):
    """The first step of a city, then its network file for the tiles removed (every tile fails)."""
    from lifecircle.scale.city_tiles import CityPlan, city_task

    got = city_task(src, lang, tiling)
    if isinstance(got, CityPlan):
        (got.network.folder / "edges.parquet").unlink()
    return got


def test_a_tiled_city_whose_tile_fails_is_named_and_redone_cleanly(client, tmp_path):
    """A tile that fails after its retries fails its city by name and tile, nothing of it stored,
    its network removed; the rerun (with a stale file left where its network goes) evaluates it
    once into the store."""
    from lifecircle.scale.batch import run_batch
    from lifecircle.scale.cities import CitySource
    from lifecircle.scale.city_tiles import Tiling, network_folder

    cloudpickle = pytest.importorskip("cloudpickle")
    cloudpickle.register_pickle_by_value(sys.modules[__name__])
    tiling = Tiling(1000, 12000.0, tmp_path / "nets")
    srcs = [CitySource("demo", label="torn", seed=5, scale=0.01)]
    out = tmp_path / "out"
    res = run_batch(srcs, client, out, retries=0, task=_torn_tiles, tiling=tiling)
    assert list(res.failed) == ["torn"] and res.failed["torn"].startswith("tile-"), res.failed
    assert "edges.parquet" in res.failed["torn"]
    assert res.report.loc[0, "status"] == "failed" and not list((out / DONE).glob("*.json"))
    assert not (out / "cities.db").exists() or city_names(out / "cities.db") == []
    assert not list((tmp_path / "nets").iterdir())
    stale = network_folder(tiling, "torn")
    stale.mkdir()
    (stale / "stale.parquet").write_text("left by a crash")
    res = run_batch(srcs, client, out, retries=0, tiling=tiling)
    assert res.done == ["torn"] and not res.failed
    assert res.report.loc[0, "tiles"] > 1
    assert city_names(out / "cities.db") == ["torn"] and len(list((out / DONE).glob("*.json"))) == 1
    assert not stale.exists()


def _page_table(page: str) -> list[dict[str, tuple[str, str | None]]]:
    """The city table of a comparison page: per row, header → (cell text, its data-sort or None)."""
    heads = re.findall(r'<th class="[^"]*" scope="col">([^<]*)</th>', page)
    rows = re.findall(r"<tr data-label=.*?</tr>", page, flags=re.S)
    cells = [re.findall(r'<td class="[^"]*"(?: data-sort="([^"]*)")?>(.*?)</td>', r, flags=re.S) for r in rows]
    return [
        {h: (re.sub(r"<[^>]+>", "", text), sort or None) for h, (sort, text) in zip(heads, c, strict=True)}
        for c in cells
    ]


F15_ZH, F15_OLD_ZH = "F15（15分钟全覆盖居民占比）", "F15 老年步速（15分钟全覆盖老年居民占比）"
F15_EN = "F15 (residents within 15 min of every basic format)"


def test_f15_in_the_row_is_f15_on_the_city_s_own_surface_whole_or_tiled(client, tmp_path):
    """The batch's F15 equals fairness.f15 on the walking-time surface built here with the
    existing functions, for a generated city where it is neither 0 nor 1, evaluated whole and in
    tiles; it is in the report, the CSV, the marker and the page (Chinese head, sortable)."""
    from lifecircle.indicators.fairness import f15, resident_times
    from lifecircle.indicators.surface import ALL_BASIC, build_surface
    from lifecircle.scale.batch import run_batch
    from lifecircle.scale.cities import CitySource, source_city_network
    from lifecircle.scale.city_tiles import Tiling

    src = CitySource("demo", label="f15-city", seed=2, scale=0.3)
    city, net, profile = source_city_network(src)
    s = build_surface(city, net, profile)
    want = {}
    for col, old in (("f15", False), ("f15_elderly", True)):
        times, codes = resident_times(s, old)
        want[col] = f15(times[:, codes.index(ALL_BASIC)], s.residents.table["elderly" if old else "population"])
    assert 0 < want["f15_elderly"] < want["f15"] < 1
    whole = run_batch([src], client, tmp_path / "whole", tiling=Tiling(10**9, 5000.0, tmp_path / "nets"))
    tiled = run_batch([src], client, tmp_path / "tiled", tiling=Tiling(1000, 4000.0, tmp_path / "nets"))
    assert whole.report.loc[0, "tiles"] == 0 and tiled.report.loc[0, "tiles"] > 1
    for res in (whole, tiled):
        assert res.done == ["f15-city"]
        assert {c: res.report.loc[0, c] for c in want} == want
        assert {c: _marker_rows(res.store.parent)["f15-city"][c] for c in want} == want
        csv = pd.read_csv(res.store.parent / "cities.csv")
        assert csv.loc[0, "f15"] == pytest.approx(want["f15"], rel=1e-12)
        assert csv.loc[0, "f15_elderly"] == pytest.approx(want["f15_elderly"], rel=1e-12)
        row = _page_table((res.store.parent / "cities.html").read_text(encoding="utf-8"))[0]
        assert row[F15_ZH] == (f"{want['f15'] * 100:.1f}%", repr(want["f15"]))
        assert row[F15_OLD_ZH] == (f"{want['f15_elderly'] * 100:.1f}%", repr(want["f15_elderly"]))


def test_a_city_done_by_an_earlier_batch_version_is_evaluated_again_and_named(cli, client, tmp_path, monkeypatch):
    """'old' was done by batch version 1 (its marker without a batch version, its row without F15,
    as that version wrote them), 'new' by this one: the rerun evaluates 'old' again and says so,
    its row gets F15; 'new' is skipped. The run after that skips both and names nobody."""
    from lifecircle.scale import batch

    prov = tmp_path / "province.csv"
    _province(prov, [("old", "demo", 1, 0.01, "", ""), ("new", "demo", 2, 0.01, "", "")])
    out = tmp_path / "batch"
    srcs = read_province(prov)
    batch.run_batch(srcs[1:], client, out)
    with monkeypatch.context() as m:
        m.setattr(batch, "BATCH_VERSION", 1)  # the key version 1 computed
        batch.run_batch(srcs[:1], client, out)
    marker = next(m for m in (out / DONE).glob("*.json") if json.loads(m.read_text())["label"] == "old")
    data = json.loads(marker.read_text(encoding="utf-8"))
    data.pop("batch", None)
    data["row"] = {k: v for k, v in data["row"].items() if not k.startswith("f15")}
    marker.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    code, stdout, stderr = _run(cli, client, "--province", prov, "--out", out)
    assert code == 0, stderr
    assert "1 done, 1 skipped" in stdout
    assert "evaluated again as an earlier version of the batch had done them" in stdout and "1: old" in stdout
    rep = pd.read_csv(out / "cities.csv").set_index("label")
    assert rep["status"].to_dict() == {"old": "done", "new": "skipped"}
    assert rep.loc["old", "f15"] == 0 and rep.loc["old", "f15_elderly"] == 0  # small city: nobody reaches all
    again = json.loads(marker.read_text(encoding="utf-8"))
    assert again["batch"] == batch.BATCH_VERSION == 2 and again["row"]["f15"] == 0
    page = (out / "cities.html").read_text(encoding="utf-8")  # the run was in English
    f15 = {r["City"][0].replace("synthetic", "").strip(): r[F15_EN] for r in _page_table(page)}
    assert f15 == {"old": ("0.0%", "0.0"), "new": ("0.0%", "0.0")} and "earlier version" not in page
    code, stdout, _ = _run(cli, client, "--province", prov, "--out", out)
    assert code == 0 and "0 done, 2 skipped" in stdout and "earlier version" not in stdout


def test_a_city_without_residents_on_its_streets_is_not_called_an_earlier_version(client, tmp_path):
    """A stored city whose communities all lie beyond the snapping distance of every street has
    residents (population > 0) but none placed on its surface: F15 is NaN. The page says so for
    that city, in Chinese, and does not call its row an earlier version's; a normal city beside it
    keeps its F15."""
    import dataclasses

    from lifecircle.city.demo import build_demo_city
    from lifecircle.city.store import save_city
    from lifecircle.scale.batch import run_batch
    from lifecircle.scale.cities import CitySource

    city = build_demo_city(seed=1, scale=0.01)
    far = city.communities.assign(lon=city.communities["lon"] + 0.5)  # about 50 km east of every street
    db = tmp_path / "in.db"
    save_city(dataclasses.replace(city, name="far", tables={**city.tables, "communities": far}), db)
    srcs = [CitySource("store", label="远郊市", store=str(db), name="far"), CitySource("demo", label="近郊市", seed=2)]
    res = run_batch(srcs, client, tmp_path / "out")
    assert sorted(res.done) == sorted(["远郊市", "近郊市"]) and not res.failed  # in the order they finished
    rep = res.report.set_index("label")
    assert rep.loc["远郊市", "population"] > 0 and pd.isna(rep.loc["远郊市", "f15"])
    assert rep.loc["近郊市", "f15"] == 0
    page = (tmp_path / "out" / "cities.html").read_text(encoding="utf-8")
    rows = {r["城市"][0].replace("合成数据", "").strip(): r for r in _page_table(page)}
    assert rows["远郊市"][F15_ZH] == ("—", None) and rows["近郊市"][F15_ZH] == ("0.0%", "0.0")
    assert "早期版本" not in page
    notes = re.findall(r'<span class="f15-note">([^<]*)</span>', page)
    assert notes == ["“—”（远郊市）：没有居民能落到街道上（如各小区离街道都超过吸附距离），F15 无定义。"]


def test_the_comparison_page_in_chinese_orders_the_chart_and_names_failures():
    """Rendered from a report frame (no cluster): Chinese headers, the province order in the
    table, the bars best first with the failed city last, synthetic cities labelled 合成数据."""
    from lifecircle.reports.comparison import render_comparison_html

    rep = pd.DataFrame(
        {
            "label": ["甲市", "乙市（合成）", "丙市"],
            "status": ["done", "skipped", "failed"],
            "error": ["", "", "InputError: 找不到城市 丙市"],
            "synthetic": [False, True, False],
            "n_circles": [12, 7, None],
            "n_quality": [2, 0, None],
            "n_none": [1, 3, None],
            "basic_format_coverage": [0.61, 0.83, None],
            "basic_coverage": [0.4, 0.7, None],
            "population": [120000, 80000, None],
        }
    )
    page = render_comparison_html(rep, lang="zh")
    assert re.findall(r'<tr data-label="([^"]+)"', page) == ["甲市", "乙市（合成）", "丙市"]
    # a label that already says synthetic is not marked twice
    assert re.findall(r'<text class="name"[^>]*>([^<]+)</text>', page) == ["乙市（合成）", "甲市", "丙市"]
    rep2 = rep.assign(label=["甲市", "demo-1 (synthetic)", "乙市"], synthetic=[True, True, False])
    en = render_comparison_html(rep2, lang="en")
    names = re.findall(r'<text class="name"[^>]*>([^<]+)</text>', en)
    assert names == ["demo-1 (synthetic)", "甲市 (synthetic)", "乙市"]
    assert "基本业态平均覆盖率" in page and "品质型" in page and "83.0%" in page
    assert "合成数据</span>" in render_comparison_html(rep.assign(label=["甲市", "乙市", "丙市"]), lang="zh")
    assert re.findall(r'<li data-label="([^"]+)">', page) == ["丙市"] and "找不到城市 丙市" in page
    assert "SYNTHETIC DATA" in page and "已完成（上次运行）" in page
    # only one city of three is synthetic: the banner says which, not that the whole page is
    assert "含合成数据 / PARTLY SYNTHETIC DATA" in page and "<title>[含合成数据]" in page and "其余城市来自" in page
    # a report without F15 (rows of an earlier version): its columns are there, every value "—"
    table = _page_table(page)
    assert [r[F15_ZH] for r in table] == [("—", None)] * 3 and [r[F15_OLD_ZH] for r in table] == [("—", None)] * 3
    assert "未计算 F15 的早期版本" in page  # said for the two evaluated cities; the failed one has nothing
    # with F15 for one city only: a share in %, sortable by its value; the old row "—"
    rep["f15"] = [0.42, None, None]
    rep["f15_elderly"] = [0.3, None, None]
    table = _page_table(render_comparison_html(rep, lang="zh"))
    assert [r[F15_ZH] for r in table] == [("42.0%", "0.42"), ("—", None), ("—", None)]
    en = _page_table(render_comparison_html(rep, lang="en"))
    assert en[0]["F15 (residents within 15 min of every basic format)"] == ("42.0%", "0.42")
    assert en[0]["F15 at the elderly speed (older residents within 15 min of every basic format)"][0] == "30.0%"
    # a row of this version without F15 (no residents placed) told from a row of an earlier version
    rep = rep.assign(f15=[None, None, None], f15_elderly=[None, None, None], batch_version=[2, None, 2])
    notes = re.findall(r'<span class="f15-note">([^<]*)</span>', render_comparison_html(rep, lang="zh"))
    assert notes == [
        "“—”（乙市（合成））：该城市的结果由未计算 F15 的早期版本写出，没有此项；重跑批量评估会重新评估它。",
        "“—”（甲市）：没有居民能落到街道上（如各小区离街道都超过吸附距离），F15 无定义。",
    ]
    notes = re.findall(r'<span class="f15-note">([^<]*)</span>', render_comparison_html(rep, lang="en"))
    assert notes[0].startswith("“—” (乙市（合成）): the city’s row was written by an earlier version")
    assert notes[1].startswith("“—” (甲市): no residents could be placed on the streets")
    # F15 defined, no older residents: the elderly figure's "—" has its own note, F15 none
    no_old = rep.assign(f15=[0.5, 0.4, None], f15_elderly=[0.2, None, None], batch_version=[2, 2, 2])
    notes = re.findall(r'<span class="f15-note">([^<]*)</span>', render_comparison_html(no_old, lang="zh"))
    assert notes == [
        "F15 老年步速“—”（乙市（合成））：该城市的小区数据没有老年居民（老年人口为 0 或缺失），此项无定义。"
    ]
    notes = re.findall(r'<span class="f15-note">([^<]*)</span>', render_comparison_html(no_old, lang="en"))
    assert notes[0].startswith("F15 at the elderly speed “—” (乙市（合成）): the city’s communities record no older")
    many = pd.concat([rep.iloc[[0]]] * 12, ignore_index=True).assign(label=[f"市{i}" for i in range(12)])
    (note,) = re.findall(r'<span class="f15-note">([^<]*)</span>', render_comparison_html(many, lang="zh"))
    assert note.startswith("“—”（市0、市1、") and "市9 等 12 个城市）" in note and "市10" not in note


def test_a_synthetic_city_is_marked_synthetic_once_in_the_table():
    """A demo city's label already says so (演示-1（合成） / demo-1 (synthetic)): its table cell adds
    no second 合成数据 tag; a synthetic city whose label does not say so gets the tag."""
    from lifecircle.reports.comparison import render_comparison_html

    rep = pd.DataFrame(
        {
            "label": ["演示-1（合成）", "甲市", "乙市"],
            "status": ["done", "done", "done"],
            "synthetic": [True, True, False],
            "basic_format_coverage": [0.5, 0.6, 0.7],
        }
    )
    names = [r["城市"][0] for r in _page_table(render_comparison_html(rep, lang="zh"))]
    assert names == ["演示-1（合成）", "甲市 合成数据", "乙市"]
    en = rep.assign(label=["demo-1 (synthetic)", "甲市", "乙市"])
    names = [r["City"][0] for r in _page_table(render_comparison_html(en, lang="en"))]
    assert names == ["demo-1 (synthetic)", "甲市 synthetic", "乙市"]


def test_province_row_errors_name_the_row_and_field(tmp_path):
    """A duplicate label names both rows and the field label; an unknown kind names the field kind,
    a store row without its store or name that field; in Chinese, and in English when asked."""
    from lifecircle.errors import InputError
    from lifecircle.i18n import use_lang

    prov = tmp_path / "省 份.csv"
    _province(prov, [(lab, "demo", i, 0.01, "", "") for i, lab in enumerate(("宜昌", "荆州", "宜昌"), start=1)])
    with pytest.raises(InputError) as exc:
        read_province(prov)
    assert str(exc.value).startswith(f"{prov}，第4行，字段 'label': ") and "宜昌" in str(exc.value)
    assert "第2行" in str(exc.value)
    with use_lang("en"):
        with pytest.raises(InputError) as exc:
            read_province(prov)
        assert str(exc.value).startswith(f"{prov}, row 4, field 'label': ") and "row 2" in str(exc.value)
    for row, fld in ((("x", "Demo", 1, 0.01, "", ""), "kind"), (("x", "store", "", "", "", "yc"), "store")):
        _province(prov, [row])
        with pytest.raises(InputError) as exc:
            read_province(prov)
        assert str(exc.value).startswith(f"{prov}，第2行，字段 '{fld}': "), str(exc.value)
    _province(prov, [("x", "store", "", "", tmp_path / "a.db", "")])
    with pytest.raises(InputError, match="字段 'name'"):
        read_province(prov)


def test_a_file_where_the_batch_keeps_its_markers_is_one_line(tmp_path):
    """--out an existing folder of the user's that holds a file named done: a one-line error naming
    it (no traceback), before any city is evaluated; nothing written."""
    from lifecircle.errors import InputError
    from lifecircle.scale.batch import run_batch
    from lifecircle.scale.cities import CitySource

    out = tmp_path / "我的 文件夹"
    out.mkdir()
    (out / DONE).write_text("the user's notes")
    with pytest.raises(InputError, match="done") as exc:
        run_batch([CitySource("demo", label="a", seed=1, scale=0.01)], None, out)
    assert str(out / DONE) in str(exc.value)
    assert sorted(p.name for p in out.iterdir()) == [DONE] and (out / DONE).read_text() == "the user's notes"


def test_the_workbook_reads_in_chinese_with_shares_as_percentages(tmp_path):
    """cities.xlsx is for people: headers in the report language (Chinese first, the page's F15
    heads), status and source kind in words, shares 0..1 formatted as %, the synthetic note on top
    once; English when asked. The CSV keeps the column codes for programs."""
    from openpyxl import load_workbook

    from lifecircle.reports.comparison import write_comparison_xlsx

    rep = pd.DataFrame(
        {
            "label": ["演示-1（合成）", "丙市"],
            "status": ["skipped", "failed"],
            "error": ["", "InputError: 找不到城市 丙市"],
            "kind": ["demo", "store"],
            "synthetic": [True, False],
            "basic_format_coverage": [0.61, None],
            "f15": [0.42, None],
            "f15_elderly": [0.3, None],
            "population": [120000, None],
            "seconds": [1.5, 0.1],
            "batch_version": [2, 2],
        }
    )
    ws = load_workbook(write_comparison_xlsx(rep, tmp_path / "cities.xlsx", lang="zh")).active
    rows = [[c.value for c in r] for r in ws.iter_rows()]
    assert "合成数据" in str(rows[0][0]) and sum("合成数据 / SYNTHETIC" in str(v) for r in rows for v in r) == 1
    heads = dict(zip(rows[1], ws[3], strict=True))
    assert {"城市", "状态", "错误", "来源类型", F15_ZH, F15_OLD_ZH, "人口（人）"} <= set(heads)
    assert heads["城市"].value == "演示-1（合成）" and heads["状态"].value == "已完成（上次运行）"
    assert heads[F15_ZH].value == 0.42 and heads[F15_ZH].number_format == "0.0%"
    assert heads["基本业态平均覆盖率"].number_format == "0.0%" and heads["来源类型"].value == "演示"
    assert rows[3][rows[1].index("状态")] == "失败" and ws.title == "城市对比"
    en = load_workbook(write_comparison_xlsx(rep, tmp_path / "en.xlsx", lang="en")).active
    heads = [c.value for c in en[2]]
    assert heads[:3] == ["City", "Status", "Error"] and F15_EN in heads and en.title == "Cities"


def test_a_province_file_without_cities_is_one_line_and_writes_nothing(cli, tmp_path):
    """A province file with its header only (or blank rows only): one line naming the file, exit
    status 2, no traceback and no output folder (it failed after the cluster, leaving done/)."""
    prov = tmp_path / "p.csv"
    for text in ("label,kind,seed,scale,store,name\n", "label,kind,seed,scale,store,name\n,,,,,\n\n"):
        prov.write_text(text, encoding="utf-8")
        code, _, stderr = cli("scale", "cities", "--province", prov, "--out", tmp_path / "o")
        assert code == 2 and str(prov) in stderr and "没有城市" in stderr and "Traceback" not in stderr, stderr
        assert not (tmp_path / "o").exists()


def test_relative_paths_in_a_province_file_are_read_from_its_folder(tmp_path, monkeypatch):
    """A store or profile named relative to the province file is found from any current folder, as
    the same absolute file (so a rerun from elsewhere keys the city the same); a file that exists
    only from the current folder (files written before this rule) is still found; URLs are kept."""
    from lifecircle.scale.batch import city_key

    here = tmp_path / "省份 数据"
    here.mkdir()
    (here / "宜昌.db").write_bytes(b"")
    (here / "p.yaml").write_text("x", encoding="utf-8")
    prov = here / "province.csv"
    prov.write_text(
        "label,kind,store,name,profile\n宜昌,store,宜昌.db,yc,p.yaml\n库,store,postgresql://h/db,yc,\n",
        encoding="utf-8",
    )
    keys = []
    for cwd in (here, tmp_path):
        monkeypatch.chdir(cwd)
        yc, url = read_province(prov if cwd == tmp_path else "province.csv")
        assert yc.store == str((here / "宜昌.db").resolve()) and yc.profile == str((here / "p.yaml").resolve())
        assert url.store == "postgresql://h/db"
        keys.append(city_key(yc))
    assert keys[0] == keys[1]
    old = tmp_path / "old"
    old.mkdir()
    (tmp_path / "旧.db").write_bytes(b"")  # beside the current folder, not beside the file
    (old / "province.csv").write_text("label,kind,store,name\n旧,store,旧.db,yc\n", encoding="utf-8")
    assert read_province(old / "province.csv")[0].store == str((tmp_path / "旧.db").resolve())
