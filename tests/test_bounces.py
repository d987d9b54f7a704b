"""Bounces that arrive later as DSNs (RFC 3464): parsed, applied, and the inbound endpoint.

The DSNs are built with the ``email`` package around the actual message the delivery module
sent (``delivery.build_email`` via the locmem transport) for a recorded OutboundMessage.
"""

from __future__ import annotations

import io
import json
import sys
from email import message_from_bytes
from email.message import EmailMessage, Message
from email.policy import default as default_policy
from pathlib import Path
from typing import Any

import pytest
from django.core import mail
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import Client

from mandant.accounts.models import User
from mandant.audit.models import AuditEntry
from mandant.notices import delivery
from mandant.notices.bounces import MAX_BOUNCE_BYTES, bounce_parse, bounce_process
from mandant.notices.models import MessageStatus, OutboundMessage
from mandant.tenants.models import Tenant

SECRET = "bounce-secret-0123456789"
URL = "/inbound/bounces/"


@pytest.fixture
def secret(settings) -> str:
    settings.BOUNCE_WEBHOOK_SECRET = SECRET
    return SECRET


def sent_message(user: User, tenant: Tenant | None) -> tuple[OutboundMessage, bytes]:
    """Record a message, deliver it (locmem transport), return it and the MIME as sent."""
    message = OutboundMessage.objects.create(
        tenant=tenant,
        to_user=user,
        to_email=user.email,
        kind="test.hello",
        language="de",
        subject="Hallo",
        text_body="Hallo Welt",
        html_body="<p>Hallo Welt</p>",
    )
    mail.outbox = []
    delivery.messages_deliver(message_ids=[message.pk])
    message.refresh_from_db()
    assert message.status == MessageStatus.SENT
    (sent,) = mail.outbox
    return message, sent.message().as_bytes()


def dsn(
    original: bytes | None,
    *,
    recipient: str,
    action: str = "failed",
    status: str = "5.1.1",
    diagnostic: str = "smtp; 550 5.1.1 <{r}>: Recipient address rejected: User unknown",
    headers_only: bool = False,
) -> bytes:
    """A multipart/report; report-type=delivery-status as an MTA writes it."""
    report = EmailMessage(policy=default_policy)
    report["From"] = "Mail Delivery System <MAILER-DAEMON@mx.example>"
    report["To"] = "bounces@mandant.example"
    report["Subject"] = "Undelivered Mail Returned to Sender"
    report["Auto-Submitted"] = "auto-replied"
    report.set_content("I'm sorry to have to inform you that your message could not be delivered.")
    report.make_mixed()
    report.replace_header(
        "Content-Type", report["Content-Type"].replace("multipart/mixed", "multipart/report")
    )
    report.set_param("report-type", "delivery-status")

    status_part = Message()
    status_part["Content-Type"] = "message/delivery-status"
    per_message = Message()
    per_message["Reporting-MTA"] = "dns; mx.example"
    per_message["Arrival-Date"] = "Mon, 2 Jun 2025 10:00:00 +0200"
    per_recipient = Message()
    per_recipient["Final-Recipient"] = f"rfc822; {recipient}"
    per_recipient["Original-Recipient"] = f"rfc822;{recipient}"
    per_recipient["Action"] = action
    per_recipient["Status"] = status
    per_recipient["Remote-MTA"] = "dns; mx.kunde.example"
    if diagnostic:
        per_recipient["Diagnostic-Code"] = diagnostic.format(r=recipient)
    status_part.set_payload([per_message, per_recipient])
    report.attach(status_part)  # type: ignore[arg-type]

    if original is not None:
        if headers_only:
            head = original.split(b"\n\n", 1)[0].decode("ascii")
            part = EmailMessage(policy=default_policy)
            part.set_content(head, subtype="rfc822-headers")
            part.replace_header("Content-Type", "text/rfc822-headers")
        else:
            part = EmailMessage(policy=default_policy)
            part.set_content(message_from_bytes(original, policy=default_policy))
        report.attach(part)
    return report.as_bytes()


def post(raw: bytes, *, token: str | None = SECRET, content_type: str = "message/rfc822"):
    headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
    return Client().post(URL, data=raw, content_type=content_type, headers=headers)


# --- parsing -------------------------------------------------------------------------------


