"""Delivery of recorded messages through the transport chosen by ``EMAIL_URL``.

A delivery task hands a batch of messages to the transport over *one* connection. Each message
gets an outcome:

* accepted (SMTP 2xx; or kept by ``outbox://``) → ``sent`` / ``kept``;
* temporary failure (SMTP 4xx, connection refused, time-out, dropped connection) → ``retrying``
  with exponential back-off (a new task with ``run_after``), ``failed`` after
  ``MAIL_MAX_ATTEMPTS`` attempts;
* permanent refusal (SMTP 5xx) → ``failed`` with the server's reply; a 5xx refusal of the
  *recipient* also marks the recipient user's address as undeliverable.
"""

from __future__ import annotations

import contextlib
import logging
import re
import smtplib
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.mime.image import MIMEImage
from email.mime.multipart import MIMEMultipart
from email.utils import formatdate, make_msgid
from enum import Enum
from typing import Any

from django.conf import settings
from django.core.mail import EmailMultiAlternatives, get_connection
from django.core.mail.backends.smtp import EmailBackend as SMTPBackend
from django.core.mail.message import sanitize_address
from django.core.mail.utils import DNS_NAME
from django.db import connection, transaction
from django.utils import timezone

from mandant.notices.models import (
    PENDING_STATUSES,
    MessageStatus,
    OutboundMessage,
)
from mandant.tenants.models import Tenant

logger = logging.getLogger(__name__)

OUTBOX_BACKEND = "mandant.notices.backends.OutboxBackend"
DEFAULT_MAX_ATTEMPTS = 6
DEFAULT_RETRY_BASE_SECONDS = 120
DEFAULT_BATCH_SIZE = 200
RESPONSE_MAX_CHARS = 2000
UPDATE_FIELDS = ["status", "attempts", "sent_at", "smtp_response", "next_attempt_at"]


def max_attempts() -> int:
    return int(getattr(settings, "MAIL_MAX_ATTEMPTS", DEFAULT_MAX_ATTEMPTS))


def retry_delay(attempts: int) -> timedelta:
    """Back-off after the ``attempts``-th failed attempt: base, 2×base, 4×base, …"""
    base = float(getattr(settings, "MAIL_RETRY_BASE_SECONDS", DEFAULT_RETRY_BASE_SECONDS))
    return timedelta(seconds=base * 2 ** max(0, attempts - 1))


# --------------------------------------------------------------------------------------
# Building the MIME message


def build_email(
    message: OutboundMessage, logos: dict[int, bytes] | None = None
) -> EmailMultiAlternatives:
    """multipart/alternative (text + HTML); inside multipart/related when a logo is inline."""
    email = EmailMultiAlternatives(
        subject=message.subject,
        body=message.text_body,
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=[message.to_email],
        headers={"X-Mandant-Message": str(message.pk), "Auto-Submitted": "auto-generated"},
    )
    if message.html_body:
        email.attach_alternative(message.html_body, "text/html")
    logo = (logos or {}).get(message.tenant_id or 0) if message.logo_cid else None
    if logo:
        image = MIMEImage(logo, "png")
        image.add_header("Content-ID", f"<{message.logo_cid}>")
        image.add_header("Content-Disposition", "inline", filename="logo.png")
        email.mixed_subtype = "related"  # type: ignore[attr-defined]
        email.attach(image)
    if message.attachment_name and message.attachment_data is not None:
        if logo:
            # multipart/mixed around the related part (text, HTML, logo) and the file.
            return _with_attachment(email, message)
        email.attach(
            message.attachment_name, bytes(message.attachment_data), message.attachment_type
        )
    return email


def _with_attachment(
    email: EmailMultiAlternatives, message: OutboundMessage
) -> EmailMultiAlternatives:
    """An inline logo makes the message multipart/related; a file belongs beside it, in an
    outer multipart/mixed: mixed[related[alternative[text, HTML], logo], file]."""
    related = MIMEMultipart("related")
    for part in email.message().get_payload():
        related.attach(part)
    outer = EmailMultiAlternatives(
        subject=email.subject,
        body="",  # no text part of its own: the related part carries the bodies
        from_email=email.from_email,
        to=email.to,
        headers=email.extra_headers,
    )
    outer.attach(related)
    outer.attach(
        message.attachment_name, bytes(message.attachment_data or b""), message.attachment_type
    )
    return outer


