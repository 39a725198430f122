"""What a page route answers when it queued a job (``cleanheat.jobs``)."""

from __future__ import annotations

from fastapi import Request
from fastapi.responses import JSONResponse, RedirectResponse, Response

from cleanheat.jobs.tables import Job


def submitted(request: Request, job: Job) -> Response:
    """The answer to a form that queued ``job``: JSON for the page's script (``Accept: application/json``), a
    redirect to the job's page otherwise."""
    if "application/json" in request.headers.get("accept", ""):
        return JSONResponse({"id": job.id, "status_url": f"/api/jobs/{job.id}", "page_url": f"/jobs/{job.id}"},
                            status_code=202)
    return RedirectResponse(f"/jobs/{job.id}", status_code=303)
