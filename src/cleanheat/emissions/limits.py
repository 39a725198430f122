"""Emission limits as dated data (``data/emissions/limits.yaml``) and the profile of a source that selects them.

Pure apart from :func:`read_limit_table`. A :class:`SourceProfile` (scope, fuel group, emission class, vintage,
capacity) picks exactly one :class:`LimitSet` on a given date; :func:`facts_at` derives the profile of a registered
heat source on a date from its registration and its events (a boiler converted to gas in 2020 is a coal boiler
before the conversion; an ultra-low retrofit raises its class from that day on).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
from functools import lru_cache
from pathlib import Path

import yaml

from cleanheat.emissions.errors import LimitTableError
from cleanheat.emissions.hj212.codes import emissions_data_dir
from cleanheat.errors import InputIssue

SCOPES = ("boiler", "power")
FUEL_GROUPS = ("coal", "oil", "gas", "biomass")
EMISSION_CLASSES = ("ordinary", "special", "ultra_low")
VINTAGES = ("existing", "new")
CONFIDENCES = ("C", "S", "K", "D")
#: GB 13223 covers power boilers above 65 t/h; below, a CHP boiler is a boiler under GB 13271.
POWER_SCOPE_MIN_T_H = 65.0
#: Fuels of the registry -> fuel group of the limit tables (None: not a combustion source).
FUEL_GROUP_OF = {"coal": "coal", "gas": "gas", "natural_gas": "gas", "lng": "gas", "oil": "oil", "diesel": "oil",
                 "biomass": "biomass"}


@dataclass(frozen=True)
class PollutantLimit:
    code: str
    limit_mg_m3: float
    confidence: str


@dataclass(frozen=True)
class LimitSet:
    id: str
    standard: str
    clause: str
    scope: str
    fuel_groups: frozenset[str]
    emission_class: str
    vintage: str | None
    capacity_gt_t_h: float | None
    capacity_le_t_h: float | None
    valid_from: date
    valid_to: date | None
    ref_o2_pct: float
    ref_o2_confidence: str
    limits: dict[str, PollutantLimit]
    source: str

    def matches(self, profile: SourceProfile, on: date) -> bool:
        if on < self.valid_from or (self.valid_to is not None and on >= self.valid_to):
            return False
        if profile.scope != self.scope or profile.fuel_group not in self.fuel_groups:
            return False
        if profile.emission_class != self.emission_class:
            return False
        if self.vintage is not None and profile.vintage != self.vintage:
            return False
        cap = profile.capacity_t_h
        if self.capacity_gt_t_h is not None and cap is not None and not cap > self.capacity_gt_t_h:
            return False
        return self.capacity_le_t_h is None or (cap is not None and cap <= self.capacity_le_t_h)

    def limit(self, pollutant: str) -> float | None:
        """The limit of ``pollutant`` [mg/m³ at the set's reference O2] (None: not limited)."""
        p = self.limits.get(pollutant)
        return p.limit_mg_m3 if p else None


@dataclass(frozen=True)
class SourceProfile:
    """What selects a source's limits. Capacity unknown counts as large (> 10 t/h, power scope for CHP)."""

    scope: str
    fuel_group: str
    emission_class: str = "ordinary"
    vintage: str = "existing"
    capacity_t_h: float | None = None


@dataclass(frozen=True)
class LimitTable:
    sets: tuple[LimitSet, ...]
    pollutants: dict[str, tuple[str, str]]
    path: str = ""

    def select(self, profile: SourceProfile, on: date) -> LimitSet | None:
        """The one limit set that applies to ``profile`` on ``on``, or None when none does."""
        found = [s for s in self.sets if s.matches(profile, on)]
        if len(found) > 1:
            raise LimitTableError(f"{len(found)} limit sets match {profile} on {on}: "
                                  f"{', '.join(s.id for s in found)}",
                                  [InputIssue("overlapping limit sets", file=self.path)])
        return found[0] if found else None

    def get(self, set_id: str) -> LimitSet:
        for s in self.sets:
            if s.id == set_id:
                return s
        raise KeyError(set_id)

    def boundaries(self) -> list[date]:
        """Every date on which some set starts or ends (for exhaustive checks)."""
        out = {s.valid_from for s in self.sets} | {s.valid_to for s in self.sets if s.valid_to}
        return sorted(out)


def limits_path(data_dir: Path) -> Path:
    """The limit table under ``data_dir`` (``Settings.data_dir``)."""
    return emissions_data_dir(data_dir) / "limits.yaml"


@lru_cache(maxsize=8)
def read_limit_table(path: Path) -> LimitTable:
    """Read and validate the limit table (``limits_path(settings.data_dir)``); every problem is reported with its
    row and field."""
    raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    issues: list[InputIssue] = []
    sets: list[LimitSet] = []
    ids: set[str] = set()

    def issue(row: int, fld: str, msg: str) -> None:
        issues.append(InputIssue(msg, file=str(path), row=row, field=fld))

    pollutants = {k: (v["name_zh"], v["name_en"]) for k, v in (raw.get("pollutants") or {}).items()}
    for i, row in enumerate(raw.get("limit_sets") or [], start=1):
        try:
            sid = str(row["id"])
            m = row["match"]
            if sid in ids:
                issue(i, "id", f"duplicate id {sid}")
            ids.add(sid)
            if m.get("scope") not in SCOPES:
                issue(i, "match.scope", f"scope {m.get('scope')!r} not one of {SCOPES}")
            groups = frozenset(m.get("fuel_groups") or [])
            if not groups or not groups <= set(FUEL_GROUPS):
                issue(i, "match.fuel_groups", f"fuel_groups {sorted(groups)} not within {FUEL_GROUPS}")
            if m.get("emission_class") not in EMISSION_CLASSES:
                issue(i, "match.emission_class", f"emission_class {m.get('emission_class')!r} unknown")
            if m.get("vintage") not in (None, *VINTAGES):
                issue(i, "match.vintage", f"vintage {m.get('vintage')!r} unknown")
            cap = m.get("capacity_t_h") or {}
            o2 = row["ref_o2_pct"]
            if not (0 <= float(o2["value"]) < 21) or o2.get("confidence") not in CONFIDENCES:
                issue(i, "ref_o2_pct", "ref_o2_pct needs a value in [0, 21) and a confidence C/S/K/D")
            limits = {}
            for code, lim in (row.get("limits_mg_m3") or {}).items():
                if float(lim["value"]) <= 0 or lim.get("confidence") not in CONFIDENCES:
                    issue(i, f"limits_mg_m3.{code}", "a limit needs a positive value and a confidence C/S/K/D")
                    continue
                limits[code] = PollutantLimit(code, float(lim["value"]), lim["confidence"])
            if not limits:
                issue(i, "limits_mg_m3", "no limits")
            if not row.get("source"):
                issue(i, "source", "every limit set needs its source")
            vf = row["valid_from"]
            vt = row.get("valid_to")
            if not isinstance(vf, date) or (vt is not None and not isinstance(vt, date)):
                issue(i, "valid_from", "valid_from / valid_to must be dates (YYYY-MM-DD)")
                continue
            if vt is not None and vt <= vf:
                issue(i, "valid_to", "valid_to must be after valid_from")
            sets.append(LimitSet(
                id=sid, standard=str(row["standard"]), clause=str(row.get("clause", "")), scope=m.get("scope"),
                fuel_groups=groups, emission_class=m.get("emission_class"), vintage=m.get("vintage"),
                capacity_gt_t_h=cap.get("gt"), capacity_le_t_h=cap.get("le"), valid_from=vf, valid_to=vt,
                ref_o2_pct=float(o2["value"]), ref_o2_confidence=o2.get("confidence", "K"), limits=limits,
                source=str(row.get("source", "")),
            ))
        except (KeyError, TypeError, ValueError) as exc:
            issue(i, str(exc.args[0]) if exc.args else "?", f"malformed limit set: {exc!r}")
    if issues:
        raise LimitTableError(f"limit table {path} is malformed", issues)
    return LimitTable(sets=tuple(sets), pollutants=pollutants, path=str(path))


# --- the profile of a registered source on a date -------------------------------------------------------------

FUEL_EVENTS = {"converted_gas": "gas", "converted_electric": "electricity", "converted_biomass": "biomass"}


@dataclass(frozen=True)
class SourceFacts:
    """What the registry says about a heat source (a plain copy of the ``assets_heat_sources`` row)."""

    kind: str
    fuel: str
    current_fuel: str
    emission_class: str = "ordinary"
    vintage: str = "existing"
    capacity_t_h: float | None = None
    capacity_mw: float | None = None
    status: str = "in_service"
    events: tuple[tuple[str, date], ...] = field(default=())
    commissioned_year: int | None = None
    #: MW of heat per t/h of steam: the city's convention (``assets.heat_sources.mw_per_t_h(city_dir)``), needed
    #: only for a source registered in MW alone
    mw_per_t_h: float | None = None

    @property
    def commissioned(self) -> date | None:
        """The commissioning date: the first ``commissioned`` event, else 1 January of ``commissioned_year``."""
        dates = [d for ev, d in self.events if ev == "commissioned"]
        if dates:
            return min(dates)
        return date(self.commissioned_year, 1, 1) if self.commissioned_year else None

    @property
    def capacity_steam_t_h(self) -> float | None:
        """Capacity [t/h of steam]: the registered one, else derived from the MW with ``mw_per_t_h``
        [MW per t/h]."""
        if self.capacity_t_h is not None:
            return self.capacity_t_h
        if self.capacity_mw is not None:
            if self.mw_per_t_h is None:
                raise ValueError("a source registered in MW only needs mw_per_t_h (the city's conversions.yaml)")
            return self.capacity_mw / self.mw_per_t_h
        return None

    @property
    def is_chp(self) -> bool:
        return "chp" in self.kind.lower()


@dataclass(frozen=True)
class FactsAt:
    fuel: str
    emission_class: str
    in_service: bool


def facts_at(facts: SourceFacts, on: date) -> FactsAt:
    """Fuel, emission class and service state of a source on ``on``, following its dated events."""
    events = sorted(facts.events, key=lambda e: e[1])
    fuel = facts.fuel
    retrofit_dates = [d for ev, d in events if ev == "ultra_low_retrofitted"]
    for ev, d in events:
        if d <= on and ev in FUEL_EVENTS:
            fuel = FUEL_EVENTS[ev]
    if not any(ev in FUEL_EVENTS for ev, _ in events) and facts.current_fuel:
        fuel = facts.current_fuel  # converted without a dated event: the current fuel is all we know
    if retrofit_dates:
        emission_class = "ultra_low" if min(retrofit_dates) <= on else (
            facts.emission_class if facts.emission_class != "ultra_low" else "ordinary")
    else:
        emission_class = facts.emission_class
    commissioned = [d for ev, d in events if ev == "commissioned"]
    gone = [d for ev, d in events if ev in ("demolished",)]
    in_service = (not commissioned or min(commissioned) <= on) and (not gone or min(gone) > on)
    if not events and facts.status in ("demolished", "retired"):
        in_service = False
    return FactsAt(fuel=fuel, emission_class=emission_class, in_service=in_service)


#: From these dates a source commissioned on or after them is "new" whatever its registered vintage:
#: GB 13271-2014 §4.1 / Table 2 (new boilers from 2014-07-01), GB 13223-2011 §4.1 (new units from 2012-01-01).
NEW_FROM = {"boiler": date(2014, 7, 1), "power": date(2012, 1, 1)}


def vintage_for(facts: SourceFacts, scope: str) -> str:
    """``new`` when commissioned on or after the standard's new-source date (GB 13271-2014 Table 2 for boilers,
    GB 13223-2011 for power units), else the registered vintage (no date: the registration decides)."""
    c = facts.commissioned
    if c is not None and c >= NEW_FROM[scope]:
        return "new"
    return facts.vintage


def profile_for(facts: SourceFacts, on: date) -> SourceProfile | None:
    """The limit profile of a source on ``on`` (None when it burns nothing the tables cover). The vintage
    follows the commissioning date (:func:`vintage_for`)."""
    at = facts_at(facts, on)
    group = FUEL_GROUP_OF.get(at.fuel)
    if group is None:
        return None
    cap = facts.capacity_steam_t_h
    scope = "power" if facts.is_chp and (cap is None or cap > POWER_SCOPE_MIN_T_H) else "boiler"
    return SourceProfile(scope=scope, fuel_group=group, emission_class=at.emission_class,
                         vintage=vintage_for(facts, scope), capacity_t_h=cap)


def all_profiles(capacities: Iterable[float | None] = (5.0, 20.0, 100.0, None)) -> list[SourceProfile]:
    """Every combination of profile attributes (for exhaustive checks of the table)."""
    return [SourceProfile(scope=s, fuel_group=f, emission_class=c, vintage=v, capacity_t_h=cap)
            for s in SCOPES for f in FUEL_GROUPS for c in EMISSION_CLASSES for v in VINTAGES for cap in capacities]
