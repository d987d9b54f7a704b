"""``mandant bounce_process [FILE|-]``: apply one bounce (a DSN) read from a file or stdin.

For an MTA that delivers the bounce mailbox to a pipe (e.g. a Postfix ``pipe`` transport or
an alias ``|mandant bounce_process -``). Prints the outcome as JSON; exits 0 for ignored
messages too, so that the MTA does not bounce the bounce.
"""

import json
import sys
from argparse import ArgumentParser
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from mandant.notices.bounces import IGNORED, MAX_BOUNCE_BYTES, BounceOutcome, bounce_process


class Command(BaseCommand):
    help = "Apply a bounce (delivery status notification) read from a file or stdin."

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument(
            "file", nargs="?", default="-", help="the raw message; '-' or nothing: stdin"
        )

    def handle(self, *args: Any, file: str, **options: Any) -> None:
        if file == "-":
            raw = sys.stdin.buffer.read(MAX_BOUNCE_BYTES + 1)
        else:
            try:
                with Path(file).open("rb") as handle:
                    raw = handle.read(MAX_BOUNCE_BYTES + 1)
            except OSError as exc:
                raise CommandError(f"Cannot read {file}: {exc.strerror or exc}") from exc
        if len(raw) > MAX_BOUNCE_BYTES:
            outcome = BounceOutcome(IGNORED, "too_large")
        else:
            outcome = bounce_process(raw=raw)
        self.stdout.write(json.dumps(outcome.as_dict(), sort_keys=True))
