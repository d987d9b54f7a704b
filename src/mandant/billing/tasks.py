"""Background tasks of the billing app: thin wrappers that take ids and call services."""

from django_tasks import task

from mandant.billing import emails, services


@task()
def send_conditions_mail(acceptance_id: int) -> int | None:
    message = emails.conditions_mail_send(acceptance_id=acceptance_id)
    return message.pk if message is not None else None


@task()
def expire_activations() -> int:
    """Close the trials and deactivations that ran out (also ``mandant billing expire``)."""
    return services.activations_expire()
