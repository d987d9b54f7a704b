from collections.abc import Sequence

from django.core.mail.backends.base import BaseEmailBackend
from django.core.mail.message import EmailMessage

from mandant.notices.models import OutboxMessage


class OutboxBackend(BaseEmailBackend):
    """Keeps each message in the database; operators read them on the outbox page."""

    def send_messages(self, email_messages: Sequence[EmailMessage]) -> int:
        for message in email_messages:
            OutboxMessage.objects.create(
                from_email=message.from_email,
                to=", ".join(message.recipients()),
                subject=str(message.subject),
                body=str(message.body),
                raw=message.message().as_bytes(),
            )
        return len(email_messages)
