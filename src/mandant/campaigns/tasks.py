"""Background tasks of the sending pipeline: thin wrappers around campaigns.pipeline."""

from django_tasks import task

from mandant.campaigns import pipeline


@task()
def prepare_campaign(campaign_id: int, batch_size: int | None = None) -> int:
    return pipeline.prepare(campaign_id, batch_size)


@task()
def send_batch(
    campaign_id: int, first_delivery_id: int, last_delivery_id: int
) -> dict[str, int | bool]:
    return pipeline.send_batch(campaign_id, first_delivery_id, last_delivery_id).as_dict()
