"""Programme tasks counted from the heat-source registry's dated events (plan §三(一)).

A task's ``registry`` rule (``data/<city>/tasks.yaml``) says which sources and which events count:

* ``event`` (one) or ``events`` (several): the status events that count. A source counts once, at its first
  matching event in the window, so a boiler converted to gas and later demolished is one removed boiler;
* filters on the source: ``fuel`` (the fuel burned just before the event: conversions before it count),
  ``min_capacity_t_h`` (>=), ``max_capacity_t_h`` (<=), ``below_capacity_t_h`` (<), ``area_types``, ``kinds``,
  ``owners`` (organisation codes), ``admin_units``, ``vintages`` (existing / new);
* ``measure``: ``count`` (台), ``capacity_t_h`` (蒸吨) or ``share``.

``measure: share`` is a state, not a count of events: of the sources the filters select that burn ``fuel`` (coal)
at the programme start or were commissioned since, the share that at the end of the window is
*dealt with* — ultra-low (registered so, or retrofitted), connected to the network, converted to another fuel or
demolished. The 2021 requirement that every urban and county coal boiler be ultra-low, connected or replaced, and
the 专项整治 capacity bands, are such shares with a target of 100 %.

Pure apart from :func:`count_for_rules`, which reads the registry.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date

from sqlalchemy import select
from sqlalchemy.orm import Session

from cleanheat.assets.tables import HeatSource, HeatSourceEvent
from cleanheat.assets.vocab import EVENT_NEW_FUEL
from cleanheat.auth.tables import Organisation

#: The keys a registry rule may have (a typo in tasks.yaml is an error, not a silently ignored filter).
RULE_KEYS = frozenset({"event", "events", "fuel", "min_capacity_t_h", "max_capacity_t_h", "below_capacity_t_h",
                       "area_types", "kinds", "owners", "admin_units", "vintages", "measure"})
#: Events after which a coal boiler is no longer an un-rectified coal boiler.
DEALT_WITH_EVENTS = frozenset({"ultra_low_retrofitted", "connected_network", "demolished", "converted_gas",
                               "converted_electric", "converted_biomass"})


@dataclass(frozen=True)
class SourceRow:
    """What the rules look at of one registered source (capacity in t/h, derived from MW when missing)."""

    id: int
    fuel: str
    capacity_t_h: float | None
    area_type: str
    kind: str
    owner: str
    admin_unit_code: str
    vintage: str
    #: registered as ultra-low (not by a retrofit event: the row's class follows its events)
    registered_ultra_low: bool = False


@dataclass(frozen=True)
class EventRow:
    source_id: int
    event: str
    effective_date: date


def _rule_events(rule: dict) -> frozenset[str]:
    if "events" in rule:
        return frozenset(rule["events"])
    return frozenset({rule["event"]}) if rule.get("event") else DEALT_WITH_EVENTS


def matches(rule: dict, src: SourceRow) -> bool:
    """Whether a source passes the rule's filters (fuel is checked by the caller: it depends on the time)."""
    cap = src.capacity_t_h
    if "min_capacity_t_h" in rule and (cap is None or cap < rule["min_capacity_t_h"]):
        return False
    if "max_capacity_t_h" in rule and (cap is None or cap > rule["max_capacity_t_h"]):
        return False
    if "below_capacity_t_h" in rule and (cap is None or cap >= rule["below_capacity_t_h"]):
        return False
    for key, value in (("area_types", src.area_type), ("kinds", src.kind), ("owners", src.owner),
                       ("admin_units", src.admin_unit_code), ("vintages", src.vintage)):
        if rule.get(key) and value not in rule[key]:
            return False
    return True


def _fuel_before(sources: dict[int, SourceRow], events: list[EventRow]) -> list[tuple[EventRow, str]]:
    """Each event with the fuel its source burned just before it (events sorted by source, date)."""
    fuel_now: dict[int, str] = {}
    out = []
    for ev in events:
        before = fuel_now.get(ev.source_id, sources[ev.source_id].fuel)
        out.append((ev, before))
        fuel_now[ev.source_id] = EVENT_NEW_FUEL.get(ev.event, before)
    return out