def logos_for(messages: Sequence[OutboundMessage]) -> dict[int, bytes]:
    """The logos the messages refer to, one query for the whole batch."""
    ids = {m.tenant_id for m in messages if m.logo_cid and m.tenant_id}
    if not ids:
        return {}
    rows = Tenant.objects.filter(pk__in=ids).exclude(logo_png=None).values_list("pk", "logo_png")
    return {pk: bytes(png) for pk, png in rows if png}


# --------------------------------------------------------------------------------------
# Outcomes


class Result(Enum):
    ACCEPTED = "accepted"
    TEMPORARY = "temporary"
    PERMANENT = "permanent"


@dataclass(frozen=True)
class Outcome:
    result: Result
    response: str
    recipient_refused: bool = False  # a 5xx answer to RCPT TO: the address itself is bad
    reconnect: bool = False  # the connection is unusable afterwards


def _text(reply: Any) -> str:
    if isinstance(reply, bytes):
        return reply.decode("utf-8", "replace")
    return str(reply)


def outcome_for_code(code: int, reply: Any, *, stage: str) -> Outcome:
    text = f"{code} {_text(reply)}".strip()
    if 200 <= code < 400:
        return Outcome(Result.ACCEPTED, text)
    if 500 <= code < 600:
        return Outcome(Result.PERMANENT, text, recipient_refused=stage == "rcpt")
    # 4xx, and anything unexpected, is worth another try; 421 means the server hangs up.
    return Outcome(Result.TEMPORARY, text, reconnect=code == 421)


def outcome_for_exception(exc: BaseException) -> Outcome:
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        code, reply = next(iter(exc.recipients.values()), (450, b"recipient refused"))
        return outcome_for_code(code, reply, stage="rcpt")
    if isinstance(exc, smtplib.SMTPSenderRefused):
        return outcome_for_code(exc.smtp_code, exc.smtp_error, stage="mail")
    if isinstance(exc, smtplib.SMTPResponseException):
        return outcome_for_code(exc.smtp_code, exc.smtp_error, stage="data")
    if isinstance(exc, smtplib.SMTPServerDisconnected | OSError | smtplib.SMTPException):
        # Connection refused, time-outs, dropped connections: try again later.
        return Outcome(Result.TEMPORARY, f"{type(exc).__name__}: {exc}", reconnect=True)
    return Outcome(Result.TEMPORARY, f"{type(exc).__name__}: {exc}", reconnect=True)


# --------------------------------------------------------------------------------------
# Transports


# Headers that differ from one recipient to the next; everything else of a message is shared
# by all recipients of the same content (a notice: one per language).
PER_RECIPIENT_HEADERS = ("To", "Date", "Message-ID", "X-Mandant-Message")
# An address that needs no encoding for the envelope or the To header (the common case).
PLAIN_ADDRESS = re.compile(r"[A-Za-z0-9._%+\-]+@[A-Za-z0-9\-]+(\.[A-Za-z0-9\-]+)+")


@dataclass(frozen=True)
class Wire:
    sender: str
    recipients: list[str]
    data: bytes


class WireBuilder:
    """The bytes to send for each message. Building and serialising the MIME tree costs about
    2 ms; messages with the same content (a notice's fan-out) share it and differ only in the
    per-recipient headers, which are written in front of the shared part."""

    def __init__(self, logos: dict[int, bytes]) -> None:
        self.logos = logos
        self.shared: dict[tuple[object, ...], bytes] = {}
        self.charset = settings.DEFAULT_CHARSET
        self.sender = sanitize_address(str(settings.DEFAULT_FROM_EMAIL), self.charset)

    def wire(self, message: OutboundMessage) -> Wire:
        key = (
            message.subject,
            message.text_body,
            message.html_body,
            message.logo_cid,
            message.tenant_id if message.logo_cid else None,
            # A message with a file of its own shares its bytes with no other.
            message.pk if message.attachment_name else None,
        )
        shared = self.shared.get(key)
        if shared is None:
            mime = build_email(message, self.logos).message()
            for name in PER_RECIPIENT_HEADERS:
                del mime[name]
            shared = self.shared[key] = mime.as_bytes(linesep="\r\n")  # type: ignore[call-arg]
        recipient = message.to_email
        if not PLAIN_ADDRESS.fullmatch(recipient):  # IDN, display names, …: Django's way
            recipient = sanitize_address(recipient, self.charset)
        headers = (
            f"To: {recipient}\r\n"
            f"Date: {formatdate(localtime=settings.EMAIL_USE_LOCALTIME)}\r\n"
            f"Message-ID: {make_msgid(domain=DNS_NAME)}\r\n"
            f"X-Mandant-Message: {message.pk}\r\n"
        )
        return Wire(self.sender, [recipient], headers.encode("ascii") + shared)


