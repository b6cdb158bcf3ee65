"""Indicators of a city's living circles: walking access per format, coverage and completeness,
chain share, floor-area rules, smart facilities, satisfaction, gaps (缺什么) and grades.

Entry point: :func:`evaluate_city` → :class:`Evaluation` (what the reports read). It runs named
stages a test can call one by one: :mod:`lifecircle.indicators.stages` (access, communities,
circles, outlets) then :mod:`lifecircle.indicators.levels` (circle indicators, gaps and grades,
districts, city, per-format coverage); :mod:`lifecircle.indicators.aggregate` holds their sums.
Grading rules are data: :func:`load_rules` reads ``profiles/grading-yichang-2022.toml`` or a city's
own copy.
"""

from lifecircle.indicators.access import CityAccess, access_table, compute_access, explode_outlets
from lifecircle.indicators.evaluate import Evaluation, evaluate_city, period_key
from lifecircle.indicators.grades import GradeResult, GradingRules, grade_circle, load_rules

__all__ = [
    "CityAccess",
    "Evaluation",
    "GradeResult",
    "GradingRules",
    "access_table",
    "compute_access",
    "evaluate_city",
    "explode_outlets",
    "grade_circle",
    "load_rules",
    "period_key",
]