def count_events(rule: dict, sources: dict[int, SourceRow], events: list[EventRow], since: date) -> float:
    """``count`` or ``capacity_t_h`` of the sources with a matching event in [since, last event given]."""
    wanted = _rule_events(rule)
    seen: set[int] = set()
    total = 0.0
    for ev, fuel in _fuel_before(sources, events):
        if ev.effective_date < since or ev.event not in wanted or ev.source_id in seen:
            continue
        src = sources[ev.source_id]
        if (rule.get("fuel") and fuel != rule["fuel"]) or not matches(rule, src):
            continue
        seen.add(ev.source_id)
        total += 1 if rule.get("measure", "count") == "count" else (src.capacity_t_h or 0.0)
    return total


def dealt_with_share(rule: dict, sources: dict[int, SourceRow], events: list[EventRow], since: date
                     ) -> float | None:
    """The share of the rule's cohort dealt with by the last event given (None: an empty cohort)."""
    fuel = rule.get("fuel", "coal")
    by_source: dict[int, list[EventRow]] = {}
    for ev in events:
        by_source.setdefault(ev.source_id, []).append(ev)
    cohort = done = 0
    for sid, src in sources.items():
        if src.fuel != fuel or not matches(rule, src):
            continue
        evs = by_source.get(sid, [])
        # Left before the programme started (converted or closed earlier): not part of the task.
        if any(e.effective_date < since and e.event in DEALT_WITH_EVENTS - {"ultra_low_retrofitted"} for e in evs):
            continue
        cohort += 1
        if src.registered_ultra_low or any(e.event in DEALT_WITH_EVENTS for e in evs):
            done += 1
    return done / cohort if cohort else None


def evaluate_rules(rules: dict[str, dict], sources: Iterable[SourceRow], events: Iterable[EventRow],
                   since: date) -> dict[str, float]:
    """Task code -> value of every rule (events up to the end of the window only; pure)."""
    src_by_id = {s.id: s for s in sources}
    evs = sorted(events, key=lambda e: (e.source_id, e.effective_date))
    out: dict[str, float] = {}
    for code, rule in rules.items():
        if rule.get("measure") == "share":
            share = dealt_with_share(rule, src_by_id, evs, since)
            if share is not None:
                out[code] = share
        else:
            out[code] = count_events(rule, src_by_id, evs, since)
    return out


def read_registry(session: Session, until: date, mw_per_t_h_value: float
                  ) -> tuple[list[SourceRow], list[EventRow]]:
    """The sources and their events up to ``until`` (a source first commissioned after ``until`` is left out)."""
    owners = dict(session.execute(select(Organisation.id, Organisation.code)).all())
    rows = []
    for s in session.execute(select(HeatSource.id, HeatSource.fuel, HeatSource.capacity_t_h, HeatSource.capacity_mw,
                                    HeatSource.area_type, HeatSource.kind, HeatSource.org_id,
                                    HeatSource.admin_unit_code, HeatSource.vintage, HeatSource.emission_class)):
        cap = s.capacity_t_h if s.capacity_t_h is not None else (
            s.capacity_mw / mw_per_t_h_value if s.capacity_mw is not None else None)
        rows.append((s, cap))
    all_events = [EventRow(sid, ev, d) for sid, ev, d in session.execute(
        select(HeatSourceEvent.source_id, HeatSourceEvent.event, HeatSourceEvent.effective_date)
        .order_by(HeatSourceEvent.source_id, HeatSourceEvent.effective_date, HeatSourceEvent.id))]
    retrofitted = {e.source_id for e in all_events if e.event == "ultra_low_retrofitted"}
    sources = [SourceRow(s.id, s.fuel, cap, s.area_type, s.kind, owners.get(s.org_id, ""), s.admin_unit_code,
                         s.vintage or "existing", s.emission_class == "ultra_low" and s.id not in retrofitted)
               for s, cap in rows]
    first_commissioned: dict[int, date] = {}
    for e in all_events:
        if e.event == "commissioned":
            first_commissioned.setdefault(e.source_id, e.effective_date)
    sources = [s for s in sources if first_commissioned.get(s.id, date.min) <= until]
    kept = {s.id for s in sources}
    return sources, [e for e in all_events if e.effective_date <= until and e.source_id in kept]


def count_for_rules(session: Session, rules: dict[str, dict], since: date, until: date,
                    mw_per_t_h_value: float) -> dict[str, float]:
    """Task code -> value of each rule over the registry's events in [since, until] (see the module docstring)."""
    sources, events = read_registry(session, until, mw_per_t_h_value)
    return evaluate_rules(rules, sources, events, since)

