"""Planner services on both stores: save, solve, propose, export for adoption; who may do what; audit."""

from __future__ import annotations

import shutil

import pytest
import yaml
from sqlalchemy import select

from cleanheat.auth.roles import Role
from cleanheat.auth.service import Actor
from cleanheat.auth.tables import AuditLog, User
from cleanheat.config import REPO_ROOT
from cleanheat.errors import InputError, PermissionDeniedError
from cleanheat.planner import demo, service
from cleanheat.planner.errors import AreaDataError, ScenarioError
from cleanheat.planner.tables import PlannerAreaSet, PlannerResult, PlannerScenario
from cleanheat.programme.plan_data import read_plan
from cleanheat.store.engine import session_scope
from tests.helpers import bootstrap

SCENARIOS = REPO_ROOT / "data" / "planner" / "scenarios"
BASE = (SCENARIOS / "harbin_2019_2021.yaml").read_text(encoding="utf-8")
TIGHT = (SCENARIOS / "harbin_tight_limits.yaml").read_text(encoding="utf-8")


@pytest.fixture
def db(settings, session_factory):
    bootstrap(settings)
    with session_scope(session_factory) as s:
        yield s


def actor(db, username: str) -> Actor:
    return Actor.for_user(db.scalar(select(User).where(User.username == username)))


def test_save_solve_propose_and_export_for_adoption(db, settings, tmp_path):
    office = actor(db, "office")
    row = service.save_scenario(db, office, settings, BASE)
    res = service.solve_scenario(db, office, settings, row.id)
    assert res.status == "optimal" and res.total_cost_yuan > 0
    s = res.summary
    assert s["rates"]["urban"]["2019"] >= 0.6 - 1e-9 and s["rates"]["rural"]["2021"] >= 0.4 - 1e-9
    assert len(res.areas) == 414
    listed = service.list_scenarios(db, office)
    assert listed[0]["latest"].id == res.id

    p = service.propose(db, office, res.id, title="2019–2021 建议")
    assert service.list_proposals(db, office)[0].id == p.id
    got = service.get_proposal(db, office, p.id)
    assert {r["area_type"] for r in got.rate_targets} == {"urban", "county_fringe", "rural"}
    for r in got.rate_targets:  # proposed minimum = reached rate rounded down, never above what the pathway does
        assert r["min_rate"] <= s["rates"][r["area_type"]][str(r["year"])] + 1e-12
    assert got.builds and all(b["area_m2"] >= 0 for b in got.builds)

    # the export has the shape of data/harbin/targets.yaml: the plan reader accepts it in place of the original
    text = service.export_proposal_yaml(db, office, p.id, kind="targets")
    city = tmp_path / "harbin"
    shutil.copytree(REPO_ROOT / "data" / "harbin", city)
    (city / "targets.yaml").write_text(text, encoding="utf-8")
    plan = read_plan(city)
    assert plan.rate_target("urban", 2021) == next(r["min_rate"] for r in got.rate_targets
                                                   if r["area_type"] == "urban" and r["year"] == 2021)
    assert {t.group for t in plan.technology_targets} >= {"clean_coal", "biomass"}

    tasks = yaml.safe_load(service.export_proposal_yaml(db, office, p.id, kind="tasks", settings=settings))["tasks"]
    chp = next(t for t in tasks if t["code"] == "planner_chp_network")
    assert chp["clause"] == "§三(一)1" and chp["measure"] == "area_m2"
    values = [t["value"] for t in chp["targets"]]
    assert values == sorted(values) and values[-1] > 0  # cumulative

    actions = {(a.action, a.entity) for a in db.scalars(select(AuditLog).where(AuditLog.entity.like("planner_%")))}
    assert {("create", "planner_scenario"), ("solve", "planner_result"), ("propose", "planner_proposal")} <= actions


def test_infeasible_scenario_is_stored_with_its_explanation(db, settings):
    office = actor(db, "office")
    row = service.save_scenario(db, office, settings, TIGHT)
    res = service.solve_scenario(db, office, settings, row.id)
    assert res.status == "infeasible"
    why = res.summary["infeasibility"]
    assert any(u["area_type"] == "urban" and u["year"] == 2019 for u in why["unmet"])
    assert any(l["kind"] in ("build_option", "budget") for l in why["binding_limits"])
    with pytest.raises(InputError):
        service.propose(db, office, res.id, title="不可行")


def test_who_may_do_what(db, settings):
    office = actor(db, "office")
    row = service.save_scenario(db, office, settings, BASE)
    res = service.solve_scenario(db, office, settings, row.id)
    daoli, htjt, eeb = actor(db, "daoli"), actor(db, "htjt"), actor(db, "eeb")
    resident = Actor(actor="r", role=Role.RESIDENT)
    for reader in (daoli, htjt, eeb):
        assert service.list_scenarios(db, reader)[0]["id"] == row.id
        with pytest.raises(PermissionDeniedError):
            service.save_scenario(db, reader, settings, BASE.replace("name: 基准", "name: 复制"))
        with pytest.raises(PermissionDeniedError):
            service.solve_scenario(db, reader, settings, row.id)
        with pytest.raises(PermissionDeniedError):
            service.result_report(db, reader, settings, res.id, "xlsx")
    # a reporting unit sees the city aggregates and the areas of its own unit only
    view = service.get_result(db, daoli, res.id)
    assert view.area_scope == "unit" and view.areas and {a["unit_code"] for a in view.areas} == {"daoli"}
    assert service.area_appraisal(db, daoli, settings, row.id, "daoli-U01")["code"] == "daoli-U01"
    with pytest.raises(PermissionDeniedError):
        service.area_appraisal(db, daoli, settings, row.id, "nangang-U01")
    # heat companies and the bureau see aggregates, no per-area rows
    assert service.get_result(db, htjt, res.id).areas == []
    with pytest.raises(PermissionDeniedError):
        service.list_scenarios(db, resident)
    with pytest.raises(PermissionDeniedError):
        service.list_proposals(db, resident)


