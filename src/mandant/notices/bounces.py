"""Bounces that arrive after delivery: delivery status notifications (DSN, RFC 3464).

A relay accepts a mail and a later hop refuses it: the refusal comes back as a DSN — a
``multipart/report; report-type=delivery-status`` message to the bounce mailbox — with a
``message/delivery-status`` part (one block per recipient: Action, Status, Final-Recipient,
Diagnostic-Code) and the original message or its headers (``message/rfc822`` or
``text/rfc822-headers``). The original carries ``X-Mandant-Message: <OutboundMessage.pk>``
(``delivery.build_email``); that header is the only link back for system mail.

* hard bounce (Action ``failed``, Status ``5.x.x``): the message becomes ``failed`` with the
  diagnostic as its server response, and the recipient user's address is marked undeliverable
  (``address_mark_undeliverable``, audited) — as a 5xx refusal at ``RCPT TO`` does;
* soft bounce (Action ``delayed``, or ``failed`` with Status ``4.x.x``): only recorded on the
  message (server response);
* campaign mail carries no such header: it is matched by the original's Message-ID
  (``campaigns.bounces``);
* anything else (not a DSN, no original, an unknown message, a recipient the message was not
  sent to, a success notice): ignored, with the reason.

The DSN's content comes from outside (anyone can mail the bounce mailbox), so a bounce only
counts for a message that was sent *and* names that message's recipient.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import Message
from email.parser import BytesHeaderParser
from typing import Any

from django.db import transaction

from mandant.notices.delivery import RESPONSE_MAX_CHARS
from mandant.notices.models import MessageStatus, OutboundMessage

logger = logging.getLogger(__name__)

# The largest DSN the endpoint and the command accept (the original is often attached whole).
MAX_BOUNCE_BYTES = 1024 * 1024
HEADER = "X-Mandant-Message"
HARD = "hard"
SOFT = "soft"
IGNORED = "ignored"
# Messages a DSN can be about: handed to a relay (sent); already failed (a second DSN).
BOUNCEABLE_STATUSES = (MessageStatus.SENT, MessageStatus.FAILED)
_STATUS = re.compile(r"[245]\.\d{1,3}\.\d{1,3}")


@dataclass(frozen=True)
class BounceRecipient:
    action: str  # failed, delayed, delivered, relayed, expanded (lower case)
    status: str  # e.g. "5.1.1" ("" when missing or malformed)
    final_recipient: str  # the address, without the "rfc822;" type (lower case)
    original_recipient: str
    diagnostic: str  # e.g. "550 5.1.1 User unknown", without the "smtp;" type

    @property
    def kind(self) -> str | None:
        """``hard``, ``soft`` or None (not a failure)."""
        if self.action == "failed":
            return HARD if self.status.startswith("5.") else SOFT
        if self.action == "delayed":
            return SOFT
        return None

    @property
    def response(self) -> str:
        """What to record as the message's server response."""
        text = self.diagnostic or f"Status {self.status or 'unknown'}"
        return f"DSN {self.action}: {text}"[:RESPONSE_MAX_CHARS]

    def names(self, address: str) -> bool:
        address = address.strip().lower()
        return address in (self.final_recipient, self.original_recipient)


@dataclass(frozen=True)
class BounceReport:
    recipients: list[BounceRecipient]
    outbound_id: int | None  # the X-Mandant-Message of the original, if present and valid
    # The original's Message-ID without <>: how campaign deliveries are found (campaigns.bounces).
    original_message_id: str = ""


@dataclass(frozen=True)
class BounceOutcome:
    outcome: str  # hard, soft, ignored
    reason: str = ""
    message_id: int | None = None
    marked: bool = False  # the recipient's address was marked undeliverable now
    details: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "outcome": self.outcome,
            "reason": self.reason,
            "message_id": self.message_id,
            "marked_undeliverable": self.marked,
            **self.details,
        }


# --------------------------------------------------------------------------------------
# Parsing


def _typed_value(value: object) -> str:
    """``rfc822; Carl@Example.org`` → ``carl@example.org`` (the part after the type)."""
    text = " ".join(str(value or "").split())
    if ";" in text:
        text = text.split(";", 1)[1]
    return text.strip().strip("<>").strip().lower()


def _diagnostic(value: object) -> str:
    text = " ".join(str(value or "").split())
    if ";" in text:
        kind, rest = text.split(";", 1)
        if kind.strip().lower() in ("smtp", "x-unix", "x-postfix", "x-local"):
            text = rest.strip()
    return text


def _status(value: object) -> str:
    match = _STATUS.search(str(value or ""))
    return match.group(0) if match else ""


def _blocks(part: Message) -> list[Message]:
    """The header blocks of a message/delivery-status part (the parser's list, or parsed
    from the text when the parser left it as a string)."""
    payload = part.get_payload()
    if isinstance(payload, list):
        return [block for block in payload if isinstance(block, Message)]
    raw = part.get_payload(decode=True)
    text = (
        raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(payload or "")
    ).replace("\r\n", "\n")
    parser = BytesHeaderParser(policy=policy.default)
    return [
        parser.parsebytes(chunk.strip().encode("utf-8") + b"\n")
        for chunk in text.split("\n\n")
        if chunk.strip()
    ]