def smtp_send(smtp: smtplib.SMTP, wire: Wire) -> Outcome:
    """MAIL FROM / RCPT TO / DATA on an open connection, keeping each reply of the server."""
    try:
        smtp.ehlo_or_helo_if_needed()
        code, reply = smtp.mail(wire.sender)
        if code != 250:
            _reset(smtp)
            return outcome_for_code(code, reply, stage="mail")
        for recipient in wire.recipients:
            code, reply = smtp.rcpt(recipient)
            if code not in (250, 251):
                _reset(smtp)
                return outcome_for_code(code, reply, stage="rcpt")
        code, reply = smtp.data(wire.data)
        return outcome_for_code(code, reply, stage="data")
    except smtplib.SMTPResponseException as exc:  # e.g. DATA refused
        _reset(smtp)
        return outcome_for_exception(exc)
    except (smtplib.SMTPException, OSError) as exc:
        return outcome_for_exception(exc)


def _reset(smtp: smtplib.SMTP) -> None:
    with contextlib.suppress(smtplib.SMTPException, OSError):
        smtp.rset()


def _open(connection: SMTPBackend) -> Outcome | None:
    """Open the connection; the outcome for every message when that fails (all temporary)."""
    try:
        connection.open()
    except (smtplib.SMTPException, OSError) as exc:
        text = f"{type(exc).__name__}: {exc}"
        if isinstance(exc, smtplib.SMTPResponseException):
            text = f"{exc.smtp_code} {_text(exc.smtp_error)}"
        # Even a 5xx at connect or log-in is the relay's problem, not the recipient's.
        return Outcome(Result.TEMPORARY, text, reconnect=True)
    return None


def _close(connection: SMTPBackend) -> None:
    try:
        connection.close()
    except (smtplib.SMTPException, OSError):
        connection.connection = None


def _send_smtp(
    connection: SMTPBackend, messages: Sequence[OutboundMessage], logos: dict[int, bytes]
) -> dict[int, Outcome]:
    outcomes: dict[int, Outcome] = {}
    builder = WireBuilder(logos)
    failure = _open(connection)
    try:
        for message in messages:
            if failure is not None:
                outcomes[message.pk] = failure
                continue
            outcome = smtp_send(connection.connection, builder.wire(message))  # type: ignore[arg-type]
            outcomes[message.pk] = outcome
            if outcome.reconnect:
                _close(connection)
                failure = _open(connection)
    finally:
        _close(connection)
    return outcomes


def _send_other(
    connection: Any, messages: Sequence[OutboundMessage], logos: dict[int, bytes]
) -> dict[int, Outcome]:
    """Any other Django backend (outbox://, locmem in tests, console): all in one call."""
    emails = [build_email(message, logos) for message in messages]
    try:
        connection.send_messages(emails)
    except Exception as exc:
        logger.exception("Mail backend failed")
        outcome = Outcome(Result.TEMPORARY, f"{type(exc).__name__}: {exc}")
        return {message.pk: outcome for message in messages}
    return {message.pk: Outcome(Result.ACCEPTED, "") for message in messages}


def _is_outbox() -> bool:
    return bool(settings.EMAIL_BACKEND == OUTBOX_BACKEND)


# --------------------------------------------------------------------------------------
# The delivery of a batch


@dataclass
class DeliveryReport:
    accepted: int = 0
    retrying: int = 0
    failed: int = 0
    skipped: int = 0

    def as_dict(self) -> dict[str, int]:
        return {
            "accepted": self.accepted,
            "retrying": self.retrying,
            "failed": self.failed,
            "skipped": self.skipped,
        }


def messages_deliver(*, message_ids: Sequence[int]) -> DeliveryReport:
    """Send the given messages (those still pending) over one connection and record the
    outcome of each; schedule the temporary failures for a retry."""
    messages = list(
        OutboundMessage.objects.filter(
            pk__in=list(message_ids), status__in=PENDING_STATUSES
        ).order_by("pk")
    )
    report = DeliveryReport(skipped=len(set(message_ids)) - len(messages))
    if not messages:
        return report
    logos = logos_for(messages)
    transport = get_connection(fail_silently=False)
    if isinstance(transport, SMTPBackend):
        outcomes = _send_smtp(transport, messages, logos)
    else:
        outcomes = _send_other(transport, messages, logos)
    _record(messages, outcomes, report)
    return report


