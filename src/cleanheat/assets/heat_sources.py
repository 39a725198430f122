"""Heat-source registry use cases: register sources, record status events, list (scoped), count tasks.

Every function takes a session and the acting user; writes are audited; nothing commits.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import yaml
from sqlalchemy import func, select
from sqlalchemy.orm import Session, selectinload

from cleanheat.assets.tables import HeatSource, HeatSourceEvent
from cleanheat.assets.vocab import EVENT_NEW_FUEL, EVENTS
from cleanheat.auth.roles import OrgKind, Role
from cleanheat.auth.service import Actor, audit
from cleanheat.auth.tables import Organisation
from cleanheat.errors import ConflictError, InputError, InputIssue, NotFoundError, PermissionDeniedError
from cleanheat.store.paging import PAGE_SIZE, Page, contains_text, page_of
from cleanheat.timeutil import local_today

WRITE_ROLES = (Role.HEAT_COMPANY, Role.PROGRAMME_OFFICE, Role.ECOLOGY_BUREAU)
READ_ALL_ROLES = frozenset({Role.ADMIN, Role.PROGRAMME_OFFICE, Role.ECOLOGY_BUREAU})


def mw_per_t_h(city_dir: Path) -> float:
    """Heat output per 蒸吨 [MW per t/h of steam] from ``<city_dir>/conversions.yaml`` (0.7 by the common
    convention); the one source of this conversion."""
    doc = yaml.safe_load((city_dir / "conversions.yaml").read_text(encoding="utf-8"))
    return float(doc["mw_per_t_h"]["value"])


@dataclass(frozen=True)
class SourceInput:
    """A heat source as entered (form, API or one import row). Areas in m², capacities in t/h and MW."""

    code: str
    name_zh: str
    owner_org_code: str
    admin_unit_code: str
    area_type: str
    kind: str
    fuel: str
    capacity_t_h: float | None = None
    capacity_mw: float | None = None
    plant_name: str = ""
    unit_no: str = ""
    emission_class: str = "ordinary"
    vintage: str = "existing"
    commissioned_year: int | None = None
    served_area_m2: float = 0.0
    address: str = ""
    lon: float | None = None
    lat: float | None = None
    note: str = ""


def can_read_all(actor: Actor) -> bool:
    return actor.role in READ_ALL_ROLES


def _scope(query, actor: Actor):
    if can_read_all(actor):
        return query
    if actor.role == Role.REPORTING_UNIT and actor.admin_unit_code:
        return query.where(HeatSource.admin_unit_code == actor.admin_unit_code)
    return query.where(HeatSource.org_id == actor.org_id)


def list_sources(session: Session, actor: Actor, *, admin_unit_code: str | None = None, status: str | None = None,
                 fuel: str | None = None, limit: int | None = None) -> list[HeatSource]:
    q = _scope(select(HeatSource), actor).order_by(HeatSource.code)
    if admin_unit_code:
        q = q.where(HeatSource.admin_unit_code == admin_unit_code)
    if status:
        q = q.where(HeatSource.status == status)
    if fuel:
        q = q.where(HeatSource.fuel == fuel)
    if limit:
        q = q.limit(limit)
    return list(session.scalars(q))


@dataclass(frozen=True)
class SourceFilter:
    """Which heat sources a list shows: district/county, status, fuel, and text in the code, name, plant or
    address."""

    admin_unit_code: str = ""
    status: str = ""
    fuel: str = ""
    text: str = ""


def search_sources(session: Session, actor: Actor, f: SourceFilter, *, page: int = 1,
                   per_page: int = PAGE_SIZE) -> Page:
    """One page of the heat sources matching ``f`` (by code) and how many match in all (scoped)."""
    q = _scope(select(HeatSource), actor)
    for col, value in ((HeatSource.admin_unit_code, f.admin_unit_code), (HeatSource.status, f.status),
                       (HeatSource.fuel, f.fuel)):
        if value:
            q = q.where(col == value)
    if f.text:
        q = q.where(contains_text(f.text, HeatSource.code, HeatSource.name_zh, HeatSource.plant_name,
                                  HeatSource.address))
    return page_of(session, q, HeatSource.code, page=page, per_page=per_page)


def get_source(session: Session, actor: Actor, code: str) -> HeatSource:
    src = session.scalar(_scope(select(HeatSource), actor).where(HeatSource.code == code)
                         .options(selectinload(HeatSource.events)))
    if src is None:
        raise NotFoundError(f"heat source {code!r} not found")
    return src


def owner_of(session: Session, src: HeatSource) -> Organisation | None:
    """The organisation a source is registered to (read after :func:`get_source` has checked access)."""
    return session.get(Organisation, src.org_id)


def summary(session: Session, actor: Actor) -> dict[str, dict[str, float]]:
    """Counts and capacity by current status and registered fuel (scoped)."""
    q = _scope(select(HeatSource.status, HeatSource.fuel, func.count(),
                      func.coalesce(func.sum(HeatSource.capacity_t_h), 0.0))
               .group_by(HeatSource.status, HeatSource.fuel), actor)
    out: dict[str, dict[str, float]] = defaultdict(lambda: {"count": 0, "capacity_t_h": 0.0})
    for status, fuel, n, cap in session.execute(q):
        out[f"{status}/{fuel}"]["count"] += n
        out[f"{status}/{fuel}"]["capacity_t_h"] += float(cap)
    return dict(out)


def may_write(actor: Actor, owner_org_id: int | None = None) -> bool:
    """The one write rule of the registry: the programme office, the ecology bureau and administrators write
    any source; a heat company writes only its own (``owner_org_id`` None: may the actor write any source at all)."""
    if actor.role not in (*WRITE_ROLES, Role.ADMIN):
        return False
    return actor.role != Role.HEAT_COMPANY or owner_org_id is None or owner_org_id == actor.org_id


def _check_write(session: Session, actor: Actor, owner: Organisation) -> None:
    if not may_write(actor, owner.id):
        if actor.role == Role.HEAT_COMPANY:
            raise PermissionDeniedError("a heat company registers only its own heat sources")
        actor.require_roles(*WRITE_ROLES)


def upsert_sources(session: Session, actor: Actor, items: list[SourceInput], *, mw_per_t_h_value: float,
                   origin: str = "") -> tuple[int, int]:
    """Insert or update sources (all or nothing: the caller's transaction). Returns (created, updated)."""
    orgs = {o.code: o for o in session.scalars(select(Organisation))}
    known = _sources_by_code(session, select(HeatSource), {item.code for item in items})
    created = updated = 0
    for item in items:
        owner = orgs.get(item.owner_org_code)
        if owner is None or owner.kind not in (OrgKind.HEAT_COMPANY, OrgKind.DISTRICT, OrgKind.COUNTY):
            raise InputError("unknown owner", [InputIssue(f"未知的所属单位 {item.owner_org_code}", field="owner")])
        _check_write(session, actor, owner)
        cap_t_h, cap_mw = item.capacity_t_h, item.capacity_mw
        extra = {}
        if cap_t_h is None and cap_mw is not None:
            cap_t_h, extra["capacity_t_h_derived"] = cap_mw / mw_per_t_h_value, True
        if cap_mw is None and cap_t_h is not None:
            cap_mw, extra["capacity_mw_derived"] = cap_t_h * mw_per_t_h_value, True
        src = known.get(item.code)
        if src is None:
            src = known[item.code] = HeatSource(code=item.code, current_fuel=item.fuel, status="in_service")
            session.add(src)
            created += 1
        else:
            if not can_read_all(actor) and src.org_id != actor.org_id:
                raise PermissionDeniedError(f"编码 {item.code} 已被占用 / code {item.code} is taken")
            updated += 1
        src.name_zh, src.plant_name, src.unit_no = item.name_zh, item.plant_name, item.unit_no
        src.org_id, src.admin_unit_code, src.area_type = owner.id, item.admin_unit_code, item.area_type
        src.kind, src.fuel = item.kind, item.fuel
        if not src.events:
            src.current_fuel = item.fuel
        src.capacity_t_h, src.capacity_mw = cap_t_h, cap_mw
        src.emission_class, src.vintage = item.emission_class, item.vintage
        src.commissioned_year = item.commissioned_year
        src.served_area_m2, src.address, src.lon, src.lat, src.note = (item.served_area_m2, item.address, item.lon,
                                                                      item.lat, item.note)
        src.extra = extra
        if src.events:
            _apply_events(src)  # the current status, fuel and class always follow the events
    session.flush()
    audit(session, actor, "upsert", "heat_source", origin or "batch", {"created": created, "updated": updated},
          summary=f"登记热源 {created} 个新增、{updated} 个更新")
    return created, updated


def _sources_by_code(session: Session, query, codes: set[str]) -> dict[str, HeatSource]:
    """The sources of ``query`` with one of ``codes`` (their events loaded), by code: a few queries in all."""
    out: dict[str, HeatSource] = {}
    ordered = sorted(codes)
    for i in range(0, len(ordered), 500):
        chunk = ordered[i:i + 500]
        out |= {s.code: s for s in session.scalars(query.where(HeatSource.code.in_(chunk))
                                                   .options(selectinload(HeatSource.events)))}
    return out


def _apply_events(src: HeatSource) -> None:
    """Recompute the source's current status, fuel and emission class from its events (by date; on one date in
    the order they were recorded: by id, events not yet flushed last, in the order they were added)."""
    status, fuel, emission_class = "in_service", src.fuel, src.emission_class
    last = None
    for ev in sorted(src.events, key=lambda e: (e.effective_date, e.id if e.id is not None else math.inf)):
        status = EVENTS[ev.event][2] or status
        fuel = EVENT_NEW_FUEL.get(ev.event, fuel)
        if ev.event == "ultra_low_retrofitted":
            emission_class = "ultra_low"
        last = ev.effective_date
    src.status, src.current_fuel, src.emission_class, src.status_date = status, fuel, emission_class, last


def add_event(session: Session, actor: Actor, code: str, event: str, effective_date: date, note: str = "",
              *, today: date | None = None) -> HeatSourceEvent:
    if event not in EVENTS:
        raise InputError("unknown event", [InputIssue(f"未知的状态变化 {event}", field="event")])
    src = get_source(session, actor, code)
    return _record_event(session, actor, src, event, effective_date, note, today=today or local_today())


def _record_event(session: Session, actor: Actor, src: HeatSource, event: str, effective_date: date, note: str,
                  *, today: date, flush: bool = True) -> HeatSourceEvent:
    """Record an event of a source the actor may see (``flush``: write it now; else with the caller's next
    flush, which keeps the order the events were added in)."""
    owner = session.get(Organisation, src.org_id)
    _check_write(session, actor, owner)
    if effective_date > today:
        raise InputError("date in the future", [InputIssue(f"日期 {effective_date} 晚于今天", field="effective_date")])
    if src.status == "demolished" and effective_date >= (src.status_date or effective_date):
        raise ConflictError(f"heat source {src.code} is demolished; no later events")
    if any(e.event == event and e.effective_date == effective_date for e in src.events):
        raise ConflictError(f"{src.code}: event {event} on {effective_date} is already recorded")
    ev = HeatSourceEvent(event=event, effective_date=effective_date, note=note, recorded_by=actor.actor)
    src.events.append(ev)
    if flush:
        session.flush()
    _apply_events(src)
    audit(session, actor, "event", "heat_source", src.code, {"event": event, "date": effective_date.isoformat()},
          summary=f"{src.name_zh}: {EVENTS[event][0]} ({effective_date})")
    return ev


def add_events_bulk(session: Session, actor: Actor, rows: list[tuple[str, str, date, str]],
                    *, today: date | None = None) -> int:
    """Record many events (code, event, date, note), each as :func:`add_event` would; all or nothing (the
    caller's transaction). The sources are read at once and the events written with one flush."""
    today = today or local_today()
    sources = _sources_by_code(session, _scope(select(HeatSource), actor), {code for code, *_ in rows})
    # held while the events are recorded, so that each owner's session.get finds it in the identity map
    owner_ids = {s.org_id for s in sources.values()}
    owners = list(session.scalars(select(Organisation).where(Organisation.id.in_(owner_ids))))
    for code, event, d, note in rows:
        if event not in EVENTS:
            raise InputError("unknown event", [InputIssue(f"未知的状态变化 {event}", field="event")])
        src = sources.get(code)
        if src is None:
            raise NotFoundError(f"heat source {code!r} not found")
        _record_event(session, actor, src, event, d, note, today=today, flush=False)
    session.flush()
    del owners
    return len(rows)


# --- counting programme tasks from the registry ----------------------------------------------------------

def count_for_rules(session: Session, rules: dict[str, dict], since: date, until: date,
                    mw_per_t_h_value: float) -> dict[str, float]:
    """Task code -> count, capacity [t/h] or share counted from the registry's events in [since, until]
    (``mw_per_t_h_value``: MW per t/h, :func:`mw_per_t_h` of the city, for sources registered in MW only)
    (rules and their meaning: :mod:`cleanheat.assets.registry_tasks`)."""
    from cleanheat.assets import registry_tasks

    return registry_tasks.count_for_rules(session, rules, since, until, mw_per_t_h_value)


def registry_is_empty(session: Session) -> bool:
    return session.scalar(select(func.count()).select_from(HeatSource)) == 0


def warnings(session: Session, actor: Actor) -> list:
    """Registry warnings on the sources the actor may see (:mod:`cleanheat.assets.registry_checks`)."""
    from cleanheat.assets.registry_checks import registry_warnings

    return registry_warnings(session, _scope(select(HeatSource), actor))
