"""Setup → Billing: who is billed, the invoices of the tenant's own billing account with their
PDFs (rendered on demand), who may see them; the operators' invoice page with the run."""

from __future__ import annotations

import re
from datetime import datetime
from zoneinfo import ZoneInfo

import facturx
import pytest
import time_machine
from django_scopes import scopes_disabled

from billing_support import ADMIN, EDITOR, member
from invoice_support import account_for, cancellation_of, make_invoice
from mandant.invoicing.models import Invoice, InvoiceDocument
from pdf_text import pdf_text

BILLING = "/t/{}/setup/billing/"


def text(response) -> str:  # type: ignore[no-untyped-def]
    return re.sub(r"[ \t\r\n]+", " ", response.content.decode())


@pytest.fixture
def alpha_admin(world):  # type: ignore[no-untyped-def]
    return member(world, world.alpha, ADMIN, "chefin@alpha.example")


@pytest.fixture
def alpha_invoices(world):  # type: ignore[no-untyped-def]
    account = account_for(world.alpha, name="Agentur Alpha GmbH", email="rechnung@alpha.example")
    original = make_invoice(account)
    return original, cancellation_of(original)


def test_the_partner_administrator_sees_its_account_and_invoices(
    world, alpha_admin, alpha_invoices
):
    original, cancellation = alpha_invoices
    response = world.client_for(alpha_admin).get(BILLING.format("agentur-alpha"))
    assert response.status_code == 200
    body = text(response)
    assert 'aria-current="page" data-testid="billing-link">Billing' in body
    assert "Agentur Alpha GmbH" in body and "rechnung@alpha.example" in body
    rows = re.findall(r'data-testid="invoice-row" data-number="([\w-]+)"', body)
    assert rows == [cancellation.number, original.number]  # newest first
    assert "1/1/2026 – 1/31/2026" in body or "01/01/2026 – 01/31/2026" in body
    assert "55.02\u00a0€" in body and "10.45\u00a0€" in body and "65.47\u00a0€" in body
    assert "-65.47\u00a0€" in body
    assert f"refers to {original.number}" in body  # the correction names the original
    assert "not sent yet" in body
    assert f'href="/t/agentur-alpha/setup/billing/{original.number}.pdf"' in body


def test_german_numbers_and_dates(world, alpha_admin, alpha_invoices):
    alpha_admin.language = "de"
    alpha_admin.save()
    client = world.client_for(alpha_admin)
    client.cookies["mandant_language"] = "de"
    body = text(client.get(BILLING.format("agentur-alpha"), HTTP_ACCEPT_LANGUAGE="de"))
    assert "65,47\u00a0€" in body and "01.01.2026" in body


def test_a_sub_tenant_without_an_account_shows_who_pays(world, alpha_invoices):
    response = world.client_for(world.carl).get(BILLING.format("kunde-eins"))
    assert response.status_code == 200
    body = text(response)
    assert 'data-testid="payer"' in body
    assert "Agentur Alpha GmbH" in body
    assert 'data-testid="invoice-row"' not in body
    # The partner's invoices are not reachable from here.
    original, _cancellation = alpha_invoices
    url = BILLING.format("kunde-eins") + f"{original.number}.pdf"
    assert world.client_for(world.carl).get(url).status_code == 404


def test_a_sub_tenant_with_its_own_account(world, alpha_admin):
    account = account_for(world.kunde1, name="Kunde Eins AG")
    invoice = make_invoice(account)
    for user in (world.carl, alpha_admin):  # its Administrator; the partner's (inherited)
        body = text(world.client_for(user).get(BILLING.format("kunde-eins")))
        assert f'data-number="{invoice.number}"' in body
    # …but it is not the partner's invoice: 404 under the partner's tenant.
    url = BILLING.format("agentur-alpha") + f"{invoice.number}.pdf"
    assert world.client_for(alpha_admin).get(url).status_code == 404


def test_the_pdf_download_renders_on_demand_and_stores_it(world, alpha_admin, alpha_invoices):
    original, _cancellation = alpha_invoices
    assert not InvoiceDocument.objects.exists()
    url = BILLING.format("agentur-alpha") + f"{original.number}.pdf"
    response = world.client_for(alpha_admin).get(url)
    assert response.status_code == 200
    assert response["Content-Type"] == "application/pdf"
    assert response["Content-Disposition"] == f'attachment; filename="{original.number}.pdf"'
    assert response.content.startswith(b"%PDF")
    assert original.number in pdf_text(response.content)
    _name, xml = facturx.get_facturx_xml_from_pdf(response.content, check_xsd=True)
    assert original.number.encode() in xml
    document = InvoiceDocument.objects.get(invoice=original)
    again = world.client_for(alpha_admin).get(url)
    assert again.content == bytes(document.pdf)  # the stored one, not a new rendering
    assert InvoiceDocument.objects.count() == 1


