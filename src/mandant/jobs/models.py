"""Background jobs a user started and watches: Copy Content, imports.

A job belongs to the tenant it was started in; its per-target results name the tenants it
touched. Progress is ``done`` of ``total`` (targets, rows, …).
"""

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _
from django_scopes import ScopedManager

from mandant.tenants.models import Tenant


class JobKind(models.TextChoices):
    COPY_CONTENT = "copy_content", _("Copy Content")
    CONTACT_IMPORT = "contact_import", _("Contact import")


class JobStatus(models.TextChoices):
    QUEUED = "queued", _("queued")
    RUNNING = "running", _("running")
    DONE = "done", _("done")
    FAILED = "failed", _("failed")


class Job(models.Model):
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+")
    kind = models.CharField(max_length=32, choices=JobKind.choices)
    status = models.CharField(max_length=16, choices=JobStatus.choices, default=JobStatus.QUEUED)
    total = models.PositiveIntegerField(default=0)
    done = models.PositiveIntegerField(default=0)
    params = models.JSONField(default=dict)
    summary = models.JSONField(default=dict)
    error = models.TextField(blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    created_via_api_key = models.ForeignKey(
        "accounts.ApiKey", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    # The acting role and the tenant it came from, for the audit entry written at the end.
    acting_role = models.PositiveSmallIntegerField(null=True)
    role_source = models.ForeignKey(
        Tenant, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    # The last sign of life of the worker running it: set when it starts and with every
    # progress write. A running job without one for JOB_STALL_SECONDS has lost its worker.
    progress_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    objects: models.Manager["Job"] = ScopedManager(tenant="tenant")

    class Meta:
        verbose_name = _("job")
        verbose_name_plural = _("jobs")
        indexes = [models.Index(fields=["tenant", "-created_at"], name="job_tenant_created")]

    def __str__(self) -> str:
        return f"{self.kind} #{self.pk}"

    @property
    def finished(self) -> bool:
        return self.status in (JobStatus.DONE, JobStatus.FAILED)

    @property
    def percent(self) -> int:
        return 100 if not self.total else min(100, self.done * 100 // self.total)


class JobResult(models.Model):
    """The outcome of a job for one target tenant (Copy Content) with its counts."""

    job = models.ForeignKey(Job, on_delete=models.CASCADE, related_name="results")
    target = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+")
    outcome = models.CharField(max_length=16)
    reason = models.TextField(blank=True)
    counts = models.JSONField(default=dict)
    # Items that need attention (conflicts, skipped because changed in the target, …).
    details = models.JSONField(default=list)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["job", "target"], name="job_result_job_target")
        ]

    def __str__(self) -> str:
        return f"{self.job_id} → {self.target_id}: {self.outcome}"
