"""Report workflow, evaluation and authorisation through the API, on SQLite and PostgreSQL."""

import pytest
from sqlalchemy import func, select

from cleanheat.auth.tables import AuditLog
from cleanheat.programme.tables import Report, ReportArea
from cleanheat.store.engine import make_engine
from tests.helpers import accepted_job, finish_jobs, token
from tests.programme.conftest import DAOLI_AREAS, fill_template, reporter_for_unit

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def count(settings, table) -> int:
    eng = make_engine(settings.database_url)
    with eng.connect() as conn:
        n = conn.execute(select(func.count()).select_from(table)).scalar()
    eng.dispose()
    return n


def upload(client, headers, data, name="r.xlsx", **form):
    return client.post("/api/programme/reports", headers=headers, files={"file": (name, data, XLSX)}, data=form)


def test_submit_review_evaluate_and_correct(client, settings, plan, daoli_file):
    daoli, office = token(client, "daoli"), token(client, "office")
    r = upload(client, daoli, daoli_file)
    assert r.status_code == 201, r.text
    rid = r.json()["id"]
    assert r.json()["status"] == "submitted" and r.json()["version"] == 1
    # Not counted before acceptance.
    ev = client.get("/api/programme/evaluation", params={"year": 2020}, headers=office).json()
    assert ev["rates"]["urban"]["actual"] is None and ev["units_reporting"] == 0
    # A unit may not review.
    assert client.post(f"/api/programme/reports/{rid}/review", json={"decision": "accept"},
                       headers=daoli).status_code == 403
    # Returning needs a comment.
    assert client.post(f"/api/programme/reports/{rid}/review", json={"decision": "return"},
                       headers=office).status_code == 422
    assert client.post(f"/api/programme/reports/{rid}/review", json={"decision": "accept"},
                       headers=office).json()["status"] == "accepted"
    ev = client.get("/api/programme/evaluation", params={"year": 2020}, headers=office).json()
    # Daoli only: urban (3000 + 100) / 4600; county (100)/(200); rural 20/100.
    assert ev["rates"]["urban"]["actual"] == pytest.approx(3100 / 4600)
    assert ev["rates"]["urban"]["target"] == 0.7 and ev["rates"]["urban"]["status"] == "missed"
    assert ev["rates"]["urban"]["gap_m2"] == pytest.approx((0.7 * 4600 - 3100) * 1e4)
    assert ev["rates"]["county_fringe"]["actual"] == pytest.approx(0.5)
    assert ev["rates"]["rural"]["actual"] == pytest.approx(0.2)
    assert ev["rates"]["city"]["actual"] == pytest.approx(3220 / 4900)
    assert {"urban", "county_fringe", "rural", "city"} <= set(ev["rates"]) and ev["tasks"] and ev["technologies"]

    # A second report for the accepted period is refused, naming the cover's period cell; nothing stored.
    before = count(settings, Report)
    r = upload(client, daoli, daoli_file)
    assert r.status_code == 422
    issue = r.json()["issues"][0]
    assert (issue["sheet"], issue["row"], issue["column"]) == ("封面", 5, "B")
    assert count(settings, Report) == before

    # A correction supersedes the accepted report once accepted; history is kept.
    areas = dict(DAOLI_AREAS)
    areas[("urban", "coal_boiler")], areas[("urban", "coal_chp_ultralow")] = 500, 4000
    corrected = fill_template(plan, reporter_for_unit(plan, "daoli"), "2020Q4", areas=areas)
    r = upload(client, daoli, corrected, correction_reason="热电联产面积统计更正")
    assert r.status_code == 201 and r.json()["version"] == 2
    rid2 = r.json()["id"]
    # Until accepted, the earlier accepted version still counts.
    ev = client.get("/api/programme/evaluation", params={"year": 2020}, headers=office).json()
    assert ev["rates"]["urban"]["actual"] == pytest.approx(3100 / 4600)
    client.post(f"/api/programme/reports/{rid2}/review", json={"decision": "accept"}, headers=office)
    ev = client.get("/api/programme/evaluation", params={"year": 2020}, headers=office).json()
    assert ev["rates"]["urban"]["actual"] == pytest.approx(4100 / 4600)
    hist = client.get("/api/programme/reports", params={"period": "2020Q4"}, headers=daoli).json()
    assert sorted((h["version"], h["status"]) for h in hist) == [(1, "superseded"), (2, "accepted")]
    # Every write is in the audit log.
    eng = make_engine(settings.database_url)
    with eng.connect() as conn:
        actions = [a for (a,) in conn.execute(select(AuditLog.action).where(AuditLog.entity == "programme_report"))]
    eng.dispose()
    assert actions.count("submit") == 2 and actions.count("accept") == 2