def _recipients(part: Message) -> list[BounceRecipient]:
    recipients = []
    for block in _blocks(part):
        action = str(block.get("Action", "") or "").strip().lower()
        final = _typed_value(block.get("Final-Recipient"))
        if not action or not final:
            continue  # the per-message block (Reporting-MTA, Arrival-Date, …)
        recipients.append(
            BounceRecipient(
                action=action.split()[0] if action.split() else action,
                status=_status(block.get("Status")),
                final_recipient=final,
                original_recipient=_typed_value(block.get("Original-Recipient")),
                diagnostic=_diagnostic(block.get("Diagnostic-Code")),
            )
        )
    return recipients


def _original_headers(part: Message) -> Message | None:
    """The original message (or its headers) from a message/rfc822 or text/rfc822-headers
    part."""
    content_type = part.get_content_type()
    if content_type == "message/rfc822":
        payload = part.get_payload()
        if isinstance(payload, list) and payload and isinstance(payload[0], Message):
            return payload[0]
        raw = part.get_payload(decode=True)
        if isinstance(raw, bytes) and raw:
            return BytesHeaderParser(policy=policy.default).parsebytes(raw)
        return None
    if content_type == "text/rfc822-headers":
        raw = part.get_payload(decode=True)
        if not isinstance(raw, bytes):
            raw = str(part.get_payload() or "").encode("utf-8", "replace")
        return BytesHeaderParser(policy=policy.default).parsebytes(raw.lstrip())
    return None


def _outbound_id(original: Message | None) -> int | None:
    if original is None:
        return None
    value = str(original.get(HEADER, "") or "").strip()
    if not value.isascii() or not value.isdigit() or len(value) > 18:
        return None
    return int(value) or None


def _message_id(original: Message | None) -> str:
    if original is None:
        return ""
    value = str(original.get("Message-ID", "") or "").strip().strip("<>").strip()
    return value if value.isascii() and 0 < len(value) <= 255 else ""


def bounce_parse(raw: bytes) -> BounceReport | None:
    """The DSN in ``raw`` (an RFC 822 message), or None when it is none. Never raises."""
    try:
        return _parse(raw)
    except Exception:  # malformed input of any kind is "not a DSN"
        logger.info("Unparseable bounce message ignored", exc_info=True)
        return None


def _parse(raw: bytes) -> BounceReport | None:
    if not isinstance(raw, bytes | bytearray) or not raw.strip():
        return None
    message = message_from_bytes(bytes(raw), policy=policy.default)
    status_part = None
    original = None
    for part in message.walk():
        content_type = part.get_content_type()
        if content_type == "message/delivery-status" and status_part is None:
            status_part = part
        elif content_type in ("message/rfc822", "text/rfc822-headers") and original is None:
            original = _original_headers(part)
    if status_part is None:
        return None
    recipients = _recipients(status_part)
    if not recipients:
        return None
    return BounceReport(
        recipients=recipients,
        outbound_id=_outbound_id(original),
        original_message_id=_message_id(original),
    )


# --------------------------------------------------------------------------------------
# Processing


def bounce_process(*, raw: bytes) -> BounceOutcome:
    """Apply a DSN: a hard bounce fails the message and marks the recipient's address
    undeliverable, a soft bounce is recorded on the message, anything else is ignored."""
    from mandant.notices.services import address_mark_undeliverable

    if len(raw) > MAX_BOUNCE_BYTES:
        return BounceOutcome(IGNORED, "too_large")
    report = bounce_parse(raw)
    if report is None:
        return BounceOutcome(IGNORED, "not_a_dsn")
    if report.outbound_id is None:
        # Not a system message: campaign mail is matched by its Message-ID.
        from mandant.campaigns.bounces import delivery_bounce

        return delivery_bounce(report)
    with transaction.atomic():
        message = (
            OutboundMessage.objects.select_for_update()
            .defer("text_body", "html_body")
            .filter(pk=report.outbound_id)
            .first()
        )
        if message is None:
            return BounceOutcome(IGNORED, "unknown_message")
        if message.status not in BOUNCEABLE_STATUSES:
            return BounceOutcome(IGNORED, "not_sent", message_id=message.pk)
        concerned = [r for r in report.recipients if r.names(message.to_email)]
        if not concerned:
            return BounceOutcome(IGNORED, "recipient_mismatch", message_id=message.pk)
        hard = next((r for r in concerned if r.kind == HARD), None)
        soft = next((r for r in concerned if r.kind == SOFT), None)
        details = {"status": (hard or soft or concerned[0]).status}
        if hard is not None:
            message.status = MessageStatus.FAILED
            message.smtp_response = hard.response
            message.next_attempt_at = None
            message.save(update_fields=["status", "smtp_response", "next_attempt_at"])
            marked = False
            if message.to_user_id:
                marked = address_mark_undeliverable(
                    actor=None,
                    user_id=message.to_user_id,
                    address=message.to_email,
                    reason=hard.response,
                    tenant_id=message.tenant_id,
                )
            return BounceOutcome(HARD, "failed", message.pk, marked, details)
        if soft is not None:
            if message.status == MessageStatus.SENT:  # a hard bounce's record stays
                message.smtp_response = soft.response
                message.save(update_fields=["smtp_response"])
            return BounceOutcome(SOFT, "recorded", message.pk, False, details)
        return BounceOutcome(IGNORED, "not_a_failure", message_id=message.pk, details=details)
