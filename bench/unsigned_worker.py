"""``mandant db_worker`` with DKIM signing switched off, for ``campaign_bench.py --unsigned``:
it shows the pipeline's own speed beside the signed run. Never on the product's path."""

import sys

import django

django.setup()

from mandant.campaigns import message, send_loop  # noqa: E402

original = message.personalise


def unsigned(skeleton, contact, *, sign=True):  # type: ignore[no-untyped-def]
    return original(skeleton, contact, sign=False)


message.personalise = unsigned
send_loop.personalise = unsigned

from django.core.management import execute_from_command_line  # noqa: E402

execute_from_command_line(["mandant", *sys.argv[1:]])
