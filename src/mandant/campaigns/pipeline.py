"""The sending pipeline (DESIGN §4): prepare a campaign's delivery rows, send them in batches.

Exactly once per recipient: one ``Delivery`` row per (campaign, contact). Each row is locked
(``SKIP LOCKED``), sent and marked in its own short transaction, so a worker killed in the middle
of a batch leaves its row unmarked and unlocked (PostgreSQL drops the lock with the connection),
and any other worker can take it later; a row marked sent is never taken again.
"""

from __future__ import annotations

import contextlib
import logging
import time
from dataclasses import dataclass
from datetime import datetime
from email import message_from_bytes, policy

from django.conf import settings
from django.core.mail import get_connection
from django.core.mail.backends.smtp import EmailBackend as SMTPBackend
from django.db import connection, transaction
from django.db.models import Count, Exists, OuterRef, Q, QuerySet
from django.utils import timezone
from django_scopes import scope, scopes_disabled

from mandant.campaigns.message import MessageSkeleton, build_campaign_message, personalise
from mandant.campaigns.models import Campaign, CampaignStatus, Delivery, DeliveryStatus
from mandant.campaigns.selectors import campaign_recipients, recipient_count
from mandant.contacts.models import Contact, ContactStatus
from mandant.contacts.selectors import walk_by_id
from mandant.notices.backends import OutboxBackend
from mandant.notices.delivery import (
    Outcome,
    Result,
    Wire,
    max_attempts,
    retry_delay,
)
from mandant.notices.delivery import _smtp_send as smtp_send
from mandant.notices.models import OutboxMessage

logger = logging.getLogger(__name__)

DEFAULT_BATCH_SIZE = 1000
# How often a sending worker looks whether the campaign was paused or cancelled.
STATUS_CHECK_SECONDS = 0.2
RESPONSE_MAX_CHARS = 2000
OPEN = (DeliveryStatus.PENDING, DeliveryStatus.RETRY)
OUTBOX_RESPONSE = "kept in the outbox (outbox://)"


def batch_size() -> int:
    return int(getattr(settings, "CAMPAIGN_BATCH_SIZE", DEFAULT_BATCH_SIZE))


def _campaign(campaign_id: int) -> Campaign | None:
    # Tasks receive only the id; the tenant is known once the row is read.
    with scopes_disabled():
        return Campaign.objects.select_related("tenant").filter(pk=campaign_id).first()


# --- prepare --------------------------------------------------------------------------------


def prepare(campaign_id: int, size: int | None = None) -> int:
    """Insert the delivery rows (idempotent) and enqueue one ``send_batch`` per batch of rows
    still open. Returns the number of batches enqueued."""
    from mandant.campaigns import tasks

    campaign = _campaign(campaign_id)
    if campaign is None or campaign.status in (CampaignStatus.CANCELLED, CampaignStatus.SENT):
        return 0
    if campaign.status == CampaignStatus.SCHEDULED:
        Campaign.objects.filter(pk=campaign.pk, status=CampaignStatus.SCHEDULED).update(
            status=CampaignStatus.SENDING
        )
    size = size or batch_size()
    enqueued = 0
    with scope(tenant=campaign.tenant_id):
        recipients = campaign_recipients(campaign=campaign)
        if campaign.prepared_at is None and recipients is not None:
            for rows in walk_by_id(recipients.only("pk", "email"), batch=size):
                Delivery.objects.bulk_create(
                    [
                        Delivery(
                            tenant_id=campaign.tenant_id,
                            campaign_id=campaign.pk,
                            contact_id=row.pk,
                            email=row.email,
                        )
                        for row in rows
                    ],
                    ignore_conflicts=True,
                )
            Campaign.objects.filter(pk=campaign.pk).update(prepared_at=timezone.now())
        # Batches by delivery id over the rows still open (a resumed campaign skips the rest).
        open_rows = Delivery.objects.filter(campaign_id=campaign.pk, status__in=OPEN)
        last = 0
        while True:
            ids = list(
                open_rows.filter(pk__gt=last).order_by("pk").values_list("pk", flat=True)[:size]
            )
            if not ids:
                break
            tasks.send_batch.enqueue(campaign.pk, ids[0], ids[-1])
            enqueued += 1
            last = ids[-1]
    finish_if_done(campaign.pk)
    return enqueued


def finish_if_done(campaign_id: int) -> bool:
    """The campaign becomes sent when every delivery row exists and none is open any more."""
    # Called from tasks with the id only: one statement, filtered by the campaign.
    with scopes_disabled():
        open_rows = Delivery.objects.filter(campaign_id=OuterRef("pk"), status__in=OPEN)
        return bool(
            Campaign.objects.filter(
                pk=campaign_id, status=CampaignStatus.SENDING, prepared_at__isnull=False
            )
            .exclude(Exists(open_rows))
            .update(status=CampaignStatus.SENT, finished_at=timezone.now())
        )


