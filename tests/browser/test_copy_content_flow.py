"""Copy Content in a real browser, with the real task worker.

paula (Customer Service in Agentur Alpha) writes a template in Agentur Alpha's content library,
ticks it, chooses Kunde Eins and Filiale Eins-A as targets and starts the copy. The job waits
in the database queue; the page shows its progress bar at 0 of 2 and polls. The ``db_worker``
then runs the job, the page sees it finish, reloads, and shows the per-target results. Kunde
Eins's library shows the copied template with its origin "from Agentur Alpha", and its
preview renders in a sandboxed frame.
"""

import re

import pytest
from django_scopes import scopes_disabled
from playwright.sync_api import expect
from tests.browser.test_seed_flow import log_in
from tests.conftest import PASSWORD
from tests.worker import run_worker_once

from mandant.content.models import ContentItem
from mandant.jobs.models import Job, JobStatus

pytestmark = pytest.mark.browser

DATABASE_TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend", "QUEUES": ["default"]}}
TEMPLATE_NAME = "Frühlings-Newsletter"


def test_paula_copies_a_template_into_two_sub_tenants(
    world, page, live_server, settings, shots_dir
):
    settings.TASKS = DATABASE_TASKS
    log_in(page, world.paula.email, PASSWORD)
    page.goto("/t/agentur-alpha/")
    page.get_by_test_id("content-link").click()
    expect(page.get_by_role("heading", name="Content", exact=True)).to_be_visible()

    # A new template.
    page.get_by_role("link", name="New template").click()
    form = page.get_by_test_id("item-form")
    form.get_by_label("Name", exact=True).fill(TEMPLATE_NAME)
    form.get_by_label("Subject").fill("Frühling bei {{ tenant.name }}")
    form.get_by_label("HTML part").fill(
        '<h1 style="color:#1f5eff">Hallo {{ contact.first_name }}!</h1>'
        "<p>Der Frühling ist da.</p><script>alert(1)</script>"
    )
    form.get_by_label("Text part").fill("Hallo {{ contact.first_name }}! Der Frühling ist da.")
    page.get_by_test_id("save-item").click()
    expect(page.get_by_text(f"“{TEMPLATE_NAME}” has been created.")).to_be_visible()

    # Tick it in the library and copy it.
    page.get_by_role("link", name="← Content").click()
    page.get_by_role("checkbox", name=f"Choose {TEMPLATE_NAME} for copying").check()
    page.screenshot(path=str(shots_dir / "content-library.png"), full_page=True)
    page.get_by_test_id("copy-button").click()
    expect(page.get_by_role("heading", name="Copy Content")).to_be_visible()
    expect(page.get_by_test_id("chosen-item")).to_contain_text(TEMPLATE_NAME)
    targets = page.get_by_test_id("copy-targets")
    targets.get_by_role("checkbox", name="Kunde Eins").check()
    targets.get_by_role("checkbox", name="Filiale Eins-A").check()
    expect(page.get_by_role("radio", name=re.compile("^Overwrite only if"))).to_be_checked()
    expect(page.get_by_test_id("never-copied")).to_contain_text("contacts, users, settings")
    page.screenshot(path=str(shots_dir / "copy-form.png"), full_page=True)
    page.get_by_test_id("start-copy").click()

    # The job waits in the queue: the page shows 0 of 2 and polls.
    expect(page.get_by_text("Copy Content has started for 2 sub-tenants.")).to_be_visible()
    bar = page.get_by_test_id("job-bar")
    expect(bar).to_have_attribute("max", "2")
    expect(bar).to_have_attribute("value", "0")
    expect(page.get_by_test_id("job-status")).to_have_text("queued")
    with scopes_disabled():
        job = Job.objects.get()
    assert job.status == JobStatus.QUEUED
    page.screenshot(path=str(shots_dir / "copy-job-queued.png"), full_page=True)

    run_worker_once()

    # The page notices the end by itself and reloads with the results.
    expect(page.get_by_test_id("job-status")).to_have_text("done", timeout=15_000)
    expect(bar).to_have_attribute("value", "2")
    results = page.get_by_test_id("job-result")
    expect(results).to_have_count(2)
    expect(results.nth(0)).to_contain_text("Kunde Eins")
    expect(results.nth(1)).to_contain_text("Filiale Eins-A")
    for index in range(2):
        expect(results.nth(index)).to_have_attribute("data-outcome", "copied")
    page.screenshot(path=str(shots_dir / "copy-job-done.png"), full_page=True)

    # Kunde Eins has the template, with its origin.
    results.nth(0).get_by_role("link", name="Kunde Eins").click()
    expect(page).to_have_url(re.compile(r"/t/kunde-eins/content/$"))
    row = page.get_by_test_id("item-row").filter(has_text=TEMPLATE_NAME)
    expect(row.get_by_test_id("origin")).to_have_text("from Agentur Alpha · v1")
    page.screenshot(path=str(shots_dir / "copied-into-kunde-eins.png"), full_page=True)
    row.get_by_role("link", name=TEMPLATE_NAME).click()
    expect(page.get_by_test_id("lineage")).to_contain_text("Copied from Agentur Alpha (version 1)")

    # Its preview: sandboxed, the script removed, sample values filled in.
    page.get_by_test_id("preview-link").click()
    iframe = page.get_by_test_id("preview-html")
    expect(iframe).to_have_attribute("sandbox", "")
    frame = page.frame_locator('[data-testid="preview-html"]')
    expect(frame.get_by_role("heading", name="Hallo Erika!")).to_be_visible()
    expect(page.get_by_test_id("preview-text")).to_contain_text("Hallo Erika!")
    page.screenshot(path=str(shots_dir / "copied-preview.png"), full_page=True)
    with scopes_disabled():
        copies = ContentItem.objects.filter(name=TEMPLATE_NAME).exclude(tenant=world.alpha)
        assert sorted(c.tenant.name for c in copies) == ["Filiale Eins-A", "Kunde Eins"]
        assert all("script" not in c.html for c in copies)


def test_the_sandboxed_preview_shows_the_librarys_images(world, page, live_server):
    """The preview document has an origin of its own (sandbox), so the browser sends it no
    session cookie: its images come inline, and they must really be decoded."""
    with scopes_disabled():
        welcome = ContentItem.objects.get(tenant=world.kunde1, name="Welcome")
    assert "asset:" in welcome.html  # the standard template shows the header image
    log_in(page, world.carl.email, PASSWORD)
    page.goto(f"/t/kunde-eins/content/{welcome.pk}/preview/")
    image = page.frame_locator('[data-testid="preview-html"]').locator("img").first
    expect(image).to_be_visible()
    image.element_handle().wait_for_element_state("stable")
    handle = image.element_handle()
    frame = handle.owner_frame()
    assert frame is not None
    frame.wait_for_function("img => img.complete && img.naturalWidth > 0", arg=handle)
    assert image.evaluate("img => img.naturalWidth") > 0
