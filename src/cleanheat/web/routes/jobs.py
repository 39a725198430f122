"""Long work as jobs (``cleanheat.jobs``): the page of one job with its progress, the file it made, the list
of the user's jobs, and the JSON the page polls. Jobs are submitted by the areas' own routes."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response
from pydantic import BaseModel

from cleanheat.jobs import queue
from cleanheat.jobs.tables import Job
from cleanheat.network.service import WRITE_ROLES as NETWORK_WRITERS
from cleanheat.planner.service import WRITE_ROLES as PLANNER_WRITERS
from cleanheat.web.deps import ApiActor, DbSession, PageActor, render
from cleanheat.web.nav import NavItem
from cleanheat.web.params import Id
from cleanheat.web.routes.programme import VIEW_ROLES as PUBLICATION_ROLES

router = APIRouter()

#: the roles that can queue a job (evaluation reports, planner solves, network analyses) see the menu entry
JOB_ROLES = frozenset(PUBLICATION_ROLES) | frozenset(PLANNER_WRITERS) | frozenset(NETWORK_WRITERS)
NAV = [NavItem("/jobs", "任务", "Jobs", order=890, roles=JOB_ROLES, secondary=True)]

STATE_LABELS = {"queued": ("排队中", "Queued"), "running": ("进行中", "Running"), "done": ("已完成", "Done"),
                "failed": ("失败", "Failed")}


class JobOut(BaseModel):
    id: int
    kind: str
    #: what the job is, in Chinese and in English
    title: str
    title_en: str
    state: str
    progress: float
    message: str
    error: str
    result: dict | None
    download: str | None
    #: this JSON (what a client polls), the job's page
    status_url: str
    page_url: str
    #: when done: the JSON API's link to what the job made (the file, a planner result, a network run)
    result_url: str | None
    created_at: str
    finished_at: str | None


def _result_url(job: Job, result: dict) -> str | None:
    if job.state != "done":
        return None
    if result.get("file"):
        return f"/api/jobs/{job.id}/download"
    return result.get("api_url") or result.get("url")


def job_out(job: Job) -> JobOut:
    result = job.result or {}
    return JobOut(id=job.id, kind=job.kind, title=job.title, title_en=job.title_en or "", state=job.state,
                  progress=job.progress, message=job.message, error=job.error, result=result or None,
                  download=f"/jobs/{job.id}/download" if job.state == "done" and result.get("file") else None,
                  status_url=f"/api/jobs/{job.id}", page_url=f"/jobs/{job.id}", result_url=_result_url(job, result),
                  created_at=job.created_at.isoformat(),
                  finished_at=job.finished_at.isoformat() if job.finished_at else None)


@router.get("/jobs", include_in_schema=False)
def jobs_page(request: Request, db: DbSession, actor: PageActor):
    jobs = queue.recent_jobs(db, actor)
    return render(request, "jobs/list.html", {"jobs": jobs, "labels": STATE_LABELS},
                  actor=actor)


@router.get("/jobs/{job_id}", include_in_schema=False)
def job_page(request: Request, job_id: Id, db: DbSession, actor: PageActor):
    job = queue.get_job(db, actor, job_id)
    return render(request, "jobs/job.html", {"job": job, "data": job_out(job).model_dump(), "labels": STATE_LABELS},
                  actor=actor)


@router.get("/jobs/{job_id}/download", include_in_schema=False)
def job_download(job_id: Id, db: DbSession, actor: PageActor):
    job, data = queue.result_file(db, actor, job_id)
    name = str(job.result["file"]).replace('"', "")
    return Response(data, media_type=str(job.result.get("media_type") or "application/octet-stream"),
                    headers={"Content-Disposition": f'attachment; filename="{name}"'})


@router.get("/api/jobs/{job_id}", tags=["jobs"])
def api_job(job_id: Id, db: DbSession, actor: ApiActor) -> JobOut:
    """One job of the caller: state (queued, running, done, failed), progress [0..1], message, and when done
    ``result_url`` (the file to download, or the JSON of the planner result or network run it made)."""
    return job_out(queue.get_job(db, actor, job_id))


@router.get("/api/jobs/{job_id}/download", tags=["jobs"])
def api_job_download(job_id: Id, db: DbSession, actor: ApiActor):
    """The file a finished job made."""
    return job_download(job_id, db, actor)
