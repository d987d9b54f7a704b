"""The mails after an online activation, through the one outbound mail service.

* "Paid upgrade activated" (a system message) to every verified administrator of the tenant
  and of its masters up to its partner — recorded in the activation's transaction.
* The accepted conditions, with a PDF of them, to the activating user — made by a background
  task after the commit (rendering the PDF takes too long for a request).
"""

from __future__ import annotations

from django.conf import settings
from django.db import transaction
from django.urls import reverse
from django.utils import timezone
from django_scopes import scopes_disabled

from mandant.accounts.models import User
from mandant.billing.conditions_pdf import conditions_pdf, conditions_pdf_filename
from mandant.billing.models import Activation, ActivationEvent, ConditionsAcceptance
from mandant.billing.selectors import price_on, upgrade_notice_recipients
from mandant.core.actor import Actor
from mandant.notices.models import OutboundMessage
from mandant.notices.services import MailAttachment, mail_queue, supported_language

UPGRADE_NOTICE_KIND = "upgrade_activated"
CONDITIONS_KIND = "upgrade_conditions"


def _upgrades_url(slug: str) -> str:
    return settings.SITE_URL + reverse("tenants:setup_upgrades", args=[slug])


def queue_upgrade_notices(*, activation: Activation, actor: Actor) -> list[OutboundMessage]:
    """Record "paid upgrade activated" for the administrators (call inside the activation's
    transaction: the mails exist exactly when the activation does)."""
    tenant, product = activation.tenant, activation.product
    recipients = upgrade_notice_recipients(tenant)
    users = User.objects.in_bulk([r.user_id for r in recipients])
    context = {
        "product": product,
        "activation": activation,
        "price": price_on(product, timezone.localdate(activation.started_at)),
        "activated_by": actor.user,
        "acting_as": activation.role_source,
        "upgrades_url": _upgrades_url(tenant.slug),
    }
    return [
        mail_queue(
            kind=UPGRADE_NOTICE_KIND,
            template="billing_upgrade_activated",
            context=context,
            to_user=users[r.user_id],
            tenant=tenant,
        )
        for r in recipients
        if r.user_id in users
    ]


def enqueue_conditions_mail(acceptance_id: int) -> None:
    from mandant.billing.tasks import send_conditions_mail

    send_conditions_mail.enqueue(acceptance_id)


def _acceptance(acceptance_id: int) -> ConditionsAcceptance | None:
    # The task knows the id only; the acceptance names its tenant.
    with scopes_disabled():
        return (
            ConditionsAcceptance.objects.select_related(
                "product", "conditions", "tenant", "user", "acting_as"
            )
            .defer("tenant__logo_png")
            .filter(pk=acceptance_id)
            .first()
        )


def conditions_mail_send(*, acceptance_id: int) -> OutboundMessage | None:
    """Mail the accepted conditions (text, and a PDF attached) to the user who accepted them,
    in their language. At most once per acceptance; returns the message (None: nothing to do)."""
    acceptance = _acceptance(acceptance_id)
    if acceptance is None or acceptance.user is None or acceptance.conditions_mail_id:
        return None
    user = acceptance.user
    language = supported_language(user.language)
    pdf = conditions_pdf(acceptance, language)  # before the transaction: it takes a while
    with scopes_disabled():
        event = (
            ActivationEvent.objects.filter(acceptance=acceptance)
            .select_related("activation")
            .first()
        )
    with transaction.atomic(), scopes_disabled():
        locked = (
            ConditionsAcceptance.objects.select_for_update()
            .filter(pk=acceptance.pk, conditions_mail__isnull=True)
            .first()
        )
        if locked is None:
            return None  # another run mailed it meanwhile
        message = mail_queue(
            kind=CONDITIONS_KIND,
            template="billing_conditions",
            context={
                "acceptance": acceptance,
                "product": acceptance.product,
                "conditions": acceptance.conditions,
                "conditions_text": acceptance.conditions.text_for(language),
                "activation": event.activation if event is not None else None,
                "price": price_on(acceptance.product, timezone.localdate(acceptance.accepted_at)),
                "upgrades_url": _upgrades_url(acceptance.tenant.slug),
            },
            to_user=user,
            language=language,
            tenant=acceptance.tenant,
            attachment=MailAttachment(
                filename=conditions_pdf_filename(acceptance, language),
                content_type="application/pdf",
                data=pdf,
            ),
        )
        locked.conditions_mail = message
        locked.save(update_fields=["conditions_mail"])
    return message
