"""Authorisation matrix: every route of the app x every role x own/other organisation, against an explicit table.

The app is built on a database loaded like ``cleanheat init --demo`` (once per backend), plus a few records of a
second heat company (``veolia``) so that every role has another organisation's objects to be refused. Each role
logs in through the login form (a cookie session, as in a browser) and sends every route; path parameters are
filled with a real id of the user's own organisation and one of another organisation.

HOW TO ADD A ROUTE: add one line to ``ROUTES`` below. A route in the app without a line, or a line whose route is
gone, fails ``test_every_route_has_an_entry``.

Line format::

    "METHOD /path/{param}": "OWN | OTHER | PARAMS",

OWN     roles allowed on their own organisation's objects (or on the route when it has no object parameter):
        role codes AD admin, PO programme office, RU reporting unit (district and county), HC heat company,
        EB ecology bureau, RE resident; ``*`` every logged-in role; ``public`` also anonymous callers;
        ``-`` no user at all (device-token routes).
OTHER   roles allowed on another organisation's object (``=``: the same as OWN, the objects are not
        organisation-scoped). Leave empty for routes without an object parameter.
PARAMS  where the path parameters come from: a source name of ``SOURCES`` (each returns an own-org and an
        other-org value per user), and/or a fixed query string starting with ``?``. Optional flag
        ``fresh-login``: the request ends the session, so it is sent from a separate login (and its redirect to
        /login counts as allowed).
Writes are sent with an empty body; ``BODIES`` gives a valid one where the authorisation check comes after input
validation.

Outcomes: "allowed" is 2xx, a redirect that is not to /login, or an input refusal (400, 409, 413, 422) - the
caller got past authorisation with a minimal body. "refused" is 401, 403 or 404. Anonymous callers get 401 on
/api and a redirect to /login on pages unless the route is public. A refused write must leave the database as it
was (audit log and row counts). Every state-changing request from a cookie session without the CSRF token is
refused with 403 (except the credential routes, which are public).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, inspect, select, text

from tests.conftest import BACKENDS

# one xdist worker runs all of a backend's cases (module fixtures are rebuilt whenever a worker switches modules),
# the two backends on the two workers: see the ``world`` fixture's params

ROLES = ("AD", "PO", "RU", "HC", "EB", "RE")
#: the users each role is tested as (the demo logins; RU as a district and as a county)
USERS = (("AD", "admin"), ("PO", "office"), ("RU", "daoli"), ("RU", "binxian"), ("HC", "htjt"), ("EB", "eeb"),
         ("RE", "resident"))
TS = "start_ms=1609459200000&end_ms=1609545600000"

# fmt: off
ROUTES: dict[str, str] = {
    # --- auth, home, docs -------------------------------------------------------------------------------
    "GET /api/openapi.json":                          "public",
    "GET /api/docs":                                  "public",
    "MOUNT /static":                                  "public",
    "GET /login":                                     "public",
    "POST /login":                                    "public",
    "POST /logout":                                   "* | | fresh-login",
    "GET /lang/{lang}":                               "public | = | lang",
    "POST /api/auth/token":                           "public",
    "GET /api/me":                                    "*",
    "GET /api/audit":                                 "AD PO",
    "GET /admin/audit":                               "AD PO",
    "GET /admin/audit.xlsx":                          "AD PO",
    "GET /admin/users":                               "AD",
    "POST /admin/users":                              "AD",
    "POST /admin/users/{username}/active":            "AD | = | user",
    "POST /admin/users/{username}/password":          "AD | = | user",
    "POST /admin/users/{username}/unlock":            "AD | = | user",
    "POST /admin/users/{username}/edit":              "AD | = | user",
    "POST /admin/users/{username}/household":         "AD | = | user",
    "GET /account":                                   "*",
    "GET /account/password":                          "*",
    "POST /account/password":                         "*",
    "POST /account/tokens/{token_id}/revoke":         "* | AD | utoken",
    "POST /account/sessions/{session_id}/revoke":     "* | AD | usession",
    "GET /api/auth/tokens":                           "*",
    "GET /api/auth/sessions":                         "*",
    "POST /api/auth/password":                        "*",
    "DELETE /api/auth/tokens/{token_id}":             "* | AD | utoken",
    "DELETE /api/auth/sessions/{session_id}":         "* | AD | usession",
    "GET /":                                          "*",
    "GET /healthz":                                   "public",
    # --- assets registry --------------------------------------------------------------------------------
    "GET /api/assets/export":                         "AD PO HC",
    "POST /api/assets/import":                        "AD HC",
    "POST /api/assets/points":                        "AD HC",
    "GET /api/assets/networks":                       "AD PO HC",
    "GET /api/assets/networks/{record_id}":           "AD PO HC | AD PO | a_networks",
    "POST /api/assets/networks":                      "AD HC",
    "GET /api/assets/stations":                       "AD PO HC",
    "GET /api/assets/stations/{record_id}":           "AD PO HC | AD PO | a_stations",
    "POST /api/assets/stations":                      "AD HC",
    "GET /api/assets/buildings":                      "AD PO HC",
    "GET /api/assets/buildings/{record_id}":          "AD PO HC | AD PO | a_buildings",
    "POST /api/assets/buildings":                     "AD HC",
    "GET /api/assets/households":                     "AD PO HC",
    "GET /api/assets/households/{record_id}":         "AD PO HC | AD PO | a_households",
    "POST /api/assets/households":                    "AD HC",
    "GET /api/assets/devices":                        "AD PO HC",
    "GET /api/assets/devices/{record_id}":            "AD PO HC | AD PO | a_devices",
    "POST /api/assets/devices":                       "AD HC",
    "GET /assets":                                    "AD PO HC",
    "GET /assets/stations/{station_id}":              "AD PO HC | AD PO | station",
    "GET /assets/devices":                            "AD PO HC",
    "POST /assets/import":                            "AD HC",
    # --- heat sources -----------------------------------------------------------------------------------
    "GET /assets/sources":                            "AD PO RU HC EB",
    "GET /assets/sources/template":                   "AD PO RU HC EB",
    "POST /assets/sources/import":                    "AD PO HC EB",
    "GET /assets/sources/{code}":                     "AD PO RU HC EB | AD PO EB | source",
    "POST /assets/sources/{code}/events":             "AD PO HC EB | AD PO EB | source",
    "GET /api/assets/heat-sources":                   "AD PO RU HC EB",
    "GET /api/assets/heat-sources/{code}":            "AD PO RU HC EB | AD PO EB | source",
    "POST /api/assets/heat-sources/import":           "AD PO HC EB",
    "POST /api/assets/heat-sources/{code}/events":    "AD PO HC EB | AD PO EB | source",
    # --- emissions monitoring ---------------------------------------------------------------------------
    "GET /emissions":                                 "AD PO HC EB",
    "GET /emissions/points/{point_id}":               "AD PO HC EB | AD PO EB | epoint",
    "GET /emissions/events":                          "AD PO HC EB",
    "POST /emissions/events/{event_id}/ack":          "AD EB | AD EB | eevent",
    "POST /emissions/alarms/{alarm_id}/ack":          "AD EB | AD EB | ealarm",
    "GET /emissions/report":                          "AD PO HC EB",
    "GET /emissions/report.xlsx":                     "AD PO HC EB | | ?month=2019-01",
    "GET /emissions/report.pdf":                      "AD PO HC EB | | ?month=2019-01",
    "GET /emissions/points":                          "AD PO HC EB",
    "POST /emissions/points":                         "AD EB",
    "POST /emissions/points/{point_id}":              "AD EB | AD EB | epoint",
    "GET /emissions/packets":                         "AD EB",
    "GET /api/emissions/points":                      "AD PO HC EB",
    "POST /api/emissions/points":                     "AD EB",
    "GET /api/emissions/points/{point_id}/hours":     "AD PO HC EB | AD PO EB | epoint "
                                                      "?from=2021-01-10T00:00&to=2021-01-11T00:00",
    "GET /api/emissions/exceedances":                 "AD PO HC EB",
    "POST /api/emissions/exceedances/{event_id}/ack": "AD EB | AD EB | eevent",
    "GET /api/emissions/compliance":                  "AD PO HC EB",
    "GET /api/emissions/verdicts":                    "AD PO EB | | ?period=2020Q4",
    # --- network simulation -----------------------------------------------------------------------------
    "GET /network":                                   "AD PO HC",
    "POST /network/upload":                           "AD HC",
    "POST /network/from-registry":                    "AD HC",
    "GET /network/{network_id}":                      "AD PO HC | AD PO | net",
    "POST /network/{network_id}/solve":               "AD HC | AD | net",
    "POST /network/{network_id}/seasonal":            "AD HC | AD | net",
    "POST /network/{network_id}/renovation":          "AD HC | AD | net",
    "POST /network/{network_id}/delete":              "AD HC | AD | net_fresh",
    "GET /api/network/networks":                      "AD PO HC",
    "POST /api/network/networks":                     "AD HC",
    "GET /api/network/networks/{network_id}":         "AD PO HC | AD PO | net",
    "DELETE /api/network/networks/{network_id}":      "AD HC | AD | net_fresh",
    "GET /api/network/networks/{network_id}/model":   "AD PO HC | AD PO | net",
    "POST /api/network/networks/{network_id}/solve":  "AD HC | AD | net",
    "POST /api/network/networks/{network_id}/seasonal": "AD HC | AD | net",
    "POST /api/network/networks/{network_id}/renovation": "AD HC | AD | net",
    "GET /api/network/networks/{network_id}/runs":    "AD PO HC | AD PO | net",
    "GET /api/network/networks/{network_id}/map":     "AD PO HC | AD PO | net",
    "GET /api/network/runs/{run_id}":                 "AD PO HC | AD PO | run",
    "GET /api/network/runs/{run_id}/worst-pipes":     "AD PO HC | AD PO | run",
    "GET /api/network/runs/{run_id}/result.json":     "AD PO HC | AD PO | run",
    "GET /api/network/runs/{run_id}/result.geojson":  "AD PO HC | AD PO | run",
    "GET /api/network/runs/{run_id}/result.csv":      "AD PO HC | AD PO | run",
    # --- planner (scenarios, results and proposals are city-wide; areas belong to a unit) ---------------
    "GET /planner":                                   "AD PO RU HC EB",
    "GET /planner/scenarios/new":                     "AD PO",
    "GET /planner/scenarios/{scenario_id}":           "AD PO RU HC EB | = | scenario",
    "POST /planner/scenarios":                        "AD PO",
    "POST /planner/scenarios/{scenario_id}":          "AD PO | = | scenario",
    "POST /planner/scenarios/{scenario_id}/solve":    "AD PO | = | scenario",
    "POST /planner/scenarios/{scenario_id}/sensitivity": "AD PO | = | scenario",
    "POST /planner/scenarios/{scenario_id}/delete":   "AD PO | = | scenario_fresh",
    "POST /planner/areas/import":                     "AD PO",
    "GET /planner/results/{result_id}":               "AD PO RU HC EB | = | result",
    "GET /planner/results/{result_id}/report.{fmt}":  "AD PO | = | result",
    "POST /planner/results/{result_id}/propose":      "AD PO | = | result",
    "GET /planner/compare":                           "AD PO RU HC EB",
    "GET /planner/scenarios/{scenario_id}/areas/{code}": "AD PO RU | AD PO | parea",
    "GET /planner/proposals/{proposal_id}":           "AD PO RU HC EB | = | proposal",
    "GET /planner/proposals/{proposal_id}/export.yaml": "AD PO RU HC EB | = | proposal",
    "GET /api/planner/catalogue":                     "AD PO RU HC EB",
    "GET /api/planner/scenarios":                     "AD PO RU HC EB",
    "POST /api/planner/scenarios":                    "AD PO",
    "GET /api/planner/scenarios/{scenario_id}":       "AD PO RU HC EB | = | scenario",
    "POST /api/planner/scenarios/{scenario_id}/solve": "AD PO | = | scenario",
    "GET /api/planner/results/{result_id}":           "AD PO RU HC EB | = | result",
    "GET /api/planner/scenarios/{scenario_id}/areas/{code}/appraisal": "AD PO RU | AD PO | parea",
    "GET /api/planner/proposals":                     "AD PO RU HC EB",
    "GET /api/planner/proposals/{proposal_id}":       "AD PO RU HC EB | = | proposal",
    "GET /api/planner/proposals/{proposal_id}/export": "AD PO RU HC EB | = | proposal",
    # --- programme ledger (the evaluation takes seconds: routes given ?year=2099 or a period outside the
    #     programme are refused as input, 422, after authorisation; their role checks are route dependencies)
    "GET /programme":                                 "AD PO RU HC EB",
    "GET /programme/overview":                        "AD PO RU HC EB | | ?year=2099",
    "GET /programme/area/{area_type}":                "AD PO RU HC EB | = | area_type ?year=2099",
    "GET /programme/units/{code}":                    "AD PO RU EB | AD PO EB | unit ?year=2099",
    "GET /programme/plan":                            "AD PO RU HC EB",
    "GET /programme/tasks":                           "AD PO RU HC EB | | ?year=2099",
    "GET /programme/supervision":                     "AD PO RU HC EB | | ?year=2099",
    "GET /programme/reports":                         "AD PO RU HC",
    "GET /programme/reports/template":                "AD PO RU HC | AD PO | unit_q",
    "POST /programme/reports/upload":                 "AD PO RU HC",
    "GET /programme/reports/{report_id}":             "AD PO RU HC | AD PO | report",
    "POST /programme/reports/{report_id}/review":     "AD PO | AD PO | report",
    "GET /programme/publish":                         "AD PO RU HC EB",
    "GET /programme/publish/download":                "AD PO RU HC EB | | ?period=2099Q4&format=html",
    "POST /programme/publish/jobs":                   "AD PO RU HC EB",
    # --- background jobs (a user's own; an administrator sees everyone's) ----------------------------------
    "GET /jobs":                                      "*",
    "GET /jobs/{job_id}":                             "* | AD | job",
    "GET /jobs/{job_id}/download":                    "* | AD | job",
    "GET /api/jobs/{job_id}":                         "* | AD | job",
    "GET /api/jobs/{job_id}/download":                "* | AD | job",
    "GET /api/programme/evaluation":                  "AD PO RU HC EB | | ?year=2020&period=2099Q9",
    "GET /api/programme/trend":                       "AD PO RU HC EB | | ?upto=2099Q9",
    "GET /api/programme/plan":                        "AD PO RU HC EB",
    "GET /api/programme/reports":                     "AD PO RU HC",
    "GET /api/programme/reports/{report_id}":         "AD PO RU HC | AD PO | report",
    "POST /api/programme/reports":                    "AD PO RU HC",
    "POST /api/programme/reports/{report_id}/review": "AD PO | AD PO | report",
    "GET /api/programme/template":                    "AD PO RU HC | AD PO | unit_q",
    "GET /api/programme/publication":                 "AD PO RU HC EB | | ?period=2099Q4&format=html",
    "POST /api/programme/publication":                "AD PO RU HC EB",
    # --- telemetry and residents --------------------------------------------------------------------------
    "POST /api/telemetry/ingest":                     "-",
    "POST /api/telemetry/devices/{device_code}/readings": "- | - | device",
    "POST /api/telemetry/backfill":                   "AD HC",
    "GET /api/telemetry/overview":                    "AD PO HC",
    "GET /api/telemetry/stations/{station_id}/latest": "AD PO HC | AD PO | station",
    "GET /api/telemetry/stations/{station_id}/series": "AD PO HC | AD PO | station",
    "GET /api/telemetry/points/{point_id}/series":    f"AD PO HC RE | AD PO | tpoint ?{TS}",
    "GET /api/telemetry/alarms":                      "AD PO HC",
    "POST /api/telemetry/alarms/{alarm_id}/ack":      "AD HC | AD | talarm",
    "GET /api/telemetry/rules":                       "AD PO HC",
    "POST /api/telemetry/rules":                      "AD HC",
    "POST /api/telemetry/webhooks":                   "AD HC",
    "GET /api/telemetry/quarantine":                  "AD PO HC",
    "GET /api/telemetry/compliance":                  "AD PO HC",
    "GET /api/telemetry/stats":                       "AD PO",
    "POST /api/telemetry/tokens":                     "AD HC",
    "GET /api/telemetry/tokens":                      "AD HC",
    "DELETE /api/telemetry/tokens/{token_id}":        "AD HC | AD | dtoken",
    "GET /api/resident/home":                         "AD RE",
    "POST /api/resident/requests":                    "AD RE",
    "GET /telemetry":                                 "AD PO HC",
    "GET /telemetry/stations/{station_id}":           "AD PO HC | AD PO | station",
    "GET /telemetry/alarms":                          "AD PO HC",
    "POST /telemetry/alarms/{alarm_id}/ack":          "AD HC | AD | talarm",
    "GET /telemetry/compliance":                      "AD PO HC",
    "GET /telemetry/quarantine":                      "AD PO HC",
    "GET /telemetry/requests":                        "AD PO HC",
    "POST /telemetry/requests/{request_id}/close":    "AD HC | AD | trequest",
    "GET /telemetry/tokens":                          "AD HC",
    "POST /telemetry/tokens":                         "AD HC",
    "GET /me":                                        "AD RE",
    # --- billing ------------------------------------------------------------------------------------------------
    "GET /billing":                                   "AD PO HC",
    "POST /billing/runs":                             "AD HC",
    "GET /billing/runs/{run_id}":                     "AD PO HC | AD PO | brun",
    "POST /billing/runs/{run_id}/approve":            "AD HC | AD | brun",
    "GET /billing/statements/{statement_id}":         "AD PO HC | AD PO | bstatement",
    "POST /billing/statements/{statement_id}/notes":  "AD HC | AD | bstatement",
    "GET /billing/metering":                          "AD PO RU",
    "GET /me/bill":                                   "AD RE",
    "POST /me/requests":                              "AD RE",
    "GET /telemetry/stream":                          "AD PO HC | AD PO | stream",
}
# fmt: on

UNSAFE = ("POST", "PUT", "PATCH", "DELETE")

#: Writes are sent ``json={}`` (an empty form for form routes). Routes whose role or organisation check comes
#: after input validation (in the service) get a valid body here instead, so that a refused caller meets the
#: check rather than a 422: (world) -> keyword arguments of the request.
BODIES: dict[str, Callable[[Any], dict[str, Any]]] = {
    "POST /api/emissions/points": lambda w: {"json": {"mn": "MATRIX0001", "password": "matrix-pw",
                                                      "source_code": w.ids["source"]["htjt"]}},
    "POST /emissions/points": lambda w: {"data": {"mn": "MATRIX0002", "password": "matrix-pw",
                                                  "source_code": w.ids["source"]["htjt"]}},
    "POST /api/assets/heat-sources/{code}/events": lambda w: {"json": {"event": "commissioned",
                                                                       "effective_date": "2001-01-01"}},
    "POST /assets/sources/{code}/events": lambda w: {"data": {"event": "commissioned",
                                                              "effective_date": "2001-01-02"}},
}


# --- the table ----------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Spec:
    method: str
    path: str
    own: frozenset[str]
    other: frozenset[str] | None  # None: the route has no object parameter
    public: bool
    source: str | None
    query: str
    fresh_login: bool

    @property
    def api(self) -> bool:
        return self.path.startswith("/api/")


def _roles(text_: str) -> frozenset[str]:
    text_ = text_.strip()
    if text_ in ("public", "*"):
        return frozenset(ROLES)
    if text_ in ("-", ""):
        return frozenset()
    codes = frozenset(text_.split())
    unknown = codes - set(ROLES)
    assert not unknown, f"unknown role codes {sorted(unknown)}"
    return codes


def parse_spec(key: str, line: str) -> Spec:
    method, path = key.split(" ", 1)
    parts = [p.strip() for p in line.split("|")] + ["", ""]
    own_text, other_text, params = parts[0], parts[1], parts[2].split()
    own = _roles(own_text)
    other = None if not other_text else own if other_text == "=" else _roles(other_text)
    source = next((p for p in params if not p.startswith("?") and p != "fresh-login"), None)
    query = next((p[1:] for p in params if p.startswith("?")), "")
    assert (source is None) == (other is None), f"{key}: an object source needs an OTHER column and vice versa"
    return Spec(method, path, own, other, own_text == "public", source, query, "fresh-login" in params)


SPECS = {key: parse_spec(key, line) for key, line in ROUTES.items()}


def app_route_keys(app) -> set[str]:
    from starlette.routing import Mount

    from cleanheat.web.app import all_routes

    keys = set()
    for r in all_routes(app):
        if isinstance(r, Mount):
            keys.add(f"MOUNT {r.path}")
            continue
        for m in sorted(set(r.methods or ()) - {"HEAD"}):
            keys.add(f"{m} {r.path}")
    return keys


def table_differences(app) -> tuple[list[str], list[str]]:
    """(routes of the app without a ROUTES line, ROUTES lines without a route in the app)"""
    present = app_route_keys(app)
    return sorted(present - set(ROUTES)), sorted(set(ROUTES) - present)


def _bare_app(tmp_path: Path):
    from cleanheat.config import Settings
    from cleanheat.web.app import create_app

    return create_app(Settings(database_url=f"sqlite:///{tmp_path / 'x.db'}", var_dir=tmp_path, secret_key="x"),
                      background=False)


def test_every_route_has_an_entry(tmp_path: Path):
    missing, stale = table_differences(_bare_app(tmp_path))
    assert not missing, "routes without an entry in tests/test_authz_matrix.py ROUTES: " + ", ".join(missing)
    assert not stale, "ROUTES entries whose route no longer exists: " + ", ".join(stale)


def test_a_new_route_without_an_entry_is_named(tmp_path: Path):
    from fastapi import APIRouter

    app = _bare_app(tmp_path)
    extra = APIRouter()
    extra.add_api_route("/api/brand-new/{thing_id}", lambda thing_id: {}, methods=["GET", "DELETE"])
    app.include_router(extra)
    missing, stale = table_differences(app)
    assert missing == ["DELETE /api/brand-new/{thing_id}", "GET /api/brand-new/{thing_id}"] and stale == []


def test_table_format_is_checked():
    with pytest.raises(AssertionError, match="unknown role codes"):
        parse_spec("GET /x", "AD XX")
    with pytest.raises(AssertionError, match="OTHER column"):
        parse_spec("GET /x/{id}", "AD | | net")
    s = parse_spec("GET /x/{id}", "AD PO | = | net ?a=1")
    assert (s.own, s.other, s.source, s.query) == ({"AD", "PO"}, {"AD", "PO"}, "net", "a=1")


# --- the demo installation and the second organisation's records ------------------------------------------

@dataclass
class User:
    role: str
    username: str
    org_code: str
    admin_unit: str | None
    client: TestClient
    csrf: str


@dataclass
class World:
    settings: Any
    app: Any
    sessions: Any
    #: family -> owner key (organisation code, admin unit, ...) -> value
    ids: dict[str, dict[str, Any]] = field(default_factory=dict)
    users: list[User] = field(default_factory=list)
    resident_points: tuple[int, int] = (0, 0)  # (the resident's own point, another household's point)
    anon: TestClient | None = None  # a client without a session
    tables: list[str] = field(default_factory=list)  # every table, for the row-count fingerprint

    def session(self):
        from cleanheat.store.engine import session_scope

        return session_scope(self.sessions)


SECOND_COMPANY = "veolia"


def _second_company(w: World) -> None:
    """A user, a small city, a stored network and device tokens of a second heat company."""
    from cleanheat.auth import service as auth_service
    from cleanheat.auth.service import Actor
    from cleanheat.auth.tables import User as UserRow
    from cleanheat.demo_accounts import demo_password
    from cleanheat.network import service as net_service
    from cleanheat.telemetry.tokens import issue_device_token
    from cleanheat.twin.city import CityConfig, ensure_city, make_city

    with w.session() as s:
        auth_service.create_user(s, Actor.system("test"), username="veolia", password=demo_password(),
                                 role="heat_company", org_code=SECOND_COMPANY)
        ensure_city(s, Actor.system("test"), make_city(CityConfig(prefix="VX", stations=1, buildings_per_station=1,
                                                                   households_per_building=2)),
                    SECOND_COMPANY, data_dir=w.settings.data_dir)
    _second_company_billing(w)
    for username in ("htjt", "veolia"):
        with w.session() as s:
            actor = Actor.for_user(s.scalar(select(UserRow).where(UserRow.username == username)))
            issue_device_token(s, actor, name="matrix")
            if username == "veolia":
                path = w.settings.data_dir / "networks" / "goerlitz" / "network-sized.geojson"
                net_service.import_network(s, actor, path.read_bytes(), "goerlitz.geojson",
                                           net_service.ImportOptions(fmt="geojson", name="veolia net"))


def _second_company_billing(w: World) -> None:
    """The second company's households get accounts and a draft prepayment run (a run and statements of another
    organisation; the demo city's company has its approved season from the billing demo)."""
    from decimal import Decimal

    from cleanheat.assets.tables import Household
    from cleanheat.auth.service import Actor
    from cleanheat.auth.tables import Organisation
    from cleanheat.billing import service as billing

    with w.session() as s:
        actor = Actor.system("test")
        org_id = s.scalar(select(Organisation.id).where(Organisation.code == SECOND_COMPANY))
        for hh in s.scalars(select(Household).where(Household.org_id == org_id).order_by(Household.id)):
            billing.open_account(s, actor, building_id=hh.building_id, household_id=hh.id,
                                 account_no=f"M-{hh.account_no}", customer_class="ordinary_dwelling",
                                 billing_mode="area", area_m2=Decimal("80.00"))
        billing.run_billing(s, actor, SECOND_COMPANY, "2020-2021", "prepayment", city_dir=w.settings.city_dir,
                            data_dir=w.settings.data_dir)


