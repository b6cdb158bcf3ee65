"""The programme as data: phases and dates, district quotas, the circle status workflow and the
targets, read from a versioned TOML profile (``profiles/programme-yichang.toml``)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from lifecircle.config import read_config
from lifecircle.errors import ProblemCollector
from lifecircle.i18n import t
from lifecircle.platform.db import ROLES, District, Phase


@dataclass(frozen=True)
class PhaseSpec:
    """A phase of the programme with its start and end dates (inclusive)."""

    code: str
    name_zh: str
    name_en: str
    start: dt.date
    end: dt.date


@dataclass(frozen=True)
class DistrictSpec:
    """A district and its circle quotas for the pilot and the roll-out phase."""

    code: str
    name_zh: str
    name_en: str
    pilot: int
    rollout: int


@dataclass(frozen=True)
class Programme:
    """The whole programme configuration."""

    city: str
    target_circles: int
    satisfaction_target: float
    phases: tuple[PhaseSpec, ...]
    districts: tuple[DistrictSpec, ...]
    statuses: tuple[str, ...]
    done_statuses: tuple[str, ...]
    status_labels: dict[str, tuple[str, str]]
    transitions: dict[tuple[str, str], tuple[str, ...]]
    evidence_types: tuple[str, ...]
    source: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    def status_label(self, status: str) -> str:
        """The status in the current language."""
        zh, en = self.status_labels.get(status, (status, status))
        return t(zh, en)

    def allowed_next(self, status: str, role: str) -> list[str]:
        """Statuses a user of ``role`` may move a circle in ``status`` to."""
        return [b for (a, b), roles in self.transitions.items() if a == status and role in roles]

    def district(self, code: str) -> DistrictSpec | None:
        return next((d for d in self.districts if d.code == code), None)


def _date(v: Any, bag: ProblemCollector, where: str) -> dt.date:
    if isinstance(v, dt.date):
        return v
    try:
        return dt.date.fromisoformat(str(v))
    except ValueError:
        bag.add(t(f"'{v}' 不是日期（YYYY-MM-DD）", f"'{v}' is not a date (YYYY-MM-DD)"), field=where)
        return dt.date(1970, 1, 1)


def load_programme(name: str = "programme-yichang") -> Programme:
    """Load a programme by profile name (shipped) or TOML path; every problem is reported."""
    raw, source = read_config(name, what_zh="计划配置", what_en="programme profile", prefix="programme-")
    bag = ProblemCollector(file=source)
    phases = []
    for i, ph in enumerate(raw.get("phase", [])):
        start, end = _date(ph.get("start"), bag, f"phase[{i}].start"), _date(ph.get("end"), bag, f"phase[{i}].end")
        if end < start:
            bag.add(t("结束日期早于开始日期", "end date is before the start date"), field=f"phase[{i}].end")
        phases.append(PhaseSpec(ph["code"], ph.get("name_zh", ph["code"]), ph.get("name_en", ph["code"]), start, end))
    districts = []
    for i, d in enumerate(raw.get("district", [])):
        for k in ("pilot", "rollout"):
            if not isinstance(d.get(k), int) or d[k] < 0:
                bag.add(t("配额应为非负整数", "quota must be a whole number >= 0"), field=f"district[{i}].{k}")
        districts.append(
            DistrictSpec(
                str(d["code"]),
                d["name_zh"],
                d.get("name_en", d["name_zh"]),
                int(d.get("pilot", 0)),
                int(d.get("rollout", 0)),
            )
        )
    st = raw.get("status", {})
    statuses = tuple(st.get("order", []))
    labels = {s: (st.get("labels_zh", {}).get(s, s), st.get("labels_en", {}).get(s, s)) for s in statuses}
    transitions: dict[tuple[str, str], tuple[str, ...]] = {}
    for i, tr in enumerate(raw.get("transition", [])):
        a, b, roles = tr.get("from"), tr.get("to"), tuple(tr.get("roles", []))
        for k, v in (("from", a), ("to", b)):
            if v not in statuses:
                bag.add(t(f"未知状态 '{v}'", f"unknown status '{v}'"), field=f"transition[{i}].{k}")
        for r in roles:
            if r not in ROLES:
                bag.add(t(f"未知角色 '{r}'", f"unknown role '{r}'"), field=f"transition[{i}].roles")
        transitions[(a, b)] = roles
    target = raw.get("target_circles", 0)
    quota_sum = sum(d.pilot + d.rollout for d in districts)
    if quota_sum != target:
        bag.add(
            t(
                f"各区配额合计 {quota_sum} 不等于目标 {target}",
                f"district quotas add up to {quota_sum}, not the target {target}",
            ),
            field="target_circles",
        )
    sat = float(raw.get("satisfaction_target", 0.9))
    if not 0 < sat <= 1:
        bag.add(
            t("满意度目标应在 0 到 1 之间", "satisfaction target must be between 0 and 1"), field="satisfaction_target"
        )
    bag.raise_if_any()
    return Programme(
        city=raw.get("city", ""),
        target_circles=int(target),
        satisfaction_target=sat,
        phases=tuple(phases),
        districts=tuple(districts),
        statuses=statuses,
        done_statuses=tuple(st.get("done", ["accepted"])),
        status_labels=labels,
        transitions=transitions,
        evidence_types=tuple(raw.get("evidence", {}).get("types", ["jpg", "png", "pdf"])),
        source=source,
    )


def sync_programme(s: Session, prog: Programme) -> None:
    """Write the phases and district quotas of ``prog`` into the database (insert or update)."""
    for i, ph in enumerate(prog.phases):
        row = s.get(Phase, ph.code) or Phase(code=ph.code)
        row.name_zh, row.name_en, row.start, row.end, row.seq = ph.name_zh, ph.name_en, ph.start, ph.end, i
        s.add(row)
    for i, d in enumerate(prog.districts):
        drow = s.get(District, d.code) or District(code=d.code)
        drow.name_zh, drow.name_en, drow.quota_pilot, drow.quota_rollout, drow.seq = (
            d.name_zh,
            d.name_en,
            d.pilot,
            d.rollout,
            i,
        )
        s.add(drow)
    s.flush()


def districts(s: Session) -> list[District]:
    """All districts in programme order."""
    return list(s.scalars(select(District).order_by(District.seq)))


def phases(s: Session) -> list[Phase]:
    """All phases in order."""
    return list(s.scalars(select(Phase).order_by(Phase.seq)))
