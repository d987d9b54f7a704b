"""A job whose worker stopped (a killed process) stays "running" and writes no more progress:
its page and the API offer to run it again, to the roles that may start such a job, and only
while it is stalled."""

import os
import signal
import time
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone
from django_scopes import scope, scopes_disabled

from import_support import queued_import
from mandant.accounts.roles import Role
from mandant.accounts.services import membership_set, user_create
from mandant.audit.models import AuditEntry
from mandant.contacts import importing
from mandant.contacts.models import ConsentRecord, Contact
from mandant.content import copying
from mandant.content import services as content
from mandant.content.models import ContentItem, ContentKind
from mandant.core.actor import Actor, RoleGrant
from mandant.core.errors import PermissionDenied
from mandant.jobs.models import Job, JobStatus
from mandant.jobs.services import job_restart
from mandant.tenants.models import Tenant
from user_support import Api
from worker import DATABASE_TASKS, IMMEDIATE_TASKS, database_url, kill_all, worker_process

ROWS = "email,first_name\n" + "".join(f"p{i}@x.de,P{i}\n" for i in range(30))


def import_job(world) -> Job:  # type: ignore[no-untyped-def]
    return queued_import(world, ROWS, keep_valid=True)


def left_running(job: Job, *, silent_for: timedelta) -> Job:
    """The state a SIGKILL leaves: running, nothing finished, the last progress write
    ``silent_for`` ago."""
    last = timezone.now() - silent_for
    with scopes_disabled():
        Job.objects.filter(pk=job.pk).update(
            status=JobStatus.RUNNING, started_at=last, progress_at=last, done=10
        )
        return Job.objects.get(pk=job.pk)


def fresh(job: Job) -> Job:
    with scopes_disabled():
        return Job.objects.get(pk=job.pk)


def imported(tenant: Tenant) -> int:
    with scope(tenant=tenant.pk):
        return Contact.objects.filter(tenant=tenant).count()


def test_a_stalled_import_is_run_again_from_its_page(
    world, settings, django_capture_on_commit_callbacks
):
    settings.TASKS = IMMEDIATE_TASKS
    settings.JOB_STALL_SECONDS = 300
    job = left_running(import_job(world), silent_for=timedelta(minutes=6))
    client = world.client_for(world.paula)
    url = f"/t/{world.kunde1.slug}/contacts/jobs/{job.pk}/"
    page = client.get(url).content.decode()
    assert 'data-testid="job-stalled"' in page and 'data-testid="job-restart"' in page
    assert "more than 5 minutes" in page
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(url + "restart/")
    assert response.status_code == 302 and response["Location"] == url
    job = fresh(job)
    assert job.status == JobStatus.DONE, job.error
    assert (job.done, job.total) == (30, 30)
    assert imported(world.kunde1) == 30
    assert AuditEntry.objects.filter(action="job.restart", object_id=str(job.pk)).count() == 1
    # Finished: no notice, and running it again is refused.
    assert 'data-testid="job-stalled"' not in client.get(url).content.decode()
    page = client.post(url + "restart/", follow=True).content.decode()
    assert "The job is not stalled" in page
    assert fresh(job).status == JobStatus.DONE


def test_a_job_still_making_progress_is_not_offered_nor_restarted(world, settings):
    settings.JOB_STALL_SECONDS = 300
    job = left_running(import_job(world), silent_for=timedelta(seconds=20))
    client = world.client_for(world.paula)
    url = f"/t/{world.kunde1.slug}/contacts/jobs/{job.pk}/"
    assert 'data-testid="job-stalled"' not in client.get(url).content.decode()
    page = client.post(url + "restart/", follow=True).content.decode()
    assert "The job is not stalled" in page
    assert fresh(job).status == JobStatus.RUNNING
    api = Api(world.api_key(world.paula, world.alpha))
    assert api.get(f"/jobs/{job.pk}").json()["stalled"] is False
    response = api.post(f"/jobs/{job.pk}/restart")
    assert response.status_code == 409
    assert "not stalled" in response.json()["errors"]["__all__"][0]
    assert fresh(job).status == JobStatus.RUNNING


