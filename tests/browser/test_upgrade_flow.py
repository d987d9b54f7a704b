"""Activating a paid upgrade in a real browser: carl (Administrator of Kunde Eins) opens
Setup → Upgrades, picks Copy Content, reads the conditions and prices, cannot activate before
ticking the acceptance, activates, sees it active with its history — and the conditions (with
their PDF) and the "paid upgrade activated" notice are in the outbox."""

import pytest
from django.utils import timezone
from playwright.sync_api import expect
from tests.browser.test_seed_flow import log_in
from tests.conftest import PASSWORD
from tests.worker import IMMEDIATE_TASKS as IMMEDIATE

from mandant.billing.services import ensure_price_list
from mandant.notices.models import MessageStatus, OutboundMessage

pytestmark = pytest.mark.browser


def test_carl_activates_copy_content_after_accepting_the_conditions(
    world, browser, page, live_server, settings, shots_dir
):
    settings.TASKS = IMMEDIATE
    settings.EMAIL_BACKEND = "mandant.notices.backends.OutboxBackend"
    ensure_price_list()  # a flushed database (transactional tests) loses the seeded list
    world.carl.email_verified_at = timezone.now()
    world.carl.save()

    log_in(page, world.carl.email, PASSWORD)
    page.goto("/t/kunde-eins/")
    page.get_by_test_id("setup-link").click()
    menu = page.get_by_role("navigation", name="Setup")
    menu.get_by_role("link", name="Upgrades").click()
    expect(page).to_have_url(f"{live_server.url}/t/kunde-eins/setup/upgrades/")
    expect(page.get_by_role("tab", name="Products and prices")).to_have_attribute(
        "aria-selected", "true"
    )
    expect(page.get_by_test_id("edition")).to_contain_text("Your edition: BASIC")
    row = page.locator('[data-testid=available-row][data-product="copy_content"]')
    expect(row).to_contain_text("15.00 €")
    # What BASIC may not have is not offered.
    expect(page.locator('[data-testid=available-row][data-product="dedicated_ip"]')).to_have_count(
        0
    )
    page.screenshot(path=str(shots_dir / "upgrades-overview.png"), full_page=True)

    row.get_by_role("link", name="Activate").click()
    expect(page.get_by_role("heading", name="Activate Copy Content")).to_be_visible()
    expect(page.get_by_test_id("conditions")).to_contain_text("Conditions (version 1 of")
    expect(page.get_by_test_id("conditions-text")).to_contain_text(
        "These conditions apply to the product"
    )
    expect(page.get_by_test_id("activation-prices")).to_contain_text("15.00 €")
    button = page.get_by_test_id("activate")
    expect(button).to_be_disabled()  # until the conditions are accepted
    page.screenshot(path=str(shots_dir / "upgrade-confirm.png"), full_page=True)

    # Without the tick the server refuses too (e.g. with scripts off).
    page.evaluate("document.querySelector('[data-testid=activate]').disabled = false")
    button.click()
    expect(page.get_by_text("Please tick the box to accept the conditions")).to_be_visible()
    assert OutboundMessage.objects.count() == 0

    checkbox = page.get_by_label("I have read the conditions and accept them")
    checkbox.check()
    expect(button).to_be_enabled()
    checkbox.uncheck()
    expect(button).to_be_disabled()
    checkbox.check()
    button.click()

    expect(page).to_have_url(f"{live_server.url}/t/kunde-eins/setup/upgrades/")
    expect(page.get_by_text("“Copy Content” is active.")).to_be_visible()
    active = page.locator('[data-testid=active-row][data-product="copy_content"]')
    expect(active).to_contain_text("active")
    expect(active).to_contain_text("carl@kunde-eins.example")
    history = page.get_by_test_id("activation-history")
    expect(history.locator("[data-testid=history-row]").first).to_contain_text("Activated")
    expect(history).to_contain_text("version 1 accepted")
    page.screenshot(path=str(shots_dir / "upgrades-active.png"), full_page=True)

    # The mails: kept in the outbox (outbox:// transport), delivered by the background task.
    conditions = OutboundMessage.objects.get(kind="upgrade_conditions")
    notice = OutboundMessage.objects.get(kind="upgrade_activated")
    assert (conditions.to_email, conditions.status) == (world.carl.email, MessageStatus.KEPT)
    assert conditions.attachment_name == "conditions-copy-content-v1.pdf"
    assert bytes(conditions.attachment_data or b"").startswith(b"%PDF")
    assert (notice.to_email, notice.status) == (world.carl.email, MessageStatus.KEPT)

    # The operator sees both in the outbox.
    page.get_by_role("button", name="Sign out").click()
    log_in(page, world.olga.email, PASSWORD)
    page.goto("/operator/outbox/")
    expect(
        page.get_by_role("link", name="Paid upgrade activated: Copy Content in Kunde Eins")
    ).to_be_visible()
    page.get_by_role("link", name="Your conditions for Copy Content (version 1)").click()
    expect(page.get_by_test_id("mail-text")).to_contain_text("1. Scope.")
    page.screenshot(path=str(shots_dir / "upgrade-conditions-mail.png"), full_page=True)
