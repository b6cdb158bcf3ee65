"""The named steps of :func:`lifecircle.plans.policy.circle_plan`, called on their own (no city)."""

from __future__ import annotations

import pandas as pd
import pytest

from lifecircle.errors import ConfigError, InputError
from lifecircle.plans.policy import PolicySettings, formats_to_plan, indicator_table, plan_options
from lifecircle.plans.scenarios import COMPARE_INDICATORS
from lifecircle.profile import load_profile


def test_plan_options_default_to_the_policy_and_reject_bad_values():
    pol = PolicySettings(k_per_format=2, method="heuristic")
    assert plan_options(pol, None, None) == (pol, 2, "heuristic")
    assert plan_options(pol, 0, "exact")[1:] == (0, "exact")
    with pytest.raises(ConfigError):
        plan_options(pol, None, "magic")
    with pytest.raises(InputError):
        plan_options(pol, -1, None)


def test_formats_to_plan_takes_the_gap_list_by_class_and_count():
    prof = load_profile()
    basic = [f for f in prof.formats if f.cls == "basic"][:3]
    gaps = pd.DataFrame(
        {
            "format": [f.code for f in basic],
            "format_zh": [f.zh for f in basic],
            "class": ["basic"] * len(basic),
            "priority": range(1, len(basic) + 1),
        }
    )
    codes, notes = formats_to_plan(prof, PolicySettings(max_formats=2), gaps, None)
    assert codes == [f.code for f in basic[:2]] and len(notes) == 1
    codes, notes = formats_to_plan(prof, PolicySettings(plan_classes=("quality",)), gaps, None)
    assert codes == [] and notes == []
    assert formats_to_plan(prof, PolicySettings(), gaps, [basic[0].code, basic[0].code]) == ([basic[0].code], [])
    with pytest.raises(ConfigError):
        formats_to_plan(prof, PolicySettings(), gaps, ["no-such-format"])


def test_indicator_table_compares_now_and_after():
    table = indicator_table({"grade": "达标", "n_outlets": 3}, {"grade": "优秀", "n_outlets": 5})
    assert list(table.columns) == ["indicator", "label_zh", "label_en", "now", "after"]
    assert set(table["indicator"]) <= {k for k, _, _ in COMPARE_INDICATORS}
    rows = table.set_index("indicator")
    assert rows.loc["n_outlets", "now"] == 3 and rows.loc["n_outlets", "after"] == 5
    if "grade" in rows.index:
        assert rows.loc["grade", "after"] == "优秀"
