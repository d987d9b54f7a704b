"""Delivery of recorded messages through the configured transport."""

from django.conf import settings
from django.core.mail import EmailMultiAlternatives, get_connection
from django.utils import timezone

from mandant.notices.models import MessageStatus, OutboundMessage

OUTBOX_BACKEND = "mandant.notices.backends.OutboxBackend"


def build_email(message: OutboundMessage) -> EmailMultiAlternatives:
    email = EmailMultiAlternatives(
        subject=message.subject,
        body=message.text_body,
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=[message.to_email],
        headers={"X-Mandant-Message": str(message.pk), "Auto-Submitted": "auto-generated"},
    )
    if message.html_body:
        email.attach_alternative(message.html_body, "text/html")
    return email


def message_deliver(*, message_id: int) -> OutboundMessage | None:
    message = OutboundMessage.objects.filter(pk=message_id).first()
    if message is None or message.status in (MessageStatus.SENT, MessageStatus.KEPT):
        return message
    message.attempts += 1
    connection = get_connection()
    connection.send_messages([build_email(message)])
    message.status = (
        MessageStatus.KEPT if settings.EMAIL_BACKEND == OUTBOX_BACKEND else MessageStatus.SENT
    )
    message.sent_at = timezone.now()
    message.save(update_fields=["status", "attempts", "sent_at"])
    return message
