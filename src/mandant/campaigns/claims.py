"""Claiming delivery rows and marking them (DESIGN §4), shared by the sending loops.

A loop claims a chunk of open rows with a lease (``claimed_until``; ``SKIP LOCKED``, so workers
never wait for each other), sends each message and marks the rows right after the server's
answers. A worker killed at any point leaves its claimed rows to be taken over once the lease
ends; a row marked sent is never taken again. Why not one transaction per chunk: a kill would
send the whole chunk again (docs/decisions.md).
"""

from __future__ import annotations

import contextlib
import logging
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone
from django_scopes import scopes_disabled

from mandant.campaigns import throttle
from mandant.campaigns.message import MessageSkeleton
from mandant.campaigns.models import Campaign, CampaignStatus, Delivery, DeliveryStatus
from mandant.contacts.models import Contact, ContactStatus
from mandant.notices.delivery import Outcome, Result, max_attempts, retry_delay
from mandant.tenants.models import Tenant

logger = logging.getLogger(__name__)

# How often a sending loop looks whether the campaign was paused or cancelled.
STATUS_CHECK_SECONDS = 0.2
RESPONSE_MAX_CHARS = 2000


def claim_seconds() -> int:
    return int(getattr(settings, "CAMPAIGN_CLAIM_SECONDS", 120))


def claim_size() -> int:
    return int(getattr(settings, "CAMPAIGN_CLAIM_SIZE", 100))


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


@dataclass
class Batch:
    """What one ``send_batch`` works with (read-only)."""

    campaign_id: int
    tenant: Tenant
    first_id: int
    last_id: int
    skeleton: MessageSkeleton
    limits: list[throttle.Limit]
    claim_size: int


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


def message_id_of(data: bytes) -> str:
    head = data.split(b"\r\n\r\n", 1)[0]
    _before, found, after = head.partition(b"Message-ID: <")
    return after.split(b">", 1)[0].decode("ascii", "replace") if found else ""


@dataclass(frozen=True, slots=True)
class ClaimedContact:
    """What sending needs of a contact (a model instance per row cost the loop as much as
    the SMTP exchange)."""

    pk: int
    tenant_id: int
    email: str
    first_name: str
    last_name: str
    language: str
    fields: Any
    status: str


CLAIMED_CONTACT_COLUMNS = (
    "pk",
    "tenant_id",
    "email",
    "first_name",
    "last_name",
    "language",
    "fields",
    "status",
)


def not_sendable(contact: ClaimedContact | None) -> Outcome | None:
    """Unsubscribed, bounced or deleted since the send began: the outcome that records it."""
    if contact is not None and contact.status == ContactStatus.ACTIVE:
        return None
    reason = ContactStatus(contact.status).label if contact else "deleted"
    return Outcome(Result.PERMANENT, f"not sent: contact {reason}")


# --- claims ---------------------------------------------------------------------------------


class Rows:
    """The batch's open rows, claimed chunk by chunk within the rate limits: first in the
    batch's id range, then anywhere later in the campaign (helping batches not started yet).
    A sweep task (range 0–0) goes through the whole campaign: crashed workers' rows and
    retries below every running batch."""

    def __init__(self, batch: Batch) -> None:
        self.batch = batch
        if batch.first_id == 0 and batch.last_id == 0:
            self.ranges: list[tuple[int, int | None]] = [(0, None)]
        else:
            self.ranges = [(batch.first_id, batch.last_id), (batch.last_id + 1, None)]
        self.done = False

    def next_chunk(self) -> tuple[list[tuple[int, ClaimedContact | None]], float]:
        """Claimed rows with their contacts. None claimed: either every row is done
        (``done``) or the rate limit asks to wait the returned seconds."""
        while self.ranges:
            wanted, wait = throttle.reserve(self.batch.limits, self.batch.claim_size)
            if not wanted:
                return [], wait
            low, high = self.ranges[0]
            rows = claim(self.batch, wanted, low=low, high=high)
            if not rows:
                self.ranges.pop(0)
                continue
            self.ranges[0] = (rows[-1][0] + 1, high)  # keyset: never scan these rows again
            contacts = _contacts_of(self.batch.tenant.pk, [contact_id for _pk, contact_id in rows])
            return [(pk, contacts.get(contact_id)) for pk, contact_id in rows], 0.0
        self.done = True
        return [], 0.0


def _contacts_of(tenant_id: int, ids: list[int]) -> dict[int, ClaimedContact]:
    """The contacts of one claim by id. The id span bounds the scan: right after a large import
    PostgreSQL has no statistics for the new rows yet and would otherwise read every contact
    of the tenant for each claim (measured: most of the database's CPU in a 100,000-recipient
    send)."""
    if not ids:
        return {}
    rows = Contact.objects.filter(
        tenant_id=tenant_id, pk__in=ids, pk__gte=min(ids), pk__lte=max(ids)
    ).values_list(*CLAIMED_CONTACT_COLUMNS)
    return {row[0]: ClaimedContact(*row) for row in rows}


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


