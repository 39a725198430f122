"""Stored networks through the API and the pages: upload (all or nothing, located errors), solve, analyses,
downloads, authorisation and scoping, audit, the demo loader. Runs on SQLite and PostgreSQL."""

from __future__ import annotations

import csv
import io
import json
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import func, select

from cleanheat.auth.tables import AuditLog
from cleanheat.network import demo
from cleanheat.network.io import read_network
from cleanheat.network.solver import solve
from cleanheat.network.tables import NetworkRun, PipeResult, StoredNetwork
from cleanheat.store.engine import make_engine, make_sessionmaker, session_scope
from tests.helpers import accepted_job, bootstrap, csrf_of, finish_jobs, login, make_client, token

ROOT = Path(__file__).resolve().parents[2]
GOERLITZ = ROOT / "data" / "networks" / "goerlitz" / "network-sized.geojson"


def _upload(c, headers, path=GOERLITZ, **form):
    with path.open("rb") as fh:
        return c.post("/api/network/networks", headers=headers, files={"file": (path.name, fh, "application/json")},
                      data=form)


def _count(settings, table) -> int:
    eng = make_engine(settings.database_url)
    with session_scope(make_sessionmaker(eng)) as s:
        n = s.scalar(select(func.count()).select_from(table))
    eng.dispose()
    return int(n)


