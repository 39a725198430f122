"""Indicators and evaluation of the programme (pure functions over plan data and report figures).

Definitions (documented in docs/programme.md):

* **Clean-heating rate** (清洁取暖率) of an area type = clean heated area / total heated area, by floor area,
  over the units whose reports are counted. Technologies count as clean by ``technologies.yaml``; coal counts
  only as ultra-low (``clean_if_ultra_low``). Two figures (docs/evidence.md):
  *reported* (``actual``): the clean area reported, less the area of sources whose evidence is ``non_compliant``;
  *verified* (``verified``): only the clean area backed by ``compliant`` or ``not_required`` evidence.
  Apportionment (:func:`apportion`), within one unit × area type × clean technology: each registered source's
  served area, scaled down by min(1, reported / registered served area), is moved out of clean when its evidence
  is ``non_compliant`` under a monitored technology (``clean_if_*``; under a plain ``clean`` one such as gas it
  stays reported but unverified), unverified when it is ``no_monitoring_point`` / ``insufficient_data``,
  verified otherwise; reported area beyond the registered served area is verified for technologies without a monitoring
  rule (``clean``) and unverified ("no registered source") for ``clean_if_ultra_low`` / ``clean_if_compliant``.
* **City rate** = all clean area / all heated area. The plan sets no city target; the city target is derived as
  the area-type targets weighted by each type's heated area (``targets.yaml: city_rate_rule``).
* **Status** against the target of the evaluated year: ``met`` (达标) when actual >= target (for targets stated
  as "about" (左右), within 5 %); otherwise ``missed`` (未达标) when the period is the year's last quarter or the
  target's deadline has passed, else ``lagging`` (滞后: behind, the year still running).
* **gap_m2** = target rate × heated area − clean area: the clean area still needed (negative = surplus).
* **Tasks**: reports give progress cumulative since the programme start (or the level reached); the programme's
  value is the sum over reporting organisations (shares: their mean). Tasks with a registry rule are counted from the
  heat-source registry (when the registry holds sources); the reported sum is kept beside it as a cross-check.
  Likewise the public-building metering share is counted from billing data when billing holds a settled season
  (``billing_counts``, source ``billing``; ``cleanheat.billing.programme_link``).
  A multi-year cumulative target (e.g. 212 boilers by 2021) governs the years before it; ``expected`` is the
  straight-line milestone from the programme start to its deadline at the evaluated quarter.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from cleanheat.programme.model import (
    AREA_TYPES,
    EVIDENCE_STATES,
    EVIDENCED,
    Period,
    PlanData,
    SourceVerdict,
    TaskSpec,
)

MONITORED_RULES = ("clean_if_ultra_low", "clean_if_compliant")

ABOUT_TOLERANCE = 0.05


@dataclass(frozen=True)
class UnitFigures:
    """The figures one reporting organisation's counted report gives for the evaluated period."""

    org_code: str
    admin_unit_code: str | None  # None for heat companies (they report tasks only)
    report_period: Period
    report_id: int | None = None
    #: (area_type, technology) -> heated area [m²]
    areas: Mapping[tuple[str, str], float] = field(default_factory=dict)
    #: task code -> progress in the task's unit
    tasks: Mapping[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class RateResult:
    area_type: str
    heated_area_m2: float
    clean_area_m2: float
    actual: float | None
    target: float | None
    status: str | None
    gap_m2: float | None
    reported_clean_area_m2: float
    reclassified_m2: float = 0.0
    verified_clean_area_m2: float = 0.0
    verified: float | None = None  # verified clean area / heated area
    verified_status: str | None = None
    verified_gap_m2: float | None = None

    @property
    def unverified_m2(self) -> float:
        """Clean area counted in the reported figure without evidence (no point, too little data, no source)."""
        return self.clean_area_m2 - self.verified_clean_area_m2


@dataclass(frozen=True)
class UnitResult:
    code: str
    name_zh: str
    name_en: str
    report_period: Period | None
    stale: bool
    rates: dict[str, RateResult]


@dataclass(frozen=True)
class TechnologyResult:
    group: str
    name_zh: str
    name_en: str
    area_m2: float
    share: float | None
    target_m2: float | None
    basis: str | None
    actual_for_target_m2: float | None  # the level, or the increase over the baseline for 'increase' targets
    target_year: int | None
    status: str | None
    gap_m2: float | None
    clause: str | None


@dataclass(frozen=True)
class TaskResult:
    code: str
    name_zh: str
    name_en: str
    measure: str
    unit_zh: str
    clause: str
    responsible: tuple[str, ...]
    target: float | None
    target_year: int | None
    basis: str | None
    expected: float | None
    reported: float
    registry: float | None
    actual: float
    source: str  # reports | registry | billing
    completion: float | None
    status: str | None
    gap: float | None
    comparator: str = ">="  # "~": the plan says "about" (左右), met within ABOUT_TOLERANCE


@dataclass(frozen=True)
class VerificationResult:
    source_code: str
    name_zh: str
    admin_unit_code: str
    area_type: str
    technology: str
    served_area_m2: float
    compliant: bool | None
    share_within_limits: float | None
    valid_hours: int
    reclassified_m2: float
    reason: str
    evidence: str = ""
    required: bool = False
    pollutants: Mapping[str, Mapping] = field(default_factory=dict)
    counted_clean_m2: float = 0.0
    unverified_m2: float = 0.0
    points: tuple[str, ...] = ()
    capture: float | None = None
    bag_filter: bool | None = None
    threshold: float | None = None


@dataclass(frozen=True)
class UnattributedArea:
    """Clean area a unit reported under a monitored technology beyond the served area of its registered sources
    (no source, so no evidence)."""

    admin_unit_code: str
    area_type: str
    technology: str
    reported_m2: float
    registered_m2: float
    unverified_m2: float


@dataclass(frozen=True)
class Evaluation:
    plan_code: str
    year: int
    period: Period
    rates: dict[str, RateResult]
    units: list[UnitResult]
    technologies: list[TechnologyResult]
    tasks: list[TaskResult]
    verification: list[VerificationResult]
    units_reporting: int
    units_total: int
    reference_city_target: float | None = None
    #: the heating days the evidence covers, as (first, last inclusive) dates
    windows: tuple = ()
    unattributed: list[UnattributedArea] = field(default_factory=list)

    def evidence_rows(self, unit: str | None = None, *, gaps_only: bool = False) -> list[VerificationResult]:
        """The sources that carry reported clean area (optionally of one unit), the unevidenced and removed
        area first (for pages and reports; the full list is ``verification``). ``gaps_only``: only the sources
        with unevidenced or removed area (what the office has to chase)."""
        rows = [v for v in self.verification if (v.counted_clean_m2 or v.unverified_m2 or v.reclassified_m2)
                and (unit is None or v.admin_unit_code == unit)
                and (not gaps_only or v.unverified_m2 + v.reclassified_m2 > 0)]
        return sorted(rows, key=lambda v: (-(v.unverified_m2 + v.reclassified_m2), v.source_code))

    def evidence_summary(self, unit: str | None = None) -> list[dict]:
        """Per evidence state (in :data:`EVIDENCE_STATES` order): sources, served, verified clean, unevidenced
        and removed area [m²] of the sources that carry reported clean area (optionally of one unit)."""
        acc: dict[str, dict] = {}
        for v in self.evidence_rows(unit):
            a = acc.setdefault(v.evidence, {"evidence": v.evidence, "sources": 0, "served_area_m2": 0.0,
                                             "counted_clean_m2": 0.0, "unverified_m2": 0.0, "reclassified_m2": 0.0})
            a["sources"] += 1
            for k in ("served_area_m2", "counted_clean_m2", "unverified_m2", "reclassified_m2"):
                a[k] += getattr(v, k)
        return [acc[s] for s in EVIDENCE_STATES if s in acc]


def status_for(actual: float | None, target: float | None, *, final: bool, comparator: str = ">=") -> str | None:
    """达标 / 滞后 / 未达标 as ``met`` / ``lagging`` / ``missed`` (None without a target or without data)."""
    if target is None:
        return None
    if actual is None:
        return "no_data"
    threshold = target * (1 - ABOUT_TOLERANCE) if comparator == "~" else target
    if actual >= threshold - 1e-12:
        return "met"
    return "missed" if final else "lagging"


def _is_clean(plan: PlanData, technology: str) -> bool:
    return plan.technology(technology).counts_as_clean


def city_target(plan: PlanData, year: int, heated_by_type: Mapping[str, float]) -> float | None:
    """The derived city target: area-type targets weighted by heated area."""
    total = sum(heated_by_type.get(t, 0.0) for t in AREA_TYPES)
    if total <= 0:
        return None
    acc = 0.0
    for t in AREA_TYPES:
        tgt = plan.rate_target(t, year)
        if tgt is None:
            return None
        acc += tgt * heated_by_type.get(t, 0.0)
    return acc / total


def _rate(area_type: str, heated: float, clean: float, reported_clean: float, target: float | None,
          final: bool, reclassified: float = 0.0, verified_clean: float | None = None) -> RateResult:
    verified_clean = clean if verified_clean is None else verified_clean
    actual = clean / heated if heated > 0 else None
    verified = verified_clean / heated if heated > 0 else None
    gap = (target * heated - clean) if (target is not None and heated > 0) else None
    vgap = (target * heated - verified_clean) if (target is not None and heated > 0) else None
    return RateResult(area_type, heated, clean, actual, target, status_for(actual, target, final=final), gap,
                      reported_clean, reclassified, verified_clean, verified,
                      status_for(verified, target, final=final), vgap)


@dataclass(frozen=True)
class Apportionment:
    """Per (unit, area type, technology): area moved out of clean (non-compliant) and clean area unverified."""

    moved: dict[tuple[str, str, str], float]
    unverified: dict[tuple[str, str, str], float]
    sources: list[VerificationResult]
    unattributed: list[UnattributedArea]


def _rule(plan: PlanData, technology: str) -> str:
    try:
        return plan.technology(technology).clean_rule
    except KeyError:
        return "not_clean"


def apportion(plan: PlanData, figures: Iterable[UnitFigures], verdicts: Iterable[SourceVerdict]) -> Apportionment:
    """Split each unit's reported clean area by the evidence of the registered sources serving it (module
    docstring; docs/evidence.md "Apportionment")."""
    reported: dict[tuple[str, str, str], float] = defaultdict(float)
    for f in figures:
        if f.admin_unit_code:
            for (at, tech), a in f.areas.items():
                reported[(f.admin_unit_code, at, tech)] += a
    by_key: dict[tuple[str, str, str], list[SourceVerdict]] = defaultdict(list)
    for v in verdicts:
        if _rule(plan, v.technology) != "not_clean":
            by_key[(v.admin_unit_code, v.area_type, v.technology)].append(v)
    moved: dict[tuple[str, str, str], float] = defaultdict(float)
    unverified: dict[tuple[str, str, str], float] = defaultdict(float)
    results, unattributed = [], []
    for key in sorted(set(by_key) | {k for k, a in reported.items() if a > 0 and _rule(plan, k[2]) != "not_clean"}):
        rep = reported.get(key, 0.0)
        registered = sum(v.served_area_m2 for v in by_key[key])
        scale = min(1.0, rep / registered) if registered > 0 else 0.0
        for v in by_key[key]:
            share = v.served_area_m2 * scale
            state = v.state
            # non-compliant area leaves the reported figure only under a monitored technology; under a plain
            # clean one (gas) it stays reported but is not verified
            out_m2 = share if state == "non_compliant" and _rule(plan, v.technology) in MONITORED_RULES else 0.0
            unver = share - out_m2 if state not in EVIDENCED else 0.0
            moved[key] += out_m2
            unverified[key] += unver
            results.append(VerificationResult(
                v.source_code, v.name_zh, v.admin_unit_code, v.area_type, v.technology, v.served_area_m2,
                v.compliant, v.share_within_limits, v.valid_hours, out_m2, v.reason, state, v.required,
                dict(v.pollutants), share - out_m2 - unver, unver, v.points, v.capture, v.bag_filter, v.threshold))
        excess = max(0.0, rep - registered)
        if excess > 0 and _rule(plan, key[2]) in MONITORED_RULES:
            unverified[key] += excess
            unattributed.append(UnattributedArea(*key, rep, registered, excess))
    results.sort(key=lambda r: r.source_code)
    return Apportionment(dict(moved), dict(unverified), results, unattributed)


def evaluate(plan: PlanData, period: Period, figures: list[UnitFigures], *,
             registry_counts: Mapping[str, float] | None = None,
             billing_counts: Mapping[str, float] | None = None,
             verdicts: Iterable[SourceVerdict] = (), annual: bool = False, windows: Iterable = ()) -> Evaluation:
    """Evaluate the programme at ``period`` (``annual=True``: the year-end evaluation of ``period.year``).
    ``windows``: the heating days the verdicts cover (reported with the result)."""
    year = period.year
    final = annual or period.is_year_end
    app = apportion(plan, figures, verdicts)
    moved, verification = app.moved, app.sources
    unver = defaultdict(float)  # (unit, area_type)
    for (unit, at, _tech), a in app.unverified.items():
        unver[(unit, at)] += a

    # --- rates by unit and area type -----------------------------------------------------------------
    heated = defaultdict(float)  # (unit, area_type)
    clean = defaultdict(float)
    reported_clean = defaultdict(float)
    tech_area = defaultdict(float)  # technology -> m² (after reclassification, clean-coal moved out)
    by_unit = {f.admin_unit_code: f for f in figures if f.admin_unit_code}
    for f in by_unit.values():
        for (at, tech), a in f.areas.items():
            heated[(f.admin_unit_code, at)] += a
            tech_area[tech] += a
            if _is_clean(plan, tech):
                reported_clean[(f.admin_unit_code, at)] += a
                clean[(f.admin_unit_code, at)] += a
    reclass_by_unit_type = defaultdict(float)
    for (unit, at, tech), a in moved.items():
        clean[(unit, at)] -= a
        tech_area[tech] -= a
        reclass_by_unit_type[(unit, at)] += a
    tech_area["__reclassified__"] = sum(moved.values())

    units_out = []
    for u in plan.units:
        f = by_unit.get(u.code)
        rates = {}
        if f is not None:
            for at in u.area_types:
                rates[at] = _rate(at, heated[(u.code, at)], clean[(u.code, at)], reported_clean[(u.code, at)],
                                  plan.rate_target(at, year), final, reclass_by_unit_type[(u.code, at)],
                                  clean[(u.code, at)] - unver[(u.code, at)])
            h = sum(heated[(u.code, at)] for at in u.area_types)
            c = sum(clean[(u.code, at)] for at in u.area_types)
            rc = sum(reported_clean[(u.code, at)] for at in u.area_types)
            tgt = city_target(plan, year, {at: heated[(u.code, at)] for at in u.area_types}) \
                if all(plan.rate_target(at, year) is not None for at in u.area_types) else None
            rates["all"] = _rate("all", h, c, rc, tgt, final,
                                 sum(reclass_by_unit_type[(u.code, at)] for at in u.area_types),
                                 c - sum(unver[(u.code, at)] for at in u.area_types))
        units_out.append(UnitResult(u.code, u.name_zh, u.name_en, f.report_period if f else None,
                                    bool(f and f.report_period != period), rates))

    rates_out: dict[str, RateResult] = {}
    heated_by_type = {}
    for at in AREA_TYPES:
        h = sum(v for (u, t), v in heated.items() if t == at)
        c = sum(v for (u, t), v in clean.items() if t == at)
        rc = sum(v for (u, t), v in reported_clean.items() if t == at)
        rr = sum(v for (u, t), v in reclass_by_unit_type.items() if t == at)
        uv = sum(v for (u, t), v in unver.items() if t == at)
        heated_by_type[at] = h
        rates_out[at] = _rate(at, h, c, rc, plan.rate_target(at, year), final, rr, c - uv)
    h_all = sum(heated.values())
    c_all = sum(clean.values())
    rates_out["city"] = _rate("city", h_all, c_all, sum(reported_clean.values()),
                              city_target(plan, year, heated_by_type), final, sum(moved.values()),
                              c_all - sum(unver.values()))

    # --- technologies --------------------------------------------------------------------------------
    group_area = defaultdict(float)
    for tech, a in tech_area.items():
        if tech == "__reclassified__":
            group_area["coal"] += a  # reclassified clean coal is non-clean coal
        else:
            group_area[plan.technology(tech).group] += a
    techs_out = []
    for code, name_zh, name_en in plan.technology_groups:
        area = group_area.get(code, 0.0)
        targets = [t for t in plan.technology_targets if t.group == code]
        tgt = next((t for t in targets if t.year == year), None) or \
            min((t for t in targets if t.year > year), key=lambda t: t.year, default=None)
        actual_for_target = None
        status = gap = None
        if tgt is not None:
            actual_for_target = area - (tgt.baseline_area_m2 or 0.0) if tgt.basis == "increase" else area
            status = status_for(actual_for_target, tgt.area_m2, final=final and tgt.year <= year,
                                comparator=tgt.comparator)
            gap = tgt.area_m2 - actual_for_target
        techs_out.append(TechnologyResult(code, name_zh, name_en, area, area / h_all if h_all else None,
                                          tgt.area_m2 if tgt else None, tgt.basis if tgt else None,
                                          actual_for_target, tgt.year if tgt else None, status, gap,
                                          tgt.clause if tgt else None))

    # --- tasks ---------------------------------------------------------------------------------------
    reported_task = defaultdict(float)
    reported_n = defaultdict(int)
    for f in figures:
        for code, v in f.tasks.items():
            reported_task[code] += v
            reported_n[code] += 1
    for t in plan.tasks:
        if t.measure == "share" and reported_n[t.code]:
            reported_task[t.code] /= reported_n[t.code]  # a share is averaged over the reporters, not summed
    tasks_out = [_task_result(plan, t, period, final, reported_task.get(t.code, 0.0),
                              (registry_counts or {}).get(t.code) if t.registry_rule else None,
                              (billing_counts or {}).get(t.code))
                 for t in plan.tasks]

    ref = next((r.min_rate for r in plan.reference_city_targets if r.year == year), None)
    return Evaluation(plan.code, year, period, rates_out, units_out, techs_out, tasks_out, verification,
                      units_reporting=len(by_unit), units_total=len(plan.units), reference_city_target=ref,
                      windows=tuple(windows), unattributed=app.unattributed)


def _task_result(plan: PlanData, task: TaskSpec, period: Period, final: bool, reported: float,
                 registry: float | None, billing: float | None = None) -> TaskResult:
    tgt = task.governing_target(period.year)
    if registry is not None:
        actual, source = registry, "registry"
    elif billing is not None:  # counted from billing data: kept in the registry column (the counted value)
        actual, source, registry = billing, "billing", billing
    else:
        actual, source = reported, "reports"
    expected = completion = status = gap = None
    if tgt is not None:
        deadline_passed = tgt.year < period.year or (tgt.year == period.year and final)
        status = status_for(actual, tgt.value, final=deadline_passed, comparator=tgt.comparator)
        gap = tgt.value - actual
        completion = actual / tgt.value if tgt.value else None
        if tgt.basis == "cumulative":
            start = Period(plan.start_year, 1)
            total_q = (tgt.year - start.year) * 4 + 4
            elapsed_q = (period.year - start.year) * 4 + period.quarter
            expected = tgt.value * min(1.0, elapsed_q / total_q)
    else:
        # Past the last target year: hold the task to its last target.
        past = [t for t in task.targets if t.year < period.year]
        if past:
            last = max(past, key=lambda t: t.year)
            tgt = last
            status = status_for(actual, last.value, final=True, comparator=last.comparator)
            gap = last.value - actual
            completion = actual / last.value if last.value else None
    return TaskResult(task.code, task.name_zh, task.name_en, task.measure, task.unit_zh, task.clause,
                      task.responsible, tgt.value if tgt else None, tgt.year if tgt else None,
                      tgt.basis if tgt else None, expected, reported, registry, actual, source, completion, status,
                      gap, tgt.comparator if tgt else ">=")
