from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from mandant.contacts.importing import uploads_purge


class Command(BaseCommand):
    help = "Contacts maintenance: purge-uploads (daily, e.g. from cron)."

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        sub.add_parser(
            "purge-uploads",
            help="delete uploaded CSV files older than CONTACT_IMPORT_KEEP_DAYS whose import "
            "has finished",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if options["action"] == "purge-uploads":
            count = uploads_purge()
            self.stdout.write(f"{count} uploaded files removed")
