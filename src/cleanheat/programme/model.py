"""The plan as immutable data (pure; no I/O). Built by ``plan_data.read_plan`` or from the store.

Units: areas in m², capacities in t/h, lengths in km, rates and shares as fractions (0..1).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

AREA_TYPES: tuple[str, ...] = ("urban", "county_fringe", "rural")
AREA_TYPE_LABELS = {
    "urban": ("城市城区", "Urban districts"),
    "county_fringe": ("县城和城乡结合部", "County towns and urban-rural fringe"),
    "rural": ("农村", "Rural areas"),
    "city": ("全市", "City-wide"),
}
MEASURES = ("count", "capacity_t_h", "length_km", "area_m2", "share")
CLEAN_RULES = ("clean", "not_clean", "clean_if_ultra_low", "clean_if_compliant")
PERIOD_RE = re.compile(r"^(\d{4})Q([1-4])$")


def task_display_unit(measure: str, unit_zh: str) -> str:
    """The unit a task is shown and filled in with: 万m² for areas, % for shares, else the plan's own unit."""
    return {"area_m2": "万m²", "share": "%"}.get(measure, unit_zh)


def task_display_scale(measure: str) -> float:
    """Stored value / displayed value (m² per 万m², fraction per %)."""
    return 1e4 if measure == "area_m2" else (0.01 if measure == "share" else 1)


@dataclass(frozen=True, order=True)
class Period:
    """A calendar quarter, e.g. ``Period(2020, 4)`` = 2020Q4."""

    year: int
    quarter: int

    @classmethod
    def parse(cls, text: str) -> Period:
        m = PERIOD_RE.match(text.strip().upper())
        if not m:
            raise ValueError(f"period {text!r} is not of the form YYYYQn (e.g. 2020Q4)")
        return cls(int(m.group(1)), int(m.group(2)))

    def __str__(self) -> str:
        return f"{self.year}Q{self.quarter}"

    def previous(self) -> Period:
        return Period(self.year - 1, 4) if self.quarter == 1 else Period(self.year, self.quarter - 1)

    def next(self) -> Period:
        return Period(self.year + 1, 1) if self.quarter == 4 else Period(self.year, self.quarter + 1)

    @property
    def is_year_end(self) -> bool:
        return self.quarter == 4

    def end_date(self):  # datetime.date
        from datetime import date

        month = self.quarter * 3
        return date(self.year, month, {3: 31, 6: 30, 9: 30, 12: 31}[month])


@dataclass(frozen=True)
class AdminUnitSpec:
    code: str
    name_zh: str
    name_en: str
    kind: str
    area_types: tuple[str, ...]


@dataclass(frozen=True)
class TechnologySpec:
    code: str
    name_zh: str
    name_en: str
    group: str
    clean_rule: str
    fuel: str

    @property
    def counts_as_clean(self) -> bool:
        """Clean as declared by the reporter; ``clean_if_*`` rules are verified against monitoring data."""
        return self.clean_rule != "not_clean"


@dataclass(frozen=True)
class BaselineAreaSpec:
    area_type: str
    heated_area_m2: float
    clean_area_m2: float
    clause: str
    stated_rate: float | None = None
    central_heating_share: float | None = None

    @property
    def rate(self) -> float:
        return self.clean_area_m2 / self.heated_area_m2


@dataclass(frozen=True)
class BaselineFactSpec:
    family: str
    key: str
    name_zh: str
    value: float
    unit: str
    clause: str


@dataclass(frozen=True)
class RateTargetSpec:
    area_type: str
    year: int
    min_rate: float
    clause: str
    confidence: str = "C"
    source: str = ""


@dataclass(frozen=True)
class TechnologyTargetSpec:
    group: str
    year: int
    area_m2: float
    basis: str  # level | increase
    comparator: str
    clause: str
    text: str = ""
    baseline_area_m2: float | None = None


@dataclass(frozen=True)
class TaskTargetSpec:
    year: int
    value: float
    basis: str  # cumulative | level
    comparator: str = ">="
    text: str = ""
    note: str = ""


@dataclass(frozen=True)
class TaskSpec:
    code: str
    name_zh: str
    name_en: str
    measure: str
    unit_zh: str
    area_scope: tuple[str, ...]
    clause: str
    responsible: tuple[str, ...]
    targets: tuple[TaskTargetSpec, ...]
    registry_rule: dict | None = None
    note: str = ""

    def target_for(self, year: int) -> TaskTargetSpec | None:
        for t in self.targets:
            if t.year == year:
                return t
        return None

    def governing_target(self, year: int) -> TaskTargetSpec | None:
        """The target that applies in ``year``: that year's, or for cumulative tasks the next later one
        (a multi-year milestone is tracked in the years before it)."""
        exact = self.target_for(year)
        if exact is not None:
            return exact
        later = [t for t in self.targets if t.year > year]
        return min(later, key=lambda t: t.year) if later else None


