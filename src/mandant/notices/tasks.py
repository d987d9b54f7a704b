"""Background tasks of the notices app: thin wrappers that take ids and call services."""

from django_tasks import task

from mandant.notices import delivery, services

# Single messages (invitations, password resets, …) go before the batches of a notice.
SINGLE_MESSAGE_PRIORITY = 10


@task(priority=SINGLE_MESSAGE_PRIORITY)
def deliver_message(message_id: int) -> dict[str, int]:
    return delivery.messages_deliver(message_ids=[message_id]).as_dict()


@task()
def deliver_messages(message_ids: list[int]) -> dict[str, int]:
    """A batch (``MAIL_BATCH_SIZE``, default 200), sent over one SMTP connection."""
    return delivery.messages_deliver(message_ids=message_ids).as_dict()


@task()
def notice_fan_out(notice_id: int) -> int:
    return services.notice_fan_out(notice_id=notice_id)