# --- send -----------------------------------------------------------------------------------


@dataclass
class BatchReport:
    sent: int = 0
    failed: int = 0
    retrying: int = 0
    skipped: int = 0
    stopped: bool = False

    def as_dict(self) -> dict[str, int | bool]:
        return {
            "sent": self.sent,
            "failed": self.failed,
            "retrying": self.retrying,
            "skipped": self.skipped,
            "stopped": self.stopped,
        }


class Sender:
    """One SMTP connection, kept open for the whole batch and reopened when it drops."""

    def __init__(self) -> None:
        self.transport = get_connection(fail_silently=False)
        self.is_open = False

    def send(self, wire: Wire) -> Outcome:
        if isinstance(self.transport, OutboxBackend):
            return keep_in_outbox(wire)
        if not isinstance(self.transport, SMTPBackend):
            return Outcome(Result.TEMPORARY, "No SMTP transport is configured (EMAIL_URL).")
        for attempt in (1, 2):
            failure = self._open()
            if failure is not None:
                return failure
            outcome = smtp_send(self.transport.connection, wire)  # type: ignore[arg-type]
            if not outcome.reconnect:
                return outcome
            self.close()
            if (
                attempt == 1
                and outcome.result is Result.TEMPORARY
                and "421" not in outcome.response
            ):
                continue  # a dropped connection: once more on a fresh one
            return outcome
        return outcome  # pragma: no cover - the loop always returns

    def _open(self) -> Outcome | None:
        if self.is_open:
            return None
        assert isinstance(self.transport, SMTPBackend)
        try:
            self.transport.open()
        except Exception as exc:
            return Outcome(Result.TEMPORARY, f"{type(exc).__name__}: {exc}", reconnect=True)
        self.is_open = True
        return None

    def close(self) -> None:
        if self.is_open:
            with contextlib.suppress(Exception):
                self.transport.close()
        if isinstance(self.transport, SMTPBackend):
            self.transport.connection = None
        self.is_open = False


def keep_in_outbox(wire: Wire) -> Outcome:
    """``EMAIL_URL=outbox://`` (DESIGN §5): the personalised message is kept on the operator's
    outbox page instead of going out, inside the delivery's own transaction (so exactly once),
    and the delivery counts as sent with a response that says where it went."""
    parsed = message_from_bytes(wire.data, policy=policy.default)
    body = parsed.get_body(preferencelist=("plain", "html"))
    OutboxMessage.objects.create(
        from_email=wire.sender,
        to=", ".join(wire.recipients),
        subject=str(parsed.get("Subject", ""))[:998],
        body=body.get_content() if body is not None else "",
        raw=wire.data,
    )
    return Outcome(Result.ACCEPTED, OUTBOX_RESPONSE)


class StopWatch:
    """Whether the campaign is still sending, read at most every STATUS_CHECK_SECONDS."""

    def __init__(self, campaign_id: int) -> None:
        self.campaign_id = campaign_id
        self.checked = 0.0
        self.sending = True

    def stop(self) -> bool:
        now = time.monotonic()
        if now - self.checked >= STATUS_CHECK_SECONDS:
            self.checked = now
            with scopes_disabled():
                status = (
                    Campaign.objects.filter(pk=self.campaign_id)
                    .values_list("status", flat=True)
                    .first()
                )
            self.sending = status == CampaignStatus.SENDING
        return not self.sending


def _due(now: datetime) -> Q:
    return Q(status=DeliveryStatus.PENDING) | Q(
        status=DeliveryStatus.RETRY, next_attempt_at__lte=now
    )


def _message_id(data: bytes) -> str:
    head = data.split(b"\r\n\r\n", 1)[0]
    _before, found, after = head.partition(b"Message-ID: <")
    return after.split(b">", 1)[0].decode("ascii", "replace") if found else ""


def send_batch(campaign_id: int, first_id: int, last_id: int) -> BatchReport:
    """Send the open deliveries with ids in [first_id, last_id] over one SMTP connection, then
    take over any open delivery of the campaign no worker holds (a crashed worker's rows)."""
    report = BatchReport()
    campaign = _campaign(campaign_id)
    if campaign is None:
        return report
    watch = StopWatch(campaign_id)
    if watch.stop():
        report.stopped = True
        return report
    with scope(tenant=campaign.tenant_id):
        skeleton = build_campaign_message(campaign)
        sender = Sender()
        try:
            rows = Delivery.objects.filter(campaign_id=campaign_id)
            _send_rows(
                rows.filter(pk__gte=first_id, pk__lte=last_id), skeleton, sender, watch, report
            )
            if not report.stopped:
                _send_rows(rows, skeleton, sender, watch, report)
        finally:
            sender.close()
    finish_if_done(campaign_id)
    return report


