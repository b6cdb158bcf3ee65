"""Review of issue 11 as hurried users use it: each test is a mistake a real user made that once
gave a 500, a wrong message or a half-checked write (SQLite and PostgreSQL)."""

from __future__ import annotations

import io

from sqlalchemy import func, select

from lifecircle.platform.db import transaction
from lifecircle.platform.db_operations import Outlet

XL_LON, XL_LAT = 111.312098, 30.720856  # inside 西陵区 (420502)
WJ_LON, WJ_LAT = 111.368309, 30.648320  # inside 伍家岗区 (420503)


def n_outlets(p) -> int:
    with transaction(p.factory()) as s:
        return s.scalar(select(func.count(Outlet.id)))


def upload(p, user: str, name: str, data: bytes, **form):
    return p.client.post("/api/outlets/import", files={"file": (name, data, "text/csv")}, data=form, headers=p.h(user))


def problems(r) -> list[tuple]:
    assert r.status_code == 422, (r.status_code, r.text)
    return [(d["loc"][-1], d.get("row"), d["msg"]) for d in r.json()["detail"]]


def test_import_applies_the_registrys_own_limits_to_every_row(platform):
    """A spreadsheet with a 300-character name, an over-long address and a NUL in a name was
    imported as it was (a 500 on PostgreSQL); now each is a 422 naming row and field, nothing written."""
    p = platform
    rows = [
        "名称,业态,经度,纬度,地址",
        f"{'长' * 300},便利店,{XL_LON},{XL_LAT},",
        f"超市B,便利店,{XL_LON},{XL_LAT + 0.001},{'路' * 300}",
        f"超\x00市C,便利店,{XL_LON},{XL_LAT + 0.002},",
        f"好超市,便利店,{XL_LON},{XL_LAT + 0.003},",
    ]
    r = upload(p, "admin", "商户.csv", "\n".join(rows).encode())
    got = {(f, row) for f, row, _ in problems(r)}
    assert {("name", 2), ("address", 3), ("name", 4)} <= got, got
    assert n_outlets(p) == 0


def test_a_file_that_is_not_a_workbook_is_named_by_its_upload_name(platform):
    """A PDF saved as .xlsx: the message showed the server's temporary path and no field."""
    r = upload(platform, "admin", "网点.xlsx", b"%PDF-1.4 not a workbook")
    (field, _, msg), *_ = problems(r)
    assert field == "file" and msg.startswith("网点.xlsx") and "/tmp" not in msg, msg


def test_import_rows_are_numbered_as_in_the_file_past_blank_rows(platform):
    """A district officer's file with blank lines: the out-of-district row was reported one row early."""
    import openpyxl

    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(["名称", "业态", "经度", "纬度"])
    ws.append(["超市A", "便利店", XL_LON, XL_LAT])
    ws.append([None, None, None, None])
    ws.append(["超市B", "便利店", WJ_LON, WJ_LAT])
    buf = io.BytesIO()
    wb.save(buf)
    r = upload(platform, "xiling", "商户.xlsx", buf.getvalue())
    assert [(f, row) for f, row, _ in problems(r)] == [("district", 4)]
    assert n_outlets(platform) == 0


def _open_outlet(p) -> str:
    r = p.client.post(
        "/api/outlets",
        json={"name": "便民超市", "formats": ["convenience_store"], "lon": XL_LON, "lat": XL_LAT},
        headers=p.h("admin"),
    )
    assert r.status_code == 201, r.text
    return r.json()["id"]


def test_an_inspection_with_a_mistyped_year_is_refused(platform):
    """0025-06-01 (a dropped digit) was recorded, in period '25Q2' — a period no plan can have."""
    p = platform
    oid = _open_outlet(p)
    for day in ("0025-06-01", "1925-06-01"):
        r = p.client.post(
            "/api/inspections",
            json={"outlet_id": oid, "date": day, "items": {"licence": "pass"}},
            headers=p.h("inspector"),
        )
        assert [f for f, _, _ in problems(r)] == ["date"], r.text
    r = p.client.post(
        "/api/inspections?lang=en",
        json={"outlet_id": oid, "date": "2025-06-01", "items": {"licence": "pass"}},
        headers=p.h("inspector"),
    )
    assert r.status_code == 201 and r.json()["period"] == "2025Q2", r.text


