"""Background tasks of the sending pipeline: thin wrappers around campaigns.pipeline."""

from datetime import datetime

from django_tasks import task

from mandant.campaigns import pipeline, services


@task()
def prepare_campaign(campaign_id: int, batch_size: int | None = None) -> int:
    return pipeline.prepare(campaign_id, batch_size)


@task()
def send_batch(
    campaign_id: int, first_delivery_id: int, last_delivery_id: int
) -> dict[str, int | bool]:
    return pipeline.send_batch(campaign_id, first_delivery_id, last_delivery_id).as_dict()


@task()
def start_scheduled_campaign(campaign_id: int, send_at: str) -> int:
    """Enqueued to run at ``send_at``: starts the send unless the campaign was unscheduled,
    scheduled for another time, sent, paused or cancelled since."""
    if not services.campaign_start_scheduled(
        campaign_id=campaign_id, send_at=datetime.fromisoformat(send_at)
    ):
        return 0
    return pipeline.prepare(campaign_id)
