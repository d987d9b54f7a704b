import signal
import subprocess
import sys
from typing import Any

from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandParser


class Command(BaseCommand):
    help = "Serve the web application and run one task worker beside it."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("addrport", nargs="?", default="127.0.0.1:8000")
        parser.add_argument("--no-worker", action="store_true", help="do not start a worker")

    def handle(self, *args: Any, **options: Any) -> None:
        worker = None
        if not options["no_worker"]:
            _schedule_monthly_invoices()
            worker = subprocess.Popen(  # noqa: S603 - our own interpreter and command
                [sys.executable, "-m", "mandant", "db_worker", "--queue-name", "default"]
            )
        try:
            call_command("runserver", options["addrport"], use_reloader=False, use_threading=True)
        finally:
            if worker is not None:
                worker.send_signal(signal.SIGTERM)
                try:
                    worker.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    worker.kill()


def _schedule_monthly_invoices() -> None:
    """The monthly invoice run waits in the task queue (once; see invoicing/tasks.py)."""
    from contextlib import suppress

    from django.db import DatabaseError

    from mandant.invoicing.tasks import invoices_schedule

    # Not migrated yet (`mandant migrate` first): nothing to schedule now.
    with suppress(DatabaseError):
        invoices_schedule()
