"""The whole sending flow in a real browser, with a real ``db_worker`` process and a real SMTP
server.

carl, Administrator of the ready tenant Kunde Drei (verified sending domain, postal address,
sender identity), imports 30 contacts from a CSV file through the import page, builds a segment
of them from the file's "Quelle" column, creates a campaign from the tenant's template for that
segment, sees the checklist pass and sends. The page follows the progress by its own polling
while the worker sends to the SMTP server, reaches 100 % and reloads into the statistics. The
server got exactly one message per recipient.

The contact import has no "into a list" option, so the imported contacts are picked by a
segment (the list Newsletter of the ready tenant keeps its two members, who get nothing).

The worker is a separate ``mandant db_worker`` process whenever the test database can be
shared with one (PostgreSQL, or SQLite in a file: ``SQLITE_TEST_NAME``); with SQLite's in-memory
test database it runs in this process, ``db_worker --batch``, whenever work is due.
"""

import os
import re
import signal
import subprocess
import time
from collections import Counter
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from django.conf import settings as django_settings
from django.db import connection
from django.utils import timezone
from django_scopes import scopes_disabled
from playwright.sync_api import Page, expect
from tests.browser.test_seed_flow import log_in
from tests.campaign_support import ready_campaign, ready_tenant
from tests.conftest import PASSWORD
from tests.worker import DATABASE_TASKS, run_worker_once, worker_process

from mandant.campaigns.models import Campaign, CampaignStatus

pytestmark = pytest.mark.browser

N = 30
SOURCE = "fruehling-2026"
SEND_TIMEOUT_MS = 60_000


class Worker:
    """The task worker of the test: a ``db_worker`` process, or the in-process fallback."""

    def __init__(self, env: dict[str, str] | None, log: Path) -> None:
        self.process: subprocess.Popen[bytes] | None = None
        self.log = log
        if env is not None:
            self.process = worker_process(env, log, interval=0.2)

    def kick(self) -> None:
        """Without a worker process: run every task that is due now."""
        if self.process is None:
            run_worker_once()
        elif self.process.poll() is not None:
            raise AssertionError(f"the worker died: {self.output()}")

    def output(self) -> str:
        return self.log.read_text(errors="replace")[-3000:] if self.log.exists() else ""

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)


def _shared_database_url() -> str | None:
    """A URL another process can open the test database with, or None (SQLite in memory)."""
    db = connection.settings_dict
    if connection.vendor == "postgresql":
        auth = db["USER"] + (f":{db['PASSWORD']}" if db.get("PASSWORD") else "")
        return f"postgres://{auth}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"
    if connection.vendor == "sqlite" and not connection.is_in_memory_db():
        return f"sqlite:///{Path(db['NAME']).resolve()}"
    return None


@pytest.fixture
def worker(smtp, live_server, tmp_path) -> Iterator[Worker]:  # type: ignore[no-untyped-def]
    url = _shared_database_url()
    env = None
    if url is not None:
        env = {
            **os.environ,
            "DATABASE_URL": url,
            "EMAIL_URL": smtp.url,
            "TASKS_BACKEND": "django_tasks_db.DatabaseBackend",
            "SITE_URL": live_server.url,
            # One message at a time, so the page sees the send move (and its rate).
            "CAMPAIGN_SMTP_CONNECTIONS": "1",
        }
    running = Worker(env, tmp_path / "worker.log")
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture
def ready(world, monkeypatch, settings):  # type: ignore[no-untyped-def]
    settings.TASKS = DATABASE_TASKS
    settings.SITE_URL = "http://testserver.example"
    return ready_tenant(world, monkeypatch)


def label(text: str) -> re.Pattern[str]:
    """A Django form field's label ("Name:"), matched whole."""
    return re.compile(rf"^{re.escape(text)}:?$")


def csv_file() -> bytes:
    lines = ["E-Mail;Vorname;Nachname;Quelle"]
    lines += [f"leser{i:02d}@example.net;Leser{i:02d};Müller;{SOURCE}" for i in range(N)]
    return ("\n".join(lines) + "\n").encode("utf-8")


def wait_for(page: Page, worker: Worker, locator, text: str, timeout_s: float = 60) -> None:  # type: ignore[no-untyped-def]
    """Until the locator shows the text, kicking the in-process worker meanwhile."""
    deadline = time.monotonic() + timeout_s
    while True:
        worker.kick()
        try:
            expect(locator).to_have_text(text, timeout=1_000)
            return
        except AssertionError:
            if time.monotonic() > deadline:
                raise AssertionError(f"{text!r} not shown; worker: {worker.output()}") from None


