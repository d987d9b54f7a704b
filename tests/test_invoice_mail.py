"""The invoice document once stored and the invoice mailed once: to the billing contact, or to
the verified administrators of the account's tenant; with the PDF attached — in the outbox
and through a real SMTP server; the task the invoice run enqueues."""

from __future__ import annotations

import facturx
import pytest
from django.core import mail
from django_scopes import scopes_disabled
from tests.worker import IMMEDIATE_TASKS

from billing_support import ADMIN, member, verify
from invoice_support import account_for, make_invoice
from mandant.audit.models import AuditEntry
from mandant.invoicing.documents import (
    INVOICE_MAIL_KIND,
    invoice_document_create_and_send,
    invoice_document_get_or_create,
)
from mandant.invoicing.models import Invoice, InvoiceDocument
from mandant.invoicing.tasks import render_and_send
from mandant.notices.models import MessageStatus, OutboundMessage
from pdf_text import pdf_text


def fresh(invoice: Invoice) -> Invoice:
    with scopes_disabled():
        return Invoice.objects.select_related("email_message").get(pk=invoice.pk)


@pytest.fixture
def invoice(world):  # type: ignore[no-untyped-def]
    account = account_for(world.alpha, email="buchhaltung@alpha.example")
    return make_invoice(account)


def test_the_document_is_stored_once_and_reused(invoice):
    first = invoice_document_get_or_create(invoice_id=invoice.pk)
    again = invoice_document_get_or_create(invoice_id=invoice.pk)
    assert first.pk == again.pk and InvoiceDocument.objects.count() == 1
    pdf = bytes(first.pdf)
    assert pdf.startswith(b"%PDF") and len(first.sha256) == 64
    _name, xml = facturx.get_facturx_xml_from_pdf(pdf, check_xsd=True)
    assert invoice.number.encode() in xml


def test_create_and_send_mails_the_billing_contact_once(
    invoice, settings, django_capture_on_commit_callbacks
):
    settings.TASKS = IMMEDIATE_TASKS
    with django_capture_on_commit_callbacks(execute=True):
        document = invoice_document_create_and_send(invoice_id=invoice.pk)
    with django_capture_on_commit_callbacks(execute=True):
        assert invoice_document_create_and_send(invoice_id=invoice.pk).pk == document.pk
    [message] = OutboundMessage.objects.filter(kind=INVOICE_MAIL_KIND)
    assert message.to_email == "buchhaltung@alpha.example"
    assert message.language == "de"  # a German customer
    assert message.status == MessageStatus.SENT
    assert message.attachment_name == f"{invoice.number}.pdf"
    assert bytes(message.attachment_data or b"") == bytes(document.pdf)
    stored = fresh(invoice)
    assert stored.email_message_id == message.pk and stored.emailed_at is not None
    assert (
        AuditEntry.objects.filter(action="invoice.emailed", object_id=str(invoice.pk)).count() == 1
    )

    [sent] = mail.outbox
    assert sent.to == ["buchhaltung@alpha.example"]
    assert invoice.number in sent.subject and "Agentur Alpha GmbH" in sent.subject
    assert "65,47" in sent.body and "15.02.2026" in sent.body
    assert "/t/agentur-alpha/setup/billing/" in sent.body
    [(filename, data, content_type)] = sent.attachments  # type: ignore[misc]
    assert (filename, content_type) == (f"{invoice.number}.pdf", "application/pdf")
    assert invoice.number in pdf_text(data)


def test_without_a_billing_contact_the_verified_administrators_get_it(world, settings):
    settings.TASKS = IMMEDIATE_TASKS
    verify(world.carl)
    unverified = member(world, world.kunde1, ADMIN, "neu@kunde-eins.example", verified=False)
    second = member(world, world.kunde1, ADMIN, "zweite@kunde-eins.example", language="de")
    account = account_for(world.kunde1, country="AT", address="Ring 1\n1010 Wien")
    invoice = make_invoice(account)
    invoice_document_create_and_send(invoice_id=invoice.pk)
    messages = OutboundMessage.objects.filter(kind=INVOICE_MAIL_KIND).order_by("pk")
    assert [(m.to_email, m.language) for m in messages] == [
        ("carl@kunde-eins.example", "en"),  # each in the user's language
        ("zweite@kunde-eins.example", "de"),
    ]
    assert unverified.email not in {m.to_email for m in messages}
    # The administrators of the partner above are not the billing contact of this account.
    assert fresh(invoice).email_message_id == messages[0].pk
    assert second.email == "zweite@kunde-eins.example"


def test_nobody_to_send_to_leaves_the_invoice_unsent(world):
    account = account_for(world.kunde2)  # no contact, no administrator
    invoice = make_invoice(account)
    document = invoice_document_create_and_send(invoice_id=invoice.pk)
    assert document.pk is not None
    assert not OutboundMessage.objects.exists()
    assert fresh(invoice).emailed_at is None


def test_the_task_of_the_run_renders_and_sends(
    invoice, settings, django_capture_on_commit_callbacks
):
    settings.TASKS = IMMEDIATE_TASKS
    with django_capture_on_commit_callbacks(execute=True):
        render_and_send.enqueue(invoice.pk)
    assert InvoiceDocument.objects.filter(invoice_id=invoice.pk).exists()
    assert OutboundMessage.objects.filter(kind=INVOICE_MAIL_KIND).count() == 1


def test_the_invoice_through_a_real_smtp_server(
    invoice, smtp, settings, django_capture_on_commit_callbacks
):
    settings.TASKS = IMMEDIATE_TASKS
    with django_capture_on_commit_callbacks(execute=True):
        invoice_document_create_and_send(invoice_id=invoice.pk)
    [received] = smtp.handler.to("buchhaltung@alpha.example")
    message = received.message
    assert message.get_content_type() == "multipart/mixed"
    [attachment] = list(message.iter_attachments())
    assert attachment.get_content_type() == "application/pdf"
    assert attachment.get_filename() == f"{invoice.number}.pdf"
    data = attachment.get_content()
    assert isinstance(data, bytes)
    _name, xml = facturx.get_facturx_xml_from_pdf(data, check_xsd=True)
    assert facturx.xml_check_xsd(xml, flavor="factur-x", level="en16931")
