"""Helpers for the invoice document tests: billing accounts and issued invoices made directly
as rows (independent of the invoice run), with consistent totals."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from django.db.models import Max
from django.utils import translation
from django_scopes import scopes_disabled

from mandant.billing.models import BillingAccount
from mandant.invoicing import calculation as calc
from mandant.invoicing.billable import UNITS
from mandant.invoicing.models import Invoice, InvoiceKind, InvoiceLine
from mandant.invoicing.services import invoice_number, series_key
from mandant.tenants.models import Tenant

# As the run's snapshot (services.supplier_snapshot), with fixed values.
SUPPLIER = {
    "name": "Mandant GmbH",
    "address": ["Friedrichstraße 123", "10117 Berlin"],
    "country": "DE",
    "vat_id": "DE123456789",
    "tax_number": "30/123/45678",
    "email": "billing@mandant.example",
    "iban": "DE02120300000000202051",
    "bic": "BYLADEM1001",
    "payment_days": 14,
}


def account_for(
    tenant: Tenant,
    *,
    name: str | None = None,
    address: str = "Hauptstraße 5\n80331 München",
    country: str = "DE",
    vat_id: str = "",
    email: str = "",
) -> BillingAccount:
    account, _created = BillingAccount.objects.get_or_create(
        tenant=tenant,
        defaults={
            "name": name or f"{tenant.name} GmbH",
            "address": address,
            "country": country,
            "vat_id": vat_id,
            "email": email,
        },
    )
    return account


# (product key, description, quantity, unit code, unit price, VAT rate); the unit is stored
# as the run does: its label in the customer's language.
DEFAULT_LINES = [
    ("basic", "BASIC edition", Decimal("1"), "MON", Decimal("29.00"), Decimal("19.00")),
    ("copy_content", "Copy Content", Decimal("0.5"), "MON", Decimal("15.00"), Decimal("19.00")),
    (
        "extra_mails",
        "Mails above the quota",
        Decimal("12.345"),
        "T3",
        Decimal("1.50"),
        Decimal("19.00"),
    ),
]


def _next_sequence(series: str) -> int:
    with scopes_disabled():
        last = Invoice.objects.filter(series=series).aggregate(m=Max("sequence"))["m"]
    return (last or 0) + 1


def _month_bounds(month: str) -> tuple[date, date]:
    year, number = calc.parse_month(month)
    return calc.month_bounds(year, number)


def make_invoice(
    account: BillingAccount,
    *,
    lines: list[tuple[str, str, Decimal, str, Decimal, Decimal]] | None = None,
    kind: str = InvoiceKind.INVOICE,
    month: str = "2026-01",
    issue_date: date = date(2026, 2, 1),
    refers_to: Invoice | None = None,
    sign: int = 1,
    note: str = "",
) -> Invoice:
    """An issued invoice shaped as the run makes it (snapshots, labels in the customer's
    language, reverse charge at 0 % with the note, totals by ``calculation.invoice_totals``).
    ``sign=-1``: a correction with negative quantities and amounts."""
    rows = lines if lines is not None else DEFAULT_LINES
    language = calc.customer_language(account.country)
    reverse_charge = calc.reverse_charge_applies(account.country, account.vat_id)
    customer = {
        "name": account.name,
        "address": calc.address_lines(account.address),
        "country": account.country,
        "vat_id": account.vat_id,
        "email": account.email,
        "language": language,
    }
    start, end = (
        (refers_to.period_start, refers_to.period_end) if refers_to else _month_bounds(month)
    )
    built = []
    with translation.override(language):
        for position, (key, text, quantity, unit, price, rate) in enumerate(rows, start=1):
            qty = sign * quantity
            label = str(UNITS[unit]) if unit in UNITS else unit
            vat_rate = Decimal("0.00") if reverse_charge else rate
            built.append(
                (position, key, text, qty, label, price, calc.line_net(qty, price), vat_rate)
            )
    totals = calc.invoice_totals(((row[7], row[6]) for row in built), reverse_charge=reverse_charge)
    series = series_key(kind, issue_date)
    sequence = _next_sequence(series)
    with scopes_disabled():
        invoice = Invoice.objects.create(
            number=invoice_number(series, sequence),
            series=series,
            sequence=sequence,
            kind=kind,
            account=account,
            tenant=account.tenant,
            month=month,
            period_start=start,
            period_end=end,
            issue_date=issue_date,
            supplier=SUPPLIER,
            customer=customer,
            reverse_charge=reverse_charge,
            net_total=totals.net,
            tax_total=totals.tax,
            gross_total=totals.gross,
            tax_breakdown=totals.breakdown(),
            refers_to=refers_to,
            note="\n".join(
                part for part in (note, calc.REVERSE_CHARGE_NOTE if reverse_charge else "") if part
            ),
        )
        InvoiceLine.objects.bulk_create(
            InvoiceLine(
                invoice=invoice,
                position=position,
                tenant=account.tenant,
                tenant_name=account.tenant.name,
                product_key=key,
                description=text,
                service_start=start,
                service_end=end,
                quantity=qty,
                unit=label,
                unit_price=price,
                net_amount=net,
                vat_rate=vat_rate,
            )
            for position, key, text, qty, label, price, net, vat_rate in built
        )
    return invoice


def cancellation_of(original: Invoice, *, issue_date: date = date(2026, 2, 10)) -> Invoice:
    """A cancellation invoice as ``services.invoice_cancel`` makes it: the original's lines
    with negative quantities, referring to it."""
    with scopes_disabled():
        rows = [
            (
                line.product_key,
                line.description,
                line.quantity,
                line.unit,
                line.unit_price,
                line.vat_rate,
            )
            for line in original.lines.order_by("position")
        ]
    return make_invoice(
        original.account,
        lines=rows,
        kind=InvoiceKind.CANCELLATION,
        month=original.month,
        issue_date=issue_date,
        refers_to=original,
        sign=-1,
        note=f"Cancellation of invoice {original.number}.",
    )


def many_lines(count: int) -> list[tuple[str, str, Decimal, str, Decimal, Decimal]]:
    """``count`` realistic lines: sub-tenants' editions and add-ons, some prorated."""
    products = [
        ("basic", "BASIC edition", Decimal("29.00")),
        ("professional", "PROFESSIONAL edition", Decimal("79.00")),
        ("copy_content", "Copy Content", Decimal("15.00")),
        ("tracking", "Tracking", Decimal("9.00")),
    ]
    rows = []
    for n in range(count):
        key, text, price = products[n % len(products)]
        quantity = (
            Decimal("1") if n % 3 else (Decimal(17) / Decimal(31)).quantize(Decimal("0.0001"))
        )
        rows.append((key, f"{text} – Kunde {n + 1:03d}", quantity, "MON", price, Decimal("19.00")))
    return rows
