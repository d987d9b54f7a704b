"""From an upgrade to its invoice in a real browser: carl (Administrator of Kunde Eins, which
pays for itself) activates Copy Content after accepting its conditions, sees it confirmed,
the month is invoiced, and carl downloads the invoice PDF from Setup → Billing — a PDF with
the invoice number, the Copy Content line (in German: a German customer) and the Factur-X
XML inside."""

from datetime import datetime
from zoneinfo import ZoneInfo

import facturx
import pytest
import time_machine
from django.utils import timezone
from django_scopes import scopes_disabled
from playwright.sync_api import expect
from tests.browser.test_seed_flow import log_in
from tests.conftest import PASSWORD
from tests.worker import IMMEDIATE_TASKS as IMMEDIATE

from mandant.billing.models import BillingAccount, Product
from mandant.billing.services import ensure_price_list
from mandant.invoicing.models import Invoice
from mandant.invoicing.services import invoices_run
from mandant.notices.models import OutboundMessage
from pdf_text import pdf_text

pytestmark = pytest.mark.browser


def test_activate_run_the_month_and_download_the_invoice(
    world, browser, page, live_server, settings, shots_dir
):
    settings.TASKS = IMMEDIATE
    settings.EMAIL_BACKEND = "mandant.notices.backends.OutboxBackend"
    ensure_price_list()  # a flushed database (transactional tests) loses the seeded list
    world.carl.email_verified_at = timezone.now()
    world.carl.save()
    BillingAccount.objects.create(
        tenant=world.kunde1,
        name="Kunde Eins AG",
        address="Marktplatz 1\n04109 Leipzig",
        country="DE",
        email="buchhaltung@kunde-eins.example",
    )

    # 1. Activate Copy Content: conditions shown, acceptance required.
    log_in(page, world.carl.email, PASSWORD)
    page.goto("/t/kunde-eins/setup/upgrades/")
    row = page.locator('[data-testid=available-row][data-product="copy_content"]')
    row.get_by_role("link", name="Activate").click()
    expect(page.get_by_test_id("conditions")).to_contain_text("Conditions (version 1 of")
    button = page.get_by_test_id("activate")
    expect(button).to_be_disabled()
    page.get_by_label("I have read the conditions and accept them").check()
    button.click()
    expect(page.get_by_text("“Copy Content” is active.")).to_be_visible()
    assert OutboundMessage.objects.filter(kind="upgrade_activated").exists()

    # Before the run: Setup → Billing shows the account and no invoice yet.
    page.get_by_role("navigation", name="Setup").get_by_role("link", name="Billing").click()
    expect(page).to_have_url(f"{live_server.url}/t/kunde-eins/setup/billing/")
    expect(page.get_by_test_id("billing-account")).to_contain_text("Kunde Eins AG")
    expect(page.get_by_text("No invoices yet.")).to_be_visible()

    # 2. The month is over: the run (as the scheduled task would on the 1st).
    now = timezone.localtime()
    year, month = (now.year + 1, 1) if now.month == 12 else (now.year, now.month + 1)
    first_of_next = datetime(year, month, 1, 2, 0, tzinfo=ZoneInfo(settings.TIME_ZONE))
    with time_machine.travel(first_of_next, tick=False):
        summary = invoices_run(month=f"{now.year:04d}-{now.month:02d}")
    assert summary.created >= 1
    with scopes_disabled():
        invoice = Invoice.objects.get(account__tenant=world.kunde1)
    assert invoice.emailed_at is not None  # rendered and mailed by the task

    # 3. Download it from Setup → Billing.
    page.reload()
    invoice_row = page.locator(f'[data-testid=invoice-row][data-number="{invoice.number}"]')
    expect(invoice_row).to_contain_text("buchhaltung@kunde-eins.example")
    page.screenshot(path=str(shots_dir / "billing-invoices.png"), full_page=True)
    with page.expect_download() as info:
        invoice_row.get_by_test_id("download").click()
    download = info.value
    assert download.suggested_filename == f"{invoice.number}.pdf"
    data = open(download.path(), "rb").read()  # noqa: SIM115
    assert data.startswith(b"%PDF")
    text = pdf_text(data)
    product = Product.objects.get(key="copy_content")
    assert invoice.number in text and "Kunde Eins AG" in text
    assert product.name_de in text  # a German customer: the invoice is in German
    _name, xml = facturx.get_facturx_xml_from_pdf(data, check_xsd=True)
    assert invoice.number.encode() in xml
