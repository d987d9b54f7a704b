"""An operator's outage notice in a real browser: the form, the outbox preview, the banner.

olga writes an outage notice for Agentur Alpha's subtree; with the ImmediateBackend and the
``outbox://`` transport the mails are made and kept at once. She reads one in the outbox: its
HTML in a sandboxed iframe, the text part beside it. paula then sees the banner in Kunde Eins,
eve sees none in her own tenant.
"""

import pytest
from django.utils import timezone
from playwright.sync_api import expect
from tests.browser.test_seed_flow import log_in
from tests.conftest import PASSWORD
from tests.worker import IMMEDIATE_TASKS as IMMEDIATE

from mandant.notices.models import MessageStatus, Notice, OutboundMessage

pytestmark = pytest.mark.browser


def test_an_outage_notice_from_the_form_to_the_banner(
    world, browser, page, live_server, settings, shots_dir
):
    settings.TASKS = IMMEDIATE
    settings.EMAIL_BACKEND = "mandant.notices.backends.OutboxBackend"
    world.carl.email_verified_at = timezone.now()
    world.carl.save()

    log_in(page, world.olga.email, PASSWORD)
    page.goto("/operator/")
    page.get_by_role("link", name="System notices").click()
    page.get_by_role("link", name="New notice").click()
    page.get_by_label("Kind").select_option("outage")
    page.get_by_label("Severity").select_option("critical")
    page.get_by_label("Title (English)").fill("Sending is delayed")
    page.get_by_label("Text (English)").fill("Our mail relay is down.\nWe are on it.")
    page.get_by_label("Title (German)").fill("Der Versand verzögert sich")
    page.get_by_label("Text (German)").fill("Unser Mail-Relay ist ausgefallen.")
    page.get_by_label("Tenants").fill("agentur-alpha")
    page.screenshot(path=str(shots_dir / "notice-form.png"), full_page=True)
    page.get_by_role("button", name="Publish and send").click()

    expect(page.get_by_text("The notice “Sending is delayed” is published")).to_be_visible()
    row = page.get_by_test_id("notices").locator("tbody tr").first
    expect(row.locator(".count-total")).to_have_text("1")
    expect(row.locator(".count-sent")).to_have_text("1")
    page.screenshot(path=str(shots_dir / "notices.png"), full_page=True)
    notice = Notice.objects.get()
    message = OutboundMessage.objects.get(notice=notice)
    assert (message.to_email, message.status) == ("carl@kunde-eins.example", MessageStatus.KEPT)

    # The outbox: the kept mail, its HTML sandboxed and its text part beside it.
    page.goto("/operator/outbox/")
    page.get_by_role("link", name="[Outage] Sending is delayed").click()
    iframe = page.get_by_test_id("mail-html")
    expect(iframe).to_have_attribute("sandbox", "")
    frame = page.frame_locator('[data-testid="mail-html"]')
    expect(frame.get_by_role("heading", name="Sending is delayed")).to_be_visible()
    expect(page.get_by_test_id("mail-text")).to_contain_text("Our mail relay is down.")
    page.screenshot(path=str(shots_dir / "outbox-detail.png"), full_page=True)

    # The banner, in the subtree only.
    page.get_by_role("button", name="Sign out").click()
    log_in(page, world.paula.email, PASSWORD)
    page.goto("/t/kunde-eins/")
    banner = page.get_by_test_id("notice-banner")
    expect(banner).to_contain_text("Outage: Sending is delayed")
    expect(banner).to_have_attribute("data-severity", "critical")
    page.screenshot(path=str(shots_dir / "notice-banner.png"), full_page=True)
    page.get_by_role("button", name="Sign out").click()
    log_in(page, world.eve.email, PASSWORD)
    page.goto("/t/fremdagentur/")
    expect(page.get_by_test_id("acting-banner")).to_be_visible()
    expect(page.get_by_test_id("notice-banner")).to_have_count(0)