def test_import_create_check_send_and_watch_it_reach_100_percent(
    world, ready, page, live_server, smtp, worker, shots_dir
):
    smtp.handler.delay = 0.15  # about 4.5 s of sending: the page sees it move
    page.on("dialog", lambda dialog: dialog.accept())
    log_in(page, world.carl.email, PASSWORD)
    tenant = f"/t/{ready.tenant.slug}"

    # 1. Import 30 contacts: upload, map the columns, run the job.
    page.goto(f"{tenant}/contacts/")
    page.get_by_test_id("contacts-import").click()
    page.get_by_label("CSV file").set_input_files(
        {"name": "leser.csv", "mimeType": "text/csv", "buffer": csv_file()}
    )
    page.get_by_role("button", name="Upload").click()
    expect(page.get_by_role("heading", name=re.compile("leser.csv"))).to_be_visible()
    page.locator("select[name=col0]").select_option("email")
    page.locator("select[name=col1]").select_option("first_name")
    page.locator("select[name=col2]").select_option("last_name")
    page.locator("select[name=col3]").select_option("field:Quelle")
    page.screenshot(path=str(shots_dir / "flow-import-mapping.png"), full_page=True)
    page.get_by_role("button", name="Start import").click()
    wait_for(page, worker, page.get_by_test_id("job-status"), "done")
    expect(page.get_by_test_id("import-summary")).to_contain_text(
        f"{N} rows: {N} contacts imported, 0 invalid rows."
    )
    expect(page.get_by_test_id("job-bar")).to_have_attribute("value", str(N))

    # 2. A segment of the imported contacts, from the file's "Quelle" column.
    page.goto(f"{tenant}/contacts/segments/")
    form = page.get_by_test_id("segment-form")
    form.get_by_label("Name").fill("Frühlingsleser")
    form.get_by_label("Field").first.fill("field:Quelle")
    form.get_by_label("Comparison").first.select_option("equals")
    form.get_by_label("Value").first.fill(SOURCE)
    form.get_by_role("button", name="Count").click()
    expect(page.get_by_test_id("segment-preview")).to_have_text(f"{N} contacts match.")
    page.get_by_test_id("segment-form").get_by_role("button", name="Save segment").click()
    row = page.get_by_test_id("segment-row").filter(has_text="Frühlingsleser")
    expect(row).to_contain_text(str(N))

    # 3. A campaign from the tenant's template.
    page.goto(f"{tenant}/campaigns/new/")
    blank = page.get_by_test_id("blank")
    blank.get_by_label(label("Name")).fill("Frühlingsgruß")
    blank.get_by_label("Subject").fill("Frühling bei {{ tenant.name }}")
    blank.get_by_label(label("Sender")).select_option(label=str(ready.identity))
    blank.get_by_label("Sender alias").fill("Kunde Drei Redaktion")
    blank.get_by_label("Reply-to address").fill("redaktion@kunde-drei.example")
    blank.get_by_label("Template").select_option(label="Hausvorlage")
    blank.get_by_label("Segment").select_option(label="Frühlingsleser")
    blank.get_by_role("button", name="Create campaign").click()
    expect(page.get_by_test_id("campaign-status")).to_have_text("draft")
    with scopes_disabled():
        campaign = Campaign.objects.get(tenant=ready.tenant, name="Frühlingsgruß")

    # 4. The checklist passes.
    page.get_by_test_id("campaign-checklist-link").click()
    items = page.get_by_test_id("campaign-checklist").locator("li")
    expect(items.first).to_be_visible()
    assert items.count() >= 7
    for index in range(items.count()):
        expect(items.nth(index)).to_have_attribute("data-ok", "1")
    page.screenshot(path=str(shots_dir / "flow-checklist.png"), full_page=True)

    # 5. Send; the page polls the progress until 100 %, then reloads into the statistics.
    page.get_by_role("link", name="Edit").click()
    page.get_by_test_id("campaign-send").click()
    expect(page.get_by_text("The campaign is being sent.")).to_be_visible()
    expect(page.get_by_test_id("campaign-progress")).to_have_attribute(
        "data-job-status-url", re.compile(rf"/campaigns/{campaign.pk}/progress/$")
    )
    bar = page.get_by_test_id("campaign-progress").locator("progress")
    expect(bar).to_have_attribute("max", str(N))
    if worker.process is not None:
        # While the worker process sends, the page's polling shows the current rate.
        expect(page.get_by_test_id("count-rate")).to_have_text(
            re.compile(r"^(?!0\.0 )\d+(\.\d)? per second$")
        )
    wait_for(page, worker, page.get_by_test_id("campaign-status"), "sent")
    # The page got there by itself: the reload after "done" shows the final state.
    expect(bar).to_have_attribute("value", str(N))
    expect(page.get_by_test_id("count-sent")).to_have_text(str(N))
    expect(page.get_by_test_id("count-failed")).to_have_text("0")
    expect(page.get_by_test_id("count-remaining")).to_have_text("0")
    stats = page.get_by_test_id("campaign-statistics")
    expect(stats.get_by_test_id("stat-delivered")).to_have_text(re.compile(rf"^{N}\b"))
    expect(stats.get_by_test_id("stat-bounced")).to_have_text(re.compile(r"^0\b"))
    expect(stats.get_by_test_id("stat-failed")).to_have_text(re.compile(r"^0\b"))
    expect(stats.get_by_test_id("bar-delivered")).to_have_attribute("width", "60%")
    page.screenshot(path=str(shots_dir / "flow-sent.png"), full_page=True)

    # 6. Exactly one message per recipient, to the imported addresses only.
    counts = Counter(r for received in smtp.handler.received for r in received.rcpt_tos)
    assert counts == Counter({f"leser{i:02d}@example.net": 1 for i in range(N)})
    message = smtp.handler.to("leser07@example.net")[0].message
    assert str(message["Subject"]) == "Frühling bei Kunde Drei"
    assert "Kunde Drei Redaktion" in str(message["From"])
    assert str(message["Reply-To"]) == "redaktion@kunde-drei.example"
    with scopes_disabled():
        assert Campaign.objects.get(pk=campaign.pk).status == CampaignStatus.SENT


