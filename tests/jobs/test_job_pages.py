"""Long work from the pages runs as jobs: the evaluation report is queued, made by a worker, shown with its
progress and downloaded by its owner only; the list of one's jobs."""

from __future__ import annotations

from io import BytesIO

from openpyxl import load_workbook

from tests.helpers import bootstrap, finish_jobs, login, make_client


def test_a_report_is_made_by_a_job_and_only_its_owner_gets_it(settings):
    bootstrap(settings)
    office = make_client(settings)
    csrf = login(office, "office")
    r = office.post("/programme/publish/jobs", data={"csrf_token": csrf, "period": "2020", "format": "xlsx"},
                    headers={"Accept": "application/json"})
    assert r.status_code == 202, r.text
    job = r.json()
    page = office.get(job["page_url"])
    assert page.status_code == 200 and "评价报告" in page.text and "排队中" in page.text
    done = finish_jobs(office, job["page_url"])
    assert done["state"] == "done" and done["progress"] == 1.0, done
    assert done["download"] == f"/jobs/{job['id']}/download"
    f = office.get(done["download"])
    assert f.status_code == 200 and f.headers["content-disposition"].endswith('-2020.xlsx"')
    assert {"摘要", "季度走势", "各区县排名"} <= set(load_workbook(BytesIO(f.content)).sheetnames)
    assert "已完成" in office.get(job["page_url"]).text
    assert f"/jobs/{job['id']}" in office.get("/jobs").text

    other = make_client(settings)
    login(other, "htjt")
    for path in (job["page_url"], done["download"], job["status_url"]):
        assert other.get(path).status_code == 404, path
    assert f"/jobs/{job['id']}" not in other.get("/jobs").text


def test_a_bad_period_is_refused_before_a_job_is_queued(settings):
    bootstrap(settings)
    office = make_client(settings)
    csrf = login(office, "office")
    r = office.post("/programme/publish/jobs", data={"csrf_token": csrf, "period": "20x0", "format": "pdf"},
                    follow_redirects=False)
    assert r.status_code == 422 and "2020Q4" in r.text
    r = office.post("/programme/publish/jobs", data={"csrf_token": csrf, "period": "2020", "format": "doc"},
                    follow_redirects=False)
    assert r.status_code == 422
    assert "暂无后台任务" in office.get("/jobs").text
    # without a script the form's answer is the job's page
    r = office.post("/programme/publish/jobs", data={"csrf_token": csrf, "period": "2020Q4", "format": "pdf"},
                    follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("/jobs/")


def test_job_titles_follow_the_language_and_the_menu_has_the_jobs(settings):
    from cleanheat.auth.roles import Role
    from cleanheat.web.routes.jobs import NAV

    bootstrap(settings)
    office = make_client(settings)
    csrf = login(office, "office")
    r = office.post("/programme/publish/jobs", data={"csrf_token": csrf, "period": "2020Q4", "format": "pdf"},
                    headers={"Accept": "application/json"})
    job = r.json()
    zh_page, zh_list = office.get(job["page_url"]).text, office.get("/jobs").text
    assert "<h1>评价报告 · 2020Q4 · PDF<small>" in zh_page
    assert "<td>评价报告 · 2020Q4 · PDF</td>" in zh_list and "Evaluation report" not in zh_list
    assert 'href="/jobs"' in zh_page and ">任务<" in zh_page  # the menu entry
    office.get("/lang/en")
    en_page, en_list = office.get(job["page_url"]).text, office.get("/jobs").text
    assert "<h1>Evaluation report · 2020Q4 · PDF<small>" in en_page
    assert "<td>Evaluation report · 2020Q4 · PDF</td>" in en_list and "评价报告" not in en_list
    assert ">Jobs<" in en_page
    # every role that can queue a job has the entry; a resident queues none
    [item] = NAV
    assert item.path == "/jobs" and not item.visible_to(Role.RESIDENT)
    assert all(item.visible_to(r) for r in (Role.ADMIN, Role.PROGRAMME_OFFICE, Role.REPORTING_UNIT,
                                            Role.HEAT_COMPANY, Role.ECOLOGY_BUREAU))
