"""Background tasks of the contacts app: thin wrappers that take ids and call services."""

from typing import Any

from django_tasks import task

from mandant.contacts import importing


@task()
def contact_import(job_id: int) -> dict[str, Any]:
    return importing.import_job_run(job_id=job_id).summary
