"""The web under load (issue #13 item 3): the demo's roles in a realistic mix while telemetry is ingested.

Builds the demo (``cleanheat init --demo``) on PostgreSQL once, or reuses it, and gives it one login per virtual
user (``load-<role>-NNN``, the demo password; residents each linked to a household of the demo city) and, under
an organisation of its own (``load-bench``), the station controllers the ingest load is published for. Then it
starts the server as in production (``server_commands`` below: ``cleanheat serve --workers N --no-background``
and one ``cleanheat worker``; ``--web-workers 1``: one ``cleanheat serve`` doing everything), a private mosquitto
with one ``cleanheat telemetry worker``, and a publisher process sending ``--points-per-s`` readings per second
(QoS 1, one gateway message per controller per second) during the whole run; the machine's CPU use and each
part's CPU-seconds are measured during the hold.

Virtual users (asyncio + httpx, one cookie jar each) log in once, then repeat: pick an action of their role by
weight, request the page and what it loads (the JSON its script fetches, the live stream it opens), pause 5-15 s
as a person reading does. Heat-company users hold the live page's stream (server-sent events) open while on it.
Users start one by one over ``--ramp-s`` up to ``--users``, then all of them run for ``--hold-s``. Latency is
seen by the client: from sending the request to the last byte of the response (a stream: to its headers). The
headline figures are those of the requests sent during the hold. Reports uploaded by the districts are deleted
afterwards, so that runs repeat.

    PYTHONPATH=$PWD/src .venv/bin/python bench/bench_web_load.py --users 200 --ramp-s 30 --hold-s 120 --web-workers 4

Target: p95 <= 300 ms, p99 <= 1 s, zero errors, while 10,000 points/s are ingested. Last lines: ``name=value``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing as mp
import os
import random
import re
import subprocess
import sys
import time
from collections import Counter, defaultdict
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from _telemetry import free_port, iso, mqtt_broker, snapshot_values
from bench_pages import _ensure_pg_database, ensure_demo
from sqlalchemy import bindparam, create_engine, text

REPO = Path(__file__).resolve().parents[1]
PY = [sys.executable, "-m", "cleanheat.cli.main"]
BENCH_ORG = "load-bench"
#: share of the users per role; the emission bureau is small, residents many
MIX = {"office": 0.10, "district": 0.25, "heat_company": 0.25, "ecology": 0.05, "resident": 0.35}
ROLE_OF = {"office": ("programme_office", "office"), "district": ("reporting_unit", None),
           "heat_company": ("heat_company", "htjt"), "ecology": ("ecology_bureau", "hrb-eeb"),
           "resident": ("resident", "htjt-residents")}
TARGET_P95_MS, TARGET_P99_MS = 300.0, 1000.0


def server_commands(web_workers: int, port: int, broker: str) -> list[tuple[str, list[str]]]:
    """The processes of the server under test (name, command): the one place to change how it is started."""
    serve = PY + ["serve", "--host", "127.0.0.1", "--port", str(port)]
    if web_workers > 1:  # N web processes; the background work (rollups, alarms, demo city, ...) in one worker
        procs = [("web", serve + ["--workers", str(web_workers), "--no-background"]), ("worker", PY + ["worker"])]
    else:
        procs = [("web", serve)]
    procs.append(("ingest", PY + ["telemetry", "worker", "--client-id", "load-ingest-1", "--mqtt-url", broker,
                                  "--shared"]))
    return procs


def _env_base() -> dict:
    return os.environ | {"PYTHONPATH": str(REPO / "src"), "COLUMNS": "200", "PYTHONUNBUFFERED": "1"}


# --- the database: demo, logins, bench devices ---------------------------------------------------------------

def _accounts_needed(users: int) -> dict[str, int]:
    counts = {role: int(users * share) for role, share in MIX.items()}
    counts["resident"] += users - sum(counts.values())
    return counts


def ensure_accounts(url: str, counts: dict[str, int]) -> tuple[dict[str, list[str]], dict[str, str]]:
    """One login per virtual user (created once, reused; residents linked to the demo city's households), and
    each district login's administrative unit."""
    from sqlalchemy import select

    from cleanheat.assets import service as assets_service
    from cleanheat.assets.tables import Household
    from cleanheat.auth import service as auth_service
    from cleanheat.auth.service import Actor
    from cleanheat.auth.tables import Organisation, User
    from cleanheat.demo_accounts import demo_password
    from cleanheat.store.engine import make_engine, make_sessionmaker, session_scope

    engine = make_engine(url)
    actor, made, out, unit_of = Actor.system("load-bench"), 0, {}, {}
    with session_scope(make_sessionmaker(engine)) as s:
        units = s.execute(select(Organisation.code, Organisation.admin_unit_code)
                          .where(Organisation.kind.in_(("district", "county"))).order_by(Organisation.id)).all()
        free = list(s.scalars(select(Household.code).where(Household.resident_user_id.is_(None))
                              .order_by(Household.id)))
        existing = set(s.scalars(select(User.username).where(User.username.like("load-%"))))
        for role, n in counts.items():
            role_name, org = ROLE_OF[role]
            n = min(n, len(free) + sum(u.startswith("load-resident-") for u in existing)) if role == "resident" else n
            out[role] = [f"load-{role}-{i:03d}" for i in range(1, n + 1)]
            for i, name in enumerate(out[role]):
                unit_of[name] = units[i % len(units)][1] if role == "district" else ""
                if name in existing:
                    continue
                auth_service.create_user(s, actor, username=name, password=demo_password(), role=role_name,
                                         org_code=org or units[i % len(units)][0], display_name=name)
                if role == "resident":
                    assets_service.link_resident(s, actor, name, free.pop(0))
                made += 1
    engine.dispose()
    print(f"logins: {sum(map(len, out.values()))} ({made} created)", flush=True)
    return out, unit_of


def ensure_bench_devices(url: str, var_dir: Path, stations: int) -> dict:
    """``stations`` controllers x 10 points under the organisation ``load-bench`` (not on the demo's pages)
    and a fresh device token for them."""
    from sqlalchemy import select

    from cleanheat.assets.tables import Device, Point
    from cleanheat.auth import service as auth_service
    from cleanheat.auth.roles import OrgKind
    from cleanheat.auth.service import Actor
    from cleanheat.auth.tables import Organisation
    from cleanheat.config import Settings
    from cleanheat.store.engine import make_engine, make_sessionmaker, session_scope
    from cleanheat.telemetry.tokens import issue_device_token
    from cleanheat.twin.city import STATION_POINTS, CityConfig, ensure_city, make_city

    engine = make_engine(url)
    actor = Actor.system("load-bench")
    spec = make_city(CityConfig(prefix="LB", stations=stations, buildings_per_station=0, households_per_building=0))
    with session_scope(make_sessionmaker(engine)) as s:
        if s.scalar(select(Organisation).where(Organisation.code == BENCH_ORG)) is None:
            auth_service.upsert_org(s, actor, code=BENCH_ORG, name_zh="压测设备（合成）", name_en="Load bench devices",
                                    kind=OrgKind.HEAT_COMPANY)
        ensure_city(s, actor, spec, BENCH_ORG, data_dir=Settings(database_url=url, var_dir=var_dir).data_dir)
        token = issue_device_token(s, actor, org_code=BENCH_ORG, name=f"load bench {time.strftime('%F %T')}")
        devices = [f"{st.code}-C" for st in spec.stations]
        point_ids = list(s.scalars(select(Point.id).join(Device).where(Device.code.in_(devices))))
    engine.dispose()
    return {"token": token, "devices": devices, "keys": list(STATION_POINTS), "point_ids": point_ids}


@dataclass
class DemoFacts:
    """Ids the actions pick from, read once before the run."""

    units: list[str]
    report_ids: list[int]
    reports_by_unit: dict[str, list[int]]
    accepted_units: set[str]
    period: str
    station_ids: list[int]
    emission_points: list[int]
    max_report_id: int


def demo_facts(url: str) -> DemoFacts:
    engine = create_engine(url)
    with engine.connect() as c:
        reports = c.execute(text("SELECT r.id, o.admin_unit_code, r.period, r.status FROM programme_reports r "
                                 "JOIN organisations o ON o.id = r.org_id")).all()
        units = [u for (u,) in c.execute(text("SELECT admin_unit_code FROM organisations WHERE kind IN "
                                              "('district', 'county') ORDER BY id"))]
        stations = [i for (i,) in c.execute(text(
            "SELECT s.id FROM assets_stations s JOIN organisations o ON o.id = s.org_id WHERE o.code = 'htjt' "
            "ORDER BY s.id"))]
        points = [i for (i,) in c.execute(text("SELECT id FROM emissions_points ORDER BY id"))]
    engine.dispose()
    period = max(p for _, _, p, _ in reports)
    by_unit: dict[str, list[int]] = defaultdict(list)
    for rid, unit, _, _ in reports:
        if unit:
            by_unit[unit].append(rid)
    return DemoFacts(units=units, report_ids=[r[0] for r in reports], reports_by_unit=dict(by_unit),
                     accepted_units={u for _, u, p, st in reports if p == period and st == "accepted"},
                     period=period, station_ids=stations, emission_points=points,
                     max_report_id=max(r[0] for r in reports))


def delete_uploaded_reports(url: str, max_report_id: int) -> int:
    engine = create_engine(url)
    with engine.begin() as c:
        n = c.execute(text("DELETE FROM programme_reports WHERE id > :m"), {"m": max_report_id}).rowcount
    engine.dispose()
    return n


# --- the ingest load ------------------------------------------------------------------------------------------

def publisher(broker: str, bench: dict, points_per_s: int, stop, out) -> None:
    """Each controller sends one message a second with the samples of that second (QoS 1), until ``stop``."""
    from cleanheat.telemetry.payload import readings_topic
    from cleanheat.twin.sinks import mqtt_client

    devices, keys = bench["devices"], bench["keys"]
    per_msg = max(1, round(points_per_s / (len(devices) * len(keys))))
    step_ms = 1000 // per_msg
    topics = [readings_topic(BENCH_ORG, d) for d in devices]
    client = mqtt_client(broker, "load-publisher")
    t0 = time.time()
    n = sent = 0
    infos = []
    while not stop.is_set():
        second, i = divmod(n, len(devices))
        due = t0 + second + i / len(devices)
        if due > time.time():
            time.sleep(min(due - time.time(), 0.05))
            continue
        base_ms = int((t0 + second) * 1000)
        items = [{"ts": iso(base_ms + k * step_ms), "values": snapshot_values(i, second * per_msg + k, keys)}
                 for k in range(per_msg)]
        body = json.dumps({"token": bench["token"], "readings": items}, separators=(",", ":")).encode()
        infos.append(client.publish(topics[i], body, qos=1))
        sent += per_msg * len(keys)
        n += 1
    t_end = time.time()
    late = round(max(0.0, t_end - (t0 + n / len(devices))), 2)
    for info in infos:
        info.wait_for_publish(60)
    acked = sum(info.is_published() for info in infos)
    client.loop_stop()
    client.disconnect()
    out.put({"t0": t0, "t_end": t_end, "messages": n, "acked": acked, "readings": sent, "behind_s": late})


def stored_since(url: str, point_ids: list[int], t0_ms: int) -> int:
    engine = create_engine(url)
    with engine.connect() as c:
        q = text("SELECT count(*) FROM telemetry_readings WHERE point_id IN :p AND ts_ms >= :t").bindparams(
            bindparam("p", expanding=True))
        n = c.execute(q, {"p": point_ids, "t": t0_ms}).scalar()
    engine.dispose()
    return int(n)


# --- virtual users -------------------------------------------------------------------------------------------

@dataclass
class Sample:
    role: str
    action: str
    t_s: float  # sent, from the start of the load
    ms: float
    ok: bool
    detail: str = ""


@dataclass
class Load:
    """What the run shares: the clock, the samples, the streams."""

    base: str
    facts: DemoFacts
    password: str
    unit_of: dict[str, str] = field(default_factory=dict)  # a district login's administrative unit
    t0: float = field(default_factory=time.perf_counter)
    end_s: float = 0.0
    samples: list[Sample] = field(default_factory=list)
    streams: Counter = field(default_factory=Counter)  # open, opened, max_open, events, dropped

    def now_s(self) -> float:
        return time.perf_counter() - self.t0

    def record(self, role: str, action: str, t_s: float, ok: bool, detail: str = "") -> None:
        self.samples.append(Sample(role, action, t_s, (self.now_s() - t_s) * 1000, ok, detail))


class User:
    def __init__(self, load: Load, role: str, username: str, rng: random.Random, keepalive: bool = True) -> None:
        self.load, self.role, self.username, self.rng = load, role, username, rng
        self.client = httpx.AsyncClient(base_url=load.base, timeout=httpx.Timeout(30.0), follow_redirects=False,
                                        limits=httpx.Limits(max_keepalive_connections=None if keepalive else 0))
        self.csrf = ""
        self.unit = load.unit_of.get(username, "")
        self.stream: asyncio.Task | None = None

    async def get(self, action: str, path: str, params: dict | None = None, expect: int = 200) -> httpx.Response | None:
        t = self.load.now_s()
        try:
            r = await self.client.get(path, params=params)
        except httpx.HTTPError as exc:
            self.load.record(self.role, action, t, False, f"{path}: {type(exc).__name__} {exc}")
            return None
        self.load.record(self.role, action, t, r.status_code == expect, f"{path}: HTTP {r.status_code}")
        m = re.search(r'name="csrf_token" value="([^"]+)"', r.text) if "html" in r.headers.get("content-type", "") \
            else None
        if m:
            self.csrf = m.group(1)
        return r

    async def login(self) -> bool:
        t = self.load.now_s()
        try:
            r = await self.client.post("/login", data={"username": self.username, "password": self.load.password,
                                                       "next": "/"})
        except httpx.HTTPError as exc:
            self.load.record(self.role, "login", t, False, f"/login: {type(exc).__name__} {exc}")
            return False
        ok = r.status_code == 303 and r.headers.get("location") == "/"
        self.load.record(self.role, "login", t, ok, f"/login: HTTP {r.status_code} -> {r.headers.get('location')}")
        if ok:  # "/" sends each role to its start page, the first action
            await self.get("home_redirect", "/", expect=303)
        return ok

    async def close_stream(self) -> None:
        if self.stream is not None:
            self.stream.cancel()
            await asyncio.gather(self.stream, return_exceptions=True)
            self.stream = None

    async def open_stream(self, scope: str) -> None:
        await self.close_stream()
        self.stream = asyncio.create_task(self._hold_stream(scope))

    async def _hold_stream(self, scope: str) -> None:
        load, t = self.load, self.load.now_s()
        opened = False
        try:
            async with self.client.stream("GET", "/telemetry/stream", params={"scope": scope},
                                          timeout=httpx.Timeout(30.0, read=60.0)) as r:
                load.record(self.role, "stream_open", t, r.status_code == 200, f"stream {scope}: HTTP {r.status_code}")
                if r.status_code != 200:
                    return
                opened = True
                load.streams["opened"] += 1
                load.streams["open"] += 1
                load.streams["max_open"] = max(load.streams["max_open"], load.streams["open"])
                async for line in r.aiter_lines():
                    if line.startswith("event: snapshot"):
                        load.streams["events"] += 1
            load.streams["dropped"] += 1  # the server ended it while the user was still on the page
        except httpx.HTTPError as exc:
            if not opened:
                load.record(self.role, "stream_open", t, False, f"stream {scope}: {type(exc).__name__} {exc}")
            else:
                load.streams["dropped"] += 1
        finally:
            if opened:
                load.streams["open"] -= 1

    async def aclose(self) -> None:
        await self.close_stream()
        await self.client.aclose()


# --- what each role does -------------------------------------------------------------------------------------

async def office_overview(u: User) -> None:
    await u.get("overview", "/programme/overview")


async def office_unit(u: User) -> None:
    await u.get("unit", f"/programme/units/{u.rng.choice(u.load.facts.units)}")


async def office_area(u: User) -> None:
    await u.get("area_type", f"/programme/area/{u.rng.choice(('urban', 'county_fringe', 'rural'))}")


async def office_reports(u: User) -> None:
    await u.get("reports", "/programme/reports", params={"status": u.rng.choice(("", "submitted", "accepted"))})


async def office_report(u: User) -> None:
    await u.get("report", f"/programme/reports/{u.rng.choice(u.load.facts.report_ids)}")


async def office_other(u: User) -> None:
    name = u.rng.choice(("supervision", "plan", "tasks", "publish"))
    await u.get(name, f"/programme/{name}")


async def district_home(u: User) -> None:
    await u.get("unit", f"/programme/units/{u.unit}")


async def district_reports(u: User) -> None:
    await u.get("reports", "/programme/reports")


async def district_report(u: User) -> None:
    await u.get("report", f"/programme/reports/{u.rng.choice(u.load.facts.reports_by_unit[u.unit])}")


async def district_upload(u: User) -> None:
    """Download the quarter's template, upload it (a correction when the quarter was accepted), see the report."""
    facts = u.load.facts
    r = await u.get("template", "/programme/reports/template", params={"unit": u.unit, "period": facts.period})
    if not _ok(r):
        return
    form = {"csrf_token": u.csrf}
    if u.unit in facts.accepted_units:
        form |= {"correction": "1", "reason": "压测 / load test"}
    t = u.load.now_s()
    try:
        up = await u.client.post("/programme/reports/upload", data=form,
                                 files={"file": (f"report-{u.unit}-{facts.period}.xlsx", r.content)})
    except httpx.HTTPError as exc:
        u.load.record(u.role, "upload", t, False, f"upload: {type(exc).__name__} {exc}")
        return
    where = up.headers.get("location", "")
    ok = up.status_code == 303 and re.fullmatch(r"/programme/reports/\d+", where) is not None
    u.load.record(u.role, "upload", t, ok, f"upload: HTTP {up.status_code} -> {where}")
    if ok:
        await u.get("report", where)


def _ok(r: httpx.Response | None) -> bool:
    return r is not None and r.status_code == 200


async def company_overview(u: User) -> None:
    if _ok(await u.get("live_overview", "/telemetry")):
        await u.open_stream("overview")


async def company_station(u: User) -> None:
    sid = u.rng.choice(u.load.facts.station_ids)
    if _ok(await u.get("live_station", f"/telemetry/stations/{sid}")):
        await u.get("station_series_api", f"/api/telemetry/stations/{sid}/series", params={"hours": 24})
        await u.open_stream(f"station:{sid}")


async def company_alarms(u: User) -> None:
    if _ok(await u.get("live_alarms", "/telemetry/alarms")):
        await u.open_stream("alarms")


async def company_compliance(u: User) -> None:
    await u.close_stream()
    await u.get("compliance", "/telemetry/compliance")


async def ecology_overview(u: User) -> None:
    await u.get("emissions", "/emissions")


async def ecology_point(u: User) -> None:
    await u.get("emission_point", f"/emissions/points/{u.rng.choice(u.load.facts.emission_points)}")


async def ecology_events(u: User) -> None:
    await u.get("emission_events", "/emissions/events")


async def resident_home(u: User) -> None:
    await u.get("me", "/me")


#: role -> (weight, action); the first action is the start page a login lands on
ACTIONS = {
    "office": [(30, office_overview), (15, office_unit), (10, office_area), (20, office_reports), (15, office_report),
               (10, office_other)],
    "district": [(35, district_home), (25, district_reports), (20, district_report), (20, district_upload)],
    "heat_company": [(40, company_overview), (35, company_station), (15, company_alarms), (10, company_compliance)],
    "ecology": [(40, ecology_overview), (40, ecology_point), (20, ecology_events)],
    "resident": [(1, resident_home)],
}


async def run_user(u: User, start_s: float, think_s: tuple[float, float]) -> None:
    load = u.load
    await asyncio.sleep(max(0.0, start_s - load.now_s()))
    try:
        if not await u.login():
            return
        actions = ACTIONS[u.role]
        weights = [w for w, _ in actions]
        act = actions[0][1]
        while load.now_s() < load.end_s:
            t = load.now_s()
            try:
                await act(u)
            except Exception as exc:  # a bug of this benchmark or an unexpected page: counted, the user goes on
                load.record(u.role, act.__name__, t, False, f"{type(exc).__name__}: {exc}")
            await asyncio.sleep(min(u.rng.uniform(*think_s), max(0.0, load.end_s - load.now_s())))
            act = u.rng.choices([a for _, a in actions], weights)[0]
    finally:
        await u.aclose()


async def loop_lag(load: Load, lags_ms: list[float]) -> None:
    """How late the client's own event loop wakes up (its share of the latencies)."""
    while load.now_s() < load.end_s:
        t = time.perf_counter()
        await asyncio.sleep(0.1)
        lags_ms.append((time.perf_counter() - t - 0.1) * 1000)


async def run_load(load: Load, logins: dict[str, list[str]], users: int, ramp_s: float, hold_s: float,
                   seed: int) -> list[float]:
    rng = random.Random(seed)
    roles = [r for r, n in _accounts_needed(users).items() for _ in range(n)]
    rng.shuffle(roles)
    taken: Counter = Counter()
    vus = []
    for role in roles:  # residents beyond the households share a login
        names = logins[role]
        vus.append(User(load, role, names[taken[role] % len(names)], random.Random(rng.random())))
        taken[role] += 1
    load.t0 = time.perf_counter()
    load.end_s = ramp_s + hold_s
    lags: list[float] = []
    await asyncio.gather(loop_lag(load, lags), *(run_user(u, i * ramp_s / users, (5.0, 15.0))
                                                 for i, u in enumerate(vus)))
    return lags


async def warm_up(base: str, facts: DemoFacts, logins: dict[str, list[str]], unit_of: dict[str, str], password: str,
                  rounds: int) -> float:
    """Every page once per round as one user of each role, each request on a new connection so that every web
    process gets its share and prepares its figures; no upload. Returns the slowest warm-up request [ms]."""
    load = Load(base, facts, password, unit_of)
    load.end_s = float("inf")
    for role, names in logins.items():
        if not names:
            continue
        u = User(load, role, names[0], random.Random(1), keepalive=False)
        try:
            if await u.login():
                for _ in range(rounds):
                    for _, act in ACTIONS[role]:
                        if act is not district_upload:
                            await act(u)
                    if role == "office":  # each unit's and area type's figures
                        for unit in facts.units:
                            await u.get("unit", f"/programme/units/{unit}")
                        for area in ("urban", "county_fringe", "rural"):
                            await u.get("area_type", f"/programme/area/{area}")
        finally:
            await u.aclose()
    bad = [s for s in load.samples if not s.ok]
    if bad:
        print(f"warm-up: {len(bad)} of {len(load.samples)} requests failed, e.g. {bad[0].detail}", flush=True)
    return max(s.ms for s in load.samples)


def cpu_ticks() -> tuple[int, int]:
    """(busy, total) jiffies of the machine."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    idle = v[3] + v[4]
    return sum(v) - idle, sum(v)


def process_ticks(groups: dict[int, str], database: str) -> dict[int, tuple[str, int]]:
    """CPU jiffies (user + system) of every process, with its part: a process group this benchmark started
    (``groups``: group id -> name), this client, the PostgreSQL backends of ``database``, the private
    mosquitto, or the rest of the machine ("others")."""
    out = {}
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            stat = (d / "stat").read_text()
            cmd = (d / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        f = stat[stat.rindex(")") + 2:].split()  # fields from the 3rd (state) on
        pid, pgrp, ticks = int(d.name), int(f[2]), int(f[11]) + int(f[12])
        if pid in groups or pgrp in groups:
            part = groups.get(pid) or groups[pgrp]
        elif pid == os.getpid():
            part = "client"
        elif cmd.startswith("postgres:") and f" {database} " in cmd:
            part = "postgres"
        elif "cleanheat-mqtt-" in cmd:
            part = "mosquitto"
        else:
            part = "others"
        out[pid] = (part, ticks)
    return out


async def cpu_use(load: Load, ramp_s: float, groups: dict[int, str], database: str) -> dict[str, float]:
    """CPU used during the hold: the machine's [%], and each part's [CPU-s] (see ``process_ticks``)."""
    await asyncio.sleep(max(0.0, ramp_s - load.now_s()))
    b0, t0 = cpu_ticks()
    p0 = process_ticks(groups, database)
    await asyncio.sleep(max(0.0, load.end_s - load.now_s()))
    b1, t1 = cpu_ticks()
    p1 = process_ticks(groups, database)
    hz = os.sysconf("SC_CLK_TCK")
    parts: Counter = Counter()
    for pid, (part, ticks) in p1.items():
        parts[part] += (ticks - p0[pid][1]) if pid in p0 else ticks
    return {"machine_busy_pct": 100.0 * (b1 - b0) / max(1, t1 - t0)} | {k: v / hz for k, v in parts.items()}


# --- processes ------------------------------------------------------------------------------------------------

@contextmanager
def server(url: str, var_dir: Path, web_workers: int, broker: str, log_dir: Path):
    """The server's processes (``server_commands``); yields its base URL once /healthz answers."""
    port = free_port()
    env = _env_base() | {"CLEANHEAT_DATABASE_URL": url, "CLEANHEAT_VAR_DIR": str(var_dir),
                         "CLEANHEAT_SECRET_KEY": "load-bench", "CLEANHEAT_TELEMETRY_MQTT_URL": broker}
    log_dir.mkdir(parents=True, exist_ok=True)
    procs, commands = [], server_commands(web_workers, port, broker)
    try:
        for name, cmd in commands:
            print(f"starting {name}: {' '.join(cmd[1:])}", flush=True)
            with open(log_dir / f"{name}.log", "wb") as log:
                procs.append(subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT,
                                              start_new_session=True))
        base = f"http://127.0.0.1:{port}"
        deadline = time.time() + 600  # uvicorn may restart slow-starting workers for minutes (see _wait_stable)
        while True:
            try:
                if httpx.get(f"{base}/healthz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.time() > deadline or any(p.poll() is not None for p in procs):
                raise RuntimeError(f"the server did not start (logs in {log_dir})")
            time.sleep(0.5)
        if web_workers > 1:
            _wait_stable(log_dir / "web.log", web_workers)
        yield base, {p.pid: name for (name, _), p in zip(commands, procs, strict=True)}
    finally:
        for p in procs:
            _stop(p)


def _wait_stable(log: Path, workers: int, quiet_s: float = 15.0, timeout_s: float = 600.0) -> None:
    """Until ``workers`` web processes have started and none was restarted for ``quiet_s`` (uvicorn restarts a
    worker that does not answer its 5-s health check: on a loaded machine, a worker still importing)."""
    t0 = last_change = time.time()
    seen = None
    while time.time() - t0 < timeout_s:
        text_ = log.read_text(errors="replace")
        state = (text_.count("Application startup complete"), text_.count(" died"))
        if state != seen:
            seen, last_change = state, time.time()
        if state[0] >= workers and time.time() - last_change >= quiet_s:  # (most restarts: before their start)
            break
        time.sleep(1.0)
    print(f"web processes: {seen[0]} started, {seen[1]} restarted by uvicorn (health check) before the run",
          flush=True)


def _stop(p: subprocess.Popen) -> None:
    """SIGTERM to the process group this benchmark started (uvicorn's workers included), then SIGKILL."""
    import signal

    if p.poll() is not None:
        return
    os.killpg(p.pid, signal.SIGTERM)
    try:
        p.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(p.pid, signal.SIGKILL)
        p.wait(timeout=10)


# --- figures --------------------------------------------------------------------------------------------------

def pct(xs: list[float], q: float) -> float:
    s = sorted(xs)
    return s[min(len(s) - 1, max(0, round(q * (len(s) - 1))))] if s else float("nan")


def _row(name: str, xs: list[Sample]) -> str:
    ms = [s.ms for s in xs]
    err = sum(not s.ok for s in xs)
    return (f"{name:34s} {len(ms):6d} {pct(ms, .5):8.0f} {pct(ms, .95):8.0f} {pct(ms, .99):8.0f} {max(ms):8.0f}"
            f" {err:6d}")


def latency_table(title: str, xs: list[Sample]) -> None:
    print(f"\n{title}\n{'':34s} {'count':>6s} {'p50':>8s} {'p95':>8s} {'p99':>8s} {'max':>8s} {'errors':>6s}  [ms]")
    by_role: dict[str, list[Sample]] = defaultdict(list)
    by_action: dict[tuple[str, str], list[Sample]] = defaultdict(list)
    for s in xs:
        by_role[s.role].append(s)
        by_action[(s.role, s.action)].append(s)
    for role in MIX:
        if by_role.get(role):
            print(_row(role, by_role[role]))
            for (r, a), v in sorted(by_action.items()):
                if r == role:
                    print(_row(f"  {a}", v))
    if xs:
        print(_row("all", xs))


def figures(load: Load, ramp_s: float) -> dict:
    hold = [s for s in load.samples if s.t_s >= ramp_s and s.action != "login"]
    ramp = [s for s in load.samples if s.t_s < ramp_s and s.action != "login"]
    logins = [s for s in load.samples if s.action == "login"]
    latency_table(f"hold ({load.end_s - ramp_s:.0f} s, all users): requests sent during the hold", hold)
    latency_table(f"ramp ({ramp_s:.0f} s)", ramp)
    latency_table("logins", logins)
    errors = [s for s in load.samples if not s.ok]
    if errors:
        print(f"\n{len(errors)} errors; the first ones:")
        for s in errors[:8]:
            print(f"  t={s.t_s:6.1f} s {s.role}/{s.action}: {s.detail} ({s.ms:.0f} ms)")
    print("\nslowest requests of the hold:")
    for s in sorted(hold, key=lambda s: -s.ms)[:8]:
        print(f"  t={s.t_s:6.1f} s {s.role}/{s.action}: {s.detail} ({s.ms:.0f} ms)")
    ms = [s.ms for s in hold]
    slow = Counter(s.action for s in hold if s.ms > TARGET_P95_MS)
    return {"requests_hold": len(hold), "p50_ms": round(pct(ms, .5)), "p95_ms": round(pct(ms, .95)),
            "p99_ms": round(pct(ms, .99)), "max_ms": round(max(ms)) if ms else 0,
            "ramp_p95_ms": round(pct([s.ms for s in ramp], .95)),
            "login_p95_ms": round(pct([s.ms for s in logins], .95)), "errors": len(errors),
            "requests_per_s_hold": round(len(hold) / max(1e-9, load.end_s - ramp_s), 1),
            "slowest_over_300ms": ",".join(f"{a}:{n}" for a, n in slow.most_common(5)) or "-",
            "streams_opened": load.streams["opened"], "streams_max_open": load.streams["max_open"],
            "stream_events": load.streams["events"], "streams_dropped": load.streams["dropped"]}


async def _measure(load: Load, logins: dict[str, list[str]], args, groups: dict[int, str]
                   ) -> tuple[list[float], dict[str, float]]:
    busy = asyncio.create_task(cpu_use(load, args.ramp_s, groups, args.pg_database))
    lags = await run_load(load, logins, args.users, args.ramp_s, args.hold_s, args.seed)
    return lags, await busy


def ingest_figures(url: str, bench: dict, pub: dict, stored_at_end: int, drain_s: float) -> dict:
    t0_ms = int(pub["t0"] * 1000)
    stored = stored_since(url, bench["point_ids"], t0_ms)
    wall = pub["t_end"] - pub["t0"]
    return {"ingest_published": pub["readings"], "ingest_acked_messages": f"{pub['acked']}/{pub['messages']}",
            "ingest_points_per_s": round(pub["readings"] / wall), "ingest_stored_points_per_s":
            round(stored_at_end / wall), "ingest_behind_at_end": pub["readings"] - stored_at_end,
            "ingest_publisher_late_s": pub["behind_s"], "ingest_drain_s": round(drain_s, 1),
            "ingest_lost": pub["readings"] - stored}


def run(args, url: str, var_dir: Path) -> dict:
    from cleanheat.demo_accounts import demo_password
    from cleanheat.store import migrate

    ensure_demo(url, var_dir)
    migrate.upgrade(url)  # a demo built by an older cleanheat
    logins, unit_of = ensure_accounts(url, _accounts_needed(args.users))
    stations = max(1, round(args.points_per_s / 10 / args.samples_per_message))
    bench = ensure_bench_devices(url, var_dir, stations)
    facts = demo_facts(url)
    ctx = mp.get_context("spawn")
    with ExitStack() as stack:
        stack.callback(lambda: print(f"deleted {delete_uploaded_reports(url, facts.max_report_id)} uploaded "
                                     "reports", flush=True))
        broker = stack.enter_context(mqtt_broker())
        base, groups = stack.enter_context(server(url, var_dir, args.web_workers, broker, args.work_dir / "logs"))
        warm_ms = asyncio.run(warm_up(base, facts, logins, unit_of, demo_password(), 3 * args.web_workers))
        print(f"warm: slowest warm-up request {warm_ms:.0f} ms; {args.points_per_s} points/s from {stations} "
              f"controllers, {args.users} users over {args.ramp_s:g} s, then {args.hold_s:g} s", flush=True)
        stop, out = ctx.Event(), ctx.Queue()
        pub = ctx.Process(target=publisher, args=(broker, bench, args.points_per_s, stop, out))
        pub.start()
        stack.callback(pub.join, 120)
        time.sleep(5.0)  # the ingest runs steadily before the first user arrives
        load = Load(base, facts, demo_password(), unit_of)
        groups[pub.pid] = "publisher"
        lags, cpu = asyncio.run(_measure(load, logins, args, groups))
        load_end = os.getloadavg()
        stop.set()
        result = out.get(timeout=120)
        stored_at_end = stored_since(url, bench["point_ids"], int(result["t0"] * 1000))
        t = time.perf_counter()
        while stored_since(url, bench["point_ids"], int(result["t0"] * 1000)) < result["readings"] \
                and time.perf_counter() - t < 120:
            time.sleep(0.5)
        drain_s = time.perf_counter() - t
    out_figures = figures(load, args.ramp_s) | {
        "client_loop_lag_p99_ms": round(pct(lags, .99)), "cpu_busy_hold_pct": round(cpu.pop("machine_busy_pct")),
        "cpu_s_hold": " ".join(f"{k}:{v:.0f}" for k, v in sorted(cpu.items(), key=lambda kv: -kv[1])),
        "load_average_hold_end": " ".join(f"{x:.2f}" for x in load_end)}
    return out_figures | ingest_figures(url, bench, result, stored_at_end, drain_s)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--users", type=int, default=200)
    ap.add_argument("--ramp-s", type=float, default=30.0)
    ap.add_argument("--hold-s", type=float, default=120.0)
    ap.add_argument("--web-workers", type=int, default=4)
    ap.add_argument("--points-per-s", type=int, default=10_000, help="readings per second into the ingest worker")
    ap.add_argument("--samples-per-message", type=int, default=5,
                    help="samples of each point per gateway message (one message per controller per second)")
    ap.add_argument("--backend", choices=("postgresql", "sqlite"), default="postgresql")
    ap.add_argument("--pg-url", default=os.environ.get("CLEANHEAT_BENCH_PG_URL",
                                                       "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"),
                    help="an administrative PostgreSQL URL; the demo goes into --pg-database")
    ap.add_argument("--pg-database", default="cleanheat_bench_load")
    ap.add_argument("--work-dir", type=Path, default=Path("/tmp/cleanheat-bench-load"))
    ap.add_argument("--seed", type=int, default=13)
    args = ap.parse_args()
    args.work_dir.mkdir(parents=True, exist_ok=True)
    start = os.getloadavg()
    if args.backend == "postgresql":
        url, var_dir = _ensure_pg_database(args.pg_url, args.pg_database), args.work_dir / "var"
    else:
        url, var_dir = f"sqlite:///{args.work_dir / 'demo.db'}", args.work_dir / "var-sqlite"
    res = run(args, url, var_dir)
    met = res["p95_ms"] <= TARGET_P95_MS and res["p99_ms"] <= TARGET_P99_MS and res["errors"] == 0
    lines = {"machine": f"{os.cpu_count()} cores", "load_average_start": " ".join(f"{x:.2f}" for x in start),
             "backend": args.backend, "users": args.users, "ramp_s": args.ramp_s, "hold_s": args.hold_s,
             "web_workers": args.web_workers} | res | {
        "target_met": f"{'yes' if met else 'no'} (p95 <= {TARGET_P95_MS:.0f} ms, p99 <= {TARGET_P99_MS:.0f} ms, "
                      "zero errors)"}
    print()
    for k, v in lines.items():
        print(f"{k}={v}")


if __name__ == "__main__":
    main()
