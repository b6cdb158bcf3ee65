"""Server-rendered pages (login with CSRF, forms, language switch), settings, migrations and the
demo seed — on SQLite and PostgreSQL."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from lifecircle.errors import ConfigError
from lifecircle.platform.db import (
    Base,
    Circle,
    MapLayer,
    Scorecard,
    make_engine,
    session_factory,
    transaction,
)
from lifecircle.platform.programme import load_programme
from lifecircle.platform.seed import seed_demo
from lifecircle.platform.settings import load_settings

from .conftest import PASSWORD, make_settings

XL = "420502-P1"


def page_login(c, user: str = "admin", password: str = PASSWORD):
    form = c.get("/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', form.text).group(1)
    return c.post(
        "/login",
        data={"username": user, "password": password, "csrf_token": token, "next": "/dashboard"},
        follow_redirects=False,
    )


def csrf_of(html: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)


def test_pages_redirect_to_login_when_signed_out(platform):
    r = platform.client.get("/circles", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("/login")


def test_login_form_needs_its_csrf_token(platform):
    c = platform.client
    c.get("/login")
    r = c.post(
        "/login", data={"username": "admin", "password": PASSWORD, "csrf_token": "forged"}, follow_redirects=False
    )
    assert r.status_code == 403


def test_login_page_flow_and_wrong_password(platform):
    c = platform.client
    bad = page_login(c, password="wrong")
    assert bad.status_code == 401 and "用户名或密码错误" in bad.text
    ok = page_login(c)
    assert ok.status_code == 303 and ok.headers["location"] == "/dashboard"
    assert "httponly" in ok.headers["set-cookie"].lower()
    d = c.get("/dashboard")
    assert d.status_code == 200 and "建设进度总览" in d.text and "各区配额与进度" in d.text and "合成数据" in d.text


def test_english_switch_by_query_and_cookie(platform):
    c = platform.client
    page_login(c)
    assert "Programme progress" in c.get("/dashboard?lang=en").text
    assert "Programme progress" in c.get("/dashboard").text  # remembered in the cookie
    assert "建设进度总览" in c.get("/dashboard?lang=zh").text


def test_status_form_changes_status_and_needs_csrf(platform):
    c = platform.client
    with transaction(platform.factory()) as s:
        s.get(Circle, XL).status = "planned"
    page_login(c, "xiling")
    page = c.get(f"/circles/{XL}")
    assert page.status_code == 200 and 'id="status-form"' in page.text
    assert c.post(f"/circles/{XL}/status", data={"status": "building", "csrf_token": "bad"}).status_code == 403
    r = c.post(
        f"/circles/{XL}/status", data={"status": "building", "csrf_token": csrf_of(page.text)}, follow_redirects=False
    )
    assert r.status_code == 303
    assert "建设中" in c.get(r.headers["location"]).text
    bad = c.post(f"/circles/{XL}/status", data={"status": "accepted", "csrf_token": csrf_of(page.text)})
    assert bad.status_code == 422 and "status" in bad.text


def test_evaluator_page_has_score_form_but_no_status_form(platform):
    c = platform.client
    page_login(c, "evaluator")
    page = c.get(f"/circles/{XL}")
    assert 'action="/circles/420502-P1/scores"' in page.text and 'id="status-form"' not in page.text
    r = c.post(
        f"/circles/{XL}/scores",
        data={"score": "91", "comment": "好", "csrf_token": csrf_of(page.text)},
        follow_redirects=False,
    )
    assert r.status_code == 303
    assert (
        c.post(f"/circles/{XL}/status", data={"status": "building", "csrf_token": csrf_of(page.text)}).status_code
        == 403
    )
    assert c.post(f"/circles/{XL}/scores", data={"score": "abc", "csrf_token": csrf_of(page.text)}).status_code == 422


def test_other_district_page_is_403_for_a_district_officer(platform):
    page_login(platform.client, "wujiagang")
    assert platform.client.get(f"/circles/{XL}").status_code == 403


def test_every_page_renders_for_every_role(platform):
    for user in ("admin", "xiling", "evaluator", "leader"):
        c = platform.client
        c.cookies.clear()
        page_login(c, user)
        for path in (
            "/dashboard",
            "/circles",
            f"/circles/{XL}",
            "/map",
            "/reports",
            "/circles?district=420502&status=planned",
        ):
            assert c.get(path).status_code == 200, (user, path)
        assert c.get("/audit").status_code == (200 if user in ("admin", "leader") else 403)


def test_report_pages_generate_and_edit(platform):
    c = platform.client
    page_login(c, "xiling")
    page = c.get("/reports")
    r = c.post(
        "/reports",
        data={"district": "420502", "period": "2025Q1", "csrf_token": csrf_of(page.text)},
        follow_redirects=False,
    )
    assert r.status_code == 303
    rep = c.get(r.headers["location"])
    assert "西陵区" in rep.text and "v1" in rep.text
    e = c.post(r.headers["location"], data={"body": "改写后的报告", "csrf_token": csrf_of(rep.text)})
    assert e.status_code == 200 and "v2" in e.text and "改写后的报告" in e.text


def test_logout_form(platform):
    c = platform.client
    page_login(c)
    page = c.get("/dashboard")
    assert c.post("/logout", data={"csrf_token": csrf_of(page.text)}, follow_redirects=False).status_code == 303
    assert c.get("/dashboard", follow_redirects=False).status_code == 303


def test_migrations_create_exactly_the_models(platform):
    """Alembic's autogenerate finds nothing to add: the migration matches the models."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from lifecircle.migrations import current, head

    engine = platform.app.state.engine
    assert current(engine) == head()
    with engine.connect() as conn:
        diffs = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    assert diffs == []