def test_a_job_from_before_progress_was_recorded_counts_from_its_start(world, settings):
    settings.JOB_STALL_SECONDS = 300
    job = left_running(import_job(world), silent_for=timedelta(hours=1))
    with scopes_disabled():
        Job.objects.filter(pk=job.pk).update(progress_at=None)
    api = Api(world.api_key(world.paula, world.alpha))
    assert api.get(f"/jobs/{job.pk}").json()["stalled"] is True
    response = api.post(f"/jobs/{job.pk}/restart")
    assert response.status_code == 202
    assert response.json()["status"] == JobStatus.QUEUED
    assert fresh(job).status == JobStatus.QUEUED


def test_a_viewer_sees_the_notice_but_may_not_run_it_again(world, settings):
    settings.JOB_STALL_SECONDS = 300
    job = left_running(import_job(world), silent_for=timedelta(minutes=10))
    viewer = user_create(email="viewer@kunde-eins.example", password="x" * 20)
    membership_set(actor=Actor(user=world.olga), tenant=world.kunde1, user=viewer, role=Role.VIEWER)
    client = world.client_for(viewer)
    url = f"/t/{world.kunde1.slug}/contacts/jobs/{job.pk}/"
    page = client.get(url).content.decode()
    assert 'data-testid="job-stalled"' in page and 'data-testid="job-restart"' not in page
    assert client.post(url + "restart/").status_code == 403
    # The API calls the same service (a viewer cannot hold an API key).
    with pytest.raises(PermissionDenied):
        job_restart(actor=Actor(user=viewer), job=job)
    assert fresh(job).status == JobStatus.RUNNING


def stalled_copy_job(world, capture) -> tuple[ContentItem, Job]:  # type: ignore[no-untyped-def]
    """A Copy Content job of one text block from alpha to its sub-tenants, started, whose
    worker then died before finishing any target."""
    with scope(tenant=world.alpha.pk):
        item = content.item_create(
            actor=Actor(user=world.paula),
            tenant=world.alpha,
            kind=ContentKind.TEXT_BLOCK,
            name="Neustart",
            html="<p>Neustart</p>",
        )
    with capture(execute=False):  # the task is not run
        job = copying.copy_content_start(
            actor=Actor(user=world.paula),
            source=world.alpha,
            item_ids=[item.pk],
            all_descendants=True,
        )
    job = left_running(job, silent_for=timedelta(minutes=2))
    with scopes_disabled():
        Job.objects.filter(pk=job.pk).update(done=0)
    return item, job


def test_a_stalled_copy_content_job_is_run_again_through_the_api_and_its_page(
    world, settings, django_capture_on_commit_callbacks
):
    settings.TASKS = IMMEDIATE_TASKS
    settings.JOB_STALL_SECONDS = 60
    item, job = stalled_copy_job(world, django_capture_on_commit_callbacks)
    page = world.client_for(world.paula).get(f"/t/{world.alpha.slug}/content/jobs/{job.pk}/")
    text = page.content.decode()
    assert 'data-testid="job-restart"' in text
    assert f"/t/{world.alpha.slug}/content/jobs/{job.pk}/restart/" in text
    api = Api(world.api_key(world.paula, world.alpha))
    with django_capture_on_commit_callbacks(execute=True):
        response = api.post(f"/jobs/{job.pk}/restart")
    assert response.status_code == 202
    job = fresh(job)
    assert job.status == JobStatus.DONE and job.done == job.total > 0
    with scopes_disabled():
        assert ContentItem.objects.filter(key=item.key).exclude(tenant=world.alpha).count() == (
            job.total
        )
    # The contacts page does not run a Copy Content job, and the other way round.
    client = world.client_for(world.paula)
    assert client.post(f"/t/{world.alpha.slug}/contacts/jobs/{job.pk}/restart/").status_code == 404


