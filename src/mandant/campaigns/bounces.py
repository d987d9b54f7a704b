"""DSNs (RFC 3464) about campaign mail: matched to their delivery by the original's Message-ID.

``notices.bounces`` parses the DSN and hands over the ones that do not name a system message
(no ``X-Mandant-Message`` header). Every delivery has its own random Message-ID
(``message.personalise``), stored on the row, so the Message-ID alone finds the delivery; no
extra header is needed, and nothing in the message reveals a database id.

* hard bounce (5.x.x): the delivery becomes ``bounced`` with the diagnostic as its response,
  and the contact ``bounced`` (``contact_mark_bounced``, audited), which leaves it out of every
  later send of the tenant;
* soft bounce: only recorded on the delivery (its response).

As for system mail, the DSN comes from outside: it counts only for a delivery that was sent and
whose recipient it names.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.db import transaction
from django_scopes import scopes_disabled

from mandant.campaigns.models import Delivery, DeliveryStatus
from mandant.contacts.services import contact_mark_bounced
from mandant.tenants.models import Tenant

if TYPE_CHECKING:
    from mandant.notices.bounces import BounceOutcome, BounceReport

BOUNCEABLE = (DeliveryStatus.SENT, DeliveryStatus.BOUNCED)


def delivery_bounce(report: BounceReport) -> BounceOutcome:
    from mandant.notices.bounces import HARD, IGNORED, SOFT, BounceOutcome

    message_id = report.original_message_id
    if not message_id:
        return BounceOutcome(IGNORED, "no_original_message")
    with transaction.atomic(), scopes_disabled():
        delivery = (
            Delivery.objects.select_for_update()
            .exclude(message_id="")
            .filter(message_id=message_id)
            .first()
        )
        if delivery is None:
            return BounceOutcome(IGNORED, "unknown_message")
        details: dict[str, object] = {
            "delivery_id": delivery.pk,
            "campaign_id": delivery.campaign_id,
        }
        if delivery.status not in BOUNCEABLE:
            return BounceOutcome(IGNORED, "not_sent", details=details)
        concerned = [r for r in report.recipients if r.names(delivery.email)]
        if not concerned:
            return BounceOutcome(IGNORED, "recipient_mismatch", details=details)
        hard = next((r for r in concerned if r.kind == HARD), None)
        soft = next((r for r in concerned if r.kind == SOFT), None)
        details["status"] = (hard or soft or concerned[0]).status
        if hard is not None:
            delivery.status = DeliveryStatus.BOUNCED
            delivery.smtp_response = hard.response
            delivery.save(update_fields=["status", "smtp_response"])
            tenant = Tenant.objects.get(pk=delivery.tenant_id)
            marked = contact_mark_bounced(
                tenant=tenant, contact_id=delivery.contact_id, reason=hard.response
            )
            return BounceOutcome(HARD, "bounced", None, marked, details)
        if soft is not None:
            if delivery.status == DeliveryStatus.SENT:  # a hard bounce's record stays
                delivery.smtp_response = soft.response
                delivery.save(update_fields=["smtp_response"])
            return BounceOutcome(SOFT, "recorded", None, False, details)
        return BounceOutcome(IGNORED, "not_a_failure", details=details)
