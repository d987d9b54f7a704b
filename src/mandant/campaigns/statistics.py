"""Per-campaign statistics, computed from the delivery rows (nothing is counted twice).

* sent: handed to the relay (or kept in the outbox), bounced ones included;
* delivered: sent and not bounced since;
* bounced: refused later by a DSN (campaigns.bounces), hard bounces only;
* failed: refused at sending, or given up after the retries;
* unsubscribed: recipients who unsubscribed (by any link; the status is tenant-wide) after this
  campaign was sent to them, from the audit rows of ``contact_unsubscribe``.

When the campaign was tracked (campaigns.tracking: it has tracked targets), also

* opens / clicks: every fetch of the pixel / every click; unique_opens / unique_clicks: the
  recipients who opened / clicked at least once (distinct contacts, counted here, not when
  written); open_rate / click_rate: unique ones per delivered, in percent;
* links: clicks and unique clicks per link, most clicked first.

An untracked campaign has these keys set to None (no figures, rather than zeros).
"""

from typing import Any

from django.db.models import CharField, Count, Exists, OuterRef, Q
from django.db.models.functions import Cast
from django_scopes import scope

from mandant.audit.models import AuditEntry
from mandant.campaigns.models import Campaign, Delivery, DeliveryStatus
from mandant.campaigns.tracking import EventKind, TrackingEvent, TrackingLink

KEYS = ("delivered", "bounced", "failed", "unsubscribed")
TRACKING_KEYS = (
    "opens",
    "unique_opens",
    "clicks",
    "unique_clicks",
    "open_rate",
    "click_rate",
    "links",
)


def _rate(part: int, whole: int) -> float:
    return round(part * 100 / whole, 1) if whole else 0.0


def tracking_statistics(campaign: Campaign, delivered: int) -> dict[str, Any]:
    """The open and click figures (three queries), or every key None when not tracked."""
    with scope(tenant=campaign.tenant_id):
        targets = dict(
            TrackingLink.objects.filter(
                tenant_id=campaign.tenant_id, campaign_id=campaign.pk
            ).values_list("pk", "url")
        )
        if not targets:
            return dict.fromkeys(TRACKING_KEYS)
        events = TrackingEvent.objects.filter(tenant_id=campaign.tenant_id, campaign_id=campaign.pk)
        counts = events.aggregate(
            opens=Count("pk", filter=Q(kind=EventKind.OPEN)),
            unique_opens=Count("contact_id", filter=Q(kind=EventKind.OPEN), distinct=True),
            clicks=Count("pk", filter=Q(kind=EventKind.CLICK)),
            unique_clicks=Count("contact_id", filter=Q(kind=EventKind.CLICK), distinct=True),
        )
        per_link = (
            events.filter(kind=EventKind.CLICK)
            .values("link_id")
            .order_by()
            .annotate(clicks=Count("pk"), unique_clicks=Count("contact_id", distinct=True))
        )
        clicked: dict[int | None, tuple[int, int]] = {
            row["link_id"]: (row["clicks"], row["unique_clicks"]) for row in per_link
        }
    stats: dict[str, Any] = {key: int(counts[key] or 0) for key in counts}
    stats["open_rate"] = _rate(stats["unique_opens"], delivered)
    stats["click_rate"] = _rate(stats["unique_clicks"], delivered)
    links = [
        {
            "url": url,
            "clicks": clicked.get(pk, (0, 0))[0],
            "unique_clicks": clicked.get(pk, (0, 0))[1],
        }
        for pk, url in sorted(targets.items())
        if url
    ]
    stats["links"] = sorted(links, key=lambda row: -row["clicks"])
    return stats


def campaign_statistics(campaign: Campaign) -> dict[str, Any]:
    with scope(tenant=campaign.tenant_id):
        rows = Delivery.objects.filter(tenant_id=campaign.tenant_id, campaign_id=campaign.pk)
        unsubscribed_after = AuditEntry.objects.filter(
            tenant_id=campaign.tenant_id,
            action="contact.unsubscribe",
            object_type="contacts.contact",
            object_id=Cast(OuterRef("contact_id"), output_field=CharField()),
            created_at__gte=OuterRef("sent_at"),
        )
        counts = rows.aggregate(
            delivered=Count("pk", filter=Q(status=DeliveryStatus.SENT)),
            bounced=Count("pk", filter=Q(status=DeliveryStatus.BOUNCED)),
            failed=Count("pk", filter=Q(status=DeliveryStatus.FAILED)),
        )
        counts["unsubscribed"] = (
            rows.filter(sent_at__isnull=False).filter(Exists(unsubscribed_after)).count()
        )
    stats: dict[str, Any] = {key: int(counts[key] or 0) for key in KEYS}
    stats["sent"] = stats["delivered"] + stats["bounced"]
    stats.update(tracking_statistics(campaign, stats["delivered"]))
    return stats


def statistics_bars(stats: dict[str, Any]) -> list[dict[str, Any]]:
    """Rows for the campaign page's bar chart: each count as a share of what was attempted."""
    from django.utils.translation import gettext as _

    labels = {
        "delivered": _("Delivered"),
        "bounced": _("Bounced"),
        "failed": _("Failed"),
        "unsubscribed": _("Unsubscribed"),
    }
    base = max(stats["sent"] + stats["failed"], 1)
    rows = [
        {
            "key": key,
            "label": labels[key],
            "value": stats[key],
            "percent": round(stats[key] * 100 / base),
        }
        for key in KEYS
    ]
    if stats.get("unique_opens") is not None:
        # Opens and clicks as shares of the delivered mails (a recipient counts once).
        delivered = max(stats["delivered"], 1)
        rows += [
            {
                "key": "opened",
                "label": _("Opened"),
                "value": stats["unique_opens"],
                "percent": round(stats["unique_opens"] * 100 / delivered),
                "total": stats["opens"],
                "links": [],
            },
            {
                "key": "clicked",
                "label": _("Clicked"),
                "value": stats["unique_clicks"],
                "percent": round(stats["unique_clicks"] * 100 / delivered),
                "total": stats["clicks"],
                "links": stats["links"],
            },
        ]
    return rows
