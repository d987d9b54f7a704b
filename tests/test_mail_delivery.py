"""The one outbound mail service: record, deliver in a background task, retry, give up.

Delivery runs through a REAL SMTP server (aiosmtpd on 127.0.0.1, see ``smtp_sink``) or the
``outbox://`` transport, with the task backend being the ImmediateBackend (tasks run when the
transaction commits) or the database backend (tasks are rows a worker picks up).
"""

from __future__ import annotations

import copy
import io
import re
import smtplib
from datetime import timedelta
from html import escape
from pathlib import Path

import pytest
from django.test import Client
from django.utils import timezone
from django_tasks_db.models import DBTaskResult
from PIL import Image
from tests.worker import DATABASE_TASKS as DATABASE
from tests.worker import IMMEDIATE_TASKS as IMMEDIATE

from mandant.accounts.models import User
from mandant.audit.models import AuditEntry
from mandant.config.env import email_settings
from mandant.core.actor import Actor
from mandant.notices import delivery
from mandant.notices.delivery import Result, outcome_for_exception
from mandant.notices.models import MessageStatus, OutboundMessage, OutboxMessage
from mandant.notices.selectors import mail_parts, undeliverable_addresses
from mandant.notices.services import mail_queue
from mandant.tenants.services import LogoUpload, tenant_set_logo
from smtp_sink import free_port

SUBJECT = '{% load i18n %}{% translate "Password" %} & {{ tenant.name }}'
TEXT = (
    '{% extends "mail/base.txt" %}{% load i18n %}{% block content %}'
    '{% translate "Password" %}: {{ who }}{% endblock %}'
)
HTML = (
    '{% extends "mail/base.html" %}{% load i18n %}{% block content %}'
    '<p>{% translate "Password" %}: {{ who }}</p>{% endblock %}'
)


def png_bytes() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (60, 20), (200, 30, 30)).save(out, format="PNG")
    return out.getvalue()


@pytest.fixture
def mail_templates(settings, tmp_path: Path) -> Path:  # type: ignore[no-untyped-def]
    """A test mail ``mail/hello.*`` next to the product's templates."""
    folder = tmp_path / "mail"
    folder.mkdir()
    (folder / "hello.subject.txt").write_text(SUBJECT)
    (folder / "hello.txt").write_text(TEXT)
    (folder / "hello.html").write_text(HTML)
    templates = copy.deepcopy(settings.TEMPLATES)
    templates[0]["DIRS"] = [tmp_path, *templates[0]["DIRS"]]
    settings.TEMPLATES = templates
    return tmp_path


@pytest.fixture
def immediate(settings) -> None:  # type: ignore[no-untyped-def]
    settings.TASKS = IMMEDIATE


@pytest.fixture
def dbtasks(settings) -> None:  # type: ignore[no-untyped-def]
    settings.TASKS = DATABASE


def queue_hello(to_user: User, tenant=None, **kwargs):  # type: ignore[no-untyped-def]
    return mail_queue(
        kind="test.hello",
        template="hello",
        context={"who": "Tom & Jerry"},
        to_user=to_user,
        tenant=tenant,
        **kwargs,
    )


# --- the transports --------------------------------------------------------------------


def test_email_url_smtp_settings():
    values = email_settings("smtp://mailer:s%40cret@relay.example:587?tls=1")
    assert values["EMAIL_BACKEND"] == "django.core.mail.backends.smtp.EmailBackend"
    assert (values["EMAIL_HOST"], values["EMAIL_PORT"]) == ("relay.example", 587)
    assert (values["EMAIL_HOST_USER"], values["EMAIL_HOST_PASSWORD"]) == ("mailer", "s@cret")
    assert values["EMAIL_USE_TLS"] is True and values["EMAIL_USE_SSL"] is False
    assert email_settings("smtps://relay.example")["EMAIL_PORT"] == 465
    assert email_settings("smtps://relay.example")["EMAIL_USE_SSL"] is True
    assert email_settings("outbox://") == {
        "EMAIL_BACKEND": "mandant.notices.backends.OutboxBackend"
    }