def _alarms_and_requests(w: World) -> None:
    """Telemetry alarms, emission alarms and resident requests of both companies (the demo has none yet)."""
    from cleanheat.assets.tables import HeatSource, Household, Station
    from cleanheat.auth.tables import Organisation
    from cleanheat.emissions.tables import Alarm as EAlarm
    from cleanheat.emissions.tables import MonitoringPoint
    from cleanheat.telemetry.tables import Alarm, AlarmRule, ResidentRequest

    now = datetime.now(UTC)
    with w.session() as s:
        rule = s.scalar(select(AlarmRule.id).order_by(AlarmRule.id).limit(1))
        for org in ("htjt", SECOND_COMPANY):
            org_id = s.scalar(select(Organisation.id).where(Organisation.code == org))
            st = s.scalar(select(Station.id).where(Station.org_id == org_id).limit(1))
            s.add(Alarm(rule_id=rule, org_id=org_id, dedup_key=f"matrix-{org}", severity="major", station_id=st,
                        raised_at=now, last_seen_at=now))
            hh = s.scalar(select(Household.id).where(Household.org_id == org_id).order_by(Household.id.desc())
                          .limit(1))
            s.add(ResidentRequest(household_id=hh, org_id=org_id, kind="warmer"))
            point = s.scalar(select(MonitoringPoint.id).join(HeatSource, MonitoringPoint.source_id == HeatSource.id)
                             .where(HeatSource.org_id == org_id).limit(1))
            s.add(EAlarm(point_id=point, kind="missing_data", started_at=now - timedelta(hours=2)))