# --- marks ----------------------------------------------------------------------------------


class Marks:
    """Writes the outcome of each message to its delivery row.

    Accepted messages are collected (``add``) and written together (``flush``), which the
    sending loop does as soon as it has read the answers that arrived at once: on PostgreSQL
    one statement for them all, with parameters bound on the server (a prepared statement), in
    a session that does not wait for the disk at commit. A crash of the database server itself
    can lose the last marks, and those messages go out again, which the design accepts. Refused
    and deferred messages are written one by one (a retry needs the row's attempts)."""

    def __init__(self, campaign_id: int, report: BatchReport) -> None:
        self.campaign_id = campaign_id
        self.report = report
        self.accepted: list[tuple[int, str, str]] = []  # (delivery id, Message-ID, response)
        table = Delivery._meta.db_table
        # Only the table name is formatted in; every value is a parameter.
        self.sql = (
            f"UPDATE {table} SET status = %s, attempts = attempts + 1, "  # noqa: S608
            "next_attempt_at = %s, message_id = %s, smtp_response = %s, sent_at = %s, "
            "claimed_until = NULL WHERE id = %s"
        )
        self.group_sql = (
            f"UPDATE {table} AS d SET status = %s, attempts = d.attempts + 1, "  # noqa: S608
            "next_attempt_at = NULL, message_id = v.message_id, smtp_response = v.response, "
            "sent_at = %s, claimed_until = NULL "
            "FROM unnest(%s::bigint[], %s::text[], %s::text[]) AS v(id, message_id, response) "
            "WHERE d.id = v.id"
        )
        self.async_commit = False
        self.prepared: Any = None
        if connection.vendor == "postgresql" and not connection.in_atomic_block:
            import psycopg

            with connection.cursor() as cursor:
                cursor.execute("SET synchronous_commit TO OFF")
            self.async_commit = True
            # Parameters bound on the server: Django's client-side binding parses and plans
            # every statement afresh and costs the worker twice the CPU.
            self.prepared = psycopg.Cursor(connection.connection)

    def add(self, pk: int, outcome: Outcome, message_id: str) -> None:
        if outcome.result is Result.ACCEPTED:
            self.report.sent += 1
            self.accepted.append((pk, message_id, outcome.response[:RESPONSE_MAX_CHARS]))
        else:
            self.mark(pk, outcome, message_id)

    def flush(self) -> None:
        if not self.accepted:
            return
        rows, self.accepted = self.accepted, []
        now = timezone.now()
        if self.prepared is not None and not connection.in_atomic_block:
            pks, message_ids, responses = (list(column) for column in zip(*rows, strict=True))
            self.prepared.execute(
                self.group_sql,
                [str(DeliveryStatus.SENT), now, pks, message_ids, responses],
                prepare=True,
            )
            return
        sent_at = connection.ops.adapt_datetimefield_value(now)
        params = [[DeliveryStatus.SENT, None, mid, text, sent_at, pk] for pk, mid, text in rows]
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.executemany(self.sql, params)

    def mark(self, pk: int, outcome: Outcome, message_id: str) -> None:
        """One row at once (inside the caller's transaction, if any)."""
        if outcome.result is Result.ACCEPTED:
            self.add(pk, outcome, message_id)
            self.flush()
            return
        now = timezone.now()
        status, next_attempt = self._status(pk, outcome, now)
        response = outcome.response[:RESPONSE_MAX_CHARS]
        at = connection.ops.adapt_datetimefield_value
        with connection.cursor() as cursor:
            cursor.execute(self.sql, [status, at(next_attempt), message_id, response, None, pk])
        # A retry is taken by the sweep the batch schedules when it ends (pipeline).

    def _status(self, pk: int, outcome: Outcome, now: datetime) -> tuple[str, datetime | None]:
        if outcome.result is Result.PERMANENT:
            self.report.failed += 1
            return DeliveryStatus.FAILED, None
        attempts = 1 + int(Delivery.objects.filter(pk=pk).values_list("attempts", flat=True).get())
        if attempts >= max_attempts():
            self.report.failed += 1
            return DeliveryStatus.FAILED, None
        self.report.retrying += 1
        return DeliveryStatus.RETRY, now + retry_delay(attempts)

    def close(self) -> None:
        try:
            self.flush()
        except Exception:
            # Their rows stay claimed: those messages go out again when the lease ends.
            logger.exception("Marks of campaign %s could not be written", self.campaign_id)
        if self.prepared is not None:
            with contextlib.suppress(Exception):
                self.prepared.close()
        if self.async_commit and connection.connection is not None:
            with contextlib.suppress(Exception), connection.cursor() as cursor:
                cursor.execute("SET synchronous_commit TO DEFAULT")
