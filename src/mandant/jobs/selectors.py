"""Reads about background jobs, always on behalf of an actor."""

from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db.models import Q
from django.utils import timezone
from django_scopes import scope, scopes_disabled

from mandant.accounts.roles import Action, role_allows
from mandant.core.actor import Actor, RoleGrant
from mandant.core.errors import NotFound
from mandant.jobs.models import Job, JobKind, JobResult, JobStatus
from mandant.notices.services import supported_language
from mandant.tenants.models import Tenant
from mandant.tenants.selectors import effective_grant

# The action a user needs in the job's tenant to watch a job of each kind.
VIEW_ACTION = {
    JobKind.COPY_CONTENT: Action.CONTENT_VIEW,
    JobKind.CONTACT_IMPORT: Action.CONTACT_VIEW,
}


def job_get_for_actor(actor: Actor, *, pk: int, tenant: Tenant | None = None) -> Job:
    """The job, when the actor may see its tenant (and, if given, it belongs to ``tenant``)."""
    # The tenant is not known before the job is read: read it unscoped, then check access.
    with scope(tenant=tenant.pk) if tenant is not None else scopes_disabled():
        job = Job.objects.select_related("tenant").filter(pk=pk).first()
    if job is None or (tenant is not None and job.tenant_id != tenant.pk):
        raise NotFound
    grant = effective_grant(actor, job.tenant)
    if grant is None or not role_allows(grant.role, VIEW_ACTION[JobKind(job.kind)]):
        raise NotFound
    return job


def job_list(*, tenant: Tenant, kind: JobKind, limit: int = 50) -> list[Job]:
    """The tenant's most recent jobs of one kind, newest first (the page that lists them; each
    kind has its own pages, so a list never links to a job another kind's pages refuse)."""
    with scope(tenant=tenant.pk):
        return list(
            Job.objects.filter(tenant=tenant, kind=kind)
            .select_related("created_by")
            .order_by("-created_at", "-pk")[:limit]
        )


def job_results(*, job: Job) -> list[JobResult]:
    return list(
        JobResult.objects.filter(job=job)
        .select_related("target")
        .only(
            "id",
            "outcome",
            "reason",
            "counts",
            "details",
            "target__id",
            "target__name",
            "target__slug",
            "target__path",
        )
        .order_by("target__path")
    )


def _stall_cutoff() -> datetime:
    return timezone.now() - timedelta(seconds=int(settings.JOB_STALL_SECONDS))


def stalled_filter() -> Q:
    """Running jobs whose worker has been silent for ``JOB_STALL_SECONDS`` (rows from before
    ``progress_at`` count from their start): jobs.services.job_restart."""
    cutoff = _stall_cutoff()
    return Q(status=JobStatus.RUNNING) & (
        Q(progress_at__lt=cutoff) | Q(progress_at__isnull=True, started_at__lt=cutoff)
    )


def job_is_stalled(job: Job) -> bool:
    """``stalled_filter`` for a job already read."""
    last = job.progress_at or job.started_at
    return job.status == JobStatus.RUNNING and last is not None and last < _stall_cutoff()


def job_as_dict(job: Job, *, with_results: bool = True) -> dict[str, Any]:
    data: dict[str, Any] = {
        "id": job.pk,
        "kind": job.kind,
        "status": job.status,
        "done": job.done,
        "total": job.total,
        "percent": job.percent,
        "summary": job.summary,
        "error": job.error,
        "created_at": job.created_at.isoformat(),
        "finished_at": job.finished_at.isoformat() if job.finished_at else None,
        "stalled": job_is_stalled(job),
    }
    if with_results:
        data["results"] = [
            {
                "tenant_id": result.target_id,
                "tenant_name": result.target.name,
                "outcome": result.outcome,
                "reason": result.reason,
                "counts": result.counts,
                "details": result.details,
            }
            for result in job_results(job=job)
        ]
    return data


def job_exists(*, pk: int) -> bool:
    """For operators' commands (no actor): whether the job exists, in any tenant."""
    with scopes_disabled():
        return Job.objects.filter(pk=pk).exists()


def job_language(job: Job) -> str:
    """The language a job runs in: that of the user who started it (the default language for a
    job without one). Every text the job stores (errors, summaries, consent notes) is written in
    it, as the worker itself runs in the default language."""
    return supported_language(getattr(job.created_by, "language", "") if job.created_by_id else "")


def job_starter(job: Job) -> tuple[Actor | None, RoleGrant | None]:
    """Who started the job and with which role: for the audit entry written when it ends."""
    actor = Actor(user=job.created_by, api_key=job.created_via_api_key) if job.created_by else None
    grant = (
        RoleGrant(role=job.acting_role, source=job.role_source)
        if job.acting_role is not None
        else None
    )
    return actor, grant