def _first_by_org(s, model, *, where=None) -> dict[str, Any]:
    """Organisation code -> the smallest id of ``model`` owned by it."""
    from cleanheat.auth.tables import Organisation

    q = select(Organisation.code, func.min(model.id)).join(Organisation, model.org_id == Organisation.id)
    if where is not None:
        q = q.where(where)
    return dict(s.execute(q.group_by(Organisation.code)).all())


def _collect_ids(w: World) -> None:
    from cleanheat.assets.tables import Building, Device, HeatSource, Household, Network, Point, Station
    from cleanheat.auth.tables import Organisation
    from cleanheat.emissions.tables import Alarm as EAlarm
    from cleanheat.emissions.tables import Exceedance, MonitoringPoint
    from cleanheat.network.tables import NetworkRun, StoredNetwork
    from cleanheat.programme.tables import Report
    from cleanheat.telemetry.tables import Alarm, DeviceToken, ResidentRequest

    ids = w.ids
    with w.session() as s:
        for fam, model in (("a_networks", Network), ("a_stations", Station), ("a_buildings", Building),
                           ("a_households", Household), ("a_devices", Device), ("tpoint", Point),
                           ("talarm", Alarm), ("trequest", ResidentRequest), ("dtoken", DeviceToken),
                           ("net", StoredNetwork), ("report", Report)):
            ids[fam] = _first_by_org(s, model)
        ids["station"] = ids["a_stations"]
        from cleanheat.billing.tables import BillingRun, Statement

        ids["brun"] = _first_by_org(s, BillingRun)
        ids["bstatement"] = dict(s.execute(select(Organisation.code, func.min(Statement.id)).join(
            Organisation, Statement.org_id == Organisation.id).group_by(Organisation.code)).all())
        ids["run"] = dict(s.execute(select(Organisation.code, func.min(NetworkRun.id)).join(
            StoredNetwork, NetworkRun.network_id == StoredNetwork.id).join(
            Organisation, StoredNetwork.org_id == Organisation.id).group_by(Organisation.code)).all())
        src_org = (select(Organisation.code, func.min(HeatSource.code))
                   .join(Organisation, HeatSource.org_id == Organisation.id).group_by(Organisation.code))
        ids["source"] = dict(s.execute(src_org).all())
        ids["source_unit"] = dict(s.execute(select(HeatSource.admin_unit_code, func.min(HeatSource.code))
                                            .group_by(HeatSource.admin_unit_code)).all())
        mp = (select(Organisation.code, func.min(MonitoringPoint.id))
              .join(HeatSource, MonitoringPoint.source_id == HeatSource.id)
              .join(Organisation, HeatSource.org_id == Organisation.id))
        ids["epoint"] = dict(s.execute(mp.group_by(Organisation.code)).all())
        for fam, model in (("eevent", Exceedance), ("ealarm", EAlarm)):
            q = (select(Organisation.code, func.min(model.id))
                 .join(MonitoringPoint, model.point_id == MonitoringPoint.id)
                 .join(HeatSource, MonitoringPoint.source_id == HeatSource.id)
                 .join(Organisation, HeatSource.org_id == Organisation.id).where(model.acknowledged_at.is_(None)))
            ids[fam] = dict(s.execute(q.group_by(Organisation.code)).all())
        ids["device"] = {"htjt": s.scalar(select(Device.code).order_by(Device.id).limit(1))}
        resident_hh = s.scalar(select(Household.id).where(Household.resident_user_id.is_not(None)))
        own = s.scalar(select(Point.id).join(Device, Point.device_id == Device.id)
                       .where(Device.household_id == resident_hh).limit(1))
        other = s.scalar(select(Point.id).join(Device, Point.device_id == Device.id)
                         .where(Device.household_id.is_not(None), Device.household_id != resident_hh).limit(1))
        w.resident_points = (own, other)
    _collect_planner_ids(w)


