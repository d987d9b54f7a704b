from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from mandant.content.copying import copy_job_run
from mandant.content.services import bin_purge
from mandant.jobs.selectors import job_exists


class Command(BaseCommand):
    help = (
        "Content library maintenance: purge-bin (daily, e.g. from cron); resume-job JOB_ID "
        "(finish a Copy Content job whose worker died: done targets are skipped)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        sub.add_parser(
            "purge-bin",
            help="delete items that have been in the bin longer than CONTENT_BIN_DAYS",
        )
        resume = sub.add_parser("resume-job", help="run a Copy Content job again, here and now")
        resume.add_argument("job_id", type=int)

    def handle(self, *args: Any, **options: Any) -> None:
        if options["action"] == "purge-bin":
            count = bin_purge()
            self.stdout.write(f"{count} items purged from the bin")
        elif options["action"] == "resume-job":
            if not job_exists(pk=options["job_id"]):
                raise CommandError(f"There is no job {options['job_id']}.")
            job = copy_job_run(job_id=options["job_id"])
            self.stdout.write(f"job {job.pk}: {job.status}, {job.done} of {job.total} targets")