def test_company_uploads_solves_analyses_and_downloads(settings):
    bootstrap(settings)
    with make_client(settings) as c:
        h = token(c, "htjt")
        r = _upload(c, h, name="Görlitz test", supply_temperature_c="90")
        assert r.status_code == 201, r.text
        body = r.json()
        net_id = body["id"]
        assert (body["n_pipes"], body["n_consumers"], body["source_format"]) == (86, 9, "geojson")
        run = body["latest_solve"]
        assert run["status"] == "ok"
        # the stored solve is the solver's own result for the same file and options
        ref = solve(read_network(GOERLITZ, supply_temperature_c=90.0)).summary()
        assert run["summary"]["source_heat_w"] == pytest.approx(ref["source_heat_w"], rel=1e-9)
        assert run["summary"]["source_supply_temperature_c"] == pytest.approx(90.0)

        # the same name again is a conflict, nothing stored twice
        assert _upload(c, h, name="Görlitz test").status_code == 409

        # map data: every pipe with coordinates and results
        m = c.get(f"/api/network/networks/{net_id}/map", headers=h).json()
        assert m["has_coordinates"] and len(m["pipes"]["id"]) == 86 and len(m["pipes"]["t_in_c"]) == 86
        assert len(m["consumers"]["r_dp_bar"]) == 9

        # worst pipes: sorted by heat loss per metre, consistent with the stored per-pipe rows
        worst = c.get(f"/api/network/runs/{run['id']}/worst-pipes?top=5", headers=h).json()
        per_m = [w["heat_loss_kw_per_km"] for w in worst]
        assert per_m == sorted(per_m, reverse=True) and len(worst) == 5
        assert worst[0]["heat_loss_w"] == pytest.approx(worst[0]["heat_loss_kw_per_km"] * worst[0]["length_m"])

        # downloads
        js = c.get(f"/api/network/runs/{run['id']}/result.json", headers=h)
        assert js.status_code == 200 and "attachment" in js.headers["content-disposition"]
        doc = js.json()
        assert len(doc["pipes"]["id"]) == 86 and len(doc["nodes"]["p_bar"]) == body["n_nodes"]
        assert sum(doc["pipes"]["heat_loss_w"]) == pytest.approx(run["summary"]["heat_loss_pipes_w"], rel=1e-6)
        gj = c.get(f"/api/network/runs/{run['id']}/result.geojson", headers=h).json()
        assert len(gj["features"]) == 86 and gj["crs"]["properties"]["name"].endswith("25833")
        assert gj["features"][0]["geometry"]["type"] == "LineString"
        text = c.get(f"/api/network/runs/{run['id']}/result.csv?table=consumers", headers=h).text
        rows = list(csv.DictReader(io.StringIO(text.lstrip("\ufeff"))))
        assert len(rows) == 9 and float(rows[0]["heat_w"]) > 0
        assert c.get(f"/api/network/runs/{run['id']}/result.csv?table=secrets", headers=h).status_code == 422

        # a second solve in pandapipes-compatible mode is another run
        r2 = c.post(f"/api/network/networks/{net_id}/solve", headers=h,
                    json={"pandapipes_compatible": True, "friction_model": "colebrook"})
        assert r2.status_code == 201 and r2.json()["summary"]["pandapipes_compatible"] is True
        assert c.post(f"/api/network/networks/{net_id}/solve", headers=h,
                      json={"friction_model": "magic"}).status_code == 422

        # seasonal heat loss and a renovation scenario: jobs (202, then the job's JSON links the run)
        job = finish_jobs(c, accepted_job(c.post(f"/api/network/networks/{net_id}/seasonal", headers=h, json={})),
                          headers=h)
        assert job["state"] == "done" and job["result_url"] == f"/api/network/runs/{job['result']['run_id']}", job
        sea = c.get(job["result_url"], headers=h).json()
        assert sea["status"] == "ok" and sea["summary"]["heat_loss_gj"] > 0
        detail = c.get(f"/api/network/runs/{sea['id']}", headers=h).json()["detail"]
        ranking = [w["loss_gj_per_km"] for w in detail["worst_pipes_per_km"]]
        assert ranking == sorted(ranking, reverse=True)
        job = finish_jobs(c, accepted_job(c.post(f"/api/network/networks/{net_id}/renovation", headers=h, json={
            "worst": 5, "supply_offset_k": -5, "price_yuan_per_gj": "40.00"})), headers=h)
        assert job["state"] == "done" and job["result"]["saved_gj"] > 0, job
        ren = c.get(job["result_url"], headers=h).json()
        assert ren["status"] == "ok" and ren["saved_gj"] > 0 and len(ren["options"]["pipes"]) == 5
        # money: Decimal, rounded to the fen once
        expected = (Decimal(repr(ren["saved_gj"])) * Decimal("40.00")).quantize(Decimal("0.01"), ROUND_HALF_UP)
        assert Decimal(str(ren["saved_yuan"])) == expected
        assert ren["summary"]["base_heat_loss_gj"] == pytest.approx(sea["summary"]["heat_loss_gj"], rel=1e-9)
        # a GeoJSON import is pre-insulated already: the result says that the pipe replacement saves nothing
        [note] = ren["warnings"]
        assert note["code"] == "already_preinsulated" and sorted(note["ids"]) == sorted(ren["options"]["pipes"])
        assert note["message_en"].startswith("5 of the 5 pipes to replace are already pre-insulated")
        login(c, "htjt")  # the page shows the note beside the scenario
        c.get("/lang/en")
        assert "5 of the 5 pipes to replace are already pre-insulated" in c.get(f"/network/{net_id}").text
        bad = c.post(f"/api/network/networks/{net_id}/renovation", headers=h, json={"pipes": ["no-such-pipe"]})
        assert bad.status_code == 422 and "no-such-pipe" in bad.text
        assert c.post(f"/api/network/networks/{net_id}/renovation", headers=h, json={}).status_code == 422

        # every write is in the audit log
        eng = make_engine(settings.database_url)
        with session_scope(make_sessionmaker(eng)) as s:
            acts = {(a.action, a.entity) for a in s.scalars(select(AuditLog).where(AuditLog.actor == "htjt"))}
        eng.dispose()
        assert {("create", "network"), ("solve", "network_run"), ("analyse", "network_run")} <= acts

        # delete: the network, its runs and its pipe results are gone
        assert c.delete(f"/api/network/networks/{net_id}", headers=h).status_code == 204
        assert c.get(f"/api/network/networks/{net_id}", headers=h).status_code == 404
    assert _count(settings, StoredNetwork) == 0 and _count(settings, NetworkRun) == 0
    assert _count(settings, PipeResult) == 0