def _collect_planner_ids(w: World) -> None:
    from cleanheat.auth.service import Actor
    from cleanheat.planner import service as planner
    from cleanheat.planner.tables import PlannerProposal, PlannerResult, PlannerScenario

    with w.session() as s:
        office = Actor.system("test")
        result = s.scalar(select(PlannerResult).where(PlannerResult.status == "optimal").order_by(PlannerResult.id))
        if planner.evaluated_years(s) >= set(result.summary["years"]):  # the demo's years are all evaluated:
            proposal = PlannerProposal(result_id=result.id, title="matrix proposal",  # no proposal through the
                                       scenario_name=result.summary["scenario"], years=[],  # service: store one
                                       rate_targets=[], technology_targets=[], builds=[],
                                       total_cost_yuan=result.total_cost_yuan, created_by="test")
            s.add(proposal)
        else:
            proposal = planner.propose(s, office, result.id, title="matrix proposal")
        s.flush()
        w.ids["scenario"] = {"": s.scalar(select(func.min(PlannerScenario.id)))}
        w.ids["result"] = {"": result.id}
        w.ids["proposal"] = {"": proposal.id}
        w.ids["parea"] = {}
        for a in result.areas:
            w.ids["parea"].setdefault(a["unit_code"], (result.scenario_id, a["code"]))


