"""The initial price list: editions, Tenant management, add-ons, usage; conditions v1.

Used by the data migration and by ``ensure_price_list`` (a flushed test database, like the
platform root in ``tenants.services.root_tenant``). Takes the model classes as arguments so
the migration can pass its historical models.
"""

from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

PRICES_FROM = date(2025, 1, 1)
CONDITIONS_FROM = datetime(2025, 1, 1, tzinfo=UTC)

GENERAL_EN = """1. Scope. These conditions apply to the product "{name}" on the Mandant \
platform, in addition to the terms of your contract.

2. Prices. The prices of the current price list apply: net amounts in EUR plus VAT at the \
statutory rate. Monthly fees are charged pro rata to the day from the activation; a one-time \
set-up fee is charged with the first paid activation.

3. Term and deactivation. The product runs until it is deactivated under Setup > Upgrades. {end}

4. Invoices. The costs are listed on the monthly invoice of the billing account your tenant \
belongs to (your partner's or your own).

5. Changes. We announce price changes and new conditions at least 30 days in advance; they \
apply from the date stated in the price list."""

GENERAL_DE = """1. Geltungsbereich. Diese Konditionen gelten für das Produkt „{name}“ auf der \
Mandant-Plattform, ergänzend zu den Bedingungen Deines Vertrags.

2. Preise. Es gelten die Preise der aktuellen Preisliste: Nettobeträge in EUR zuzüglich der \
gesetzlichen Umsatzsteuer. Monatliche Gebühren werden ab der Freischaltung taggenau berechnet; \
eine einmalige Einrichtungsgebühr fällt mit der ersten kostenpflichtigen Freischaltung an.

3. Laufzeit und Deaktivierung. Das Produkt läuft, bis Du es unter Setup > Upgrades \
deaktivierst. {end}

4. Rechnungen. Die Kosten werden in der monatlichen Rechnung des Abrechnungskontos aufgeführt, \
zu dem Dein Mandant gehört (das Deines Partners oder Dein eigenes).

5. Änderungen. Preisänderungen und neue Konditionen kündigen wir mindestens 30 Tage im Voraus an; \
sie gelten ab dem in der Preisliste genannten Datum."""

END_PERIOD_EN = (
    "A deactivation takes effect at the end of the current calendar month (the billing "
    "period); the fees are due until then."
)
END_PERIOD_DE = (
    "Eine Deaktivierung wird zum Ende des laufenden Kalendermonats (des Abrechnungszeitraums) "
    "wirksam; bis dahin fallen die Gebühren an."
)
END_NOW_EN = "A deactivation takes effect immediately; the fees are charged up to that day."
END_NOW_DE = "Eine Deaktivierung wird sofort wirksam; die Gebühren fallen bis zu diesem Tag an."
TRIAL_EN = (
    "\n\n6. Trial. The first activation is a free trial of {days} days. It ends by itself "
    "and does not turn into a paid activation; activate the product again to keep it."
)
TRIAL_DE = (
    "\n\n6. Testphase. Die erste Freischaltung ist eine kostenlose Testphase von {days} Tagen. "
    "Sie endet von selbst und geht nicht in eine kostenpflichtige Freischaltung über; schalte "
    "das Produkt erneut frei, um es zu behalten."
)

