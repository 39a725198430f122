"""Each web process prepares the figures of the office's landing page in the background (issue #13 item 1):
after a report is accepted the overview's evaluation is computed again without a request asking for it."""

from __future__ import annotations

import time

from fastapi.testclient import TestClient
from sqlalchemy import select

from cleanheat.auth.service import Actor
from cleanheat.auth.tables import Organisation
from cleanheat.programme import service
from cleanheat.programme.model import Period
from cleanheat.programme.plan_store import get_plan_row, load_plan
from cleanheat.programme.tables import Report, ReportArea
from cleanheat.store.engine import make_engine, make_sessionmaker, session_scope
from cleanheat.web.app import create_app
from tests.helpers import bootstrap


def prepared_units_reporting(url: str, period: Period) -> set[int]:
    """units_reporting of every evaluation of ``period`` prepared in this process for the database at ``url``
    (looked at, not computed; the stamp of the key starts with the database)."""
    return {value[1].units_reporting for key, value in list(service._FIGURES._data.items())
            if key[0] == "evaluation" and key[2] == period and key[1][1][0] == url}


def test_the_landing_figures_are_prepared_after_a_report_is_accepted(settings):
    bootstrap(settings)
    engine = make_engine(settings.database_url)
    with TestClient(create_app(settings, background=True)):
        with session_scope(make_sessionmaker(engine)) as s:
            period = service.latest_period(load_plan(s))
            org = s.scalar(select(Organisation).where(Organisation.code == "gov-daoli"))
            report = Report(plan_id=get_plan_row(s).id, org_id=org.id, admin_unit_code="daoli", period=str(period),
                            year=period.year, quarter=period.quarter, version=1, status="submitted",
                            submitted_by="t", areas=[ReportArea(area_type="urban", technology="gas",
                                                                heated_area_m2=1_000_000.0)])
            s.add(report)
            s.flush()
            service.review_report(s, Actor.system("test"), report.id, "accept")
        deadline = time.monotonic() + 120
        while 1 not in prepared_units_reporting(str(engine.url), period) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert 1 in prepared_units_reporting(str(engine.url), period)
    engine.dispose()
