"""The format catalogue is data: the shipped Yichang profile, city overrides, and clear errors."""

from __future__ import annotations

import pytest

from lifecircle.errors import ConfigError
from lifecircle.profile import builtin_profiles, load_profile


def test_yichang_catalogue_matches_the_plan():
    p = load_profile("yichang-2022")
    assert len(p.of_class("basic")) == 13 and len(p.of_class("quality")) == 9
    assert {f.code for f in p.of_class("smart")} >= {
        "parcel_locker",
        "smart_freezer",
        "vending_machine",
        "smart_sorting_bin",
        "mobile_food_cart",
    }
    layers = {f.code: f.layer_min for f in p.formats}
    for code in ("convenience_store", "breakfast", "post_express"):
        assert layers[code] == 5
    for code in ("wet_market", "pharmacy", "hair_beauty", "laundry", "recycling"):
        assert layers[code] == 10
    assert layers["supermarket"] == 15 and layers["elderly_care"] == 15
    assert p.walking.speed_kmh == 4.0 and p.walking.elderly_speed_kmh == 3.0
    assert p.walking.metres(15) == pytest.approx(1000.0)  # the GB 50180 figure
    assert all(f.code.isascii() and f.zh and f.en for f in p.formats)
    assert "yichang-2022" in builtin_profiles()


def test_osm_rules_match_tags():
    p = load_profile()
    assert any(r.matches({"shop": "convenience"}) for r in p.format("convenience_store").osm)
    locker = p.format("parcel_locker").osm
    assert any(r.matches({"amenity": "vending_machine", "vending": "parcel_pickup"}) for r in locker)
    assert not any(r.matches({"amenity": "vending_machine", "vending": "drinks"}) for r in locker)
    assert not any(r.matches({"shop": float("nan")}) for r in p.format("convenience_store").osm)


def test_city_override_extends(tmp_path):
    f = tmp_path / "wuhan.toml"
    f.write_text(
        'extends = "yichang-2022"\ndisable = ["forward_warehouse"]\n[profile]\nname = "wuhan"\n'
        "[walking]\nspeed_kmh = 4.5\n"
        '[[format]]\ncode = "breakfast"\nlayer_min = 10\n'
        '[[format]]\ncode = "canteen"\nzh = "社区食堂"\nen = "Community canteen"\nclass = "quality"\nlayer_min = 15\n',
        encoding="utf-8",
    )
    p = load_profile(f)
    assert p.name == "wuhan" and p.walking.speed_kmh == 4.5 and p.walking.elderly_speed_kmh == 3.0
    assert p.format("breakfast").layer_min == 10 and p.format("breakfast").zh == "早餐店"
    assert p.format("canteen").cls == "quality"
    assert "forward_warehouse" not in p.codes
    assert load_profile().format("breakfast").layer_min == 5  # the shipped profile is untouched


def test_unknown_profile_and_code_messages():
    with pytest.raises(ConfigError) as e:
        load_profile("atlantis")
    assert "atlantis" in str(e.value) and "yichang-2022" in str(e.value)
    with pytest.raises(ConfigError) as e:
        load_profile().format("spaceport")
    assert "spaceport" in str(e.value) and "pharmacy" in str(e.value)


def test_bad_profile_reports_every_problem(tmp_path):
    f = tmp_path / "bad.toml"
    f.write_text(
        '[[format]]\ncode = "a b"\nclass = "basic"\n'
        '[[format]]\ncode = "x"\nclass = "luxury"\nlayer_min = -3\n'
        '[[format]]\ncode = "y"\nclass = "basic"\nosm = ["shop"]\n',
        encoding="utf-8",
    )
    with pytest.raises(ConfigError) as e:
        load_profile(f)
    msg = str(e.value)
    assert "bad.toml" in msg and "class" in msg and "layer_min" in msg and "key=value" in msg


def test_invalid_toml(tmp_path):
    f = tmp_path / "broken.toml"
    f.write_text("[walking\nspeed = 4", encoding="utf-8")
    with pytest.raises(ConfigError, match="TOML"):
        load_profile(f)