@dataclass(frozen=True)
class ProjectSpec:
    code: str
    name_zh: str
    clause: str
    technology: str | None = None
    spec: str = ""
    capacity_mw: float | None = None
    area_m2: float | None = None
    target_year: int | None = None
    text: str = ""


@dataclass(frozen=True)
class PlanData:
    code: str
    city: str
    title_zh: str
    title_en: str
    baseline_year: int
    start_year: int
    end_year: int
    units: tuple[AdminUnitSpec, ...]
    technologies: tuple[TechnologySpec, ...]
    technology_groups: tuple[tuple[str, str, str], ...]  # (code, name_zh, name_en)
    baseline_areas: tuple[BaselineAreaSpec, ...]
    baseline_facts: tuple[BaselineFactSpec, ...]
    rate_targets: tuple[RateTargetSpec, ...]
    reference_city_targets: tuple[RateTargetSpec, ...]
    technology_targets: tuple[TechnologyTargetSpec, ...]
    tasks: tuple[TaskSpec, ...]
    projects: tuple[ProjectSpec, ...]
    meta: dict = field(default_factory=dict)

    # --- lookups -----------------------------------------------------------------------------------
    def unit(self, code: str) -> AdminUnitSpec:
        for u in self.units:
            if u.code == code:
                return u
        raise KeyError(code)

    def technology(self, code: str) -> TechnologySpec:
        for t in self.technologies:
            if t.code == code:
                return t
        raise KeyError(code)

    def task(self, code: str) -> TaskSpec:
        for t in self.tasks:
            if t.code == code:
                return t
        raise KeyError(code)

    def baseline(self, area_type: str) -> BaselineAreaSpec:
        for b in self.baseline_areas:
            if b.area_type == area_type:
                return b
        raise KeyError(area_type)

    def rate_target(self, area_type: str, year: int) -> float | None:
        for t in self.rate_targets:
            if t.area_type == area_type and t.year == year:
                return t.min_rate
        return None

    @property
    def years(self) -> tuple[int, ...]:
        return tuple(range(self.start_year, self.end_year + 1))

    def periods(self) -> list[Period]:
        return [Period(y, q) for y in self.years for q in (1, 2, 3, 4)]

    def contains_period(self, period: Period) -> bool:
        return self.start_year <= period.year <= self.end_year


#: evidence states of a source in the evaluated windows (docs/evidence.md)
EVIDENCE_STATES = ("compliant", "non_compliant", "no_monitoring_point", "insufficient_data", "not_required")
EVIDENCED = frozenset({"compliant", "not_required"})


@dataclass(frozen=True)
class SourceVerdict:
    """Monitoring evidence on one registered heat source, used to verify the clean area it heats.

    Supplied by the emissions area (``cleanheat.emissions.ledger_link.source_verdicts``). ``evidence`` is one of
    :data:`EVIDENCE_STATES`; area reported as clean under the source's technology counts as *verified* clean only
    with ``compliant`` or ``not_required`` evidence, and ``non_compliant`` area is moved out of clean (see
    ``indicators.apportion``). ``compliant`` is kept for callers of the earlier interface (None: no evidence).
    """

    source_code: str
    name_zh: str
    admin_unit_code: str
    area_type: str
    technology: str  # programme technology code its heated area is reported under, e.g. coal_chp_ultralow
    served_area_m2: float
    compliant: bool | None  # None: no monitoring evidence for the period
    share_within_limits: float | None  # lowest per-pollutant share of valid hours within the limit
    valid_hours: int
    reason: str = ""
    evidence: str = ""  # one of EVIDENCE_STATES; "" (older callers): derived from ``compliant``
    required: bool = False  # the supervision rules require monitoring
    #: pollutant name (PM, SO2, NOx) -> {"valid_hours": int, "compliant_share": float | None}
    pollutants: Mapping[str, Mapping] = field(default_factory=dict)
    points: tuple[str, ...] = ()  # MN of the source's monitoring points
    capture: float | None = None  # data capture of the weakest point and pollutant
    bag_filter: bool | None = None  # as registered (None: not recorded)
    rules: tuple[str, ...] = ()  # ids of the supervision rules that apply
    threshold: float | None = None  # share each pollutant had to reach

    @property
    def state(self) -> str:
        if self.evidence:
            return self.evidence
        if self.compliant is True:
            return "compliant"
        if self.compliant is False:
            return "non_compliant"
        return "insufficient_data"  # the earlier interface listed monitored sources only