# --- parameter sources: (world, user) -> (own-organisation params, other-organisation params) --------------

Params = dict[str, Any] | None


def _own_other(values: dict[str, Any], own_key: str | None) -> tuple[Any, Any]:
    own = values.get(own_key) if own_key else None
    other = next((v for k, v in sorted(values.items(), key=lambda kv: str(kv[0])) if k != own_key), None)
    return own, other


def _by_org(family: str, param: str) -> Callable[[World, User | None], tuple[Params, Params]]:
    def source(w: World, u: User | None) -> tuple[Params, Params]:
        own, other = _own_other(w.ids[family], u.org_code if u else None)
        return (None if own is None else {param: own}), (None if other is None else {param: other})

    return source


def _shared(family: str, param: str) -> Callable[[World, User | None], tuple[Params, Params]]:
    """City-wide objects (planner scenarios, results, proposals): one value, the same for every user."""
    def source(w: World, _u: User | None) -> tuple[Params, Params]:
        return {param: w.ids[family][""]}, None

    return source


def _fixed(**params: Any) -> Callable[[World, User | None], tuple[Params, Params]]:
    def source(_w: World, _u: User | None) -> tuple[Params, Params]:
        return dict(params), None

    return source


def _source_code(w: World, u: User | None) -> tuple[Params, Params]:
    """Heat sources: a reporting unit's own are those in its administrative unit, a company's those it owns."""
    if u is not None and u.role == "RU":
        own, other = _own_other(w.ids["source_unit"], u.admin_unit)
    else:
        own, other = _own_other(w.ids["source"], u.org_code if u else None)
    return (None if own is None else {"code": own}), {"code": other}


