from django.db.models import QuerySet

from mandant.notices.models import OutboxMessage


def outbox_messages(limit: int = 200) -> QuerySet[OutboxMessage]:
    return OutboxMessage.objects.defer("raw").order_by("-created_at")[:limit]


def outbox_message(message_id: int) -> OutboxMessage | None:
    return OutboxMessage.objects.filter(pk=message_id).first()