def _send_rows(
    queryset: QuerySet[Delivery],
    skeleton: MessageSkeleton,
    sender: Sender,
    watch: StopWatch,
    report: BatchReport,
) -> None:
    last = 0
    size = batch_size()
    while True:
        chunk = list(
            queryset.filter(_due(timezone.now()), pk__gt=last)
            .order_by("pk")
            .values_list("pk", "contact_id")[:size]
        )
        if not chunk:
            return
        last = chunk[-1][0]
        contacts = {
            c.pk: c
            for c in Contact.objects.filter(
                tenant_id=skeleton.tenant_id, pk__in=[contact_id for _pk, contact_id in chunk]
            )
        }
        for pk, contact_id in chunk:
            if watch.stop():
                report.stopped = True
                return
            _send_one(pk, contacts.get(contact_id), skeleton, sender, report)


def _send_one(
    pk: int, contact: Contact | None, skeleton: MessageSkeleton, sender: Sender, report: BatchReport
) -> None:
    with transaction.atomic():
        if connection.vendor == "postgresql":
            # Marks need not wait for the disk: a crash of the database server itself can then
            # lose the last marks (those messages go out again), which the design accepts.
            with connection.cursor() as cursor:
                cursor.execute("SET LOCAL synchronous_commit TO OFF")
        now = timezone.now()
        delivery = (
            Delivery.objects.select_for_update(skip_locked=True).filter(_due(now), pk=pk).first()
        )
        if delivery is None:  # sent, or held by another worker
            report.skipped += 1
            return
        delivery.attempts += 1
        if contact is None or contact.status != ContactStatus.ACTIVE:
            # Unsubscribed or bounced since the send began: it is not sent.
            reason = contact.get_status_display() if contact else "deleted"
            outcome = Outcome(Result.PERMANENT, f"not sent: contact {reason}")
        else:
            data = personalise(skeleton, contact)
            delivery.message_id = _message_id(data)
            outcome = sender.send(Wire(skeleton.envelope_from, [contact.email], data))
        _apply(delivery, outcome, now, report)
        delivery.save(
            update_fields=[
                "status",
                "attempts",
                "next_attempt_at",
                "message_id",
                "smtp_response",
                "sent_at",
            ]
        )


def _apply(delivery: Delivery, outcome: Outcome, now: datetime, report: BatchReport) -> None:
    from mandant.campaigns import tasks

    delivery.smtp_response = outcome.response[:RESPONSE_MAX_CHARS]
    delivery.next_attempt_at = None
    if outcome.result is Result.ACCEPTED:
        delivery.status = DeliveryStatus.SENT
        delivery.sent_at = now
        report.sent += 1
    elif outcome.result is Result.PERMANENT or delivery.attempts >= max_attempts():
        delivery.status = DeliveryStatus.FAILED
        report.failed += 1
    else:
        delivery.status = DeliveryStatus.RETRY
        delivery.next_attempt_at = now + retry_delay(delivery.attempts)
        report.retrying += 1
        task = tasks.send_batch
        if task.get_backend().supports_defer:
            task.using(run_after=delivery.next_attempt_at).enqueue(
                delivery.campaign_id, delivery.pk, delivery.pk
            )
        else:
            logger.warning("Task backend cannot defer: delivery %s waits for a resume", delivery.pk)


def delivery_counts(campaign: Campaign) -> dict[str, int]:
    """sent, failed, remaining (pending or waiting for a retry), total."""
    with scope(tenant=campaign.tenant_id):
        by_status = dict(
            Delivery.objects.filter(tenant_id=campaign.tenant_id, campaign_id=campaign.pk)
            .values_list("status")
            .order_by()
            .annotate(n=Count("pk"))
            .values_list("status", "n")
        )
    # A bounced delivery was sent: a DSN refused it later (campaigns.bounces).
    sent = by_status.get(DeliveryStatus.SENT, 0) + by_status.get(DeliveryStatus.BOUNCED, 0)
    failed = by_status.get(DeliveryStatus.FAILED, 0)
    remaining = by_status.get(DeliveryStatus.PENDING, 0) + by_status.get(DeliveryStatus.RETRY, 0)
    if campaign.prepared_at is None and campaign.status in (
        CampaignStatus.SCHEDULED,
        CampaignStatus.SENDING,
        CampaignStatus.PAUSED,
    ):
        # The rows are still being created: the recipients not yet in them are remaining too.
        with scope(tenant=campaign.tenant_id):
            remaining = max(remaining, recipient_count(campaign=campaign) - sent - failed)
    return {
        "sent": sent,
        "failed": failed,
        "remaining": remaining,
        "total": sent + failed + remaining,
    }
