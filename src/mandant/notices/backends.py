from collections.abc import Sequence

from django.core.mail import get_connection
from django.core.mail.backends.base import BaseEmailBackend
from django.core.mail.message import EmailMessage

from mandant.notices.models import OutboxMessage


def _outbound_id(message: EmailMessage) -> int | None:
    value = str(message.extra_headers.get("X-Mandant-Message", ""))
    return int(value) if value.isdigit() else None


class OutboxBackend(BaseEmailBackend):
    """Keeps each message in the database; operators read them on the outbox page."""

    def send_messages(self, email_messages: Sequence[EmailMessage]) -> int:
        OutboxMessage.objects.bulk_create(
            [
                OutboxMessage(
                    from_email=message.from_email,
                    to=", ".join(message.recipients()),
                    subject=str(message.subject),
                    body=str(message.body),
                    raw=message.message().as_bytes(),
                    outbound_id=_outbound_id(message),
                )
                for message in email_messages
            ],
            batch_size=500,
        )
        return len(email_messages)


def keeps_mail() -> bool:
    """True when the transport (``EMAIL_URL=outbox://``) keeps mail in the outbox instead of
    sending it: pages say so before someone expects a mail to arrive."""
    return isinstance(get_connection(fail_silently=True), OutboxBackend)
