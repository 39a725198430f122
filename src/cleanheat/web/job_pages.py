"""What a route answers when it queued a job (``cleanheat.jobs``): pages and the JSON API."""

from __future__ import annotations

from typing import Protocol

from fastapi import Request
from fastapi.responses import JSONResponse, RedirectResponse, Response

from cleanheat.jobs.tables import Job


class _Committing(Protocol):
    def commit(self) -> None: ...


def submitted(request: Request, job: Job) -> Response:
    """The answer to a form that queued ``job``: JSON for the page's script (``Accept: application/json``), a
    redirect to the job's page otherwise, which follows the job to its result (``?follow=1``) even when the job
    is done before the page is drawn."""
    if "application/json" in request.headers.get("accept", ""):
        return JSONResponse({"id": job.id, "status_url": f"/api/jobs/{job.id}", "page_url": f"/jobs/{job.id}"},
                            status_code=202)
    return RedirectResponse(f"/jobs/{job.id}?follow=1", status_code=303)


def accepted(db: _Committing, job: Job) -> JSONResponse:
    """The answer of a JSON API route that queued ``job``: ``202 Accepted`` with ``Location: /api/jobs/<id>``
    and ``{"job_id", "state", "status_url", "page_url"}``. The job is committed first, so that the caller may ask
    for it at once; ``/api/jobs/<id>`` then gives its state, progress and, when done, ``result_url``."""
    job_id, state = job.id, job.state
    db.commit()
    status_url = f"/api/jobs/{job_id}"
    return JSONResponse({"job_id": job_id, "state": state, "status_url": status_url, "page_url": f"/jobs/{job_id}"},
                        status_code=202, headers={"Location": status_url})