def test_production_refuses_the_default_secret_key(tmp_path):
    with pytest.raises(ConfigError, match="SECRET_KEY"):
        load_settings({"LIFECIRCLE_ENV": "production", "LIFECIRCLE_DATA_DIR": str(tmp_path)})
    with pytest.raises(ConfigError, match="32"):
        load_settings({"LIFECIRCLE_ENV": "production", "LIFECIRCLE_SECRET_KEY": "short"})
    ok = load_settings({"LIFECIRCLE_ENV": "production", "LIFECIRCLE_SECRET_KEY": "k" * 40})
    assert ok.env == "production"


def test_bad_settings_are_all_reported(tmp_path):
    with pytest.raises(ConfigError) as e:
        load_settings({"DATABASE_URL": "mysql://x", "LIFECIRCLE_TILE_URL": "http://tiles/x.png"})
    assert "DATABASE_URL" in str(e.value) and "TILE_URL" in str(e.value)
    with pytest.raises(ConfigError, match="LIFECIRCLE_UPLOAD_MAX_MB"):
        load_settings({"LIFECIRCLE_UPLOAD_MAX_MB": "ten"})
    assert load_settings({"DATABASE_URL": "postgres://u@h/db"}).db_url == "postgresql+psycopg://u@h/db"


def test_programme_quotas_are_data_and_add_up_to_the_target():
    prog = load_programme()
    assert [(d.code, d.pilot, d.rollout) for d in prog.districts] == [
        ("420502", 3, 6),
        ("420503", 3, 6),
        ("420506", 1, 2),
        ("420504", 1, 2),
        ("420505", 1, 2),
        ("gaoxin", 1, 2),
    ]
    assert prog.target_circles == 30 and prog.satisfaction_target == 0.9
    assert prog.allowed_next("planned", "district_officer") == ["building"]
    assert prog.allowed_next("self_assessed", "district_officer") == []