def test_outbox_transport_keeps_the_mail_and_shows_it_safely(
    world, settings, immediate, mail_templates, django_capture_on_commit_callbacks
):
    settings.EMAIL_BACKEND = "mandant.notices.backends.OutboxBackend"
    tenant_set_logo(
        actor=Actor(user=world.paula),
        tenant=world.alpha,
        logo=LogoUpload(data=png_bytes(), filename="logo.png"),
    )
    world.alpha.refresh_from_db()
    with django_capture_on_commit_callbacks(execute=True):
        message = queue_hello(world.carl, tenant=world.alpha)
    message.refresh_from_db()
    assert message.status == MessageStatus.KEPT
    assert message.attempts == 1
    assert message.sent_at is not None
    copy_ = OutboxMessage.objects.get(outbound_id=message.pk)
    parts = mail_parts(bytes(copy_.raw))
    assert parts.content_types[:4] == [
        "multipart/related",
        "multipart/alternative",
        "text/plain",
        "text/html",
    ]
    assert "Tom & Jerry" in parts.text
    assert "Tom &amp; Jerry" in parts.html
    assert list(parts.images) == [message.logo_cid]

    # The operator's outbox: the list, and the message with its HTML in a sandboxed iframe.
    olga = world.client_for(world.olga)
    listing = olga.get("/operator/outbox/").content.decode()
    assert escape(message.subject) in listing and "carl@kunde-eins.example" in listing
    page = olga.get(f"/operator/outbox/{message.pk}/").content.decode()
    iframe = re.search(r"<iframe[^>]*>", page)
    assert iframe is not None
    assert 'sandbox=""' in iframe.group(0)
    srcdoc = re.search(r'srcdoc="([^"]*)"', iframe.group(0))
    assert srcdoc is not None
    # Escaped once for the attribute: no raw markup can leave the iframe.
    assert "&lt;p&gt;" in srcdoc.group(1) and "<p>" not in srcdoc.group(1)
    assert "Tom &amp;amp; Jerry" in srcdoc.group(1)
    assert "data:image/png;base64," in srcdoc.group(1)  # the inline logo, shown
    assert 'data-testid="mail-text"' in page and "Tom &amp; Jerry" in page
    # Others never see it.
    for user in (world.paula, world.carl, world.eve):
        assert world.client_for(user).get(f"/operator/outbox/{message.pk}/").status_code == 404


def test_outbox_filter_rejects_an_unknown_status_with_400(world):
    olga = world.client_for(world.olga)
    assert olga.get("/operator/outbox/", {"status": "failed"}).status_code == 200
    response = olga.get("/operator/outbox/", {"status": "<script>"})
    assert response.status_code == 400
    assert "&lt;script&gt;" in response.content.decode()


def test_smtp_multipart_in_the_recipients_language_with_the_tenant_logo(
    world, smtp, immediate, mail_templates, django_capture_on_commit_callbacks
):
    world.carl.language = "de"
    world.carl.save()
    tenant_set_logo(
        actor=Actor(user=world.paula),
        tenant=world.kunde1,
        logo=LogoUpload(data=png_bytes(), filename="logo.png"),
    )
    world.kunde1.refresh_from_db()
    with django_capture_on_commit_callbacks(execute=True):
        message = queue_hello(world.carl, tenant=world.kunde1)
    message.refresh_from_db()
    assert message.status == MessageStatus.SENT
    assert message.smtp_response.startswith("250 2.0.0 Ok: queued as")
    assert message.language == "de"
    (received,) = smtp.handler.to("carl@kunde-eins.example")
    mail = received.message
    assert mail["Subject"] == "Passwort & Kunde Eins"  # German, not HTML-escaped
    assert mail.get_content_type() == "multipart/related"
    alternative, image = mail.get_payload()  # type: ignore[misc]
    assert alternative.get_content_type() == "multipart/alternative"
    text, html = alternative.get_payload()
    assert text.get_content_type() == "text/plain"
    assert "Passwort: Tom & Jerry" in text.get_content()
    assert html.get_content_type() == "text/html"
    assert "Passwort: Tom &amp; Jerry" in html.get_content()
    assert image.get_content_type() == "image/png"
    assert image["Content-ID"] == f"<{message.logo_cid}>"
    assert image.get_payload(decode=True) == bytes(world.kunde1.logo_png)
    assert f'src="cid:{message.logo_cid}"' in html.get_content()
    assert mail["X-Mandant-Message"] == str(message.pk)


