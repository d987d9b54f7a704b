"""``mandant invoices …``: the monthly run, corrections and the schedule.

    mandant invoices run [--month YYYY-MM] [--no-documents] [--actor EMAIL]
    mandant invoices cancel NUMBER --reason TEXT [--actor EMAIL]
    mandant invoices credit NUMBER --amount NET --reason TEXT [--vat-rate RATE] [--actor EMAIL]
    mandant invoices schedule

Without ``--actor`` the platform itself acts (shell access to the server is service staff's);
with it, the user must be an operator and is named in the audit log.
"""

from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from mandant.accounts.models import User
from mandant.core.actor import Actor
from mandant.core.errors import NotFound, PermissionDenied, messages_by_field
from mandant.invoicing import calculation as calc
from mandant.invoicing import services
from mandant.invoicing.tasks import invoices_schedule


class Command(BaseCommand):
    help = "Invoices: the monthly run, cancellation invoices, credit notes, the schedule."

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        run = sub.add_parser("run", help="invoice a month (default: the previous month)")
        run.add_argument("--month", default=None, help="YYYY-MM (default: the previous month)")
        run.add_argument(
            "--no-documents",
            action="store_true",
            help="do not render and e-mail the PDFs (background tasks)",
        )
        run.add_argument("--actor", default=None, help="e-mail of the acting operator")
        cancel = sub.add_parser("cancel", help="cancel an invoice by a cancellation invoice")
        cancel.add_argument("number")
        cancel.add_argument("--reason", required=True)
        cancel.add_argument("--actor", default=None)
        credit = sub.add_parser("credit", help="issue a credit note for an invoice")
        credit.add_argument("number")
        credit.add_argument("--amount", required=True, help="net amount in EUR, e.g. 10.00")
        credit.add_argument("--reason", required=True)
        credit.add_argument("--vat-rate", default=None, help="when the invoice has several")
        credit.add_argument("--actor", default=None)
        sub.add_parser("schedule", help="enqueue the monthly run (1st of a month, 02:00)")

    def handle(self, *args: Any, **options: Any) -> None:
        action = options["action"]
        if action == "schedule":
            when = invoices_schedule()
            if when is None:
                self.stdout.write("monthly run already scheduled (or the backend cannot defer)")
            else:
                self.stdout.write(f"monthly run scheduled for {when.isoformat()}")
            return
        actor = self._actor(options.get("actor"))
        try:
            if action == "run":
                self._run(actor, options)
            elif action == "cancel":
                invoice = services.invoice_by_number(options["number"])
                cancellation = services.invoice_cancel(
                    actor=actor, invoice=invoice, reason=options["reason"]
                )
                self.stdout.write(
                    f"{cancellation.number}\tcancels {invoice.number}\t"
                    f"{cancellation.gross_total} EUR"
                )
            elif action == "credit":
                invoice = services.invoice_by_number(options["number"])
                credit = services.credit_note_issue(
                    actor=actor,
                    invoice=invoice,
                    amount=options["amount"],
                    reason=options["reason"],
                    vat_rate=options["vat_rate"],
                )
                self.stdout.write(
                    f"{credit.number}\tcredits {invoice.number}\t{credit.gross_total} EUR"
                )
        except ValidationError as exc:
            problems = "; ".join(
                f"{field}: {' '.join(messages)}"
                for field, messages in messages_by_field(exc).items()
            )
            raise CommandError(problems) from exc
        except NotFound as exc:
            raise CommandError(f"No invoice {options.get('number')}") from exc
        except PermissionDenied as exc:
            raise CommandError(exc.message) from exc

    def _run(self, actor: Actor | None, options: dict[str, Any]) -> None:
        month = options["month"] or calc.previous_month(timezone.localdate())
        summary = services.invoices_run(
            month=month, actor=actor, render_documents=not options["no_documents"]
        )
        numbers = f"{summary.numbers[0]} … {summary.numbers[-1]}" if summary.numbers else "—"
        self.stdout.write(
            f"{summary.month}: {summary.created} invoice(s) created ({numbers}), "
            f"{summary.existing} existed already; {summary.lines} lines; "
            f"net {summary.net_total} EUR, VAT {summary.tax_total} EUR, "
            f"gross {summary.gross_total} EUR; {summary.seconds:.1f} s"
        )
        if summary.unbilled_tenants:
            self.stdout.write(
                f"note: {summary.unbilled_tenants} tenant(s) with charges have no billing "
                "account above them and were not billed"
            )

    def _actor(self, email: str | None) -> Actor | None:
        if not email:
            return None
        user = User.objects.filter(email__iexact=email, is_active=True).first()
        if user is None:
            raise CommandError(f"No active user {email}")
        return Actor(user=user)
