"""Background tasks of the notices app: thin wrappers that take ids and call services."""

from django_tasks import task

from mandant.notices import delivery


@task()
def deliver_message(message_id: int) -> None:
    delivery.message_deliver(message_id=message_id)