def test_without_a_logo_the_mail_carries_the_tenant_name(
    world, smtp, immediate, mail_templates, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        message = queue_hello(world.carl, tenant=world.kunde2)
    assert message.logo_cid == ""
    mail = smtp.handler.to("carl@kunde-eins.example")[0].message
    assert mail.get_content_type() == "multipart/alternative"
    text, html = mail.get_payload()  # type: ignore[misc]
    assert text.get_content().replace("\r\n", "\n").startswith("Kunde Zwei\nPassword:")
    assert "<strong" in html.get_content() and "Kunde Zwei" in html.get_content()
    assert mail["Subject"] == "Password & Kunde Zwei"  # carl's language: English


def test_a_single_mail_goes_before_the_batches(
    world, dbtasks, mail_templates, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        message = queue_hello(world.carl)
    task = DBTaskResult.objects.get()
    assert task.task_path == "mandant.notices.tasks.deliver_message"
    assert task.args_kwargs["args"] == [message.pk]
    assert task.priority > 0  # before the notice batches (priority 0)


# --- temporary failures: retried with back-off -----------------------------------------


def test_451_is_retried_with_exponential_back_off_then_given_up(
    world, smtp, dbtasks, settings, mail_templates, django_capture_on_commit_callbacks
):
    settings.MAIL_RETRY_BASE_SECONDS = 60
    smtp.handler.defer.add("carl@kunde-eins.example")
    with django_capture_on_commit_callbacks(execute=True):
        message = queue_hello(world.carl)
    DBTaskResult.objects.all().delete()  # the first delivery task: run it by hand
    for attempt in range(1, 6):
        before = timezone.now()
        report = delivery.messages_deliver(message_ids=[message.pk])
        assert report.retrying == 1
        message.refresh_from_db()
        assert message.status == MessageStatus.RETRYING
        assert message.attempts == attempt
        assert message.smtp_response.startswith("451 4.7.1")
        delay = timedelta(seconds=60 * 2 ** (attempt - 1))  # 1, 2, 4, 8, 16 minutes
        assert before + delay <= message.next_attempt_at <= timezone.now() + delay
        (task,) = DBTaskResult.objects.all()
        assert task.task_path == "mandant.notices.tasks.deliver_messages"
        assert task.args_kwargs["args"] == [[message.pk]]
        assert task.run_after == message.next_attempt_at
        assert not DBTaskResult.objects.ready().exists()  # not before it is due
        task.delete()
    delivery.messages_deliver(message_ids=[message.pk])  # the 6th attempt
    message.refresh_from_db()
    assert (message.status, message.attempts, message.next_attempt_at) == (
        MessageStatus.FAILED,
        6,
        None,
    )
    assert not DBTaskResult.objects.exists()
    world.carl.refresh_from_db()
    assert world.carl.email_undeliverable_at is None  # temporary: the address is fine
    assert smtp.handler.received == []


def test_retry_succeeds_once_the_server_accepts(
    world, smtp, dbtasks, mail_templates, django_capture_on_commit_callbacks
):
    smtp.handler.defer.add("carl@kunde-eins.example")
    with django_capture_on_commit_callbacks(execute=True):
        message = queue_hello(world.carl)
    delivery.messages_deliver(message_ids=[message.pk])
    smtp.handler.defer.clear()
    delivery.messages_deliver(message_ids=[message.pk])
    message.refresh_from_db()
    assert (message.status, message.attempts) == (MessageStatus.SENT, 2)
    assert len(smtp.handler.to("carl@kunde-eins.example")) == 1
    # Delivered messages are never sent twice (a stale retry task finds nothing to do).
    assert delivery.messages_deliver(message_ids=[message.pk]).skipped == 1


def test_connection_refused_is_temporary(
    world, settings, dbtasks, mail_templates, django_capture_on_commit_callbacks
):
    for key, value in email_settings(f"smtp://127.0.0.1:{free_port()}").items():
        setattr(settings, key, value)
    with django_capture_on_commit_callbacks(execute=True):
        message = queue_hello(world.carl)
    delivery.messages_deliver(message_ids=[message.pk])
    message.refresh_from_db()
    assert message.status == MessageStatus.RETRYING
    assert "ConnectionRefusedError" in message.smtp_response
    assert message.next_attempt_at is not None


@pytest.mark.parametrize(
    ("exc", "result"),
    [
        (smtplib.SMTPRecipientsRefused({"a@b.example": (550, b"no such user")}), Result.PERMANENT),
        (smtplib.SMTPRecipientsRefused({"a@b.example": (452, b"mailbox full")}), Result.TEMPORARY),
        (smtplib.SMTPDataError(554, b"rejected as spam"), Result.PERMANENT),
        (smtplib.SMTPDataError(421, b"closing"), Result.TEMPORARY),
        (smtplib.SMTPServerDisconnected("gone"), Result.TEMPORARY),
        (ConnectionRefusedError(111, "Connection refused"), Result.TEMPORARY),
        (TimeoutError("timed out"), Result.TEMPORARY),
    ],
)
def test_classification(exc, result):
    outcome = outcome_for_exception(exc)
    assert outcome.result is result
    assert outcome.recipient_refused == (
        isinstance(exc, smtplib.SMTPRecipientsRefused) and result is Result.PERMANENT
    )


# --- permanent refusals: failed, and the address is marked undeliverable --------------


def test_550_fails_and_marks_the_address_undeliverable(
    world, smtp, immediate, mail_templates, django_capture_on_commit_callbacks
):
    smtp.handler.refuse.add("carl@kunde-eins.example")
    with django_capture_on_commit_callbacks(execute=True):
        message = queue_hello(world.carl, tenant=world.kunde1)
        queue_hello(world.paula, tenant=world.alpha)
    message.refresh_from_db()
    assert (message.status, message.attempts) == (MessageStatus.FAILED, 1)
    assert message.smtp_response.startswith("550 5.1.1")
    assert "User unknown" in message.smtp_response
    world.carl.refresh_from_db()
    assert world.carl.email_undeliverable_at is not None
    assert "550 5.1.1" in world.carl.email_undeliverable_reason
    entry = AuditEntry.objects.get(action="user.email_undeliverable")
    assert (entry.object_id, entry.tenant_id, entry.actor_id) == (
        str(world.carl.pk),
        world.kunde1.pk,
        None,
    )
    world.paula.refresh_from_db()
    assert world.paula.email_undeliverable_at is None  # the other mail went through
    assert len(smtp.handler.to("paula@alpha.example")) == 1

    # The warning: for the tenant's administrators and the partner, in the subtree only.
    assert [m.user for m in undeliverable_addresses(world.kunde1)] == [world.carl]
    assert [m.user for m in undeliverable_addresses(world.alpha)] == [world.carl]
    assert undeliverable_addresses(world.kunde2) == []
    assert undeliverable_addresses(world.fremd) == []
    for user, slug in (
        (world.carl, "kunde-eins"),
        (world.paula, "kunde-eins"),
        (world.paula, "agentur-alpha"),
        (world.olga, "kunde-eins"),
    ):
        page = world.client_for(user).get(f"/t/{slug}/").content.decode()
        assert 'data-testid="undeliverable-warning"' in page, (user, slug)
        assert "carl@kunde-eins.example" in page
        assert "550 5.1.1" in page
    for user, slug in ((world.paula, "kunde-zwei"), (world.eve, "fremdagentur")):
        page = world.client_for(user).get(f"/t/{slug}/").content.decode()
        assert 'data-testid="undeliverable-warning"' not in page, (user, slug)


def test_the_warning_is_not_for_viewers(
    world, smtp, immediate, mail_templates, django_capture_on_commit_callbacks
):
    from mandant.accounts.services import membership_set, user_create

    vera = user_create(email="vera@kunde-eins.example", password="x-Very-long-passw0rd!")
    membership_set(actor=Actor(user=world.olga), tenant=world.kunde1, user=vera, role=400)
    smtp.handler.refuse.add("carl@kunde-eins.example")
    with django_capture_on_commit_callbacks(execute=True):
        queue_hello(world.carl, tenant=world.kunde1)
    client = Client()
    client.force_login(vera)
    page = client.get("/t/kunde-eins/").content.decode()
    assert 'data-testid="undeliverable-warning"' not in page


def test_a_changed_address_is_not_marked(
    world, smtp, immediate, mail_templates, django_capture_on_commit_callbacks
):
    """The refusal concerns the address the mail went to, not the user's new one."""
    smtp.handler.refuse.add("old@kunde-eins.example")
    with django_capture_on_commit_callbacks(execute=True):
        queue_hello(world.carl, to_email="old@kunde-eins.example")
    world.carl.refresh_from_db()
    assert world.carl.email_undeliverable_at is None


# --- batches: one connection for many messages ----------------------------------------


def test_a_batch_is_sent_over_one_connection(world, smtp, dbtasks, settings):
    settings.MAIL_BATCH_SIZE = 200
    rows = OutboundMessage.objects.bulk_create(
        OutboundMessage(
            to_email=f"person{i}@batch.example",
            kind="test",
            language="en",
            subject=f"Hello {i}",
            text_body="Hi",
            html_body="<p>Hi</p>",
        )
        for i in range(250)
    )
    ids = [row.pk for row in rows]
    assert delivery.schedule_delivery(ids) == 2  # 200 + 50
    tasks = list(DBTaskResult.objects.order_by("enqueued_at"))
    assert [len(t.args_kwargs["args"][0]) for t in tasks] == [200, 50]
    for task in tasks:
        delivery.messages_deliver(message_ids=task.args_kwargs["args"][0])
    assert smtp.handler.connections == 2
    assert len(smtp.handler.received) == 250
    assert OutboundMessage.objects.filter(status=MessageStatus.SENT).count() == 250


def test_a_refusal_in_a_batch_does_not_stop_the_others(world, smtp, dbtasks):
    rows = OutboundMessage.objects.bulk_create(
        OutboundMessage(
            to_email=f"p{i}@batch.example", kind="test", language="en", subject="Hi", text_body="Hi"
        )
        for i in range(5)
    )
    smtp.handler.refuse.add("p1@batch.example")
    smtp.handler.defer.add("p3@batch.example")
    report = delivery.messages_deliver(message_ids=[r.pk for r in rows])
    assert (report.accepted, report.failed, report.retrying) == (3, 1, 1)
    statuses = dict(OutboundMessage.objects.values_list("to_email", "status"))
    assert statuses == {
        "p0@batch.example": "sent",
        "p1@batch.example": "failed",
        "p2@batch.example": "sent",
        "p3@batch.example": "retrying",
        "p4@batch.example": "sent",
    }
    assert smtp.handler.connections == 1


def test_shared_content_gets_its_own_headers_per_recipient(world, smtp, dbtasks):
    rows = OutboundMessage.objects.bulk_create(
        OutboundMessage(
            to_email=f"p{i}@batch.example",
            kind="test",
            language="en",
            subject="Same for all",
            text_body="Hi",
            html_body="<p>Hi</p>",
        )
        for i in range(3)
    )
    delivery.messages_deliver(message_ids=[r.pk for r in rows])
    mails = {r.rcpt_tos[0]: r.message for r in smtp.handler.received}
    assert {m["To"] for m in mails.values()} == set(mails)
    assert len({m["Message-ID"] for m in mails.values()}) == 3
    assert {m["X-Mandant-Message"] for m in mails.values()} == {str(r.pk) for r in rows}
    assert all(m["Date"] and m["Subject"] == "Same for all" for m in mails.values())
    for mail in mails.values():
        assert mail.get_content_type() == "multipart/alternative"
        assert len(mail.get_all("To")) == 1


def test_an_international_address_is_encoded(world, smtp, dbtasks):
    (row,) = OutboundMessage.objects.bulk_create(
        [
            OutboundMessage(
                to_email="jörg@müller.example",
                kind="test",
                language="de",
                subject="Grüße",
                text_body="Hallo",
            )
        ]
    )
    delivery.messages_deliver(message_ids=[row.pk])
    row.refresh_from_db()
    assert row.status == MessageStatus.SENT
    (received,) = smtp.handler.received
    assert received.rcpt_tos[0].endswith("@xn--mller-kva.example")


def test_mail_retry_picks_up_overdue_messages(
    world, smtp, immediate, mail_templates, django_capture_on_commit_callbacks
):
    """The ImmediateBackend cannot defer a retry: ``mandant mail_retry`` recovers it."""
    from django.core.management import call_command

    smtp.handler.defer.add("carl@kunde-eins.example")
    with django_capture_on_commit_callbacks(execute=True):
        message = queue_hello(world.carl)
    message.refresh_from_db()
    assert message.status == MessageStatus.RETRYING
    smtp.handler.defer.clear()
    out = io.StringIO()
    call_command("mail_retry", stdout=out)  # not overdue yet
    assert out.getvalue().startswith("0 overdue")
    OutboundMessage.objects.filter(pk=message.pk).update(
        next_attempt_at=timezone.now() - timedelta(minutes=11)
    )
    call_command("mail_retry", stdout=out)
    message.refresh_from_db()
    assert (message.status, message.attempts) == (MessageStatus.SENT, 2)
