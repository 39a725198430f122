"""A write is answered only once it is committed (``web.deps.get_db`` has the handler's scope): a real server,
a form that queues a job. When the commit fails, the client gets an error, never the "done" redirect; when it
succeeds, the record the redirect points at is there the moment the answer arrives."""

from __future__ import annotations

import re

import httpx
from sqlalchemy import event, func, select

from cleanheat.jobs.tables import Job
from tests.e2e.conftest import serve
from tests.helpers import PASSWORD, bootstrap


def _logged_in(url: str, username: str) -> tuple[httpx.Client, str]:
    client = httpx.Client(base_url=url, timeout=60)
    r = client.post("/login", data={"username": username, "password": PASSWORD, "next": "/"})
    assert r.status_code == 303, r.text
    m = re.search(r'"X-CSRF-Token": "([^"]+)"', client.get("/login").text)
    assert m, "no CSRF token in page"
    return client, m.group(1)


def test_a_form_is_answered_only_after_its_commit(settings):
    bootstrap(settings)
    server, thread, url = serve(settings)
    app = server.config.app
    failing = {"on": False}

    def note_job(session, flush_context, instances):
        if any(isinstance(o, Job) for o in session.new):
            session.info["job_added"] = True

    def fail_commit(session):
        if failing["on"] and session.info.pop("job_added", False):
            raise RuntimeError("the disk is full")

    event.listen(app.state.sessionmaker, "before_flush", note_job)
    event.listen(app.state.sessionmaker, "before_commit", fail_commit)
    try:
        client, csrf = _logged_in(url, "office")
        form = {"csrf_token": csrf, "period": "2020", "format": "xlsx"}
        failing["on"] = True
        # (the server drops a connection whose request failed: this one is not kept for the next request)
        r = client.post("/programme/publish/jobs", data=form, headers={"Connection": "close"})
        assert r.status_code == 500, (r.status_code, r.headers.get("location"))
        with app.state.sessionmaker() as s:
            assert s.scalar(select(func.count()).select_from(Job)) == 0
        failing["on"] = False
        r = client.post("/programme/publish/jobs", data=form)
        assert r.status_code == 303, r.text
        job_id = int(r.headers["location"].split("?")[0].rsplit("/", 1)[1])
        with app.state.sessionmaker() as s:  # no wait: committed before the answer was sent
            assert s.get(Job, job_id) is not None
        assert client.get(r.headers["location"]).status_code == 200
        client.close()
    finally:
        event.remove(app.state.sessionmaker, "before_commit", fail_commit)
        event.remove(app.state.sessionmaker, "before_flush", note_job)
        server.should_exit = True
        thread.join(timeout=10)