def _unit(w: World, u: User | None) -> tuple[Params, Params]:
    own = u.admin_unit if u is not None else None
    return (None if own is None else {"code": own}), {"code": "nangang" if own != "nangang" else "daoli"}


def _unit_query(w: World, u: User | None) -> tuple[Params, Params]:
    """The report template of a reporter: its unit for a government, its organisation code for a company."""
    own = (u.admin_unit or u.org_code) if u is not None and u.role in ("RU", "HC") else None
    other = "nangang" if own != "nangang" else "daoli"
    q = "period=2020Q4&unit="
    return (None if own is None else {"_query": q + own}), {"_query": q + other}


def _planner_area(w: World, u: User | None) -> tuple[Params, Params]:
    own_key = u.admin_unit if u is not None else None
    own, other = _own_other(w.ids["parea"], own_key)
    def as_params(v: tuple | None) -> Params:
        return None if v is None else {"scenario_id": v[0], "code": v[1]}

    return as_params(own), as_params(other)


def _telemetry_point(w: World, u: User | None) -> tuple[Params, Params]:
    if u is not None and u.role == "RE":
        own, other = w.resident_points
        return {"point_id": own}, {"point_id": other}
    return _by_org("tpoint", "point_id")(w, u)


def _stream(w: World, u: User | None) -> tuple[Params, Params]:
    """Server-sent events never end: an allowed caller gets a bad scope (422, checked after authorisation);
    a station of another organisation must be refused before the stream starts."""
    own, other = _by_org("station", "station_id")(w, u)
    bad = {"_query": "scope=nonsense"}
    city_wide = u is not None and u.role in ("AD", "PO")
    return (None if own is None else bad), (bad if city_wide else {"_query": f"scope=station:{other['station_id']}"})


def _copy_row(w: World, model, row_id: int, **changes: Any) -> int:
    with w.session() as s:
        row = s.get(model, row_id)
        cols = {c.key: getattr(row, c.key) for c in inspect(model).column_attrs if c.key != "id"}
        new = model(**(cols | changes))
        s.add(new)
        s.flush()
        return new.id


def _fresh_network(w: World, u: User | None) -> tuple[Params, Params]:
    """Deleting: a new copy of each company's stored network for every request."""
    from cleanheat.network.tables import StoredNetwork

    own_key = u.org_code if u is not None else None
    own, other = _own_other(w.ids["net"], own_key)
    stamp = datetime.now(UTC).isoformat()

    def make(v: int | None) -> Params:
        return None if v is None else {"network_id": _copy_row(w, StoredNetwork, v, name=f"matrix copy {stamp}")}

    return make(own), make(other)


def _fresh_scenario(w: World, _u: User | None) -> tuple[Params, Params]:
    from cleanheat.planner.tables import PlannerScenario

    new = _copy_row(w, PlannerScenario, w.ids["scenario"][""], name=f"matrix copy {datetime.now(UTC).isoformat()}")
    return {"scenario_id": new}, None


def _user_token(w: World, u: User | None) -> tuple[Params, Params]:
    """Bearer tokens are the user's own: a fresh token of ``u`` and one of the second company's user."""
    from cleanheat.auth import service as auth_service
    from cleanheat.auth.tables import ApiToken
    from cleanheat.auth.tables import User as UserRow

    def fresh(username: str) -> int:
        with w.session() as s:
            user = s.scalar(select(UserRow).where(UserRow.username == username))
            auth_service.issue_token(s, user, name="matrix")
            return s.scalar(select(func.max(ApiToken.id)).where(ApiToken.user_id == user.id))

    return (None if u is None else {"token_id": fresh(u.username)}), {"token_id": fresh(SECOND_COMPANY)}


def _user_session(w: World, u: User | None) -> tuple[Params, Params]:
    """Login sessions are the user's own: a second (not the test client's) session of ``u`` and one of the
    second company's user, each from a separate login."""
    from cleanheat.auth.tables import AuthSession
    from cleanheat.auth.tables import User as UserRow

    def fresh(username: str) -> int:
        _login(w.app, username)
        with w.session() as s:
            uid = s.scalar(select(UserRow.id).where(UserRow.username == username))
            return s.scalar(select(func.max(AuthSession.id)).where(AuthSession.user_id == uid))

    return (None if u is None else {"session_id": fresh(u.username)}), {"session_id": fresh(SECOND_COMPANY)}


def _job(w: World, u: User | None) -> tuple[Params, Params]:
    """Jobs are their user's own: a finished job (with a file) of ``u`` and one of the second company's user."""
    from cleanheat.auth.service import Actor
    from cleanheat.auth.tables import User as UserRow
    from cleanheat.jobs import queue

    def fresh(username: str) -> int:
        with w.session() as s:
            user = s.scalar(select(UserRow).where(UserRow.username == username))
            job = queue.submit(s, Actor.for_user(user), "programme.publication", {"period": "2020", "format": "xlsx"},
                               title="matrix")
            assert queue.claim(s, "matrix", ["programme.publication"]).id == job.id
            queue.finish(s, job.id, "matrix", {"file": "matrix.xlsx", "media_type": "application/octet-stream"},
                         b"matrix")
            return job.id

    return (None if u is None else {"job_id": fresh(u.username)}), {"job_id": fresh(SECOND_COMPANY)}