def test_a_copy_job_is_not_run_again_once_the_feature_has_ended(
    world, settings, django_capture_on_commit_callbacks
):
    settings.JOB_STALL_SECONDS = 60
    _item, job = stalled_copy_job(world, django_capture_on_commit_callbacks)
    world.set_version(world.alpha, "BASIC")  # Copy Content is no longer part of it
    api = Api(world.api_key(world.paula, world.alpha))
    response = api.post(f"/jobs/{job.pk}/restart")
    assert response.status_code == 403 and "Copy Content" in response.json()["detail"]
    page = world.client_for(world.paula).post(
        f"/t/{world.alpha.slug}/content/jobs/{job.pk}/restart/", follow=True
    )
    assert "Copy Content is not active" in page.content.decode()
    assert fresh(job).status == JobStatus.RUNNING


@pytest.mark.parametrize("silent_minutes", [4, 6])
def test_the_stall_threshold_is_the_setting(world, settings, silent_minutes):
    settings.JOB_STALL_SECONDS = 300
    job = left_running(import_job(world), silent_for=timedelta(minutes=silent_minutes))
    api = Api(world.api_key(world.paula, world.alpha))
    assert api.get(f"/jobs/{job.pk}").json()["stalled"] is (silent_minutes > 5)


@pytest.mark.django_db(transaction=True)
def test_an_import_whose_worker_was_killed_is_finished_by_running_it_again(
    world, settings, tmp_path
):
    """Real worker processes on PostgreSQL: SIGKILL in the middle of an import leaves the job
    running and silent; once stalled it is run again through the API on a fresh worker, and
    every row is imported once (the rows written before the kill get a second consent record,
    as the docs say)."""
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL: worker processes share the test database")
    settings.TASKS = DATABASE_TASKS
    settings.JOB_STALL_SECONDS = 2
    rows = 80_000
    before = imported(world.kunde1), import_consents(world.kunde1)
    data = "email,first_name\n" + "".join(f"k{i}@x.de,K{i}\n" for i in range(rows))
    kept = importing.upload_create(tenant=world.kunde1, name="big.csv", data=data.encode())
    job = importing.import_start(
        actor=Actor(user=world.paula),
        tenant=world.kunde1,
        grant=RoleGrant(role=Role.CUSTOMER_SERVICE, source=world.alpha),
        upload=kept,
        mapping={0: "email", 1: "first_name"},
        keep_valid=True,
    )
    env = {
        **os.environ,
        "DATABASE_URL": database_url(),
        "TASKS_BACKEND": "django_tasks_db.DatabaseBackend",
    }
    workers = [worker_process(env, tmp_path / "a.log")]
    api = Api(world.api_key(world.paula, world.alpha))
    try:
        deadline = time.monotonic() + 60
        while fresh(job).done == 0 and time.monotonic() < deadline:
            time.sleep(0.02)
        workers[0].send_signal(signal.SIGKILL)
        workers[0].wait(5)
        at_kill = fresh(job)
        assert at_kill.status == JobStatus.RUNNING and 0 < at_kill.done < rows
        written = imported(world.kunde1) - before[0]
        time.sleep(2.2)  # JOB_STALL_SECONDS without progress
        assert api.get(f"/jobs/{job.pk}").json()["stalled"] is True
        assert api.post(f"/jobs/{job.pk}/restart").status_code == 202
        workers.append(worker_process(env, tmp_path / "b.log"))
        deadline = time.monotonic() + 120
        while not fresh(job).finished and time.monotonic() < deadline:
            time.sleep(0.1)
    finally:
        logs = kill_all(workers, tmp_path)
    job = fresh(job)
    assert job.status == JobStatus.DONE, (job.error, logs)
    assert (job.done, job.summary["imported"]) == (rows, rows)
    assert imported(world.kunde1) - before[0] == rows
    assert import_consents(world.kunde1) - before[1] == rows + written


def import_consents(tenant: Tenant) -> int:
    with scope(tenant=tenant.pk):
        return ConsentRecord.objects.filter(tenant=tenant, source="import").count()
