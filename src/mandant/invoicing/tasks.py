"""Background tasks of the invoicing app: thin wrappers that take ids and call services.

``monthly_invoice_run`` bills the previous month and enqueues itself again for the 1st of
the next month, 02:00 in ``TIME_ZONE`` (Europe/Berlin). ``invoices_schedule`` starts that
chain once (``mandant invoices schedule``; ``mandant serve`` calls it at start).
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from django.utils import timezone
from django_tasks import task

from mandant.invoicing import calculation as calc

logger = logging.getLogger(__name__)

RUN_HOUR = 2  # 02:00 on the 1st: the month is over in every time zone of Europe


@task()
def render_and_send(invoice_id: int) -> int:
    """The PDF (with the Factur-X XML) of an invoice, then the e-mail to the billing contact."""
    from mandant.invoicing.documents import invoice_document_create_and_send

    invoice_document_create_and_send(invoice_id=invoice_id)
    return invoice_id


@task()
def monthly_invoice_run() -> dict[str, Any]:
    """Invoice the previous month (idempotent), then schedule the next run — also when this
    one failed, so one bad month does not stop the chain (the failure is in the task result)."""
    from mandant.invoicing.services import invoices_run

    try:
        summary = invoices_run(month=calc.previous_month(timezone.localdate()))
    finally:
        invoices_schedule()
    return summary.as_dict()


def next_run_at(now: datetime | None = None) -> datetime:
    """The 1st of the next month, 02:00, in ``TIME_ZONE``."""
    local = timezone.localtime(now or timezone.now(), timezone.get_default_timezone())
    year, month = calc.next_month(local.year, local.month)
    return datetime(year, month, 1, RUN_HOUR, tzinfo=timezone.get_default_timezone())


def _pending_runs() -> int | None:
    """How many monthly runs wait in the queue (None: the backend cannot tell)."""
    backend = monthly_invoice_run.get_backend()
    path = monthly_invoice_run.module_path
    try:
        from django_tasks_db.backend import DatabaseBackend
        from django_tasks_db.models import DBTaskResult
    except ImportError:  # pragma: no cover - django-tasks-db is a dependency
        DatabaseBackend = None  # type: ignore[assignment,misc]  # noqa: N806
    if DatabaseBackend is not None and isinstance(backend, DatabaseBackend):
        return DBTaskResult.objects.filter(task_path=path, status="READY").count()
    results = getattr(backend, "results", None)  # the dummy backend (tests)
    if results is not None:
        return sum(1 for r in results if r.task.module_path == path and r.status == "READY")
    return None


def invoices_schedule() -> datetime | None:
    """Enqueue the monthly run for the next 1st, 02:00 — unless one is waiting already.
    Returns when it will run (None: nothing enqueued; the backend cannot defer tasks or a
    run is pending)."""
    backend = monthly_invoice_run.get_backend()
    if not backend.supports_defer:
        logger.info("invoices: the task backend cannot schedule; run `mandant invoices run`")
        return None
    if _pending_runs():
        return None
    run_after = next_run_at()
    monthly_invoice_run.using(run_after=run_after).enqueue()
    return run_after