def test_resubmission_before_review_supersedes_the_pending_version(client, plan, daoli_file):
    daoli = token(client, "daoli")
    first = upload(client, daoli, daoli_file).json()
    second = upload(client, daoli, daoli_file).json()
    assert second["version"] == 2
    assert client.get(f"/api/programme/reports/{first['id']}", headers=daoli).json()["status"] == "superseded"


@pytest.mark.parametrize("mutate", ["unknown_unit", "outside", "non_numeric", "negative", "clean_above", "m2"])
def test_bad_files_import_nothing(client, settings, plan, mutate):
    areas = dict(DAOLI_AREAS)
    kw = {}
    if mutate == "unknown_unit":
        kw["cover"] = {"填报单位": "火星区", "单位编码": "mars"}
    elif mutate == "outside":
        kw["cover"] = {"报告期": "2022Q1"}
    elif mutate == "non_numeric":
        areas[("urban", "gas")] = "abc"
    elif mutate == "negative":
        areas[("urban", "gas")] = -3
    elif mutate == "clean_above":
        kw["clean"], kw["totals"] = {"urban": 9999}, {"urban": 4600}
    elif mutate == "m2":
        areas[("urban", "coal_boiler")] = 15_000_000
    data = fill_template(plan, reporter_for_unit(plan, "daoli"), "2020Q4", areas=areas, **kw)
    before = (count(settings, Report), count(settings, ReportArea))
    r = upload(client, token(client, "daoli"), data)
    assert r.status_code == 422, r.text
    assert all(i.get("sheet") for i in r.json()["issues"])
    assert (count(settings, Report), count(settings, ReportArea)) == before


def test_a_unit_cannot_read_or_write_another_units_data(client, plan, daoli_file):
    daoli, nangang, office = token(client, "daoli"), token(client, "nangang"), token(client, "office")
    rid = upload(client, daoli, daoli_file).json()["id"]
    assert client.get(f"/api/programme/reports/{rid}", headers=nangang).status_code == 404
    assert client.get("/api/programme/reports", headers=nangang).json() == []
    assert client.get(f"/api/programme/reports/{rid}", headers=office).status_code == 200
    # Nangang cannot submit Daoli's file, nor download Daoli's template.
    assert upload(client, nangang, daoli_file).status_code == 403
    assert client.get("/api/programme/template", params={"unit": "daoli", "period": "2020Q4"},
                      headers=nangang).status_code == 404
    # Nor see Daoli in the evaluation's unit list.
    client.post(f"/api/programme/reports/{rid}/review", json={"decision": "accept"}, headers=office)
    units = client.get("/api/programme/evaluation", params={"year": 2020}, headers=nangang).json()["units"]
    assert [u["code"] for u in units] == ["nangang"]
    # Pages too.
    from tests.helpers import login

    login(client, "nangang")
    assert client.get("/programme/units/daoli").status_code == 404
    assert client.get(f"/programme/reports/{rid}").status_code == 404
    # The ecology bureau reads the evaluation but may not submit reports.
    eeb = token(client, "eeb")
    assert client.get("/api/programme/evaluation", params={"year": 2020}, headers=eeb).status_code == 200
    assert upload(client, eeb, daoli_file).status_code == 403


