"""The "Run again" button of a stalled job, shared by the job pages of each kind (the pages
themselves live with their kind: contacts.views, content.copy_views)."""

from typing import Any

from django.conf import settings
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404, HttpResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.translation import gettext as _

from mandant.core.errors import NotFound, PermissionDenied
from mandant.core.web import TenantRequest, request_may
from mandant.jobs.models import Job, JobKind
from mandant.jobs.selectors import job_get_for_actor, job_is_stalled
from mandant.jobs.services import RESTART_ACTION, job_restart


def stalled_context(request: TenantRequest, job: Job, restart_url_name: str) -> dict[str, Any]:
    """What ``partials/job_stalled.html`` needs: the notice, and the button only for a role
    that may run the job again."""
    stalled = job_is_stalled(job)
    may_restart = stalled and request_may(request, RESTART_ACTION[JobKind(job.kind)])
    return {
        "stalled": stalled,
        "stall_minutes": max(1, int(settings.JOB_STALL_SECONDS) // 60),
        "restart_url": reverse(restart_url_name, args=[request.tenant.slug, job.pk])
        if may_restart
        else "",
    }


def job_for_page(request: TenantRequest, job_id: int, kind: JobKind) -> Job:
    """The job of the page's tenant the user may see, of the page's kind (each kind has pages
    of its own); else 404."""
    try:
        job = job_get_for_actor(request.actor, pk=job_id, tenant=request.tenant)
    except NotFound:
        raise Http404 from None
    if job.kind != kind:
        raise Http404
    return job


def restart_and_show(request: TenantRequest, job_id: int, kind: JobKind, page: str) -> HttpResponse:
    """Queue the job again (POST) and go back to its page ``page`` (a URL name), with the
    reason as a message when it is not stalled."""
    job = job_for_page(request, job_id, kind)
    try:
        job_restart(actor=request.actor, job=job)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    except PermissionDenied as exc:
        # The role was checked by the view's decorator: what is left is a feature that has
        # ended (Copy Content), which the message names.
        messages.error(request, str(exc.message))
    else:
        messages.success(request, _("The job has been queued again."))
    return redirect(page, request.tenant.slug, job.pk)
