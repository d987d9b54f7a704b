"""``mandant mail_retry``: enqueue delivery for messages whose task was lost.

Delivery tasks are normally enqueued by the service (and retries by the delivery itself, with
``run_after``). This command is for recovery, e.g. from cron: it enqueues messages that are
overdue — waiting for a retry well past their due time, or still queued long after they were
recorded (a task backend without deferred tasks, a lost task row, a restored database).
"""

from argparse import ArgumentParser
from datetime import timedelta
from typing import Any

from django.core.management.base import BaseCommand
from django.utils import timezone

from mandant.notices.delivery import schedule_delivery
from mandant.notices.selectors import overdue_message_ids


class Command(BaseCommand):
    help = "Enqueue delivery for overdue outbound messages (recovery)."

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument(
            "--retry-grace",
            type=int,
            default=10,
            help="minutes past the due retry time (default %(default)s)",
        )
        parser.add_argument(
            "--queued-grace",
            type=int,
            default=60,
            help="minutes after recording for messages never tried (default %(default)s)",
        )

    def handle(self, *args: Any, retry_grace: int, queued_grace: int, **options: Any) -> None:
        now = timezone.now()
        ids = overdue_message_ids(
            retry_before=now - timedelta(minutes=retry_grace),
            queued_before=now - timedelta(minutes=queued_grace),
        )
        tasks = schedule_delivery(ids)
        self.stdout.write(f"{len(ids)} overdue message(s), {tasks} delivery task(s) enqueued")