def test_heat_company_reports_tasks_only(client, plan):
    from cleanheat.programme.reports_io import Reporter

    data = fill_template(plan, Reporter("htjt", "哈投集团供热公司", None), "2020Q4",
                         tasks={"network_renovation_km": 55.5, "stations_renovated": 12})
    htjt, office = token(client, "htjt"), token(client, "office")
    r = upload(client, htjt, data)
    assert r.status_code == 201 and r.json()["areas_m2"] == {}
    client.post(f"/api/programme/reports/{r.json()['id']}/review", json={"decision": "accept"}, headers=office)
    tasks = {t["code"]: t for t in client.get("/api/programme/evaluation", params={"year": 2020},
                                              headers=office).json()["tasks"]}
    assert tasks["network_renovation_km"]["actual"] == pytest.approx(55.5)
    assert tasks["network_renovation_km"]["target"] == 212


def test_publication_downloads(client, daoli_file):
    office = token(client, "office")
    rid = upload(client, token(client, "daoli"), daoli_file).json()["id"]
    client.post(f"/api/programme/reports/{rid}/review", json={"decision": "accept"}, headers=office)
    # PDF and Excel are jobs: 202 with the job's URL; when done its result_url is the file, for the office only
    url = accepted_job(client.post("/api/programme/publication", json={"period": "2020Q4", "format": "xlsx"},
                                   headers=office))
    job = finish_jobs(client, url, headers=office)
    assert job["state"] == "done" and job["result_url"] == f"{url}/download", job
    assert job["title"] == "评价报告 · 2020Q4 · XLSX" and job["title_en"] == "Evaluation report · 2020Q4 · XLSX"
    r = client.get(job["result_url"], headers=office)
    assert r.status_code == 200 and r.content[:2] == b"PK"
    assert client.get(job["result_url"], headers=token(client, "daoli")).status_code == 404
    # ... and not made inside a request: the GET says how to ask for them
    r = client.get("/api/programme/publication", params={"period": "2020Q4", "format": "xlsx"}, headers=office)
    assert r.status_code == 422 and "POST /api/programme/publication" in r.text
    r = client.get("/api/programme/publication", params={"period": "2020", "format": "html"}, headers=office)
    assert "年度评价报告" in r.text and "道里区" in r.text
    assert client.get("/api/programme/publication", params={"period": "2020Q4", "format": "doc"},
                      headers=office).status_code == 422
    assert client.post("/api/programme/publication", json={"period": "2020Q4", "format": "doc"},
                       headers=office).status_code == 422
    assert client.post("/api/programme/publication", json={"period": "2020Q9"}, headers=office).status_code == 422
    assert client.post("/api/programme/publication", json={"period": "2020"}).status_code == 401


def test_monitoring_verdicts_are_scoped_to_the_viewer(client, settings, plan, daoli_file, monkeypatch, session_factory):
    """Units see verdicts of sources in their area, companies those of their own sources, the office all."""
    from cleanheat.assets.heat_sources import SourceInput, upsert_sources
    from cleanheat.auth.service import Actor
    from cleanheat.programme import service
    from cleanheat.programme.model import SourceVerdict
    from cleanheat.store.engine import session_scope

    with session_scope(session_factory) as s:
        upsert_sources(s, Actor.system("test"), [
            SourceInput("S-DAOLI", "道里热电", "veolia", "daoli", "urban", "chp", "coal", 420.0),
            SourceInput("S-NANGANG", "南岗热电", "htjt", "nangang", "urban", "chp", "coal", 420.0)],
            mw_per_t_h_value=0.7)
    verdicts = [SourceVerdict("S-DAOLI", "道里热电", "daoli", "urban", "coal_chp_ultralow", 1e6, False, 0.5, 3000),
                SourceVerdict("S-NANGANG", "南岗热电", "nangang", "urban", "coal_chp_ultralow", 1e6, True, 0.99, 3000)]
    monkeypatch.setattr(service, "source_verdicts", lambda *a, **k: verdicts)
    rid = upload(client, token(client, "daoli"), daoli_file).json()["id"]
    client.post(f"/api/programme/reports/{rid}/review", json={"decision": "accept"}, headers=token(client, "office"))

    def codes(user):
        ev = client.get("/api/programme/evaluation", params={"year": 2020}, headers=token(client, user)).json()
        return sorted(v["code"] for v in ev["verification"]["sources"])

    assert codes("office") == ["S-DAOLI", "S-NANGANG"]
    assert codes("eeb") == ["S-DAOLI", "S-NANGANG"]
    assert codes("daoli") == ["S-DAOLI"]
    assert codes("htjt") == ["S-NANGANG"]
    assert codes("veolia") == ["S-DAOLI"]
    assert codes("nangang") == ["S-NANGANG"]
    # The non-compliant Daoli source moved 100万m² of Daoli's reported clean CHP area out of clean.
    ev = client.get("/api/programme/evaluation", params={"year": 2020}, headers=token(client, "office")).json()
    assert ev["rates"]["urban"]["reclassified_m2"] == pytest.approx(1e6)


