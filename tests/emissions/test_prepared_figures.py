"""The programme's evaluation behind the overview, unit and area pages is prepared once per change of its inputs
(issue #13 item 1): while nothing changes the next request gets the same figures without computing them again;
an accepted report, a registry event, new monitoring data or a reloaded plan change them on the next request.

The world (tests/emissions/conftest.py): the Harbin programme, six registered sources, four of them with a
monitoring point and no data yet. Evaluations of 2021 (long past: its evidence windows no longer move)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta

from sqlalchemy import select

from cleanheat.assets.heat_sources import add_event
from cleanheat.auth.service import Actor
from cleanheat.auth.tables import Organisation
from cleanheat.emissions.compliance import CHINA_TZ
from cleanheat.programme import service
from cleanheat.programme.model import Period
from cleanheat.programme.plan_store import get_plan_row, load_plan, save_plan
from cleanheat.programme.tables import Report, ReportArea
from tests.emissions.conftest import store_hours

OFFICE = Actor.system("test")  # city-wide: the unscoped evaluation itself
#: the heating days of 2021 in Beijing time
WINDOWS_2021 = [(datetime(2021, 1, 1, tzinfo=CHINA_TZ), datetime(2021, 4, 21, tzinfo=CHINA_TZ)),
                (datetime(2021, 10, 20, tzinfo=CHINA_TZ), datetime(2022, 1, 1, tzinfo=CHINA_TZ))]


def evaluate(world):
    with world.session() as s:
        return service.evaluate(s, OFFICE, load_plan(s), year=2021, settings=world.settings)


def trend(world):
    with world.session() as s:
        return service.trend(s, OFFICE, load_plan(s), Period(2021, 4), world.settings)


def evidence(ev, code: str) -> str:
    return next(v.evidence for v in ev.verification if v.source_code == code)


def submit(world, unit: str, period: str, areas: dict[tuple[str, str], float]) -> int:
    """A report of ``unit`` awaiting review (written directly: the upload path has its own tests)."""
    with world.session() as s:
        plan_row = get_plan_row(s)
        org = s.scalar(select(Organisation).where(Organisation.code == f"gov-{unit}"))
        r = Report(plan_id=plan_row.id, org_id=org.id, admin_unit_code=unit, period=period,
                   year=int(period[:4]), quarter=int(period[-1]), version=1, status="submitted", submitted_by="t",
                   areas=[ReportArea(area_type=at, technology=tech, heated_area_m2=a)
                          for (at, tech), a in areas.items()])
        s.add(r)
        s.flush()
        return r.id


def accept(world, report_id: int) -> None:
    with world.session() as s:
        service.review_report(s, OFFICE, report_id, "accept")


def test_an_accepted_report_changes_the_next_evaluation_and_trend(world):
    accept(world, submit(world, "daoli", "2021Q4", {("urban", "gas"): 500_000.0, ("urban", "coal_boiler"): 500_000.0}))
    first, first_trend = evaluate(world), trend(world)
    assert evaluate(world) is first and trend(world)[-1] == first_trend[-1]  # prepared: not computed again
    assert first.units_reporting == 1 and first.rates["urban"].actual == 0.5
    pending = submit(world, "nangang", "2021Q4", {("urban", "gas"): 1_000_000.0})
    assert evaluate(world) is first  # a report awaiting review counts for nothing yet
    accept(world, pending)
    after = evaluate(world)
    assert after.units_reporting == 2 and after.rates["urban"].actual == 0.75
    assert trend(world)[-1]["urban"] == 0.75 and first_trend[-1]["urban"] == 0.5


def test_a_correction_accepted_later_replaces_the_figures(world):
    accept(world, submit(world, "daoli", "2021Q4", {("urban", "gas"): 500_000.0, ("urban", "coal_boiler"): 500_000.0}))
    assert evaluate(world).rates["urban"].actual == 0.5
    with world.session() as s:  # version 2 of the same period: the first becomes superseded when it is accepted
        first = s.get(Report, 1)
        r = Report(plan_id=first.plan_id, org_id=first.org_id, admin_unit_code="daoli", period="2021Q4", year=2021,
                   quarter=4, version=2, status="submitted", submitted_by="t", is_correction=True,
                   areas=[ReportArea(area_type="urban", technology="gas", heated_area_m2=1_000_000.0)])
        s.add(r)
        s.flush()
        rid = r.id
    accept(world, rid)
    assert evaluate(world).rates["urban"].actual == 1.0


def test_a_registry_event_changes_the_next_evaluation(world):
    accept(world, submit(world, "daoli", "2021Q4", {("urban", "coal_chp_ultralow"): 1_000_000.0}))
    before = evaluate(world)
    assert evaluate(world) is before and evidence(before, "T-CHP1") == "insufficient_data"
    with world.session() as s:  # T-CHP1 demolished before 2021: nothing of it to verify in 2021
        add_event(s, OFFICE, "T-CHP1", "demolished", date(2020, 12, 1))
    assert evidence(evaluate(world), "T-CHP1") == "not_required"


def clean_hours(point_id: int, windows) -> list[dict]:
    """Every hour of the windows valid and within the limits."""
    rows = []
    for lo, hi in windows:
        t = lo.astimezone(UTC)
        while t < hi:
            rows += [{"point_id": point_id, "ts": t, "pollutant": p, "conc_mg_m3": z, "o2_pct": 9.0,
                      "conc_zs_mg_m3": z, "device_zs_mg_m3": None, "limit_mg_m3": lim, "ref_o2_pct": 9.0,
                      "limit_set": "x", "valid": True, "exceeded": False, "valid_minutes": 60,
                      "minutes_received": 60, "flag": "N", "basis": "minutes", "reason": "", "computed_at": t}
                     for p, z, lim in (("a34013", 3.0, 10.0), ("a21026", 20.0, 35.0), ("a21002", 30.0, 50.0))]
            t += timedelta(hours=1)
    return rows


def test_new_monitoring_data_change_the_next_evaluation(world):
    accept(world, submit(world, "nangang", "2021Q4", {("urban", "coal_boiler_ultralow"): 1_200_000.0}))
    before = evaluate(world)
    assert evaluate(world) is before and evidence(before, "T-BLR1") == "insufficient_data"
    assert before.rates["urban"].verified == 0.0
    with world.session() as s:  # the heating days of 2021
        store_hours(s, clean_hours(world.points["T-BLR1"], WINDOWS_2021))
    after = evaluate(world)
    assert evidence(after, "T-BLR1") == "compliant" and after.rates["urban"].verified == 1.0


def test_monitoring_data_of_other_days_leave_the_figures_prepared(world):
    """A live feed writes today's daily values every minute: the evaluation of a past year is not computed
    again for them (only days inside its evidence windows count)."""
    accept(world, submit(world, "nangang", "2021Q4", {("urban", "coal_boiler_ultralow"): 1_200_000.0}))

    def quarters():
        with world.session() as s:
            return service._quarterly_evaluations(s, load_plan(s), Period(2021, 4), world.settings)

    before, q_before = evaluate(world), quarters()
    with world.session() as s:  # a day of 2023, long after the programme
        store_hours(s, clean_hours(world.points["T-BLR1"], [(datetime(2023, 1, 5, tzinfo=CHINA_TZ),
                                                               datetime(2023, 1, 6, tzinfo=CHINA_TZ))]))
    assert evaluate(world) is before and quarters()[-1][1] is q_before[-1][1]
    with world.session() as s:  # one day inside 2021's heating days: computed again
        store_hours(s, clean_hours(world.points["T-BLR1"], [(datetime(2021, 2, 1, tzinfo=CHINA_TZ),
                                                               datetime(2021, 2, 2, tzinfo=CHINA_TZ))]))
    after = evaluate(world)
    assert after is not before and evidence(after, "T-BLR1") == "insufficient_data"  # 24 h of 4392: too few


def test_the_plan_is_read_again_after_it_is_saved(world):
    with world.session() as s:
        plan = load_plan(s)
    with world.session() as s:
        assert load_plan(s) is plan
    with world.session() as s:
        save_plan(s, replace(plan, title_en="Harbin, revised"))
    with world.session() as s:
        again = load_plan(s)
    assert again is not plan and again.title_en == "Harbin, revised" and again.units == plan.units


def test_a_write_in_the_same_transaction_is_seen(world):
    """The stamps are read once per transaction until its own next write: a report accepted in the same session
    (a CLI run, a test) counts in the next evaluation of that session."""
    rid = submit(world, "daoli", "2021Q4", {("urban", "gas"): 1_000_000.0})
    with world.session() as s:
        plan = load_plan(s)
        assert service.evaluate(s, OFFICE, plan, year=2021, settings=world.settings).units_reporting == 0
        service.review_report(s, OFFICE, rid, "accept")
        assert service.evaluate(s, OFFICE, plan, year=2021, settings=world.settings).units_reporting == 1
