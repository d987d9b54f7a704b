"""``mandant billing expire``: close the trials and deactivations that ran out.

Run it from cron (e.g. hourly; at least just after midnight on the first of a month, when
deactivations take effect). Until it runs, such activations already count as ended wherever
they are read; it records their end in the history and clears the Tenant-management flag.
"""

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from mandant.billing.services import activations_expire


class Command(BaseCommand):
    help = "Billing: close activations that ran out (expire)."

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        sub.add_parser("expire", help="close trials and deactivations whose end has passed")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["action"] == "expire":
            closed = activations_expire()
            self.stdout.write(f"{closed} activation(s) closed")
