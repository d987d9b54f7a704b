"""The document of an issued invoice: its PDF (with the Factur-X XML) stored once, and the
mail that sends it to the billing contact.

Called by the background task ``invoicing.tasks.render_and_send`` after the invoice run, and
by the download pages when a document is missing (rendering takes well under 300 ms).
Both steps are idempotent: a second call reuses the stored document and sends no second mail.
"""

from __future__ import annotations

import hashlib
import logging

from django.conf import settings
from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import timezone
from django_scopes import scopes_disabled

from mandant.accounts.models import Membership, User
from mandant.accounts.roles import Role
from mandant.audit.services import audit_record
from mandant.core.errors import NotFound
from mandant.invoicing.models import Invoice, InvoiceDocument
from mandant.invoicing.pdf import document_title, invoice_render
from mandant.invoicing.snapshots import due_date, invoice_language, pdf_filename
from mandant.notices.models import OutboundMessage
from mandant.notices.services import MailAttachment, mail_queue

logger = logging.getLogger(__name__)

INVOICE_MAIL_KIND = "invoice"


def _invoice(invoice_id: int) -> Invoice:
    # Tasks and the operator know the id only; the invoice names its tenant.
    with scopes_disabled():
        invoice = (
            Invoice.objects.select_related("account", "refers_to", "tenant")
            .defer("tenant__logo_png")
            .filter(pk=invoice_id)
            .first()
        )
    if invoice is None:
        raise NotFound
    return invoice


def invoice_document_get_or_create(*, invoice_id: int) -> InvoiceDocument:
    """The stored PDF of the invoice, rendered and stored first if it is missing."""
    document = InvoiceDocument.objects.filter(invoice_id=invoice_id).first()
    if document is not None:
        return document
    invoice = _invoice(invoice_id)
    rendered = invoice_render(invoice)  # outside the transaction: it takes a while
    try:
        with transaction.atomic():
            return InvoiceDocument.objects.create(
                invoice=invoice,
                pdf=rendered.pdf,
                sha256=hashlib.sha256(rendered.pdf).hexdigest(),
                rendered_at=timezone.now(),
            )
    except IntegrityError:
        # Rendered at the same time by another worker or request: theirs is stored.
        return InvoiceDocument.objects.get(invoice_id=invoice_id)


def invoice_recipients(invoice: Invoice) -> list[User | str]:
    """The billing contact's address; without one, the verified, deliverable, active
    Administrators of the account's tenant."""
    if invoice.account.email:
        return [invoice.account.email]
    user_ids = Membership.objects.filter(
        tenant_id=invoice.account.tenant_id,
        role=Role.ADMINISTRATOR,
        deactivated_at__isnull=True,
        user__is_active=True,
        user__email_verified_at__isnull=False,
        user__email_undeliverable_at__isnull=True,
    ).values_list("user_id", flat=True)
    return list(User.objects.filter(pk__in=list(user_ids)).order_by("pk"))


def billing_url(invoice: Invoice) -> str:
    return settings.SITE_URL + reverse("invoicing:billing", args=[invoice.tenant.slug])


def invoice_mail_send(*, invoice_id: int, document: InvoiceDocument) -> OutboundMessage | None:
    """Mail the invoice with its PDF, once. Returns the (first) message, None when it was sent
    before or nobody can receive it."""
    invoice = _invoice(invoice_id)
    if invoice.email_message_id or invoice.emailed_at:
        return None
    recipients = invoice_recipients(invoice)
    if not recipients:
        logger.warning("invoice %s: no billing contact and no verified administrator", invoice)
        return None
    language = invoice_language(invoice)
    attachment = MailAttachment(
        filename=pdf_filename(invoice), content_type="application/pdf", data=bytes(document.pdf)
    )
    context = {
        "invoice": invoice,
        "account": invoice.account,
        "due_date": due_date(invoice),
        "billing_url": billing_url(invoice),
    }
    with transaction.atomic(), scopes_disabled():
        locked = (
            Invoice.objects.select_for_update()
            .filter(pk=invoice.pk, email_message__isnull=True, emailed_at__isnull=True)
            .values_list("pk", flat=True)
            .first()
        )
        if locked is None:
            return None  # another run mailed it meanwhile
        messages = []
        for recipient in recipients:
            user = recipient if isinstance(recipient, User) else None
            mail_language = (user.language if user else "") or language
            messages.append(
                mail_queue(
                    kind=INVOICE_MAIL_KIND,
                    template="invoice",
                    context={**context, "title": document_title(invoice, mail_language)},
                    to_email=None if user else str(recipient),
                    to_user=user,
                    language=mail_language,
                    tenant=invoice.tenant,
                    attachment=attachment,
                )
            )
        # The only fields that change on an issued invoice: when and how it was sent.
        now = timezone.now()
        Invoice.objects.filter(pk=invoice.pk).update(emailed_at=now, email_message=messages[0])
        audit_record(
            actor=None,
            action="invoice.emailed",
            tenant=invoice.tenant,
            obj=invoice,
            changes={"to": [message.to_email for message in messages], "sha256": document.sha256},
        )
    return messages[0]


def invoice_document_create_and_send(*, invoice_id: int) -> InvoiceDocument:
    """Render and store the invoice's PDF (if missing), then mail it (if not mailed yet)."""
    document = invoice_document_get_or_create(invoice_id=invoice_id)
    invoice_mail_send(invoice_id=invoice_id, document=document)
    return document
