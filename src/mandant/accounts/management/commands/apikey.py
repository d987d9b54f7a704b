from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from mandant.accounts.models import User
from mandant.accounts.services import apikey_create
from mandant.core.actor import Actor
from mandant.core.errors import NotFound, PermissionDenied
from mandant.tenants.selectors import tenant_get_for_actor


class Command(BaseCommand):
    help = "Manage API keys. `apikey create --tenant SLUG --user EMAIL` prints only the key."

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        create = sub.add_parser("create")
        create.add_argument("--tenant", required=True)
        create.add_argument("--user", required=True)
        create.add_argument("--name", default="CLI")

    def handle(self, *args: Any, **options: Any) -> None:
        user = User.objects.filter(email__iexact=options["user"], is_active=True).first()
        if user is None:
            raise CommandError(f"No active user {options['user']}")
        actor = Actor(user=user)
        try:
            tenant, _grant = tenant_get_for_actor(actor, slug=options["tenant"])
            _key, raw = apikey_create(actor=actor, tenant=tenant, name=options["name"])
        except NotFound:
            raise CommandError(f"No tenant {options['tenant']!r} within the user's reach") from None
        except PermissionDenied as exc:
            raise CommandError(exc.message) from exc
        self.stdout.write(raw)
