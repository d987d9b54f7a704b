"""The sending pipeline (DESIGN §4): prepare a campaign's delivery rows, send them in batches.

Exactly once per recipient: one ``Delivery`` row per (campaign, contact). Sending lanes claim
small chunks of rows with a lease (``claimed_until``; ``SKIP LOCKED`` so
lanes never wait for each other), send each message over a pooled SMTP connection and mark its
row right after the server's answer, in an autocommitted statement of its own. A worker killed
at any point leaves its claimed rows to be taken over once the lease ends; a row marked sent is
never taken again. Why not one transaction per chunk: a kill would send the whole chunk again
(docs/decisions.md).
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from email import message_from_bytes, policy
from typing import Any

from django.conf import settings
from django.core.mail import get_connection
from django.core.mail.backends.smtp import EmailBackend as SMTPBackend
from django.db import connection, connections, transaction
from django.db.models import Count, Exists, Max, OuterRef
from django.utils import timezone
from django_scopes import scope, scopes_disabled

from mandant.campaigns import throttle
from mandant.campaigns.message import MessageSkeleton, build_campaign_message, personalise
from mandant.campaigns.models import Campaign, CampaignStatus, Delivery, DeliveryStatus
from mandant.campaigns.selectors import recipient_count, recipient_id_batches
from mandant.campaigns.smtp_pool import POOL, relay_key
from mandant.contacts.models import Contact, ContactStatus
from mandant.notices.backends import OutboxBackend
from mandant.notices.delivery import Outcome, Result, Wire, max_attempts, retry_delay
from mandant.notices.models import OutboxMessage
from mandant.tenants.models import Tenant

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
        rows_of_campaign = Delivery.objects.filter(campaign_id=campaign.pk)
        last = 0
        if campaign.prepared_at is None:
            # Each batch is sent while the next rows are still being inserted.
            for ids in recipient_id_batches(campaign=campaign, size=size):
                insert_deliveries(campaign, ids)
                # The newest row walking the primary key backwards: this campaign's rows
                # were just inserted, so it stops at once.
                newest = rows_of_campaign.order_by("-pk").values_list("pk", flat=True).first() or 0
                if newest > last:
                    tasks.send_batch.enqueue(campaign.pk, last + 1, newest)
                    enqueued += 1
                    last = newest
            Campaign.objects.filter(pk=campaign.pk).update(prepared_at=timezone.now())
        else:
            # Resumed: batches by delivery id over the rows still open.
            open_rows = rows_of_campaign.filter(status__in=OPEN)
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


def insert_deliveries(campaign: Campaign, contact_ids: list[int]) -> None:
    """One ``Delivery`` per active contact among ``contact_ids`` (existing ones are kept): a
    single INSERT … SELECT, no contact travels through Python."""
    if not contact_ids:
        return
    delivery = Delivery._meta.db_table
    contact = Contact._meta.db_table
    marks = ", ".join(["%s"] * len(contact_ids))
    # Only table names and placeholders are formatted in; every value is a parameter.
    sql = (
        f"INSERT INTO {delivery} (tenant_id, campaign_id, contact_id, email, status, "  # noqa: S608
        "attempts, message_id, smtp_response) "
        f"SELECT tenant_id, %s, id, email, %s, 0, '', '' FROM {contact} "
        f"WHERE tenant_id = %s AND status = %s AND id IN ({marks}) "
        # The id span bounds the scan even before PostgreSQL has statistics for new contacts.
        "AND id BETWEEN %s AND %s "
        "ON CONFLICT (campaign_id, contact_id) DO NOTHING"
    )
    with connection.cursor() as cursor:
        cursor.execute(
            sql,
            [
                campaign.pk,
                DeliveryStatus.PENDING,
                campaign.tenant_id,
                ContactStatus.ACTIVE,
                *contact_ids,
                min(contact_ids),
                max(contact_ids),
            ],
        )


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

    def add(self, other: BatchReport) -> None:
        self.sent += other.sent
        self.failed += other.failed
        self.retrying += other.retrying
        self.skipped += other.skipped
        self.stopped = self.stopped or other.stopped

    def as_dict(self) -> dict[str, int | bool]:
        return {
            "sent": self.sent,
            "failed": self.failed,
            "retrying": self.retrying,
            "skipped": self.skipped,
            "stopped": self.stopped,
        }


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


def _message_id(data: bytes) -> str:
    head = data.split(b"\r\n\r\n", 1)[0]
    _before, found, after = head.partition(b"Message-ID: <")
    return after.split(b">", 1)[0].decode("ascii", "replace") if found else ""


def claim_seconds() -> int:
    return int(getattr(settings, "CAMPAIGN_CLAIM_SECONDS", 120))


def lane_count() -> int:
    """Sending lanes for one batch: threads with a database and an SMTP connection each. One on
    SQLite (it writes one transaction at a time) and inside a transaction (another thread
    could not see its rows: tests with the immediate task backend)."""
    if connection.vendor == "sqlite" or connection.in_atomic_block:
        return 1
    return max(1, int(getattr(settings, "CAMPAIGN_SEND_LANES", 4)))


@dataclass
class Batch:
    """What every lane of one ``send_batch`` shares (read-only)."""

    campaign_id: int
    tenant: Tenant
    first_id: int
    last_id: int
    skeleton: MessageSkeleton
    limits: list[throttle.Limit]
    claim_size: int


def send_batch(campaign_id: int, first_id: int, last_id: int) -> BatchReport:
    """Send the open deliveries with ids in [first_id, last_id], then take over any open
    delivery of the campaign that no live claim holds (a crashed worker's rows, due retries).

    The lanes claim chunks of rows (``status=sending`` with a lease, ``claimed_until``), send
    each message and mark its row at once in its own autocommitted statement: a worker killed
    at any point leaves at most the message it was sending in doubt (sent again after the lease:
    RFC 1047's window, a few microseconds between the server's "250" and the mark), never a
    chunk."""
    report = BatchReport()
    campaign = _campaign(campaign_id)
    if campaign is None:
        return report
    if StopWatch(campaign_id).stop():
        report.stopped = True
        return report
    with scope(tenant=campaign.tenant_id):
        skeleton = build_campaign_message(campaign)
        limits = throttle.limits_for(campaign.tenant, relay_name())
    batch = Batch(
        campaign_id=campaign_id,
        tenant=campaign.tenant,
        first_id=first_id,
        last_id=last_id,
        skeleton=skeleton,
        limits=limits,
        claim_size=throttle.chunk_size(limits, claim_size()),
    )
    lanes = lane_count()
    if lanes == 1:
        _lane(batch, report)
    else:
        reports = [BatchReport() for _ in range(lanes)]
        pool = lane_pool(lanes)
        for future in [pool.submit(_lane_thread, batch, r) for r in reports]:
            future.result()
        for lane_report in reports:
            report.add(lane_report)
    if not finish_if_done(campaign_id) and not report.stopped:
        _sweep_later(campaign_id)
    return report


def claim_size() -> int:
    return int(getattr(settings, "CAMPAIGN_CLAIM_SIZE", 100))


def relay_name() -> str:
    backend = get_connection(fail_silently=True)
    if isinstance(backend, SMTPBackend):
        return relay_key(backend).name
    return type(backend).__name__


_LANE_POOL: list[ThreadPoolExecutor] = []
_LANE_POOL_LOCK = threading.Lock()


def lane_pool(size: int) -> ThreadPoolExecutor:
    """The worker process's lane threads, kept from batch to batch with their database
    connections: a new connection per lane and batch cost PostgreSQL a backend process each."""
    with _LANE_POOL_LOCK:
        if _LANE_POOL and _LANE_POOL[0]._max_workers != size:
            shutdown_lanes()
        if not _LANE_POOL:
            _LANE_POOL.append(ThreadPoolExecutor(max_workers=size, thread_name_prefix="lane"))
        return _LANE_POOL[0]


def shutdown_lanes() -> None:
    """Stop the lane threads and close their database connections (tests, shutdown)."""
    if not _LANE_POOL:
        return
    pool = _LANE_POOL.pop()
    workers = pool._max_workers
    barrier = threading.Barrier(workers)

    def close() -> None:
        # Every thread takes one: the barrier keeps a thread from taking two.
        with contextlib.suppress(threading.BrokenBarrierError):
            barrier.wait(timeout=5)
        connections.close_all()

    for future in [pool.submit(close) for _ in range(workers)]:
        future.result()
    pool.shutdown(wait=True)


def _lane_thread(batch: Batch, report: BatchReport) -> None:
    try:
        _lane(batch, report)
    except Exception:
        # The lane's claimed rows go back to others once its lease ends; a broken database
        # connection is opened afresh by the next batch.
        logger.exception("Sending lane of campaign %s failed", batch.campaign_id)
        connections.close_all()


def _lane(batch: Batch, report: BatchReport) -> None:
    """Claim, send and mark chunk after chunk: first in the batch's id range, then anywhere in
    the campaign."""
    watch = StopWatch(batch.campaign_id)
    transport = get_connection(fail_silently=True)
    outbox = isinstance(transport, OutboxBackend)
    smtp = isinstance(transport, SMTPBackend)
    marks = Marks(batch.campaign_id)
    with scope(tenant=batch.tenant.pk), contextlib.ExitStack() as stack:
        pooled = stack.enter_context(POOL.connection()) if smtp else None
        stack.callback(marks.close)
        for low, high in _bounds(batch):
            while True:
                if watch.stop():
                    report.stopped = True
                    return
                wanted, wait = throttle.reserve(batch.limits, batch.claim_size)
                if not wanted:
                    time.sleep(min(wait, STATUS_CHECK_SECONDS * 5))
                    continue
                rows = claim(batch, wanted, low=low, high=high)
                if not rows:
                    break
                low = rows[-1][0] + 1  # keyset: never scan the rows behind again
                contacts = _contacts_of(batch.tenant.pk, [contact_id for _pk, contact_id in rows])
                for index, (pk, contact_id) in enumerate(rows):
                    if watch.stop():
                        release([row_pk for row_pk, _c in rows[index:]])
                        report.stopped = True
                        return
                    contact = contacts.get(contact_id)
                    if contact is None or contact.status != ContactStatus.ACTIVE:
                        # Unsubscribed or bounced since the send began: it is not sent.
                        reason = contact.get_status_display() if contact else "deleted"
                        outcome = Outcome(Result.PERMANENT, f"not sent: contact {reason}")
                        marks.mark(pk, outcome, "", report)
                        continue
                    data = personalise(batch.skeleton, contact)
                    wire = Wire(batch.skeleton.envelope_from, [contact.email], data)
                    if outbox:
                        with transaction.atomic():
                            marks.mark(pk, keep_in_outbox(wire), _message_id(data), report)
                        continue
                    if pooled is None:
                        outcome = Outcome(
                            Result.TEMPORARY, "No SMTP transport is configured (EMAIL_URL)."
                        )
                    else:
                        outcome = pooled.send(wire.sender, contact.email, data)
                    marks.mark(pk, outcome, _message_id(data), report)


def _contacts_of(tenant_id: int, ids: list[int]) -> dict[int, Contact]:
    """The contacts of one claim by id. The id span bounds the scan: right after a large import
    PostgreSQL has no statistics for the new rows yet and would otherwise read every contact
    of the tenant for each claim (measured: most of the database's CPU in a 100,000-recipient
    send)."""
    if not ids:
        return {}
    rows = Contact.objects.filter(
        tenant_id=tenant_id, pk__in=ids, pk__gte=min(ids), pk__lte=max(ids)
    )
    return {contact.pk: contact for contact in rows}


def _bounds(batch: Batch) -> list[tuple[int, int | None]]:
    """Delivery id ranges a lane works through: the batch's own range, then the campaign's
    later rows (helping batches not started yet). A sweep task (range 0–0) goes through the
    whole campaign: crashed workers' rows and retries below every running batch."""
    if batch.first_id == 0 and batch.last_id == 0:
        return [(0, None)]
    return [(batch.first_id, batch.last_id), (batch.last_id + 1, None)]


def claim(batch: Batch, size: int, *, low: int, high: int | None) -> list[tuple[int, int]]:
    """Up to ``size`` due deliveries, claimed with a lease (``claimed_until``): (delivery id,
    contact id). Pending rows first, then retries that are due; a row whose lease has passed (a
    crashed worker's) is free again. Rows other workers hold are skipped, not waited for. The
    claim writes only ``claimed_until``, no indexed column, so PostgreSQL can update the row in
    place (HOT) without new index entries."""
    now = timezone.now()
    at = connection.ops.adapt_datetimefield_value
    lease = at(now + timedelta(seconds=claim_seconds()))
    free = "(claimed_until IS NULL OR claimed_until < %s)"
    attempts: tuple[tuple[str, list[Any]], ...] = (
        (f"status = %s AND {free}", [DeliveryStatus.PENDING, at(now)]),
        (
            f"status = %s AND next_attempt_at <= %s AND {free}",
            [DeliveryStatus.RETRY, at(now), at(now)],
        ),
    )
    for condition, params in attempts:
        rows = _claim_where(batch, size, condition, params, lease, low=low, high=high)
        if rows:
            return rows
    return []


def _claim_where(
    batch: Batch,
    size: int,
    condition: str,
    params: list[Any],
    lease: Any,
    *,
    low: int,
    high: int | None,
) -> list[tuple[int, int]]:
    # Raw SQL: one round trip per chunk (UPDATE … RETURNING over a SKIP LOCKED subquery that
    # walks the (campaign, status, id) index); the ids come from this campaign, which the task
    # was given inside its tenant.
    table = Delivery._meta.db_table
    where = f"campaign_id = %s AND {condition}"
    values: list[Any] = [lease, batch.campaign_id, *params]
    where += " AND id >= %s"
    values.append(low)
    if high is not None:
        where += " AND id <= %s"
        values.append(high)
    skip_locked = connection.features.has_select_for_update_skip_locked
    lock = " FOR UPDATE SKIP LOCKED" if skip_locked else ""
    # Only the table name and fixed SQL are formatted in; every value is a parameter.
    sql = (
        f"UPDATE {table} SET claimed_until = %s WHERE id IN "  # noqa: S608
        f"(SELECT id FROM {table} WHERE {where} ORDER BY id LIMIT {int(size)}{lock}) "
        "RETURNING id, contact_id"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, values)
        rows = [(int(pk), int(contact_id)) for pk, contact_id in cursor.fetchall()]
    rows.sort()
    return rows


def release(pks: list[int]) -> None:
    """Claimed rows not sent (the campaign was paused or cancelled) are open again."""
    if pks:
        Delivery.objects.filter(pk__in=pks).update(claimed_until=None)


class Marks:
    """Marks each delivery right after its SMTP answer, one autocommitted UPDATE per message
    (raw SQL: the ORM's update costs more than the SMTP exchange). On PostgreSQL the lane's
    session does not wait for the disk at commit: a crash of the database server itself can
    lose the last marks, and those messages go out again, which the design accepts."""

    def __init__(self, campaign_id: int) -> None:
        self.campaign_id = campaign_id
        table = Delivery._meta.db_table
        # Only the table name is formatted in; every value is a parameter.
        self.sql = (
            f"UPDATE {table} SET status = %s, attempts = attempts + 1, "  # noqa: S608
            "next_attempt_at = %s, message_id = %s, smtp_response = %s, sent_at = %s, "
            "claimed_until = NULL WHERE id = %s"
        )
        self.async_commit = False
        self.prepared: Any = None
        if connection.vendor == "postgresql" and not connection.in_atomic_block:
            import psycopg

            with connection.cursor() as cursor:
                cursor.execute("SET synchronous_commit TO OFF")
            self.async_commit = True
            # A prepared statement with parameters bound on the server: Django's client-side
            # binding parses and plans every mark afresh and costs the worker twice the CPU.
            self.prepared = psycopg.Cursor(connection.connection)

    def mark(self, pk: int, outcome: Outcome, message_id: str, report: BatchReport) -> None:
        now = timezone.now()
        status, next_attempt = self._status(pk, outcome, now, report)
        sent_at = now if status == DeliveryStatus.SENT else None
        response = outcome.response[:RESPONSE_MAX_CHARS]
        if self.prepared is not None and not connection.in_atomic_block:
            params = [str(status), next_attempt, message_id, response, sent_at, pk]
            self.prepared.execute(self.sql, params, prepare=True)
        else:
            at = connection.ops.adapt_datetimefield_value
            with connection.cursor() as cursor:
                cursor.execute(
                    self.sql, [status, at(next_attempt), message_id, response, at(sent_at), pk]
                )
        if next_attempt is not None:
            _retry_later(self.campaign_id, pk, next_attempt)

    @staticmethod
    def _status(
        pk: int, outcome: Outcome, now: datetime, report: BatchReport
    ) -> tuple[str, datetime | None]:
        if outcome.result is Result.ACCEPTED:
            report.sent += 1
            return DeliveryStatus.SENT, None
        if outcome.result is Result.PERMANENT:
            report.failed += 1
            return DeliveryStatus.FAILED, None
        attempts = 1 + int(Delivery.objects.filter(pk=pk).values_list("attempts", flat=True).get())
        if attempts >= max_attempts():
            report.failed += 1
            return DeliveryStatus.FAILED, None
        report.retrying += 1
        return DeliveryStatus.RETRY, now + retry_delay(attempts)

    def close(self) -> None:
        if self.prepared is not None:
            with contextlib.suppress(Exception):
                self.prepared.close()
        if self.async_commit and connection.connection is not None:
            with contextlib.suppress(Exception), connection.cursor() as cursor:
                cursor.execute("SET synchronous_commit TO DEFAULT")


def _retry_later(campaign_id: int, pk: int, at: datetime) -> None:
    from mandant.campaigns import tasks

    task = tasks.send_batch
    if task.get_backend().supports_defer:
        task.using(run_after=at).enqueue(campaign_id, pk, pk)
    else:
        logger.warning("Task backend cannot defer: delivery %s waits for a resume", pk)


def _sweep_later(campaign_id: int) -> None:
    """A batch ended before the campaign did. Rows of a lapsed claim (a crashed worker's) are
    taken over by a sweep task (range 0–0, the whole campaign) at once; rows still held by a
    claim, at the end of the latest lease (a live worker will have marked them by then and the
    sweep finds nothing). Rows never claimed belong to batches still queued."""
    from mandant.campaigns import tasks

    now = timezone.now()
    with scopes_disabled():
        open_rows = Delivery.objects.filter(campaign_id=campaign_id, status__in=OPEN)
        if open_rows.filter(claimed_until__lt=now).exists():
            at = now
        else:
            latest = open_rows.filter(claimed_until__gte=now).aggregate(at=Max("claimed_until"))
            if latest["at"] is None:
                return
            at = latest["at"] + timedelta(seconds=1)
    task = tasks.send_batch
    if task.get_backend().supports_defer:
        task.using(run_after=at).enqueue(campaign_id, 0, 0)


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
    remaining = sum(by_status.get(status, 0) for status in OPEN)
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


RATE_WINDOW_SECONDS = 10


def current_rate(campaign: Campaign) -> float:
    """Messages per second over the last RATE_WINDOW_SECONDS (0 unless the campaign sends)."""
    if campaign.status != CampaignStatus.SENDING:
        return 0.0
    since = timezone.now() - timedelta(seconds=RATE_WINDOW_SECONDS)
    with scope(tenant=campaign.tenant_id):
        recent = Delivery.objects.filter(
            tenant_id=campaign.tenant_id,
            campaign_id=campaign.pk,
            status=DeliveryStatus.SENT,
            sent_at__gte=since,
        ).count()
    return round(recent / RATE_WINDOW_SECONDS, 1)