def test_parse_reads_the_recipient_block_and_the_original_header(world):
    message, original = sent_message(world.carl, world.kunde1)
    assert f"X-Mandant-Message: {message.pk}".encode() in original
    report = bounce_parse(dsn(original, recipient=world.carl.email))
    assert report is not None
    assert report.outbound_id == message.pk
    (recipient,) = report.recipients
    assert (recipient.action, recipient.status, recipient.kind) == ("failed", "5.1.1", "hard")
    assert recipient.final_recipient == recipient.original_recipient == world.carl.email
    assert recipient.diagnostic.startswith("550 5.1.1 <carl@")
    # Only the headers of the original (text/rfc822-headers) are enough.
    headers_only = bounce_parse(dsn(original, recipient=world.carl.email, headers_only=True))
    assert headers_only is not None and headers_only.outbound_id == message.pk


@pytest.mark.parametrize(
    "raw",
    [
        b"",
        b"\x00\xff\xfe garbage",
        b"Subject: hello\r\n\r\njust a mail",
        b"Content-Type: multipart/report; boundary=x\r\n\r\n--x\r\nContent-Type: message/deli",
        b"Content-Type: message/delivery-status\r\n\r\n\xff\xfe: \x00\r\n",
        "Content-Type: text/plain; charset=ä\r\nX-Mandant-Message: ä\r\n\r\nä".encode(),
    ],
)
def test_garbage_is_not_a_dsn_and_never_raises(raw, db):
    assert bounce_parse(raw) is None
    assert bounce_process(raw=raw).outcome == "ignored"


# --- processing -----------------------------------------------------------------------------


def test_hard_bounce_fails_the_message_and_marks_the_address(world):
    message, original = sent_message(world.carl, world.kunde1)
    outcome = bounce_process(raw=dsn(original, recipient=world.carl.email))
    assert (outcome.outcome, outcome.message_id, outcome.marked) == ("hard", message.pk, True)
    message.refresh_from_db()
    assert message.status == MessageStatus.FAILED
    assert "550 5.1.1" in message.smtp_response
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
    # The same DSN again: nothing new (marked once).
    again = bounce_process(raw=dsn(original, recipient=world.carl.email))
    assert (again.outcome, again.marked) == ("hard", False)
    assert AuditEntry.objects.filter(action="user.email_undeliverable").count() == 1


@pytest.mark.parametrize(
    ("action", "status"), [("failed", "4.2.2"), ("delayed", "4.4.1"), ("delayed", "5.0.0")]
)
def test_soft_bounce_is_recorded_but_does_not_mark(world, action, status):
    message, original = sent_message(world.carl, world.kunde1)
    outcome = bounce_process(
        raw=dsn(
            original,
            recipient=world.carl.email,
            action=action,
            status=status,
            diagnostic="smtp; 452 4.2.2 Mailbox full",
        )
    )
    assert (outcome.outcome, outcome.marked) == ("soft", False)
    message.refresh_from_db()
    assert message.status == MessageStatus.SENT
    assert "452 4.2.2 Mailbox full" in message.smtp_response
    world.carl.refresh_from_db()
    assert world.carl.email_undeliverable_at is None
    assert not AuditEntry.objects.filter(action="user.email_undeliverable").exists()


def test_unmatched_bounces_are_ignored(world):
    message, original = sent_message(world.carl, world.kunde1)
    # No original message attached.
    assert bounce_process(raw=dsn(None, recipient=world.carl.email)).reason == (
        "no_original_message"
    )
    # An unknown message id.
    unknown = original.replace(
        f"X-Mandant-Message: {message.pk}".encode(), b"X-Mandant-Message: 999999"
    )
    assert bounce_process(raw=dsn(unknown, recipient=world.carl.email)).reason == (
        "unknown_message"
    )
    # A recipient the message was not sent to (a forged DSN naming another address).
    outcome = bounce_process(raw=dsn(original, recipient=world.paula.email))
    assert (outcome.outcome, outcome.reason) == ("ignored", "recipient_mismatch")
    # A success notice is no bounce.
    outcome = bounce_process(
        raw=dsn(original, recipient=world.carl.email, action="delivered", status="2.0.0")
    )
    assert (outcome.outcome, outcome.reason) == ("ignored", "not_a_failure")
    # A message that has not been sent yet cannot have bounced.
    OutboundMessage.objects.filter(pk=message.pk).update(status=MessageStatus.QUEUED)
    assert bounce_process(raw=dsn(original, recipient=world.carl.email)).reason == "not_sent"

    message.refresh_from_db()
    assert message.status == MessageStatus.QUEUED
    world.carl.refresh_from_db()
    world.paula.refresh_from_db()
    assert world.carl.email_undeliverable_at is None
    assert world.paula.email_undeliverable_at is None