def test_unknown_and_foreign_numbers_are_404(world, alpha_admin, alpha_invoices):
    original, _cancellation = alpha_invoices
    client = world.client_for(alpha_admin)
    base = BILLING.format("agentur-alpha")
    for number in ("RE-2026-99999", "re-2026-9", "..", original.number + "x"):
        assert client.get(f"{base}{number}.pdf").status_code == 404, number
    # Another partner's administrator: neither the tenant nor, from its own, the number.
    eve = world.client_for(world.eve)
    assert eve.get(f"{base}{original.number}.pdf").status_code == 404
    assert eve.get(BILLING.format("fremdagentur") + f"{original.number}.pdf").status_code == 404
    assert eve.get(base).status_code == 404


def test_weaker_roles_may_not_see_invoices(world, alpha_invoices):
    editor = member(world, world.kunde1, EDITOR, "ed@kunde-eins.example")
    original, _cancellation = alpha_invoices
    for user, slug in ((world.paula, "agentur-alpha"), (editor, "kunde-eins")):
        client = world.client_for(user)
        assert client.get(BILLING.format(slug)).status_code == 403
        assert client.get(BILLING.format(slug) + f"{original.number}.pdf").status_code == 403
        # The Setup menu does not offer it.
        assert (
            'data-testid="billing-link"'
            not in client.get(f"/t/{slug}/setup/upgrades/").content.decode()
        )
    assert 'data-testid="billing-link"' in (
        world.client_for(world.carl).get("/t/kunde-eins/setup/upgrades/").content.decode()
    )


def test_the_page_only_answers_get(world, alpha_admin, alpha_invoices):
    client = world.client_for(alpha_admin)
    assert client.post(BILLING.format("agentur-alpha")).status_code == 405


def test_the_email_status_is_shown(world, alpha_admin, alpha_invoices, settings):
    from tests.worker import IMMEDIATE_TASKS

    from mandant.invoicing.documents import invoice_document_create_and_send

    settings.TASKS = IMMEDIATE_TASKS
    original, _cancellation = alpha_invoices
    invoice_document_create_and_send(invoice_id=original.pk)
    body = text(world.client_for(alpha_admin).get(BILLING.format("agentur-alpha")))
    assert "rechnung@alpha.example" in body and "sent " in body


# --- operators -------------------------------------------------------------------------------


def test_operators_see_every_invoice(world, alpha_invoices):
    account = account_for(world.fremd, name="Fremdagentur GmbH")
    foreign = make_invoice(account)
    client = world.client_for(world.olga)
    body = text(client.get("/operator/invoices/"))
    numbers = re.findall(r'data-testid="invoice-row" data-number="([\w-]+)"', body)
    assert set(numbers) == {alpha_invoices[0].number, alpha_invoices[1].number, foreign.number}
    assert f'href="/t/fremdagentur/setup/billing/{foreign.number}.pdf"' in body
    found = text(client.get("/operator/invoices/", {"q": "Fremd"}))
    assert re.findall(r'data-testid="invoice-row" data-number="([\w-]+)"', found) == [
        foreign.number
    ]
    # Operators download through the tenant's page like its administrators.
    response = client.get(f"/t/fremdagentur/setup/billing/{foreign.number}.pdf")
    assert response.status_code == 200 and response.content.startswith(b"%PDF")


def test_the_operator_page_is_404_for_everyone_else(world, alpha_admin):
    for user in (world.paula, world.carl, alpha_admin):
        client = world.client_for(user)
        assert client.get("/operator/invoices/").status_code == 404
        assert client.post("/operator/invoices/", {"month": "2026-01"}).status_code == 404


def test_a_bad_month_is_refused_keeping_the_input(world):
    client = world.client_for(world.olga)
    for month in ("2026-13", "Januar", ""):
        response = client.post("/operator/invoices/", {"month": month})
        assert response.status_code == 422, month
        assert f'value="{month}"' in response.content.decode() or month == ""
    with scopes_disabled():
        assert not Invoice.objects.exists()


def test_the_operator_runs_a_month(world):
    account_for(world.alpha, name="Agentur Alpha GmbH")
    berlin = ZoneInfo("Europe/Berlin")
    with time_machine.travel(datetime(2027, 1, 2, 9, 0, tzinfo=berlin), tick=False):
        client = world.client_for(world.olga)
        # A month that is not over yet is refused by the run itself.
        response = client.post("/operator/invoices/", {"month": "2027-01"})
        assert response.status_code == 422
        assert "2027-01" in response.content.decode()
        response = client.post("/operator/invoices/", {"month": "2026-12"})
        assert response.status_code == 302
        page = text(client.get(response["Location"]))
    with scopes_disabled():
        invoices = list(Invoice.objects.filter(month="2026-12"))
    assert len(invoices) == 1 and invoices[0].account.tenant_id == world.alpha.pk
    assert "Invoice run for 2026-12: 1 new invoice(s), 0 billing account(s)" in page
    assert f'data-number="{invoices[0].number}"' in page