SOURCES: dict[str, Callable[[World, User | None], tuple[Params, Params]]] = {
    "job": _job,
    "lang": _fixed(lang="zh"),
    "user": _fixed(username="veolia"),
    "utoken": _user_token,
    "usession": _user_session,
    "device": _by_org("device", "device_code"),
    "area_type": _fixed(area_type="urban"),
    "a_networks": _by_org("a_networks", "record_id"),
    "a_stations": _by_org("a_stations", "record_id"),
    "a_buildings": _by_org("a_buildings", "record_id"),
    "a_households": _by_org("a_households", "record_id"),
    "a_devices": _by_org("a_devices", "record_id"),
    "station": _by_org("station", "station_id"),
    "tpoint": _telemetry_point,
    "talarm": _by_org("talarm", "alarm_id"),
    "trequest": _by_org("trequest", "request_id"),
    "dtoken": _by_org("dtoken", "token_id"),
    "stream": _stream,
    "source": _source_code,
    "epoint": _by_org("epoint", "point_id"),
    "eevent": _by_org("eevent", "event_id"),
    "ealarm": _by_org("ealarm", "alarm_id"),
    "net": _by_org("net", "network_id"),
    "net_fresh": _fresh_network,
    "run": _by_org("run", "run_id"),
    "brun": _by_org("brun", "run_id"),
    "bstatement": _by_org("bstatement", "statement_id"),
    "scenario": _shared("scenario", "scenario_id"),
    "scenario_fresh": _fresh_scenario,
    "result": lambda w, u: ({"result_id": w.ids["result"][""], "fmt": "xlsx"}, None),
    "proposal": _shared("proposal", "proposal_id"),
    "parea": _planner_area,
    "report": _by_org("report", "report_id"),
    "unit": _unit,
    "unit_q": _unit_query,
}


def test_every_source_is_used_and_known():
    used = {s.source for s in SPECS.values() if s.source}
    assert used <= set(SOURCES), f"unknown sources {sorted(used - set(SOURCES))}"
    assert set(SOURCES) <= used, f"unused sources {sorted(set(SOURCES) - used)}"


# --- the world fixture (once per backend) --------------------------------------------------------------------

def _login(app, username: str) -> tuple[TestClient, str]:
    from cleanheat.demo_accounts import demo_password
    from tests.helpers import csrf_of

    client = TestClient(app)
    r = client.post("/login", data={"username": username, "password": demo_password(), "next": "/"},
                    follow_redirects=False)
    assert r.status_code == 303 and not r.headers["location"].startswith("/login"), f"login {username}: {r.text}"
    return client, csrf_of(client)


def _make_users(w: World) -> None:
    from cleanheat.auth.tables import User as UserRow

    for role, username in USERS:
        with w.session() as s:
            row = s.scalar(select(UserRow).where(UserRow.username == username))
            org, unit = row.organisation.code, row.organisation.admin_unit_code
        client, csrf = _login(w.app, username)
        w.users.append(User(role, username, org, unit, client, csrf))


@pytest.fixture(scope="session")
def _worlds() -> Iterator[dict]:
    """The worlds built in this process, one per store, kept until the run ends: when the two stores' groups share
    an xdist worker their tests may alternate, and a module-scoped world was torn down and built again (~20 s
    on PostgreSQL) at every switch."""
    built: dict[str, tuple[World, Callable[[], None]]] = {}
    yield built
    for _w, cleanup in built.values():
        cleanup()


def _build_world(backend: str, request, tmp_path_factory) -> tuple[World, Callable[[], None]]:
    from cleanheat.config import Settings
    from cleanheat.store.engine import make_engine, make_sessionmaker
    from cleanheat.web.app import create_app

    tmp = tmp_path_factory.mktemp(f"matrix-{backend}")
    demo_city = request.getfixturevalue("demo_city")
    url = demo_city.copy(backend, tmp)  # like ``cleanheat init --demo`` (built once per run, tests/demo_city.py)
    settings = Settings(database_url=url, var_dir=tmp / "var", secret_key="matrix-secret")
    engine = make_engine(url)

    def cleanup() -> None:
        engine.dispose()
        demo_city.drop(url)

    try:
        w = World(settings, create_app(settings, engine=engine, background=False), make_sessionmaker(engine))
        _second_company(w)
        _alarms_and_requests(w)
        _collect_ids(w)
        _make_users(w)
        w.anon = TestClient(w.app)
    except BaseException:
        cleanup()
        raise
    return w, cleanup


#: each store's world on one xdist worker (marks of a fixture's own params do not reach the tests: parametrized
#: through the tests, they do)
WORLDS = pytest.mark.parametrize(
    "world", [pytest.param(b, marks=pytest.mark.xdist_group(f"authz_matrix_{b}")) for b in BACKENDS],
    indirect=True, scope="module")


@pytest.fixture(scope="module")
def world(request, tmp_path_factory, _worlds) -> World:
    if request.param not in _worlds:
        _worlds[request.param] = _build_world(request.param, request, tmp_path_factory)
    return _worlds[request.param][0]


# --- running one route -----------------------------------------------------------------------------------------

def _fingerprint(w: World) -> tuple[int, ...]:
    """Row counts of every table: a refused write must not change any of them (nor add an audit record)."""
    if not w.tables:
        w.tables = sorted(inspect(w.app.state.engine).get_table_names())
    sql = "SELECT " + ", ".join(f'(SELECT count(*) FROM "{n}")' for n in w.tables)
    with w.app.state.engine.connect() as conn:
        return tuple(conn.execute(text(sql)).one())


def _url(spec: Spec, params: dict[str, Any]) -> str:
    path = re.sub(r"\{(\w+)\}", lambda m: str(params[m.group(1)]), spec.path)
    query = "&".join(q for q in (spec.query, params.get("_query", "")) if q)
    return f"{path}?{query}" if query else path


def _send(w: World, client: TestClient, spec: Spec, url: str, csrf: str | None):
    headers = {"X-CSRF-Token": csrf} if csrf else {}
    kwargs: dict[str, Any] = {"headers": headers, "follow_redirects": False}
    if spec.method in UNSAFE:
        body = BODIES.get(f"{spec.method} {spec.path}")
        kwargs.update(body(w) if body else {"json": {}})
    return client.request(spec.method, url, **kwargs)


def outcome(r) -> str:
    """allowed | input (allowed, the minimal input refused) | refused | login (redirected to log in) | error"""
    code = r.status_code
    if 300 <= code < 400:
        return "login" if r.headers.get("location", "").startswith("/login") else "allowed"
    if code < 300:
        return "allowed"
    if code in (401, 403, 404):
        return "refused"
    if code in (400, 405, 409, 413, 422):
        return "input"
    return "error"


