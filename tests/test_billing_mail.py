"""The mails after an activation: the conditions with a PDF to the activating user (made in a
background task), "paid upgrade activated" to the administrators of the tenant and its partner
— in the outbox, through the outbox transport, and through a real SMTP server."""

from __future__ import annotations

import io

import pytest
from django.core import mail
from django.utils import translation
from django.utils.text import slugify
from django.utils.translation import gettext
from django_tasks_db.models import DBTaskResult
from PIL import Image
from tests.worker import IMMEDIATE_TASKS

from billing_support import ADMIN, activate, member, verify
from mandant.billing.emails import CONDITIONS_KIND, UPGRADE_NOTICE_KIND, conditions_mail_send
from mandant.billing.models import Product
from mandant.billing.selectors import upgrade_notice_recipients
from mandant.core.actor import Actor
from mandant.notices.models import MessageStatus, OutboundMessage, OutboxMessage
from mandant.tenants.services import LogoUpload, tenant_set_logo
from pdf_text import pdf_text

NOTICE_SUBJECT = "Paid upgrade activated: %(product)s in %(tenant)s"


def in_german(msgid: str, **values: object) -> str:
    """The German text as the catalogue has it (English until it is translated)."""
    values.setdefault("tenant", "Kunde Eins")
    with translation.override("de"):
        return gettext(msgid) % values


DATABASE_TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend", "QUEUES": ["default"]}}


@pytest.fixture
def admins(world):  # type: ignore[no-untyped-def]
    """carl (verified) and an unverified second admin in Kunde Eins; a verified admin of the
    partner Agentur Alpha; eve stays an admin of an unrelated partner."""
    verify(world.carl)
    verify(world.eve)
    return {
        "alpha": member(world, world.alpha, ADMIN, "chefin@alpha.example", language="de"),
        "unverified": member(world, world.kunde1, ADMIN, "neu@kunde-eins.example", verified=False),
    }


def kinds(kind: str) -> list[str]:
    return sorted(OutboundMessage.objects.filter(kind=kind).values_list("to_email", flat=True))


def test_recipients_are_the_verified_administrators_up_to_the_partner(world, admins):
    recipients = upgrade_notice_recipients(world.filiale)
    assert [r.user_id for r in recipients] == [world.carl.pk, admins["alpha"].pk]
    # An inactive or undeliverable address gets nothing.
    world.carl.is_active = False
    world.carl.save()
    assert [r.user_id for r in upgrade_notice_recipients(world.kunde1)] == [admins["alpha"].pk]
    # A partner's own activation goes to its own administrators only (never the root's).
    assert [r.user_id for r in upgrade_notice_recipients(world.alpha)] == [admins["alpha"].pk]


def test_both_mails_land_in_the_outbox_with_the_pdf(
    world, admins, settings, django_capture_on_commit_callbacks
):
    settings.TASKS = IMMEDIATE_TASKS
    client = world.client_for(world.carl)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            "/t/kunde-eins/setup/upgrades/copy_content/activate/",
            {"conditions_version": "1", "accept": "on"},
            REMOTE_ADDR="198.51.100.23",
        )
    assert response.status_code == 302
    assert kinds(UPGRADE_NOTICE_KIND) == ["carl@kunde-eins.example", "chefin@alpha.example"]
    assert kinds(CONDITIONS_KIND) == ["carl@kunde-eins.example"]
    assert set(OutboundMessage.objects.values_list("status", flat=True)) == {MessageStatus.SENT}

    by_subject = {m.subject: m for m in mail.outbox}
    notice_de = by_subject[in_german(NOTICE_SUBJECT, product="Copy Content")]
    assert notice_de.to == ["chefin@alpha.example"]
    assert "carl@kunde-eins.example" in notice_de.body and "15,00" in notice_de.body
    notice_en = by_subject["Paid upgrade activated: Copy Content in Kunde Eins"]
    assert notice_en.to == ["carl@kunde-eins.example"]
    assert notice_en.attachments == []

    conditions = by_subject["Your conditions for Copy Content (version 1)"]
    assert conditions.to == ["carl@kunde-eins.example"]
    assert "1. Scope." in conditions.body  # the conditions in the text part, too
    [(filename, data, content_type)] = conditions.attachments  # type: ignore[misc]
    assert (filename, content_type) == ("conditions-copy-content-v1.pdf", "application/pdf")
    assert data.startswith(b"%PDF-")
    text = pdf_text(data)
    assert "Conditions: Copy Content" in text
    assert "These conditions apply to the product" in text
    assert "Accepted by carl@kunde-eins.example" in text
    assert "15.00 €" in text


def test_the_pdf_speaks_the_users_language(
    world, admins, settings, django_capture_on_commit_callbacks
):
    settings.TASKS = IMMEDIATE_TASKS
    world.carl.language = "de"
    world.carl.save()
    with django_capture_on_commit_callbacks(execute=True):
        activate(world.carl, world.kunde1, "tracking")
    message = OutboundMessage.objects.get(kind=CONDITIONS_KIND)
    assert message.language == "de"
    assert message.subject == in_german(
        "Your conditions for %(product)s (version %(version)s)",
        product="Öffnungs- und Klick-Tracking",
        version=1,
    )
    with translation.override("de"):
        stem = slugify(gettext("conditions"))
    assert message.attachment_name == f"{stem}-tracking-v1.pdf"
    text = pdf_text(bytes(message.attachment_data))  # type: ignore[arg-type]
    assert "Geltungsbereich" in text and "Testphase" in text and "9,00 €" in text


