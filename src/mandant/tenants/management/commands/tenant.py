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

CREATE_MANY_BATCH = 500


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
        many.add_argument(
            "file",
            type=Path,
            help="one JSON object per line: name, type, version, charset, master (slug)",
        )

    def _actor(self, email: str) -> Actor:
        user = User.objects.filter(email__iexact=email, is_active=True).first()
        if user is None:
            raise CommandError(f"No active user {email}")
        return Actor(user=user)

    def handle(self, *args: Any, **options: Any) -> None:
        actor = self._actor(options["actor"])
        master = self._master(actor, options["master"])
        if options["action"] == "create":
            logo = None
            if options["logo"] is not None:
                with options["logo"].open("rb") as file:
                    logo = services.LogoUpload.from_file(file, options["logo"].name)
            tenant = self._create(
                actor,
                master,
                {
                    "name": options["name"],
                    "type": options["type"],
                    "version": options["tenant_version"],
                    "charset": options["charset"],
                },
                logo,
            )
            self.stdout.write(f"{tenant.pk}\t{tenant.slug}")
            return
        self._create_many(actor, master, options["file"])

    def _create_many(self, actor: Actor, master: Any, path: Path) -> None:
        """Rows go to ``tenant_create_many`` in batches of consecutive rows with one master
        (one transaction per batch: 10,000 rows in seconds, see docs/benchmarks.md)."""
        counts = {"created": 0, "failed": 0}
        problems: list[tuple[int, str]] = []  # reported in line order after each batch
        batch: list[tuple[int, services.NewTenant]] = []
        batch_master = master
        masters: dict[str, Any] = {}

        def flush() -> None:
            if batch:
                results = services.tenant_create_many(
                    actor=actor, master=batch_master, rows=[row for _number, row in batch]
                )
                for (number, _row), outcome in zip(batch, results, strict=True):
                    if isinstance(outcome, Exception):
                        problems.append((number, self._error_text(outcome)))
                    else:
                        counts["created"] += 1
                batch.clear()
            for number, text in sorted(problems):
                counts["failed"] += 1
                self.stderr.write(f"line {number}: {text}")
            problems.clear()

        with path.open(encoding="utf-8") as lines:
            for number, line in enumerate(lines, start=1):
                if not line.strip():
                    continue
                try:
                    row = json.loads(line)
                    if not isinstance(row, dict):
                        raise CommandError("Each line must be one JSON object.")
                    row_master = master
                    if row.get("master"):
                        slug = str(row["master"])
                        if slug not in masters:
                            masters[slug] = self._master(actor, slug)
                        row_master = masters[slug]
                except (CommandError, json.JSONDecodeError) as exc:
                    problems.append((number, str(exc)))
                    continue
                if row_master.pk != batch_master.pk or len(batch) >= CREATE_MANY_BATCH:
                    flush()
                    batch_master = row_master
                batch.append(
                    (
                        number,
                        services.NewTenant(
                            name=str(row.get("name") or ""),
                            type=row.get("type", "STANDARD"),
                            version=row.get("version", "BASIC"),
                            charset=row.get("charset"),
                        ),
                    )
                )
        flush()
        self.stdout.write(f"created {counts['created']}, failed {counts['failed']}")

    @staticmethod
    def _error_text(error: Exception) -> str:
        if isinstance(error, ValidationError):
            return json.dumps(messages_by_field(error), ensure_ascii=False)
        if isinstance(error, PermissionDenied):
            return error.message
        return str(error)

    def _master(self, actor: Actor, slug: str) -> Any:
        try:
            master, _grant = tenant_get_for_actor(actor, slug=slug)
        except NotFound:
            raise CommandError(f"No tenant {slug!r} within your reach") from None
        return master

    def _create(
        self, actor: Actor, master: Any, row: dict[str, Any], logo: services.LogoUpload | None
    ) -> Any:
        try:
            return services.tenant_create(
                actor=actor,
                name=str(row.get("name") or ""),
                type=row.get("type", "STANDARD"),
                version=row.get("version", "BASIC"),
                master=master,
                charset=row.get("charset"),
                logo=logo,
            )
        except ValidationError as exc:
            raise CommandError(json.dumps(messages_by_field(exc), ensure_ascii=False)) from exc
        except PermissionDenied as exc:
            raise CommandError(exc.message) from exc