def test_scoping_and_roles(settings):
    bootstrap(settings)
    with make_client(settings) as c:
        h_htjt, h_veolia = token(c, "htjt"), token(c, "veolia")
        net_id = _upload(c, h_htjt).json()["id"]
        run_id = c.get(f"/api/network/networks/{net_id}", headers=h_htjt).json()["latest_solve"]["id"]
        # another company can neither see nor solve nor delete it (and does not learn that it exists)
        assert c.get("/api/network/networks", headers=h_veolia).json() == []
        for method, url in (("get", f"/api/network/networks/{net_id}"), ("get", f"/api/network/networks/{net_id}/map"),
                            ("post", f"/api/network/networks/{net_id}/solve"),
                            ("post", f"/api/network/networks/{net_id}/seasonal"),
                            ("delete", f"/api/network/networks/{net_id}"), ("get", f"/api/network/runs/{run_id}"),
                            ("get", f"/api/network/runs/{run_id}/result.json"),
                            ("get", f"/api/network/networks/{net_id}/model")):
            assert getattr(c, method)(url, headers=h_veolia).status_code == 404, url
        # a job and where its result is are the submitter's only: another company is told there is no such job
        job_url = accepted_job(c.post(f"/api/network/networks/{net_id}/seasonal", headers=h_htjt, json={}))
        assert c.get(job_url, headers=h_veolia).status_code == 404
        assert finish_jobs(c, job_url, headers=h_htjt)["state"] == "done"
        assert c.get(job_url, headers=h_veolia).status_code == 404
        # anonymous: 401 on the API, login redirect on pages
        assert c.get("/api/network/networks").status_code == 401
        assert c.post(f"/api/network/networks/{net_id}/solve").status_code == 401
        page = c.get(f"/network/{net_id}", follow_redirects=False)
        assert page.status_code == 303 and page.headers["location"].startswith("/login")
        # the programme office sees every network but does not change it
        h_office = token(c, "office")
        assert [n["id"] for n in c.get("/api/network/networks", headers=h_office).json()] == [net_id]
        assert c.get(f"/api/network/runs/{run_id}/result.geojson", headers=h_office).status_code == 200
        assert c.post(f"/api/network/networks/{net_id}/solve", headers=h_office).status_code == 403
        assert _upload(c, h_office, name="x").status_code == 403
        # other roles do not use network simulation at all
        for user in ("eeb", "daoli"):
            assert c.get("/api/network/networks", headers=token(c, user)).status_code == 403
        # a page form post without the CSRF token is refused
        login(c, "htjt")
        assert c.post(f"/network/{net_id}/solve", data={}).status_code == 403
    assert _count(settings, NetworkRun) == 2  # the upload's solve and htjt's seasonal analysis


def test_bad_uploads_are_located_and_store_nothing(settings, tmp_path):
    bootstrap(settings)
    bad_json = tmp_path / "broken.json"
    bad_json.write_text('{"format": "cleanheat-network/1",\n "nodes": [}\n')
    bad_refs = tmp_path / "refs.json"
    bad_refs.write_text(json.dumps({
        "format": "cleanheat-network/1", "nodes": [{"id": "a"}, {"id": "b"}],
        "pipes": [{"id": "p1", "from": "a", "to": "zz", "length_m": "long", "dn": 100}],
        "consumers": [], "sources": []}))
    with make_client(settings) as c:
        h = token(c, "htjt")
        r = _upload(c, h, bad_json)
        assert r.status_code == 422
        issue = r.json()["issues"][0]
        assert issue["file"] == "broken.json" and issue["row"] == 2 and "offset" in issue
        r = _upload(c, h, bad_refs)
        assert r.status_code == 422
        where = {(i.get("sheet"), i.get("row"), i.get("field")) for i in r.json()["issues"]}
        assert ("pipes", 0, "to") in where and ("pipes", 0, "length_m") in where
        assert _upload(c, h, bad_refs, fmt="shapefile").status_code == 422
        # the page shows the same located errors and stores nothing
        csrf = login(c, "htjt")
        with bad_refs.open("rb") as fh:
            page = c.post("/network/upload", data={"csrf_token": csrf}, files={"file": ("refs.json", fh)})
        assert page.status_code == 200 and "未保存任何数据" in page.text
        assert "工作表 pipes / 第 0 行 / 字段 length_m" in page.text
    assert _count(settings, StoredNetwork) == 0


def test_a_network_that_cannot_be_solved_is_stored_with_the_failed_run(settings):
    """A consumer on an island without a pressure-holding source: the import is valid, the solve fails and the
    failure (with its reason) is kept and shown."""
    bootstrap(settings)
    doc = {"format": "cleanheat-network/1", "name": "island",
           "nodes": [{"id": i} for i in ("s1", "r1", "s2", "r2", "s3", "r3")],
           "pipes": [{"id": "ps", "from": "s1", "to": "s2", "length_m": 100, "dn": 100},
                     {"id": "pr", "from": "r2", "to": "r1", "length_m": 100, "dn": 100}],
           "consumers": [{"id": "c1", "supply_node": "s2", "return_node": "r2", "heat_w": 1e5,
                          "return_temperature_c": 50},
                         {"id": "c2", "supply_node": "s3", "return_node": "r3", "heat_w": 1e5,
                          "return_temperature_c": 50}],
           "sources": [{"id": "plant", "supply_node": "s1", "return_node": "r1", "supply_temperature_c": 90,
                        "supply_pressure_bar": 6, "lift_bar": 3}]}
    with make_client(settings) as c:
        h = token(c, "htjt")
        r = c.post("/api/network/networks", headers=h, files={"file": ("island.json", json.dumps(doc).encode())})
        assert r.status_code == 201, r.text
        run = r.json()["latest_solve"]
        assert run is None
        runs = r.json()["runs"]
        assert runs[0]["status"] == "failed" and "not connected" in runs[0]["error"]
        login(c, "htjt")
        page = c.get(f"/network/{r.json()['id']}")
        assert page.status_code == 200 and "最近一次计算未收敛" in page.text and "not connected" in page.text