def test_the_pdf_is_made_by_a_task_after_the_request(
    world, admins, settings, django_capture_on_commit_callbacks
):
    settings.TASKS = DATABASE_TASKS
    with django_capture_on_commit_callbacks(execute=True):
        outcome = activate(world.carl, world.kunde1, "copy_content")
    # The request made the notices (recorded with the activation) but no PDF.
    assert not OutboundMessage.objects.filter(kind=CONDITIONS_KIND).exists()
    assert kinds(UPGRADE_NOTICE_KIND) == ["carl@kunde-eins.example", "chefin@alpha.example"]
    task = DBTaskResult.objects.get(task_path="mandant.billing.tasks.send_conditions_mail")
    assert task.args_kwargs["args"] == [outcome.acceptance.pk]
    # The worker runs it; running it twice mails once.
    first = conditions_mail_send(acceptance_id=outcome.acceptance.pk)
    assert first is not None and bytes(first.attachment_data or b"").startswith(b"%PDF")
    assert conditions_mail_send(acceptance_id=outcome.acceptance.pk) is None
    assert OutboundMessage.objects.filter(kind=CONDITIONS_KIND).count() == 1


def test_no_mail_when_the_activation_is_refused(
    world, admins, settings, django_capture_on_commit_callbacks
):
    settings.TASKS = IMMEDIATE_TASKS
    with django_capture_on_commit_callbacks(execute=True):
        activate(world.carl, world.kunde1, "copy_content")
    before = OutboundMessage.objects.count()
    with django_capture_on_commit_callbacks(execute=True):
        response = world.client_for(world.carl).post(
            "/t/kunde-eins/setup/upgrades/copy_content/activate/",
            {"conditions_version": "1", "accept": "on"},
        )
    assert response.status_code == 409
    assert OutboundMessage.objects.count() == before


def png_bytes() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (60, 20), (0, 120, 60)).save(out, format="PNG")
    return out.getvalue()


def test_outbox_transport_keeps_logo_and_pdf_in_a_mixed_message(
    world, admins, settings, django_capture_on_commit_callbacks
):
    settings.TASKS = IMMEDIATE_TASKS
    settings.EMAIL_BACKEND = "mandant.notices.backends.OutboxBackend"
    tenant_set_logo(
        actor=Actor(user=world.paula),
        tenant=world.kunde1,
        logo=LogoUpload(data=png_bytes(), filename="logo.png"),
    )
    world.kunde1.refresh_from_db()
    with django_capture_on_commit_callbacks(execute=True):
        activate(world.carl, world.kunde1, "copy_content")
    message = OutboundMessage.objects.get(kind=CONDITIONS_KIND)
    assert message.status == MessageStatus.KEPT
    copy = OutboxMessage.objects.get(outbound_id=message.pk)
    from email import message_from_bytes, policy

    parsed = message_from_bytes(bytes(copy.raw), policy=policy.default)
    types = [part.get_content_type() for part in parsed.walk()]
    assert types == [
        "multipart/mixed",
        "multipart/related",
        "multipart/alternative",
        "text/plain",
        "text/html",
        "image/png",
        "application/pdf",
    ]
    pdf_part = list(parsed.walk())[-1]
    assert pdf_part.get_filename() == "conditions-copy-content-v1.pdf"
    assert pdf_part.get_payload(decode=True).startswith(b"%PDF")  # type: ignore[union-attr]
    # The operator's outbox page shows it.
    page = world.client_for(world.olga).get(f"/operator/outbox/{message.pk}/")
    assert page.status_code == 200


def test_both_mails_through_a_real_smtp_server(
    world, admins, smtp, settings, django_capture_on_commit_callbacks
):
    settings.TASKS = IMMEDIATE_TASKS
    with django_capture_on_commit_callbacks(execute=True):
        activate(world.carl, world.kunde1, "copy_content")
    assert set(OutboundMessage.objects.values_list("status", flat=True)) == {MessageStatus.SENT}
    to_carl = {r.message["Subject"]: r.message for r in smtp.handler.to("carl@kunde-eins.example")}
    assert set(to_carl) == {
        "Paid upgrade activated: Copy Content in Kunde Eins",
        "Your conditions for Copy Content (version 1)",
    }
    conditions = to_carl["Your conditions for Copy Content (version 1)"]
    assert conditions.get_content_type() == "multipart/mixed"
    [attachment] = list(conditions.iter_attachments())
    assert attachment.get_content_type() == "application/pdf"
    data = attachment.get_content()
    assert isinstance(data, bytes) and data.startswith(b"%PDF")
    assert "These conditions apply to the product" in pdf_text(data)
    [partner] = smtp.handler.to("chefin@alpha.example")
    assert partner.message["Subject"] == in_german(NOTICE_SUBJECT, product="Copy Content")
    assert smtp.handler.to("eve@fremd.example") == []
    assert smtp.handler.to("neu@kunde-eins.example") == []


def test_an_operators_addition_sends_nothing(world, admins, settings):
    settings.TASKS = IMMEDIATE_TASKS
    from mandant.tenants.services import tenant_set_management_active

    tenant_set_management_active(actor=Actor(user=world.olga), tenant=world.kunde1, active=True)
    assert not OutboundMessage.objects.exists()
    assert Product.objects.get(key="tenant_management")