PRODUCTS: list[dict[str, Any]] = [
    {
        "key": "basic",
        "kind": "edition",
        "name_en": "Edition BASIC",
        "name_de": "Edition BASIC",
        "description_en": "The simple scope for fast sending.",
        "description_de": "Der einfache Funktionsumfang für eine schnelle Versendung.",
        "editions": ["BASIC"],
        "sort_order": 10,
        "price": {"monthly_fee": "29.00"},
    },
    {
        "key": "professional",
        "kind": "edition",
        "name_en": "Edition PROFESSIONAL",
        "name_de": "Edition PROFESSIONAL",
        "description_en": "Copy Content and opens/clicks tracking included, higher limits.",
        "description_de": "Copy Content und Öffnungs-/Klick-Tracking inklusive, höhere Limits.",
        "editions": ["PROFESSIONAL"],
        "sort_order": 11,
        "price": {"monthly_fee": "79.00"},
    },
    {
        "key": "enterprise",
        "kind": "edition",
        "name_en": "Edition ENTERPRISE",
        "name_de": "Edition ENTERPRISE",
        "description_en": "Everything of PROFESSIONAL with the highest limits.",
        "description_de": "Alles aus PROFESSIONAL mit den höchsten Limits.",
        "editions": ["ENTERPRISE"],
        "sort_order": 12,
        "price": {"monthly_fee": "249.00"},
    },
    {
        "key": "tenant_management",
        "kind": "per_tenant",
        "name_en": "Tenant management",
        "name_de": "Mandantenverwaltung",
        "description_en": (
            "Create sub-tenants for your customers. Each sub-tenant costs the monthly fee of "
            "its edition, billed to your billing account."
        ),
        "description_de": (
            "Lege Submandanten für Deine Kunden an. Jeder Submandant kostet die "
            "monatliche Gebühr seiner Edition und wird Deinem Abrechnungskonto berechnet."
        ),
        "sort_order": 20,
        # A partner's Customer Service may switch it on for a customer below (a sub-agency).
        "activation_role": 200,
        "price": {
            "unit_price": "0",
            "unit_en": "per sub-tenant: the monthly fee of its edition",
            "unit_de": "je Submandant: die monatliche Gebühr seiner Edition",
        },
        "extra_en": (
            "\n\nPer-tenant fee. Every sub-tenant created below your tenant is billed to your "
            "billing account with the monthly fee of its edition, from the day it is created."
        ),
        "extra_de": (
            "\n\nGebühr je Mandant. Jeder unterhalb Deines Mandanten angelegte Submandant "
            "wird Deinem Abrechnungskonto mit der monatlichen Gebühr seiner Edition berechnet, "
            "ab dem Tag seiner Anlage."
        ),
    },
    {
        "key": "copy_content",
        "kind": "addon",
        "name_en": "Copy Content",
        "name_de": "Copy Content",
        "description_en": (
            "Push templates, text blocks and campaign drafts from a master tenant into its "
            "sub-tenants. Included in PROFESSIONAL and ENTERPRISE."
        ),
        "description_de": (
            "Übertrage Vorlagen, Textbausteine und Kampagnenentwürfe vom Master-Mandanten in "
            "seine Submandanten. In PROFESSIONAL und ENTERPRISE enthalten."
        ),
        "sort_order": 30,
        "price": {"monthly_fee": "15.00"},
    },
    {
        "key": "tracking",
        "kind": "addon",
        "name_en": "Opens and clicks tracking",
        "name_de": "Öffnungs- und Klick-Tracking",
        "description_en": (
            "Measure opens and clicks of your campaigns. Included in PROFESSIONAL and ENTERPRISE."
        ),
        "description_de": (
            "Miss Öffnungen und Klicks Deiner Kampagnen. In PROFESSIONAL und ENTERPRISE enthalten."
        ),
        "trial_days": 14,
        "sort_order": 31,
        "price": {"monthly_fee": "9.00"},
    },
    {
        "key": "dedicated_ip",
        "kind": "addon",
        "name_en": "Dedicated IP address",
        "name_de": "Eigene IP-Adresse",
        "description_en": (
            "Send from an IP address of your own, with its own reputation and a higher send rate."
        ),
        "description_de": (
            "Versende von einer eigenen IP-Adresse mit eigener Reputation und höherer Versandrate."
        ),
        "editions": ["PROFESSIONAL", "ENTERPRISE"],
        "sort_order": 32,
        "price": {"monthly_fee": "49.00", "setup_fee": "99.00"},
    },
    {
        "key": "extra_mails",
        "kind": "usage",
        "name_en": "Mails above the edition's quota",
        "name_de": "Mails über dem Kontingent der Edition",
        "description_en": "Billed per 1,000 mails sent in a month above the edition's quota.",
        "description_de": (
            "Berechnet je 1.000 Mails, die in einem Monat über dem Kontingent der Edition "
            "versendet werden."
        ),
        "sort_order": 40,
        "price": {
            "unit_price": "1.50",
            "unit_en": "1,000 mails above the quota",
            "unit_de": "1.000 Mails über dem Kontingent",
        },
    },
]

PRODUCT_FIELDS = ("kind", "name_en", "name_de", "description_en", "description_de", "sort_order")


def conditions_text(spec: dict[str, Any], language: str) -> str:
    immediate = spec.get("deactivation_mode") == "immediate"
    if language == "de":
        end = END_NOW_DE if immediate else END_PERIOD_DE
        text = GENERAL_DE.format(name=spec["name_de"], end=end) + spec.get("extra_de", "")
        if spec.get("trial_days"):
            text += TRIAL_DE.format(days=spec["trial_days"])
        return text
    end = END_NOW_EN if immediate else END_PERIOD_EN
    text = GENERAL_EN.format(name=spec["name_en"], end=end) + spec.get("extra_en", "")
    if spec.get("trial_days"):
        text += TRIAL_EN.format(days=spec["trial_days"])
    return text


def seed_price_list(product_model: Any, price_model: Any, conditions_model: Any) -> int:
    """Create the products that are missing (existing ones are left alone). Returns how many."""
    created = 0
    for spec in PRODUCTS:
        if product_model.objects.filter(key=spec["key"]).exists():
            continue
        product = product_model.objects.create(
            key=spec["key"],
            editions=spec.get("editions", []),
            trial_days=spec.get("trial_days", 0),
            activation_role=spec.get("activation_role", 100),
            deactivation_mode=spec.get("deactivation_mode", "period_end"),
            **{name: spec[name] for name in PRODUCT_FIELDS},
        )
        price = spec["price"]
        price_model.objects.create(
            product=product,
            valid_from=PRICES_FROM,
            monthly_fee=Decimal(price.get("monthly_fee", "0")),
            setup_fee=Decimal(price.get("setup_fee", "0")),
            unit_price=Decimal(price.get("unit_price", "0")),
            unit_en=price.get("unit_en", ""),
            unit_de=price.get("unit_de", ""),
            vat_rate=Decimal("19.00"),
        )
        if spec["kind"] in ("addon", "per_tenant"):
            conditions_model.objects.create(
                product=product,
                version=1,
                text_en=conditions_text(spec, "en"),
                text_de=conditions_text(spec, "de"),
                published_at=CONDITIONS_FROM,
            )
        created += 1
    return created