def _race(settings, plan, daoli_file, races: int):
    """Submit daoli's report while, the moment this upload has read the versions, another upload of the same
    period is stored — ``races`` times in a row. Returns what the submission raised (or None) and the versions."""
    from sqlalchemy import event
    from sqlalchemy.orm import Session

    from cleanheat.auth.service import Actor, find_user
    from cleanheat.programme import service
    from cleanheat.programme.reports_io import parse_report
    from cleanheat.store.engine import make_sessionmaker, session_scope

    engine = make_engine(settings.database_url)
    factory = make_sessionmaker(engine)
    with session_scope(factory) as s:
        daoli = Actor.for_user(find_user(s, "daoli"))
        parsed = parse_report(daoli_file, "r.xlsx", plan, service.reporters(s, plan))
    raced = []

    def other_upload_lands(orm_execute_state):
        statement = str(orm_execute_state.statement)
        if (orm_execute_state.is_select and len(raced) < races and "programme_reports" in statement
                and "version" in statement):
            raced.append(True)
            read = orm_execute_state.invoke_statement().freeze()  # the versions as this upload reads them
            with session_scope(factory) as other:
                service.submit_report(other, daoli, plan, parsed)
            return read()

    raised = None
    with Session(engine) as s:
        event.listen(s, "do_orm_execute", other_upload_lands)
        try:
            service.submit_report(s, daoli, plan, parsed)
            s.commit()
        except Exception as exc:
            raised = exc
            s.rollback()
    with session_scope(factory) as s:
        versions = [(r.version, r.status) for r in s.scalars(select(Report).order_by(Report.version))]
    engine.dispose()
    return raised, versions


def test_two_uploads_of_one_period_at_the_same_moment_both_land_as_versions(client, settings, plan, daoli_file):
    """Found by the load benchmark (HTTP 500): two uploads of a unit's period racing for the same version. The
    race is made certain here. The upload that finds its version taken reads the versions again and becomes the
    next one, as it would have a moment later; the earlier one is superseded."""
    raised, versions = _race(settings, plan, daoli_file, races=1)
    assert raised is None
    assert versions == [(1, "superseded"), (2, "submitted")]


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_an_upload_that_loses_every_race_is_refused_as_a_conflict(client, settings, plan, daoli_file):
    """Other uploads land at every attempt: after its attempts the upload is refused with a message (HTTP 409 on
    the page's flash), storing nothing; the others are all kept. (PostgreSQL only: on SQLite the losing upload
    holds the one write lock from its first attempt on, so no other upload can land before it ends.)"""
    from cleanheat.errors import ConflictError
    from cleanheat.programme.service import SUBMIT_ATTEMPTS

    raised, versions = _race(settings, plan, daoli_file, races=SUBMIT_ATTEMPTS)
    assert isinstance(raised, ConflictError) and "同时提交" in str(raised)
    assert [v for v, _ in versions] == list(range(1, SUBMIT_ATTEMPTS + 1))