def test_area_import_is_all_or_nothing_and_usable_by_scenarios(db, settings):
    office = actor(db, "office")
    bad = b"code,area_type\nx1,urban\n"
    with pytest.raises(AreaDataError):
        service.import_area_set(db, office, settings, filename="bad.csv", data=bad)
    assert db.scalars(select(PlannerAreaSet)).all() == []
    good = (REPO_ROOT / "data" / "planner" / "harbin_areas_synthetic.csv").read_text(encoding="utf-8")
    lines = good.splitlines()
    small = "\n".join(lines[:2] + [line for line in lines[2:] if line.startswith(("daoli-", "binxian-"))]) + "\n"
    row = service.import_area_set(db, office, settings, filename="two-units.csv", data=small.encode(), name="two")
    assert row.n_areas == 15 + 6 + 12 + 6 + 12 and row.synthetic
    text = ("name: 两区县\nareas: two\ntargets: {from_plan: false, rates: {urban: {2021: 0.5}}}\n")
    sc = service.save_scenario(db, office, settings, text)
    res = service.solve_scenario(db, office, settings, sc.id)
    assert res.status == "optimal" and res.summary["area_set"]["name"] == "two" and len(res.areas) == row.n_areas
    with pytest.raises(ScenarioError) as e:
        service.save_scenario(db, office, settings, "name: y\nareas: nowhere\n")
    assert e.value.issues[0].field == "areas" and e.value.issues[0].row == 2


def test_sensitivity_and_comparison(db, settings):
    office = actor(db, "office")
    row = service.save_scenario(db, office, settings, BASE)
    r1 = service.solve_scenario(db, office, settings, row.id)
    sens = service.run_sensitivity(db, office, settings, row.id)
    cases = sens.summary["cases"]
    assert len(cases) == 5 and all(c["status"] == "optimal" for c in cases)
    hi_chp = next(c for c in cases if "CHP" in c["name"])
    assert hi_chp["cost_delta_yuan"] > 0  # dearer CHP heat cannot make the pathway cheaper
    row2 = service.save_scenario(db, office, settings, BASE.replace("name: 基准情景", "name: 对照情景")
                                 .replace("{2019: 3000, 2020: 6000, 2021: 9000}", "{2019: 0, 2020: 0, 2021: 0}"))
    r2 = service.solve_scenario(db, office, settings, row2.id)
    cols = service.compare_results(db, office, [r1.id, r2.id])
    assert [c["id"] for c in cols] == [r1.id, r2.id]
    assert cols[1]["total_cost_yuan"] >= cols[0]["total_cost_yuan"] - 1  # less gas cannot be cheaper


def test_demo_is_idempotent(db, settings):
    first = demo.load_demo(db, settings)
    second = demo.load_demo(db, settings)
    assert first.startswith("2 scenario(s) saved, 2 solved") and second.startswith("0 scenario(s) saved, 0 solved")
    assert len(db.scalars(select(PlannerScenario)).all()) == 2
    assert len(db.scalars(select(PlannerResult)).all()) == 2


def test_no_target_for_a_year_already_evaluated(db, settings):
    """A year is evaluated once every unit's year-end report is accepted; a proposal leaves such years out, and a
    pathway whose years are all evaluated cannot be proposed."""
    from cleanheat.auth.tables import Organisation
    from cleanheat.programme.tables import AdminUnit, Plan, Report

    office = actor(db, "office")
    res = service.solve_scenario(db, office, settings, service.save_scenario(db, office, settings, BASE).id)
    plan, org = db.scalar(select(Plan)), db.scalar(select(Organisation).where(Organisation.code == "office"))
    units = db.scalars(select(AdminUnit.code)).all()

    def year_end(year: int, skip: int = 0) -> None:
        for i, u in enumerate(units[skip:], start=1):
            db.add(Report(plan_id=plan.id, org_id=org.id, admin_unit_code=u, period=f"{year}Q4", year=year,
                          quarter=4, version=i, status="accepted", submitted_by="t"))
        db.flush()

    year_end(2020, skip=1)  # one unit's 2020 report is not accepted yet: 2020 is not evaluated
    year_end(2019)
    assert service.evaluated_years(db) == {2019}
    p = service.propose(db, office, res.id, title="2020–2021")
    assert p.years == [2020, 2021] and {r["year"] for r in p.rate_targets} == {2020, 2021}
    assert {t["year"] for t in p.technology_targets} <= {2020, 2021} and {b["year"] for b in p.builds} <= {2020, 2021}
    year_end(2021)
    db.add(Report(plan_id=plan.id, org_id=org.id, admin_unit_code=units[0], period="2020Q4", year=2020, quarter=4,
                  version=99, status="accepted", submitted_by="t"))
    db.flush()
    with pytest.raises(InputError, match="evaluated"):
        service.propose(db, office, res.id, title="too late")


def test_new_scenario_copies_the_reference_with_its_build_rates(db, settings):
    office = actor(db, "office")
    text, original = service.copy_base(db, office, settings, "reference")
    doc = yaml.safe_load(text)
    assert original == yaml.safe_load(BASE)["name"] and doc["name"] == f"{original}（副本）"
    assert doc["build_rate"] == yaml.safe_load(BASE)["build_rate"] and doc["sensitivity"]
    service.save_scenario(db, office, settings, text)
    assert yaml.safe_load(service.copy_base(db, office, settings, "reference")[0])["name"] == f"{original}（副本 2）"
