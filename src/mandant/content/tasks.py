"""Background tasks of the content app: thin wrappers that take ids and call services."""

from typing import Any

from django_tasks import task

from mandant.content import copying


@task()
def copy_content(job_id: int) -> dict[str, Any]:
    return copying.copy_job_run(job_id=job_id).summary