def test_schedule_a_few_seconds_ahead_and_unschedule_another(
    world, ready, page, live_server, smtp, worker, shots_dir
):
    page.on("dialog", lambda dialog: dialog.accept())
    later = ready_campaign(ready, name="Später")
    soon = ready_campaign(ready, name="Gleich")
    log_in(page, world.carl.email, PASSWORD)
    tenant = f"/t/{ready.tenant.slug}"
    zone = ZoneInfo(django_settings.TIME_ZONE)

    # A time in the past is refused on the field, and what was typed stays.
    page.goto(f"{tenant}/campaigns/{later.pk}/")
    field = page.get_by_test_id("schedule-form").get_by_label(label("Send at"))
    past = (timezone.now() - timedelta(hours=1)).astimezone(zone).strftime("%Y-%m-%dT%H:%M")
    field.fill(past)
    page.get_by_test_id("campaign-schedule").click()
    expect(page.get_by_text("Choose a time in the future.")).to_be_visible()
    expect(page.get_by_test_id("schedule-form").get_by_label(label("Send at"))).to_have_value(past)
    expect(page.get_by_test_id("campaign-status")).to_have_text("draft")

    # Scheduled for tomorrow, then taken back: a draft again.
    tomorrow = (timezone.now() + timedelta(days=1)).astimezone(zone)
    page.get_by_test_id("schedule-form").get_by_label(label("Send at")).fill(
        tomorrow.strftime("%Y-%m-%dT%H:%M")
    )
    page.get_by_test_id("campaign-schedule").click()
    expect(page.get_by_test_id("campaign-status")).to_have_text("scheduled")
    expect(page.get_by_test_id("campaign-scheduled")).to_contain_text(
        f"({django_settings.TIME_ZONE})"
    )
    page.screenshot(path=str(shots_dir / "flow-scheduled.png"), full_page=True)
    page.get_by_test_id("campaign-unschedule").click()
    expect(page.get_by_text("The campaign is no longer scheduled")).to_be_visible()
    expect(page.get_by_test_id("campaign-status")).to_have_text("draft")
    expect(page.get_by_test_id("campaign-save")).to_be_visible()

    # Another one a few seconds ahead, with seconds: the worker sends it then, and the page
    # (polling while scheduled) follows it to the end.
    page.goto(f"{tenant}/campaigns/{soon.pk}/")
    at = (timezone.now() + timedelta(seconds=4)).replace(microsecond=0)
    page.get_by_test_id("schedule-form").get_by_label(label("Send at")).fill(
        at.astimezone(zone).strftime("%Y-%m-%dT%H:%M:%S")
    )
    page.get_by_test_id("campaign-schedule").click()
    expect(page.get_by_test_id("campaign-status")).to_have_text("scheduled")
    with scopes_disabled():
        assert Campaign.objects.get(pk=soon.pk).send_at == at
    assert smtp.handler.received == []
    wait_for(page, worker, page.get_by_test_id("campaign-status"), "sent")
    expect(page.get_by_test_id("stat-delivered")).to_have_text(re.compile(r"^2\b"))
    recipients = sorted(r for received in smtp.handler.received for r in received.rcpt_tos)
    assert recipients == [ready.anna.email, ready.bert.email]
    with scopes_disabled():
        sent = Campaign.objects.get(pk=soon.pk)
        assert sent.status == CampaignStatus.SENT
        assert sent.finished_at is not None and sent.finished_at >= at
        assert Campaign.objects.get(pk=later.pk).status == CampaignStatus.DRAFT