def _cases(w: World, spec: Spec) -> Iterator[tuple[User | None, str, dict[str, Any]]]:
    """(user, 'route' | 'own' | 'other', params) for anonymous and every user."""
    if spec.source is None:
        yield None, "route", {}
        for u in w.users:
            yield u, "route", {}
        return
    own, other = SOURCES[spec.source](w, None)
    yield None, "route", own or other
    for u in w.users:
        own, other = SOURCES[spec.source](w, u)
        if own is not None:
            yield u, "own", own
        if other is not None:
            yield u, "other", other


def _expected_allowed(spec: Spec, user: User | None, kind: str) -> bool:
    if user is None:
        return spec.public
    return user.role in (spec.other if kind == "other" else spec.own)


def _check_one(w: World, spec: Spec, user: User | None, kind: str, params: dict, *, guard_each: bool = True
               ) -> str | None:
    """None when the request got what the table says; else a description of the difference. A refused write
    must leave the database as it was: checked here (``guard_each``) or by the caller around a batch."""
    url = _url(spec, params)
    allowed = _expected_allowed(spec, user, kind)
    guard = guard_each and spec.method in UNSAFE and not allowed
    before = _fingerprint(w) if guard else None
    if user is None:
        r = _send(w, w.anon, spec, url, None)
    elif spec.fresh_login:
        client, csrf = _login(w.app, user.username)
        r = _send(w, client, spec, url, csrf)
    else:
        r = _send(w, user.client, spec, url, user.csrf)
    got = outcome(r)
    who = "anonymous" if user is None else f"{user.role}:{user.username}"
    if user is None and not spec.public:
        want = "401" if spec.api else "redirect to /login"
        ok = r.status_code == 401 if spec.api else got == "login"
    else:
        want = "allowed" if allowed else "refused"
        # a request that ends the session (log out) is answered with the login page
        ok = got in ("allowed", "input") or (spec.fresh_login and got == "login") if allowed else got == "refused"
    problem = None if ok else f"{who} {kind} {spec.method} {url}: want {want}, got {r.status_code} {r.text[:160]!r}"
    if guard and _fingerprint(w) != before:
        problem = (f"{problem} and the database changed" if problem else
                   f"{who} {kind} {spec.method} {url}: refused with {r.status_code} but the database changed")
    return problem


def _csrf_params(w: World, spec: Spec) -> tuple[Params, Params]:
    admin = next(u for u in w.users if u.role == "AD")
    return SOURCES[spec.source](w, admin) if spec.source else ({}, None)


def _check_csrf(w: World, spec: Spec, *, guard_each: bool = True,
                params: tuple[Params, Params] | None = None) -> str | None:
    """A cookie session's state-changing request without the CSRF token is refused and changes nothing (checked
    here, or by the caller around a batch when not ``guard_each``; ``params``: the source's, made beforehand)."""
    if spec.method not in UNSAFE or spec.public:
        return None
    admin = next(u for u in w.users if u.role == "AD")
    own, other = params if params is not None else _csrf_params(w, spec)
    url = _url(spec, own if own is not None else other)
    client = _login(w.app, admin.username)[0] if spec.fresh_login else admin.client
    before = _fingerprint(w) if guard_each else None  # after the login: a login adds its session record
    r = _send(w, client, spec, url, None)
    if r.status_code != 403 or "CSRF" not in r.text:
        return f"AD without CSRF token {spec.method} {url}: want 403 (CSRF), got {r.status_code} {r.text[:160]!r}"
    if guard_each and _fingerprint(w) != before:
        return f"AD without CSRF token {spec.method} {url}: refused but the database changed"
    return None


ROUTE_KEYS = sorted(k for k in ROUTES if not k.startswith("MOUNT "))


def _check_route(w: World, spec: Spec) -> list[str]:
    """Every case of one route. The refused ones go first, as one batch: the database's row counts are taken
    before and after the batch (two counts instead of two per refused write); only when they differ is each
    refused case sent again with its own counts, to name the one that wrote. A route whose requests log in
    afresh (which adds a session record) keeps a count per case."""
    cases = list(_cases(w, spec))  # the sources make their records (tokens, jobs, copies) before any count
    csrf_params = _csrf_params(w, spec) if spec.method in UNSAFE and not spec.public else None
    refused = [c for c in cases if not _expected_allowed(spec, c[0], c[1])]
    allowed = [c for c in cases if _expected_allowed(spec, c[0], c[1])]
    batch = spec.method in UNSAFE and not spec.fresh_login
    before = _fingerprint(w) if batch else None
    problems = [p for u, kind, params in refused if (p := _check_one(w, spec, u, kind, params, guard_each=not batch))]
    csrf = _check_csrf(w, spec, guard_each=not batch, params=csrf_params)
    problems += [csrf] if csrf else []
    if batch and _fingerprint(w) != before:
        again = [p for u, kind, params in refused if (p := _check_one(w, spec, u, kind, params))]
        csrf_again = _check_csrf(w, spec, params=csrf_params)
        again += [csrf_again] if csrf_again else []
        problems += [p for p in again if "database changed" in p] or [
            f"{spec.method} {spec.path}: a refused request changed the database (not reproduced one by one)"]
    problems += [p for u, kind, params in allowed if (p := _check_one(w, spec, u, kind, params))]
    return problems


@WORLDS
@pytest.mark.parametrize("key", ROUTE_KEYS)
def test_route_authorisation(world: World, key: str):
    problems = _check_route(world, SPECS[key])
    assert not problems, f"{key} ({ROUTES[key]}):\n  " + "\n  ".join(problems)


def test_static_files_are_public(tmp_path: Path):
    assert TestClient(_bare_app(tmp_path)).get("/static/app.css").status_code == 200


@WORLDS
def test_a_wrong_entry_is_reported(world: World):
    """The checks can fail: an entry refusing the owner and allowing another company is reported twice."""
    wrong = parse_spec("GET /api/network/networks/{network_id}", "AD PO | AD PO HC | net")
    problems = [p for p in (_check_one(world, wrong, u, kind, params) for u, kind, params in _cases(world, wrong))
                if p]
    assert len(problems) == 2, problems
    assert "HC:htjt own" in problems[0] and "want refused, got 200" in problems[0]
    assert "HC:htjt other" in problems[1] and "want allowed, got 404" in problems[1]


@WORLDS
def test_a_refused_write_that_writes_is_named(world: World):
    """The batched row counts can fail too: a table that refuses the owning company a write it is in fact
    allowed (the seasonal analysis queues a job) reports the request and that the database changed."""
    wrong = parse_spec("POST /network/{network_id}/seasonal", "AD | AD | net")
    problems = _check_route(world, wrong)
    assert any("HC:htjt own" in p and "want refused" in p for p in problems), problems
    assert any("HC:htjt own" in p and "the database changed" in p for p in problems), problems