# --- the endpoint ----------------------------------------------------------------------------


def test_endpoint_applies_a_hard_bounce(world, secret):
    message, original = sent_message(world.carl, world.kunde1)
    response = post(dsn(original, recipient=world.carl.email))
    assert response.status_code == 202
    assert response.json()["outcome"] == "hard"
    assert response.json()["message_id"] == message.pk
    assert response.json()["marked_undeliverable"] is True
    world.carl.refresh_from_db()
    assert world.carl.email_undeliverable_at is not None
    # application/octet-stream is accepted as well (a soft bounce this time).
    _message, other = sent_message(world.paula, world.alpha)
    raw = dsn(other, recipient=world.paula.email, action="delayed", status="4.4.7")
    response = post(raw, content_type="application/octet-stream")
    assert (response.status_code, response.json()["outcome"]) == (202, "soft")


@pytest.mark.parametrize("raw", [b"", b"\x00\x01garbage\xff", b"Subject: hi\r\n\r\nno dsn"])
def test_endpoint_ignores_garbage_without_an_error(db, secret, raw):
    response = post(raw)
    assert response.status_code == 202
    assert response.json()["outcome"] == "ignored"
    assert response.json()["reason"] == "not_a_dsn"


@pytest.mark.parametrize("token", [None, "wrong", SECRET + "x", ""])
def test_endpoint_refuses_a_wrong_or_missing_secret(world, secret, token):
    _message, original = sent_message(world.carl, world.kunde1)
    response = post(dsn(original, recipient=world.carl.email), token=token)
    assert response.status_code == 401
    world.carl.refresh_from_db()
    assert world.carl.email_undeliverable_at is None
    # The secret in another scheme does not count either.
    response = Client().post(
        URL, data=b"x", content_type="message/rfc822", HTTP_AUTHORIZATION=f"Basic {SECRET}"
    )
    assert response.status_code == 401


def test_endpoint_is_404_without_a_configured_secret(db, settings):
    settings.BOUNCE_WEBHOOK_SECRET = None
    assert post(b"Subject: x\r\n\r\n").status_code == 404
    assert Client().get(URL).status_code == 404


def test_endpoint_refuses_oversize_bodies_other_types_and_get(db, secret):
    response = post(b"x" * (MAX_BOUNCE_BYTES + 1))
    assert response.status_code == 413
    assert post(b"Subject: x\r\n\r\n", content_type="application/json").status_code == 415
    assert Client().get(URL, HTTP_AUTHORIZATION=f"Bearer {SECRET}").status_code == 405


# --- the command ------------------------------------------------------------------------------


def run(*args: str) -> dict[str, Any]:
    out = io.StringIO()
    call_command("bounce_process", *args, stdout=out)
    result: dict[str, Any] = json.loads(out.getvalue())
    return result


def test_command_reads_a_file_or_stdin(world, tmp_path: Path, monkeypatch):
    message, original = sent_message(world.carl, world.kunde1)
    path = tmp_path / "bounce.eml"
    path.write_bytes(dsn(original, recipient=world.carl.email))
    result = run(str(path))
    assert (result["outcome"], result["message_id"]) == ("hard", message.pk)
    world.carl.refresh_from_db()
    assert world.carl.email_undeliverable_at is not None

    raw = dsn(sent_message(world.paula, world.alpha)[1], recipient=world.paula.email)
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(raw)))
    assert run("-")["outcome"] == "hard"
    world.paula.refresh_from_db()
    assert world.paula.email_undeliverable_at is not None

    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(b"not a mail at all")))
    assert run()["outcome"] == "ignored"

    with pytest.raises(CommandError, match="Cannot read"):
        run(str(tmp_path / "missing.eml"))
