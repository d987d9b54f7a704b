"""Per-campaign statistics, computed from the delivery rows (nothing is counted twice).

* sent: handed to the relay (or kept in the outbox), bounced ones included;
* delivered: sent and not bounced since;
* bounced: refused later by a DSN (campaigns.bounces), hard bounces only;
* failed: refused at sending, or given up after the retries;
* unsubscribed: recipients who unsubscribed (by any link; the status is tenant-wide) after this
  campaign was sent to them, from the audit rows of ``contact_unsubscribe``.
"""

from typing import Any

from django.db.models import CharField, Count, Exists, OuterRef, Q
from django.db.models.functions import Cast
from django_scopes import scope

from mandant.audit.models import AuditEntry
from mandant.campaigns.models import Campaign, Delivery, DeliveryStatus

KEYS = ("delivered", "bounced", "failed", "unsubscribed")


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
    return [
        {
            "key": key,
            "label": labels[key],
            "value": stats[key],
            "percent": round(stats[key] * 100 / base),
        }
        for key in KEYS
    ]
