"""The sending pipeline (DESIGN §4): prepare a campaign's delivery rows, send them in batches.

Exactly once per recipient: one ``Delivery`` row per (campaign, contact). ``prepare`` inserts the
rows and enqueues a ``send_batch`` task per 1,000; each task runs one sending loop
(campaigns.send_loop) that claims rows with a lease (campaigns.claims), sends them over several
pooled SMTP connections at once and marks each row right after the server's answer. A worker
killed at any point leaves its claimed rows to be taken over once the lease ends; a row marked
sent is never taken again (docs/decisions.md).
"""

from __future__ import annotations

import logging
from datetime import timedelta

from django.conf import settings
from django.core.mail import get_connection
from django.core.mail.backends.smtp import EmailBackend as SMTPBackend
from django.db import connection
from django.db.models import Count, Exists, Max, Min, OuterRef, Q
from django.utils import timezone
from django_scopes import scope, scopes_disabled

from mandant.campaigns import throttle
from mandant.campaigns.claims import Batch, BatchReport, StopWatch, claim_size
from mandant.campaigns.message import build_campaign_message, live_sending_parts
from mandant.campaigns.models import (
    Campaign,
    CampaignStatus,
    Delivery,
    DeliveryStatus,
    SentContent,
)
from mandant.campaigns.selectors import recipient_count, recipient_id_batches
from mandant.campaigns.send_loop import send_rows
from mandant.campaigns.smtp_pool import relay_key
from mandant.contacts.models import Contact, ContactStatus

logger = logging.getLogger(__name__)

DEFAULT_BATCH_SIZE = 1000
OPEN = (DeliveryStatus.PENDING, DeliveryStatus.RETRY)


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
            freeze_content(campaign)
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


def freeze_content(campaign: Campaign) -> None:
    """Store what the campaign sends (message.live_sending_parts) once, when its send starts;
    a prepare run again after a crash keeps what the first one stored."""
    if SentContent.objects.filter(tenant_id=campaign.tenant_id, campaign_id=campaign.pk).exists():
        return
    parts, tracked = live_sending_parts(campaign)
    SentContent.objects.bulk_create(
        [
            SentContent(
                campaign=campaign,
                tenant_id=campaign.tenant_id,
                tracked=tracked,
                **{name: parts[name] for name in SentContent.PARTS},
            )
        ],
        ignore_conflicts=True,
    )


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


def send_batch(campaign_id: int, first_id: int, last_id: int) -> BatchReport:
    """Send the open deliveries with ids in [first_id, last_id], then take over any open
    delivery of the campaign that no live claim holds (a crashed worker's rows, due retries).

    One loop (campaigns.send_loop) claims chunks of rows (a lease, ``claimed_until``), sends
    over several SMTP connections at once and marks each row right after the server's answer:
    a worker killed at any point leaves at most the messages whose answer it had just read in
    doubt (sent again after the lease: RFC 1047's window), never a chunk."""
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
        try:
            send_rows(batch, report)
        except Exception:
            # Claimed rows go back to others once their lease ends (the sweep below).
            logger.exception("Sending batch of campaign %s failed", campaign_id)
    if not finish_if_done(campaign_id) and not report.stopped:
        _sweep_later(campaign_id)
    return report


def relay_name() -> str:
    backend = get_connection(fail_silently=True)
    if isinstance(backend, SMTPBackend):
        return relay_key(backend).name
    return type(backend).__name__


def _sweep_later(campaign_id: int) -> None:
    """A batch ended before the campaign did: one sweep task (range 0–0, the whole campaign)
    is scheduled for the next moment open rows can be taken. Rows of a lapsed claim (a crashed
    worker's): at once. Rows still held by a claim: at the end of the latest lease (a live
    worker will have marked them by then and the sweep finds nothing). Deferred rows: when the
    first retry is due; that sweep schedules the next one in turn, so a relay outage costs a
    task per batch, not one per message. Rows never claimed belong to batches still queued."""
    from mandant.campaigns import tasks

    now = timezone.now()
    with scopes_disabled():
        open_rows = Delivery.objects.filter(campaign_id=campaign_id, status__in=OPEN)
        if open_rows.filter(claimed_until__lt=now).exists():
            at = now
        else:
            found = open_rows.aggregate(
                lease=Max("claimed_until", filter=Q(claimed_until__gte=now)),
                retry=Min(
                    "next_attempt_at",
                    filter=Q(status=DeliveryStatus.RETRY, claimed_until__isnull=True),
                ),
            )
            lease_end = found["lease"] and found["lease"] + timedelta(seconds=1)
            moments = [moment for moment in (lease_end, found["retry"]) if moment]
            if not moments:
                return
            at = max(now, min(moments))
    task = tasks.send_batch
    if task.get_backend().supports_defer:
        task.using(run_after=at).enqueue(campaign_id, 0, 0)
    else:
        logger.warning("Task backend cannot defer: campaign %s waits for a resume", campaign_id)


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