def _record(
    messages: Sequence[OutboundMessage], outcomes: dict[int, Outcome], report: DeliveryReport
) -> None:
    from mandant.notices.services import address_mark_undeliverable

    now = timezone.now()
    done_status = MessageStatus.KEPT if _is_outbox() else MessageStatus.SENT
    retries: dict[datetime, list[int]] = defaultdict(list)
    refused: list[tuple[OutboundMessage, str]] = []
    limit = max_attempts()
    for message in messages:
        outcome = outcomes[message.pk]
        message.attempts += 1
        message.smtp_response = outcome.response[:RESPONSE_MAX_CHARS]
        message.next_attempt_at = None
        if outcome.result is Result.ACCEPTED:
            message.status = done_status
            message.sent_at = now
            report.accepted += 1
        elif outcome.result is Result.PERMANENT or message.attempts >= limit:
            message.status = MessageStatus.FAILED
            report.failed += 1
            if outcome.recipient_refused and message.to_user_id:
                refused.append((message, outcome.response))
        else:
            message.status = MessageStatus.RETRYING
            message.next_attempt_at = now + retry_delay(message.attempts)
            retries[message.next_attempt_at].append(message.pk)
            report.retrying += 1
    with transaction.atomic():
        _save_outcomes(messages)
        for message, response in refused:
            address_mark_undeliverable(
                actor=None,
                user_id=message.to_user_id,  # type: ignore[arg-type]
                address=message.to_email,
                reason=response,
                tenant_id=message.tenant_id,
            )
        for when, ids in retries.items():
            schedule_delivery(ids, run_after=when)


def batch_size() -> int:
    return int(getattr(settings, "MAIL_BATCH_SIZE", DEFAULT_BATCH_SIZE))


def _save_outcomes(messages: Sequence[OutboundMessage]) -> None:
    """One UPDATE per message, sent with ``executemany`` (pipelined by psycopg).

    ``bulk_update`` builds a CASE expression per field and row: for a batch of 200 it took
    0.7 s, more than sending the 200 mails.
    """
    meta = OutboundMessage._meta
    quote = connection.ops.quote_name
    column_of = {field.name: str(field.column) for field in meta.concrete_fields}
    sql = "UPDATE {} SET {} WHERE {} = %s".format(  # noqa: S608 - names from the model
        quote(meta.db_table),
        ", ".join(f"{quote(column_of[name])} = %s" for name in UPDATE_FIELDS),
        quote(column_of["id"]),
    )
    adapt = connection.ops.adapt_datetimefield_value
    rows = [
        (
            message.status,
            message.attempts,
            adapt(message.sent_at),
            message.smtp_response,
            adapt(message.next_attempt_at),
            message.pk,
        )
        for message in messages
    ]
    with connection.cursor() as cursor:
        cursor.executemany(sql, rows)


def schedule_delivery(message_ids: Sequence[int], *, run_after: datetime | None = None) -> int:
    """Enqueue delivery: one task per message for a single message (high priority, so a
    password reset never waits behind a notice), one task per batch otherwise. Returns the
    number of tasks enqueued."""
    from mandant.notices import tasks

    ids = list(message_ids)
    if not ids:
        return 0
    if len(ids) == 1 and run_after is None:
        tasks.deliver_message.enqueue(ids[0])
        return 1
    task = tasks.deliver_messages
    if run_after is not None:
        if not task.get_backend().supports_defer:
            # e.g. the ImmediateBackend: the retry stays due (next_attempt_at) until
            # ``mandant mail_retry`` picks it up.
            logger.warning("Task backend cannot defer: %d message(s) wait for mail_retry", len(ids))
            return 0
        task = task.using(run_after=run_after)
    size = batch_size()
    with transaction.atomic():  # one commit for all the batches' task rows
        for start in range(0, len(ids), size):
            task.enqueue(ids[start : start + size])
    return -(-len(ids) // size)


def message_deliver(*, message_id: int) -> OutboundMessage | None:
    """Deliver one message (the single-message task); returns it with its new status."""
    messages_deliver(message_ids=[message_id])
    return OutboundMessage.objects.filter(pk=message_id).first()
