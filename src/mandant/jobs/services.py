"""Writes about background jobs that are not the jobs' own work: finishing one in the name of
who started it, and running a stalled job again.

A worker process killed (SIGKILL, a lost machine) while it runs a job leaves the job "running"
for ever: nothing else would touch it. Its progress writes say whether it is alive
(``Job.progress_at``); one that has been silent for ``JOB_STALL_SECONDS`` may be queued again by
a user who may start such a job. Both kinds are safe to run again: an import's upsert is
idempotent, and Copy Content skips the targets it finished.
"""

from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.module_loading import import_string
from django.utils.translation import gettext as _
from django_scopes import scopes_disabled

from mandant.accounts.roles import Action, role_allows
from mandant.audit.services import audit_record
from mandant.billing.features import COPY_CONTENT, require_feature
from mandant.core.actor import Actor
from mandant.core.errors import NotFound, PermissionDenied
from mandant.jobs.models import Job, JobKind, JobStatus
from mandant.jobs.selectors import job_starter, stalled_filter
from mandant.tenants.selectors import effective_grant

# What a user needs in the job's tenant to run it again: what starting it needs.
RESTART_ACTION = {
    JobKind.COPY_CONTENT: Action.CONTENT_COPY,
    JobKind.CONTACT_IMPORT: Action.CONTACT_IMPORT,
}
# The paid feature a kind needs when it starts, checked again when it runs again (the add-on
# may have ended in between).
FEATURE = {JobKind.COPY_CONTENT: COPY_CONTENT}
# The task that runs each kind (called with the job's id).
TASK = {
    JobKind.COPY_CONTENT: "mandant.content.tasks.copy_content",
    JobKind.CONTACT_IMPORT: "mandant.contacts.tasks.contact_import",
}


def job_restart(*, actor: Actor, job: Job) -> Job:
    """Queue a stalled job again. NotFound / PermissionDenied like starting it; a job that is not
    stalled (queued, making progress, finished) is a ValidationError (code ``not_stalled``)."""
    grant = effective_grant(actor, job.tenant)
    if grant is None:
        raise NotFound
    kind = JobKind(job.kind)
    if not role_allows(grant.role, RESTART_ACTION[kind]):
        raise PermissionDenied(_("Your role does not allow this."))
    if kind in FEATURE:
        require_feature(job.tenant, FEATURE[kind])
    with transaction.atomic(), scopes_disabled():
        # One statement decides: two users pressing the button queue the job once.
        changed = Job.objects.filter(stalled_filter(), pk=job.pk).update(
            status=JobStatus.QUEUED, progress_at=timezone.now()
        )
        if not changed:
            raise ValidationError(
                _("The job is not stalled: it is queued, making progress or finished."),
                code="not_stalled",
            )
        audit_record(actor=actor, action="job.restart", tenant=job.tenant, grant=grant, obj=job)
        task = import_string(TASK[kind])
        transaction.on_commit(lambda: task.enqueue(job.pk))
    job.refresh_from_db()
    return job


def job_finish(job: Job, *, action: str, changes: dict[str, Any], **fields: Any) -> None:
    """Mark the job done (with further ``fields``: summary, counts) and audit ``action`` in the
    name of who started it and with the role they had, in one transaction."""
    with transaction.atomic():
        Job.objects.filter(pk=job.pk).update(
            status=JobStatus.DONE, finished_at=timezone.now(), **fields
        )
        actor, grant = job_starter(job)
        audit_record(
            actor=actor, action=action, tenant=job.tenant, grant=grant, obj=job, changes=changes
        )
