"""``mandant dkim_reencrypt_keys``: after rotating SECRET_KEY (the old one still in
SECRET_KEY_FALLBACKS), encrypt every DKIM private key with the new one (docs/deployment.md)."""

from typing import Any

from django.core.management.base import BaseCommand, CommandError

from mandant.sending.dkim_keys import DkimKeyError, reencrypt_private_keys


class Command(BaseCommand):
    help = (
        "Encrypt every DKIM private key with the current SECRET_KEY "
        "(run after a rotation, before removing the old key from SECRET_KEY_FALLBACKS)."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            count = reencrypt_private_keys()
        except DkimKeyError as exc:
            raise CommandError(str(exc)) from None
        if options["verbosity"] > 0:
            self.stdout.write(f"{count} DKIM keys encrypted with the current SECRET_KEY.")
