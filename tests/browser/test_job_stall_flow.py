"""A job that stalls while its page is open.

paula watches a contact import on its page. The worker running it dies: the job stays
"running" and writes no more progress. Without reloading, the page shows that the job has
stalled and offers "Run again". She clicks it, the job is queued again, a worker runs it, and
the page follows it to its end.
"""

from datetime import timedelta

import pytest
from django.utils import timezone
from django_scopes import scopes_disabled
from playwright.sync_api import expect
from tests.browser.test_seed_flow import log_in
from tests.conftest import PASSWORD
from tests.import_support import queued_import
from tests.worker import DATABASE_TASKS, run_worker_once

from mandant.jobs.models import Job, JobStatus

pytestmark = pytest.mark.browser

ROWS = "email,first_name\n" + "".join(f"p{i}@x.de,P{i}\n" for i in range(12))


def test_a_job_that_stalls_while_watched_offers_to_run_it_again(
    world, page, live_server, settings, shots_dir
):
    settings.TASKS = DATABASE_TASKS
    settings.JOB_STALL_SECONDS = 300
    job = queued_import(world, ROWS, keep_valid=True)
    with scopes_disabled():
        # A worker took the job and wrote progress a moment ago.
        now = timezone.now()
        Job.objects.filter(pk=job.pk).update(
            status=JobStatus.RUNNING, started_at=now, progress_at=now, done=4
        )

    log_in(page, world.paula.email, PASSWORD)
    page.goto(f"/t/{world.kunde1.slug}/contacts/jobs/{job.pk}/")
    expect(page.get_by_test_id("job-status")).to_have_text("running")
    expect(page.get_by_test_id("job-stalled")).to_have_count(0)

    with scopes_disabled():
        # The worker died: its last progress write is now older than the threshold.
        Job.objects.filter(pk=job.pk).update(progress_at=timezone.now() - timedelta(minutes=6))
    stalled = page.get_by_test_id("job-stalled")
    expect(stalled).to_be_visible()
    expect(stalled).to_contain_text("no progress for more than 5 minutes")
    page.screenshot(path=str(shots_dir / "job-stalled.png"), full_page=True)

    page.get_by_test_id("job-restart").click()
    expect(page.get_by_text("The job has been queued again.")).to_be_visible()
    expect(page.get_by_test_id("job-stalled")).to_have_count(0)
    expect(page.get_by_test_id("job-status")).to_have_text("queued")

    run_worker_once()
    expect(page.get_by_test_id("import-summary")).to_contain_text(
        "12 rows: 12 contacts imported, 0 invalid rows."
    )
    with scopes_disabled():
        assert Job.objects.get(pk=job.pk).status == JobStatus.DONE