def test_demo_networks_load_once(settings):
    bootstrap(settings)
    eng = make_engine(settings.database_url)
    factory = make_sessionmaker(eng)
    with session_scope(factory) as s:
        msg = demo.load_demo(s, settings)
    assert "Bad Muskau" in msg
    with session_scope(factory) as s:
        assert demo.load_demo(s, settings) == "demo networks already loaded"
        nets = list(s.scalars(select(StoredNetwork)))
        assert sorted(n.n_pipes for n in nets) == [86, 260]
        kinds = sorted((r.kind, r.status) for r in s.scalars(select(NetworkRun)))
        assert kinds == [("seasonal", "ok"), ("seasonal", "ok"), ("solve", "ok"), ("solve", "ok")]
        assert s.scalar(select(func.count()).select_from(PipeResult)) == 346
    eng.dispose()
    with make_client(settings) as c:
        login(c, "htjt")
        listing = c.get("/network")
        assert listing.status_code == 200 and "Bad Muskau" in listing.text
        net_id = next(n.id for n in nets if n.n_pipes == 260)
        page = c.get(f"/network/{net_id}")
        assert page.status_code == 200 and 'id="worst-pipes"' in page.text and "seasonal-chart" in page.text
        # the page's totals are the stored solve's
        run = c.get(f"/api/network/networks/{net_id}").json()["latest_solve"]
        assert f"{run['summary']['heat_loss_pct_of_source']:.2f} %" in page.text
        csrf = csrf_of(c)
        # the seasonal analysis from the page is a job: its page, then the network page's seasonal section
        r = c.post(f"/network/{net_id}/seasonal", data={"csrf_token": csrf}, follow_redirects=False)
        assert r.status_code == 303 and r.headers["location"].startswith("/jobs/")
        job = finish_jobs(c, r.headers["location"])
        assert job["state"] == "done" and job["result"]["url"] == f"/network/{net_id}#seasonal", job
        assert job["result"]["heat_loss_gj"] > 0 and "采暖季热损失分析" in job["title"]
        with session_scope(factory) as s:
            assert s.scalar(select(func.count()).select_from(NetworkRun).where(NetworkRun.kind == "seasonal")) == 3
        # so is a renovation scenario (two seasons): the job's page, then the scenario in the network page's list
        r = c.post(f"/network/{net_id}/renovation", data={"csrf_token": csrf, "worst": "3", "supply_offset_k": "",
                                                          "price_yuan_per_gj": "39.14"}, follow_redirects=False)
        assert r.status_code == 303 and r.headers["location"].startswith("/jobs/")
        job = finish_jobs(c, r.headers["location"])
        assert job["state"] == "done" and job["result"]["url"] == f"/network/{net_id}#renovation", job
        assert job["title"].startswith("改造方案 · ") and job["title_en"].startswith("Renovation scenario · ")
        page = c.get(f"/network/{net_id}")
        assert f'data-run="{job["result"]["run_id"]}"' in page.text and "更换 3 条管段为预制保温管" in page.text
        r = c.post(f"/network/{net_id}/renovation", data={"csrf_token": csrf, "worst": "many"}, follow_redirects=True)
        assert "改造方案无法计算" in r.text
        c.post("/logout", data={"csrf_token": csrf})
        # the programme office reads the page (in English here) without the forms that change anything
        login(c, "office")
        c.cookies.set("lang", "en")
        page = c.get(f"/network/{net_id}")
        assert (page.status_code == 200 and "Network heat loss" in page.text
                and "Pipes with the highest heat loss" in page.text)
        assert 'id="solve-form"' not in page.text and 'id="renovation-form"' not in page.text
    assert np.isfinite(run["summary"]["pump_power_w"])
