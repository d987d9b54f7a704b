"""The one outbound mail service: every mail of the product is recorded here, then sent by a
background task through the transport chosen by ``EMAIL_URL``."""

from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import transaction
from django.template.loader import render_to_string
from django.utils import translation

from mandant.accounts.models import User
from mandant.notices.models import OutboundMessage
from mandant.tenants.models import Tenant


@dataclass(frozen=True)
class MailContent:
    subject: str
    text: str
    html: str


def mail_render(*, template: str, context: dict[str, Any], language: str) -> MailContent:
    """Render ``mail/<template>.subject.txt``, ``.txt`` and ``.html`` in ``language``."""
    with translation.override(language):
        full = {"language": language, "site_url": settings.SITE_URL, **context}
        subject = " ".join(render_to_string(f"mail/{template}.subject.txt", full).split())
        text = render_to_string(f"mail/{template}.txt", full)
        html = render_to_string(f"mail/{template}.html", full)
    return MailContent(subject=subject, text=text, html=html)


def mail_queue(
    *,
    kind: str,
    template: str,
    context: dict[str, Any],
    to_email: str | None = None,
    to_user: User | None = None,
    language: str | None = None,
    tenant: Tenant | None = None,
) -> OutboundMessage:
    """Record a mail in the recipient's language and send it after the transaction commits."""
    if to_user is not None:
        to_email = to_email or to_user.email
        language = language or to_user.language
    if not to_email:
        raise ValueError("mail_queue needs to_email or to_user")
    language = language or settings.LANGUAGE_CODE
    content = mail_render(
        template=template, context={"tenant": tenant, **context}, language=language
    )
    message = OutboundMessage.objects.create(
        tenant=tenant,
        to_user=to_user,
        to_email=to_email,
        kind=kind,
        language=language,
        subject=content.subject,
        text_body=content.text,
        html_body=content.html,
    )
    transaction.on_commit(lambda: _enqueue_delivery(message.pk))
    return message


def _enqueue_delivery(message_id: int) -> None:
    from mandant.notices.tasks import deliver_message

    deliver_message.enqueue(message_id)