def test_a_broken_programme_file_reports_every_problem(tmp_path):
    p = tmp_path / "bad.toml"
    p.write_text(
        'target_circles = 5\n[[district]]\ncode="x"\nname_zh="x"\npilot=-1\nrollout=1\n'
        '[status]\norder=["a"]\n[[transition]]\nfrom="a"\nto="b"\nroles=["king"]\n',
        encoding="utf-8",
    )
    with pytest.raises(Exception) as e:
        load_programme(str(p))
    text = str(e.value)
    assert "另有" in text or "more" in text
    assert len(e.value.problems) == 4  # quota, unknown status, unknown role, quota sum


def test_demo_seed_loads_the_demo_city_streets_and_scorecards(tmp_path):
    """``lifecircle platform init --demo``: the synthetic demo city, its streets as the base map,
    scorecards from the engine and the survey results."""
    from lifecircle.platform.seed import init_platform

    settings = make_settings(f"sqlite:///{tmp_path / 'p.db'}", tmp_path)
    engine = make_engine(settings.db_url)
    factory = session_factory(engine)
    prog = load_programme()
    init_platform(engine, factory, prog)
    res = seed_demo(factory, settings, prog, scale=0.02, passwords={"admin": PASSWORD})
    assert res.source == "demo-city" and res.circles == 30, res.notes
    assert res.accounts["admin"] == PASSWORD and len(res.accounts) == 8  # incl. merchant, inspector, community
    with transaction(factory) as s:
        from lifecircle.city.demo import build_demo_city
        from lifecircle.platform.db import User
        from lifecircle.platform.db_operations import Outlet, PlatformCity

        outlets = list(s.scalars(select(Outlet)))
        assert len(outlets) == len(build_demo_city(scale=0.02).outlets) and all(o.status == "open" for o in outlets)
        assert all(o.synthetic and o.formats for o in outlets)
        src = s.get(PlatformCity, 1)
        assert src is not None and (src.kind, src.scale) == ("demo", 0.02)
        merchant = s.scalar(select(User).where(User.username == "merchant"))
        assert sum(o.owner_id == merchant.id for o in outlets) == 3
        community = s.scalar(select(User).where(User.username == "community"))
        assert community.circle_id and community.district == "420502"
        streets = s.get(MapLayer, "streets")
        assert streets.synthetic and len(streets.geojson["features"]) > 50
        assert all(c.synthetic for c in s.scalars(select(Circle)))
        cards = list(s.scalars(select(Scorecard)))
    if not any("engine" in n for n in res.notes):
        assert len(cards) == 30 and all(c.grade_code in ("basic", "upgraded", "quality", "none") for c in cards)
    again = seed_demo(factory, settings, prog)
    assert again.accounts == {} and again.source == "existing"
    engine.dispose()


def test_scorecard_gaps_show_format_names_not_codes():
    """Officials read 菜市场 and 药店 on the circle page, not wet_market and pharmacy."""
    from lifecircle.i18n import use_lang
    from lifecircle.web.app import _format_names

    assert _format_names("wet_market;pharmacy;spaceport") == "菜市场（生鲜超市）、药店、spaceport"
    with use_lang("en"):
        assert _format_names("wet_market;pharmacy") == "Wet market / fresh-food supermarket, Pharmacy"
    assert _format_names(None) == ""


def test_survey_form_with_a_huge_respondent_count_is_422_naming_the_field(platform):
    """A 40-digit head count overflows a database integer: a 422 naming respondents, not a 500."""
    c = platform.client
    page_login(c, "admin")
    token = csrf_of(c.get(f"/circles/{XL}").text)
    r = c.post(
        f"/circles/{XL}/surveys",
        data={"period": "2030", "respondents": "9" * 40, "satisfied": "1", "csrf_token": token},
        follow_redirects=False,
    )
    assert r.status_code == 422 and "respondents" in r.text
    r = c.post(
        f"/circles/{XL}/surveys",
        data={"period": "2030", "respondents": "10000001", "satisfied": "1", "csrf_token": token},
        follow_redirects=False,
    )
    assert r.status_code == 422 and "respondents" in r.text
