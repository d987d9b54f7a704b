"""What the invoice documents (PDF, Factur-X XML, mail) read from an invoice: the parties from
the snapshots stored on the invoice, the document's language and the payment terms.

The snapshots are JSON written by the invoice run (``services.supplier_snapshot`` and
``customer_snapshot``). Read them tolerantly (``address`` as a list of lines or as text, or
``address_lines``; supplier bank details in the snapshot or else in the settings): an issued
invoice is never rewritten, so its document must render whatever shape its snapshot has.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from django.conf import settings

from mandant.invoicing import calculation as calc
from mandant.invoicing.models import Invoice, InvoiceKind, InvoiceLine

DEFAULT_PAYMENT_DAYS = 14

# "10115 Berlin", "1010 Wien", "8001 Zürich": the postcode and the city of an address line.
POSTCODE_CITY = re.compile(r"^(?P<postcode>(?:[A-Z]{1,2}-)?\d{4,5})\s+(?P<city>\S.*)$")


@dataclass(frozen=True)
class Party:
    name: str
    address_lines: tuple[str, ...]
    country: str
    vat_id: str = ""
    tax_number: str = ""
    email: str = ""
    iban: str = ""
    bic: str = ""

    @property
    def street_lines(self) -> tuple[str, ...]:
        """The address without its "postcode city" line (when there is one)."""
        if self.address_lines and POSTCODE_CITY.match(self.address_lines[-1]):
            return self.address_lines[:-1]
        return self.address_lines

    @property
    def postcode(self) -> str:
        match = POSTCODE_CITY.match(self.address_lines[-1]) if self.address_lines else None
        return match.group("postcode") if match else ""

    @property
    def city(self) -> str:
        match = POSTCODE_CITY.match(self.address_lines[-1]) if self.address_lines else None
        return match.group("city") if match else ""


def _text(snapshot: dict[str, Any], *keys: str) -> str:
    for key in keys:
        value = snapshot.get(key)
        if value:
            return str(value).strip()
    return ""


def _lines(snapshot: dict[str, Any]) -> tuple[str, ...]:
    raw = snapshot.get("address_lines") or snapshot.get("lines") or snapshot.get("address") or ""
    items = raw if isinstance(raw, list | tuple) else str(raw).splitlines()
    return tuple(line.strip() for line in (str(item) for item in items) if line.strip())


def party_of(snapshot: dict[str, Any] | None, *, supplier: bool = False) -> Party:
    snapshot = snapshot or {}
    iban = _text(snapshot, "iban")
    bic = _text(snapshot, "bic")
    if supplier and not iban:
        iban = getattr(settings, "INVOICE_SUPPLIER_IBAN", "")
        bic = bic or getattr(settings, "INVOICE_SUPPLIER_BIC", "")
    return Party(
        name=_text(snapshot, "name"),
        address_lines=_lines(snapshot),
        country=(_text(snapshot, "country") or "DE").upper(),
        vat_id=_text(snapshot, "vat_id"),
        tax_number=_text(snapshot, "tax_number"),
        email=_text(snapshot, "email"),
        iban=iban.replace(" ", ""),
        bic=bic.replace(" ", ""),
    )


def supplier_of(invoice: Invoice) -> Party:
    return party_of(invoice.supplier, supplier=True)


def customer_of(invoice: Invoice) -> Party:
    return party_of(invoice.customer)


def invoice_language(invoice: Invoice) -> str:
    """The language the run chose for the customer (``customer["language"]``); for a snapshot
    without one: German for customers in DE/AT/CH/LI, else English (as the run decides)."""
    language = str((invoice.customer or {}).get("language") or "")
    if language in ("de", "en"):
        return language
    return "de" if customer_of(invoice).country in calc.GERMAN_SPEAKING else "en"


def payment_days(invoice: Invoice) -> int:
    days: Any = (invoice.supplier or {}).get("payment_days")
    if days is None:
        days = getattr(settings, "INVOICE_PAYMENT_DAYS", DEFAULT_PAYMENT_DAYS)
    return int(days)


def due_date(invoice: Invoice) -> date | None:
    """When an invoice is to be paid; None for corrections (nothing is due from the customer
    when the amount is a credit)."""
    if invoice.kind != InvoiceKind.INVOICE or invoice.gross_total <= 0:
        return None
    return invoice.issue_date + timedelta(days=payment_days(invoice))


def pdf_filename(invoice: Invoice) -> str:
    # Invoice numbers are letters, digits and dashes; nothing else reaches a header.
    stem = "".join(c for c in invoice.number if c.isalnum() or c in "-_") or "invoice"
    return f"{stem}.pdf"


def tax_groups(invoice: Invoice, lines: Iterable[InvoiceLine]) -> list[calc.TaxGroup]:
    """The VAT breakdown as the run recorded it (``tax_breakdown``: per rate the net, the tax,
    the category — S standard, Z zero, AE reverse charge); computed from the lines the same
    way when an invoice has none recorded."""
    groups = []
    for row in invoice.tax_breakdown or []:
        rate = Decimal(str(row["rate"]))
        category = row.get("category") or (
            calc.CATEGORY_REVERSE_CHARGE if invoice.reverse_charge else "S" if rate > 0 else "Z"
        )
        groups.append(
            calc.TaxGroup(
                rate=rate,
                category=str(category),
                net=Decimal(str(row["net"])),
                tax=Decimal(str(row["tax"])),
            )
        )
    if groups:
        return groups
    totals = calc.invoice_totals(
        ((line.vat_rate, line.net_amount) for line in lines), reverse_charge=invoice.reverse_charge
    )
    return list(totals.groups)
