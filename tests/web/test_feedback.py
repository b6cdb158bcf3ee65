"""Residents' feedback that reaches someone (issue 12, part 4): no sign-in, routed to the district
and circle of the spot as a complaint or an environment issue, with a photo; a receipt only; a
refused report stores nothing. On SQLite and PostgreSQL."""

from __future__ import annotations

from sqlalchemy import func, select

from lifecircle.platform.db import transaction
from lifecircle.platform.db_operations import Attachment, Complaint, EnvIssue

from .test_live_platform import live_platform  # noqa: F401 - the fixture: the small demo city

JPG = b"\xff\xd8\xff\xe0" + b"0" * 2000


def _spot(p, circle: str = "XL-01") -> tuple[float, float]:
    """A community's point inside ``circle`` (WGS-84)."""
    from lifecircle.city.demo import build_demo_city

    from .test_live_platform import SCALE

    comm = build_demo_city(scale=SCALE).communities
    row = comm[comm["circle_id"] == circle].iloc[0]
    return float(row["lon"]), float(row["lat"])


def _counts(p) -> tuple[int, int, int]:
    with transaction(p.factory()) as s:
        return (
            s.scalar(select(func.count(Complaint.id))) or 0,
            s.scalar(select(func.count(EnvIssue.id))) or 0,
            s.scalar(select(func.count(Attachment.id))) or 0,
        )


def test_a_missing_format_reaches_the_district_of_the_spot(live_platform):  # noqa: F811
    p = live_platform
    lon, lat = _spot(p)
    c = p.client
    c.cookies.clear()
    r = c.post(
        "/api/public/feedback",
        data={"kind": "missing", "format": "pharmacy", "text": "走路十五分钟内没有药店", "lon": lon, "lat": lat},
    )
    assert r.status_code == 201, r.text
    receipt = r.json()
    assert receipt["number"].startswith("C") and receipt["district"] == "西陵区"
    assert set(receipt) == {"kind", "kind_name", "number", "district", "circle_id", "message"}  # a receipt only
    cid = int(receipt["number"][1:])
    with transaction(p.factory()) as s:
        row = s.get(Complaint, cid)
        assert (row.category, row.source, row.district, row.created_by) == (
            "missing_format",
            "resident",
            "420502",
            None,
        )
        assert row.text.startswith("药店") and row.circle_id == receipt["circle_id"]
    mine = c.get("/api/complaints", headers=p.h("xiling")).json()
    assert any(x["id"] == cid for x in (mine["items"] if isinstance(mine, dict) else mine))
    other = c.get("/api/complaints", headers=p.h("wujiagang")).json()
    assert not any(x["id"] == cid for x in (other["items"] if isinstance(other, dict) else other))


def test_an_environment_problem_with_a_photo_becomes_the_circles_issue(live_platform):  # noqa: F811
    p = live_platform
    lon, lat = _spot(p)
    # a phone map gives GCJ-02: converted before routing
    from lifecircle.sources.coords import wgs84_to_gcj02

    glon, glat = (float(v) for v in wgs84_to_gcj02(lon, lat))
    r = p.client.post(
        "/api/public/feedback",
        data={
            "kind": "environment",
            "category": "waste_sorting",
            "text": "垃圾桶满溢",
            "lon": glon,
            "lat": glat,
            "crs": "gcj02",
        },
        files={"photo": ("bin.jpg", JPG, "image/jpeg")},
    )
    assert r.status_code == 201, r.text
    number = r.json()["number"]
    assert number.startswith("E")
    with transaction(p.factory()) as s:
        issue = s.get(EnvIssue, int(number[1:]))
        assert issue.source == "resident" and issue.category == "waste_sorting" and issue.circle_id == "XL-01"
        assert abs(issue.lon - lon) < 1e-5 and abs(issue.lat - lat) < 1e-5
        photos = s.scalars(select(Attachment).where(Attachment.entity_id == str(issue.id))).all()
        assert len(photos) == 1 and photos[0].user_id is None


def test_a_refused_report_stores_nothing_and_says_why(live_platform):  # noqa: F811
    p = live_platform
    c = p.client
    lon, lat = _spot(p)
    before = _counts(p)
    cases = [
        ({"kind": "spam", "lon": lon, "lat": lat}, None),
        ({"kind": "missing", "lon": lon, "lat": lat}, "format"),
        ({"kind": "missing", "format": "pharmacy", "lon": 2.35, "lat": 48.85}, "lon"),  # Paris
        ({"kind": "environment", "category": "ufo", "text": "x", "lon": lon, "lat": lat}, "category"),
        ({"kind": "complaint", "text": "", "lon": lon, "lat": lat}, "text"),
    ]
    for data, field in cases:
        r = c.post("/api/public/feedback", data=data)
        assert r.status_code == 422, (data, r.text)
        if field:
            assert field in r.text, (data, r.text)
    r = c.post(
        "/api/public/feedback",
        data={"kind": "complaint", "text": "服务差", "lon": lon, "lat": lat},
        files={"photo": ("x.jpg", b"%PDF-1.4 not a photo", "image/jpeg")},
    )
    assert r.status_code == 422 and "photo" in r.text
    assert _counts(p) == before


def test_the_feedback_page_works_without_an_account(live_platform):  # noqa: F811
    p = live_platform
    c = p.client
    c.cookies.clear()
    page = c.get("/feedback", params={"lon": 111.3, "lat": 30.7})
    assert page.status_code == 200 and 'id="feedback-form"' in page.text and 'value="111.3"' in page.text
    lon, lat = _spot(p)
    done = c.post("/feedback", data={"kind": "missing", "format": "breakfast", "lon": str(lon), "lat": str(lat)})
    assert done.status_code == 200 and 'id="feedback-receipt"' in done.text and "西陵区" in done.text
    bad = c.post("/feedback", data={"kind": "missing", "format": "breakfast", "lon": "东经111", "lat": "x"})
    assert bad.status_code == 422 and 'id="feedback-error"' in bad.text
    assert c.get("/feedback", params={"lang": "en"}).text.count("Tell us") >= 1


def test_feedback_is_rate_limited_per_address(live_platform):  # noqa: F811
    """The public write shares the per-address limit of every public route: 429 with Retry-After."""
    import dataclasses

    p = live_platform
    p.app.state.settings = dataclasses.replace(p.settings, public_burst=2, public_rate_per_minute=1)
    lon, lat = _spot(p)
    codes = [
        p.client.post("/api/public/feedback", data={"kind": "missing", "format": "pharmacy", "lon": lon, "lat": lat})
        for _ in range(4)
    ]
    assert [r.status_code for r in codes][:2] == [201, 201]
    assert codes[-1].status_code == 429 and int(codes[-1].headers["retry-after"]) >= 1