def test_an_outlet_placed_outside_the_city_is_refused(platform):
    """The bureau typed Beijing's coordinates (or moved a shop there): the outlet was stored with no
    district — in no officer's list and no circle's count. A filing already refused this."""
    p = platform
    far = {"name": "便民超市", "formats": ["convenience_store"], "lon": 116.40, "lat": 39.90}
    r = p.client.post("/api/outlets", json=far, headers=p.h("admin"))
    assert [f for f, _, _ in problems(r)] == ["lon"]
    oid = _open_outlet(p)
    r = p.client.patch(f"/api/outlets/{oid}", json={"version": 1, "lon": 116.40, "lat": 39.90}, headers=p.h("admin"))
    assert [f for f, _, _ in problems(r)] == ["lon"]
    r = p.client.get(f"/api/outlets/{oid}", headers=p.h("admin"))
    assert (r.json()["district"], r.json()["version"]) == ("420502", 1)


def test_outlet_pages_name_the_district_not_its_code(platform):
    """The outlet list and page showed '420502' where every other page says 西陵区 / Xiling."""
    from .test_pages import page_login

    p = platform
    oid = _open_outlet(p)
    page_login(p.client, "admin")
    for url in ("/outlets", f"/outlets/{oid}"):
        zh = p.client.get(url + "?lang=zh").text
        assert "西陵区" in zh and "420502" not in zh, url
        en = p.client.get(url + "?lang=en").text
        assert "420502" not in en, url


def test_an_import_does_not_edit_a_closed_outlet(platform):
    """Re-importing last year's list renamed and moved an outlet that had been closed — which the
    outlet page and PATCH refuse. Now that row is a 422; an unchanged row of it stays fine."""
    p = platform
    row = f"id,名称,业态,经度,纬度\nz1,老店,便利店,{XL_LON},{XL_LAT}\n"
    assert upload(p, "admin", "a.csv", row.encode()).status_code == 200
    r = p.client.post("/api/outlets/z1/close", json={"reason": "歇业"}, headers=p.h("admin"))
    assert r.status_code == 200, r.text
    r = upload(p, "admin", "a.csv", row.replace("老店", "新店").encode())
    assert [(f, row) for f, row, _ in problems(r)] == [("id", 2)]
    r = p.client.get("/api/outlets/z1", headers=p.h("admin"))
    assert (r.json()["name"], r.json()["status"]) == ("老店", "closed")
    r = upload(p, "admin", "a.csv", row.encode())
    assert r.status_code == 200 and r.json()["unchanged"] == 1, r.text


def test_a_committee_member_entered_twice_is_refused(platform):
    """A double click on 添加 made two identical 运营主体 张三 rows in the committee."""
    p = platform
    h = p.h("community")
    cid = p.client.get("/api/me", headers=h).json()["circle_id"]
    member = {"role": "operator", "name": "张三"}
    assert p.client.post(f"/api/circles/{cid}/committee", json=member, headers=h).status_code == 201
    r = p.client.post(f"/api/circles/{cid}/committee", json=member | {"name": " 张三 "}, headers=h)
    assert r.status_code == 409 and "张三" in r.json()["detail"], r.text
    members = p.client.get(f"/api/circles/{cid}/committee", headers=h).json()["members"]
    assert len(members) == 1
    r = p.client.post(f"/api/circles/{cid}/committee", json=member | {"role": "resident"}, headers=h)
    assert r.status_code == 201, r.text  # the same person in another role is fine


def test_a_meeting_with_a_mistyped_year_is_refused(platform):
    """A meeting dated 0025-03-01 was recorded (and listed first among the circle's meetings)."""
    p = platform
    h = p.h("community")
    cid = p.client.get("/api/me", headers=h).json()["circle_id"]
    r = p.client.post(f"/api/circles/{cid}/meetings", json={"date": "0025-03-01", "title": "联席会"}, headers=h)
    assert [f for f, _, _ in problems(r)] == ["date"]
    assert p.client.get(f"/api/circles/{cid}/meetings", headers=h).json() in ([], {"meetings": []})


def test_an_unknown_gap_fill_target_is_explained_in_english():
    """/circles/{id}/gapfill?target=foo&lang=en listed the grades as 'basic（基础型）、…'."""
    import pytest

    from lifecircle.errors import InputError
    from lifecircle.i18n import use_lang
    from lifecircle.indicators.grades import load_rules
    from lifecircle.plans.gapfill import target_of

    with use_lang("en"), pytest.raises(InputError) as exc:
        target_of(load_rules(), "none", "foo")
    msg = exc.value.problems[0].message
    assert "quality (Quality)" in msg and not any("\u4e00" <= ch <= "\u9fff" for ch in msg), msg
