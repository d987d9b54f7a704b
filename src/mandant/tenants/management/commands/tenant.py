import json
from pathlib import Path
from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser

from mandant.accounts.models import User
from mandant.core.actor import Actor
from mandant.core.errors import NotFound, PermissionDenied, messages_by_field
from mandant.tenants import services
from mandant.tenants.selectors import tenant_get_for_actor


class Command(BaseCommand):
    help = "Create tenants through the same service as the web form and the API."

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        create = sub.add_parser("create", help="create one tenant")
        create.add_argument("--actor", required=True, help="e-mail of the acting user")
        create.add_argument("--master", required=True, help="slug of the master tenant")
        create.add_argument("--name", required=True)
        create.add_argument("--type", default="STANDARD")
        create.add_argument("--version", dest="tenant_version", default="BASIC")
        create.add_argument("--charset", default=None)
        create.add_argument("--logo", type=Path, default=None)
        many = sub.add_parser("create-many", help="create tenants from a JSON-lines file")
        many.add_argument("--actor", required=True)
        many.add_argument("--master", required=True, help="default master slug")
        many.add_argument("file", type=Path, help="one JSON object per line: name, type, …")

    def _actor(self, email: str) -> Actor:
        user = User.objects.filter(email__iexact=email, is_active=True).first()
        if user is None:
            raise CommandError(f"No active user {email}")
        return Actor(user=user)

    def handle(self, *args: Any, **options: Any) -> None:
        actor = self._actor(options["actor"])
        try:
            master, _grant = tenant_get_for_actor(actor, slug=options["master"])
        except NotFound:
            raise CommandError(f"No tenant {options['master']!r} within your reach") from None
        if options["action"] == "create":
            logo = None
            if options["logo"] is not None:
                logo = services.LogoUpload(data=options["logo"].read_bytes(),
                                           filename=options["logo"].name)
            tenant = self._create(actor, master, {
                "name": options["name"], "type": options["type"],
                "version": options["tenant_version"], "charset": options["charset"],
            }, logo)
            self.stdout.write(f"{tenant.pk}\t{tenant.slug}")
            return
        created = failed = 0
        with options["file"].open(encoding="utf-8") as lines:
            for number, line in enumerate(lines, start=1):
                if not line.strip():
                    continue
                try:
                    self._create(actor, master, json.loads(line), None)
                    created += 1
                except (CommandError, json.JSONDecodeError) as exc:
                    failed += 1
                    self.stderr.write(f"line {number}: {exc}")
        self.stdout.write(f"created {created}, failed {failed}")

    def _create(self, actor: Actor, master: Any, row: dict[str, Any],
                logo: services.LogoUpload | None) -> Any:
        try:
            return services.tenant_create(
                actor=actor, name=str(row.get("name", "")), type=row.get("type", "STANDARD"),
                version=row.get("version", "BASIC"), master=master,
                charset=row.get("charset"), logo=logo,
            )
        except ValidationError as exc:
            raise CommandError(json.dumps(messages_by_field(exc), ensure_ascii=False)) from exc
        except PermissionDenied as exc:
            raise CommandError(exc.message) from exc
