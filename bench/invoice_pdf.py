"""Section 3 of bench/invoices_bench.py: the invoice PDF (WeasyPrint, PDF/A-3b) with the
Factur-X XML embedded, rendered and stored by ``invoicing.documents`` — as the background task
does after the run. Target (issue 6): ≤ 300 ms per invoice.

Realistic invoices: a partner's account with 30 lines each (sub-tenants' editions and
add-ons, some prorated), two pages. One warm-up rendering (fonts, templates) is not counted.
"""

from __future__ import annotations

import statistics
import time
from datetime import date
from decimal import Decimal

from benchlib import DbResult, Row, median_ms, p95_ms

TARGET_MS = 300.0
LINES = 30
PRODUCTS = [
    ("basic", "BASIC", Decimal("29.00")),
    ("professional", "PROFESSIONAL", Decimal("79.00")),
    ("copy_content", "Copy Content", Decimal("15.00")),
    ("tracking", "Tracking", Decimal("9.00")),
]


def make_invoices(count: int) -> list[int]:
    """``count`` issued invoices of one new partner account (one per month, series BENCH)."""
    from django_scopes import scopes_disabled

    from mandant.accounts.services import user_create
    from mandant.billing.models import BillingAccount
    from mandant.core.actor import Actor
    from mandant.invoicing import calculation as calc
    from mandant.invoicing.models import Invoice, InvoiceKind, InvoiceLine
    from mandant.invoicing.services import supplier_snapshot
    from mandant.tenants.services import root_tenant, tenant_create

    operator = user_create(email="pdf-op@bench.example", password=None, is_staff=True)
    partner = tenant_create(
        actor=Actor(user=operator),
        name="PDF Bench Partner",
        type="STANDARD",
        version="ENTERPRISE",
        master=root_tenant(),
    )
    account = BillingAccount.objects.create(
        tenant=partner,
        name="Werbeagentur Beispiel GmbH & Co. KG",
        address="Lange Straße 42\nHinterhaus, 3. OG\n20095 Hamburg",
        country="DE",
        vat_id="DE811234567",
        email="rechnungen@beispiel.example",
    )
    customer = {
        "name": account.name,
        "address": calc.address_lines(account.address),
        "country": "DE",
        "vat_id": account.vat_id,
        "email": account.email,
        "language": "de",
    }
    ids = []
    with scopes_disabled():
        for n in range(count):
            year, month = 2000 + n // 12, n % 12 + 1
            first, last = calc.month_bounds(year, month)
            days = calc.days_in_month(year, month)
            rows = []
            for position in range(1, LINES + 1):
                key, name, fee = PRODUCTS[position % len(PRODUCTS)]
                active = days if position % 3 else days - position % days
                quantity = calc.month_fraction(active, days)
                rows.append(
                    InvoiceLine(
                        position=position,
                        tenant=partner,
                        tenant_name=f"Kunde {position:03d}",
                        product_key=key,
                        description=(
                            f"{name}, tenant Kunde {position:03d} ({active} of {days} days)"
                        ),
                        # Prorated lines cover the days active (the run does the same).
                        service_start=first.replace(day=days - active + 1),
                        service_end=last,
                        quantity=quantity,
                        unit="Monat",
                        unit_price=fee,
                        net_amount=calc.prorated_net(fee, active, days),
                        vat_rate=Decimal("19.00"),
                    )
                )
            totals = calc.invoice_totals(
                ((line.vat_rate, line.net_amount) for line in rows), reverse_charge=False
            )
            invoice = Invoice.objects.create(
                number=f"BENCH-{n + 1:05d}",
                series="BENCH",
                sequence=n + 1,
                kind=InvoiceKind.INVOICE,
                account=account,
                tenant=partner,
                month=calc.month_key(year, month),
                period_start=first,
                period_end=last,
                issue_date=date(year, month, last.day),
                supplier=supplier_snapshot(),
                customer=customer,
                net_total=totals.net,
                tax_total=totals.tax,
                gross_total=totals.gross,
                tax_breakdown=totals.breakdown(),
            )
            for line in rows:
                line.invoice = invoice
            InvoiceLine.objects.bulk_create(rows)
            ids.append(invoice.pk)
    return ids


def bench_pdf(result: DbResult, *, invoices: int = 50) -> None:
    """Render and store ``invoices`` invoice documents; the median per invoice vs 300 ms."""
    import logging

    from mandant.invoicing.documents import invoice_document_get_or_create
    from mandant.invoicing.models import InvoiceDocument

    # WeasyPrint and factur-x log every step at INFO: keep the figures readable.
    for name in ("weasyprint", "weasyprint.progress", "factur-x", "fontTools"):
        logging.getLogger(name).setLevel(logging.WARNING)
    ids = make_invoices(invoices + 1)
    invoice_document_get_or_create(invoice_id=ids[0])  # warm-up: fonts, templates, schemas
    samples = []
    for invoice_id in ids[1:]:
        started = time.perf_counter()
        invoice_document_get_or_create(invoice_id=invoice_id)
        samples.append(time.perf_counter() - started)
    sizes = [len(bytes(d.pdf)) for d in InvoiceDocument.objects.filter(invoice_id__in=ids[1:])]
    result.add(
        Row(
            key="pdf_per_invoice",
            label=f"3. Invoice PDF + Factur-X, {LINES} lines, render and store (median)",
            unit="ms",
            value=median_ms(samples),
            target=TARGET_MS,
            note=(
                f"{len(samples)} invoices; p95 {p95_ms(samples):.0f} ms, max "
                f"{max(samples) * 1000:.0f} ms; {statistics.mean(sizes) / 1024:.0f} KiB each"
            ),
        )
    )
