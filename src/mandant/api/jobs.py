"""Background jobs (Copy Content): progress and per-target results, under ``/api/v1/jobs/``."""

from datetime import datetime
from typing import Any

from django.http import HttpRequest
from django_scopes import scope
from ninja import Router, Schema
from ninja.responses import Status

from mandant.api.auth import actor_of
from mandant.api.tenants import DetailOut, ErrorOut
from mandant.jobs.selectors import job_as_dict, job_get_for_actor
from mandant.jobs.services import job_restart

router = Router(tags=["jobs"])


class JobResultOut(Schema):
    tenant_id: int
    tenant_name: str
    # e.g. "done", "skipped", "failed" (with ``reason``)
    outcome: str
    reason: str
    counts: dict[str, Any]
    details: list[Any]


class JobOut(Schema):
    id: int
    kind: str
    status: str
    done: int
    total: int
    percent: int
    results: list[JobResultOut]
    summary: dict[str, Any]
    error: str
    created_at: datetime
    finished_at: datetime | None
    # Running, but its worker has written no progress for JOB_STALL_SECONDS: it stopped (a
    # killed process). POST …/restart queues it again.
    stalled: bool


@router.get(
    "/{id:job_id}",
    response={200: JobOut, 404: DetailOut},
    summary="A job's progress and, per target tenant, its outcome",
)
def get_job(request: HttpRequest, job_id: int) -> JobOut:
    # Looked up unscoped, then checked: the job is a 404 unless the key may view its tenant.
    job = job_get_for_actor(actor_of(request), pk=job_id)
    with scope(tenant=job.tenant_id):
        return JobOut(**job_as_dict(job))


@router.post(
    "/{id:job_id}/restart",
    response={202: JobOut, 403: DetailOut, 404: DetailOut, 409: ErrorOut},
    summary="Queue a stalled job again (its worker stopped); 409 unless it is stalled",
)
def restart_job(request: HttpRequest, job_id: int) -> Status[JobOut]:
    actor = actor_of(request)
    job = job_get_for_actor(actor, pk=job_id)
    restarted = job_restart(actor=actor, job=job)
    with scope(tenant=job.tenant_id):
        return Status(202, JobOut(**job_as_dict(restarted)))
