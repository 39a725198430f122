"""Real browser: the page a form lands on after queueing a job follows the job to its result, also when the
worker was quicker than the page (the job is already done when the page is drawn); a finished job's page opened
later from the list stays where it is and offers the link to the result."""

from __future__ import annotations

import re

from sqlalchemy import select

from cleanheat.auth.tables import User
from cleanheat.jobs.tables import Job
from cleanheat.store.base import utcnow
from cleanheat.store.engine import make_engine, make_sessionmaker, session_scope


def _done_job(settings, username: str, url: str) -> int:
    eng = make_engine(settings.database_url)
    with session_scope(make_sessionmaker(eng)) as s:
        user = s.scalar(select(User).where(User.username == username))
        job = Job(kind="network.renovation", params={}, title="改造方案", title_en="Renovation", state="done",
                  user_id=user.id, org_id=user.org_id, progress=1.0, result={"url": url},
                  started_at=utcnow(), finished_at=utcnow())
        s.add(job)
        s.flush()
        job_id = job.id
    eng.dispose()
    return job_id


def test_the_form_s_job_page_moves_on_even_when_the_job_was_quicker(live_app, page, login_as):
    login_as(live_app.url, "htjt")
    job_id = _done_job(live_app.settings, "htjt", "/network#renovation")
    page.goto(f"{live_app.url}/jobs/{job_id}?follow=1")  # where the form's redirect lands
    page.wait_for_url(re.compile(r".*/network#renovation$"), timeout=30_000)
    # opened later (from the list of jobs), the finished job's page stays and links to the result
    page.goto(f"{live_app.url}/jobs/{job_id}")
    page.wait_for_load_state("networkidle")
    assert page.url.endswith(f"/jobs/{job_id}")
    assert page.locator("#job").get_attribute("data-state") == "done"
    assert page.locator("#job-open").get_attribute("href") == "/network#renovation"
