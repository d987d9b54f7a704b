import json
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from mandant.tenants.demo import demo_as_dict, demo_load


class Command(BaseCommand):
    help = "Load the demo data (idempotent) and print the logins and the demo API key."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--json", action="store_true", help="print one JSON object")
        parser.add_argument("--url", default="http://127.0.0.1:8000/")

    def handle(self, *args: Any, **options: Any) -> None:
        logins = demo_load(url=options["url"])
        if options["json"]:
            self.stdout.write(json.dumps(demo_as_dict(logins)))
            return
        self.stdout.write(
            f"\nMandant demo is ready at {logins.url}\n"
            f"  Operator:  {logins.operator_email} / {logins.operator_password}\n"
            f"  Partner:   {logins.partner_email} / {logins.partner_password}"
            f"  (Customer Service in “Demo Agentur”)\n"
            f"  Customer:  {logins.customer_admin_email} / {logins.customer_admin_password}"
            f"  (Administrator of “Autohaus Nord”)\n"
            f"  API key:   {logins.api_key}\n"
            f"  Try:       curl -H 'Authorization: Bearer {logins.api_key}' "
            f"{logins.url}api/v1/tenants\n"
        )
