"""Every write of the invoicing app: the monthly run, gapless numbers, corrections, usage.

German invoice rules (§ 14 UStG, GoBD):

- **Gapless numbers per series** (``RE-2026-00001``; cancellations ``ST-…``, credit notes
  ``GS-…``; the year is the issue date's). A number is allocated by locking the series row
  (``select_for_update``) in the same transaction that inserts the invoice, after it is
  certain the invoice will be created — a transaction that rolls back takes its number with
  it, so no gap can appear.
- **Idempotent run:** at most one invoice per billing account and month (a partial unique
  constraint). Inside the locked transaction the run looks again which accounts have their
  invoice already; a concurrent run that loses waits for the lock and then skips them. If
  the constraint still fires, the batch is rolled back (numbers included) and redone one
  invoice per transaction.
- **Immutable:** issued invoices are never updated (``Invoice.save`` refuses, except the
  e-mail record); corrections are a cancellation invoice (every line negated) or a credit
  note, each referring to the original.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, connections, transaction
from django.db.models import F
from django.utils import formats, timezone, translation
from django.utils.translation import gettext as _
from django_scopes import scope, scopes_disabled

from mandant.accounts.roles import Role
from mandant.audit.services import audit_record
from mandant.core.actor import Actor, RoleGrant
from mandant.core.errors import NotFound, PermissionDenied
from mandant.invoicing import calculation as calc
from mandant.invoicing.billable import InvoiceDraft, LineDraft, month_billing
from mandant.invoicing.models import (
    Invoice,
    InvoiceKind,
    InvoiceLine,
    NumberSeries,
    UsageMetric,
    UsageRecord,
)
from mandant.tenants.models import Tenant

OPERATOR_GRANT = RoleGrant(role=Role.OPERATOR, source=None)

SERIES_PREFIX = {
    InvoiceKind.INVOICE: "RE",
    InvoiceKind.CANCELLATION: "ST",
    InvoiceKind.CREDIT_NOTE: "GS",
}
NUMBER_DIGITS = 5
# Billing accounts per transaction of the run: a handful of queries each.
RUN_BATCH = 100


def series_key(kind: str, issue_date: date) -> str:
    return f"{SERIES_PREFIX[InvoiceKind(kind)]}-{issue_date.year}"


def invoice_number(series: str, sequence: int) -> str:
    return f"{series}-{sequence:0{NUMBER_DIGITS}d}"


def supplier_snapshot() -> dict[str, Any]:
    """The supplier as the invoice names it (§ 14 (4) Nr. 1, 2 UStG), from the settings."""
    return {
        "name": settings.INVOICE_SUPPLIER_NAME,
        "address": calc.address_lines(settings.INVOICE_SUPPLIER_ADDRESS),
        "country": settings.INVOICE_SUPPLIER_COUNTRY,
        "vat_id": settings.INVOICE_SUPPLIER_VAT_ID,
        "tax_number": settings.INVOICE_SUPPLIER_TAX_NUMBER,
        "email": settings.INVOICE_SUPPLIER_EMAIL,
        "iban": settings.INVOICE_SUPPLIER_IBAN,
        "bic": settings.INVOICE_SUPPLIER_BIC,
        "payment_days": settings.INVOICE_PAYMENT_DAYS,
    }


def customer_snapshot(draft: InvoiceDraft) -> dict[str, Any]:
    account = draft.account
    return {
        "name": account.name,
        "address": calc.address_lines(account.address),
        "country": account.country.upper(),
        "vat_id": account.vat_id,
        "email": account.email,
        "language": draft.language,
    }


def _require_operator(actor: Actor | None) -> None:
    """The run and corrections are service staff's (Action.INVOICE_RUN); ``None`` is the
    platform itself (scheduled task, the CLI on the server)."""
    if actor is not None and not actor.is_operator:
        raise PermissionDenied(_("Only service staff can issue invoices and corrections."))


def _ensure_series(key: str) -> None:
    """Create the series row if missing — race-free: ``get_or_create`` retries the read after
    losing the insert to a concurrent creator (IntegrityError on the unique key)."""
    NumberSeries.objects.get_or_create(key=key)


def _locked_series(key: str) -> NumberSeries:
    return NumberSeries.objects.select_for_update().get(key=key)


# --------------------------------------------------------------------------------------
# The monthly run


@dataclass
class RunSummary:
    month: str
    issue_date: date
    created: int = 0
    existing: int = 0  # accounts invoiced already (an earlier or a concurrent run)
    lines: int = 0
    net_total: Decimal = Decimal("0.00")
    tax_total: Decimal = Decimal("0.00")
    gross_total: Decimal = Decimal("0.00")
    numbers: list[str] = field(default_factory=list)
    invoice_ids: list[int] = field(default_factory=list)
    unbilled_tenants: int = 0  # tenants with charges but no billing account
    seconds: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return {
            "month": self.month,
            "issue_date": self.issue_date.isoformat(),
            "created": self.created,
            "existing": self.existing,
            "lines": self.lines,
            "net_total": str(self.net_total),
            "tax_total": str(self.tax_total),
            "gross_total": str(self.gross_total),
            "first_number": self.numbers[0] if self.numbers else None,
            "last_number": self.numbers[-1] if self.numbers else None,
            "unbilled_tenants": self.unbilled_tenants,
            "seconds": round(self.seconds, 3),
        }


def _clean_month(month: str, today: date) -> tuple[int, int]:
    try:
        year, number = calc.parse_month(month)
    except ValueError:
        raise ValidationError(
            {"month": ValidationError(_("Enter a month as YYYY-MM, e.g. 2026-03."), code="invalid")}
        ) from None
    if (year, number) >= (today.year, today.month):
        raise ValidationError(
            {
                "month": ValidationError(
                    _(
                        "The month %(month)s is not over yet; it can be invoiced from the 1st "
                        "of the next month."
                    )
                    % {"month": calc.month_key(year, number)},
                    code="month_not_over",
                )
            }
        )
    return year, number


def invoices_run(
    *, month: str, actor: Actor | None = None, render_documents: bool = True
) -> RunSummary:
    """Invoice ``month`` ("YYYY-MM", a month that is over): one invoice per billing account
    with anything billable, numbered gaplessly. Running it again — or twice at the same
    time — creates nothing twice. After each committed batch the PDFs are rendered and
    mailed in background tasks (``render_documents=False``: not).

    Errors: ValidationError on ``month``; PermissionDenied for an actor who is no operator.
    """
    started = time.perf_counter()
    _require_operator(actor)
    issue_date = timezone.localdate()
    year, number = _clean_month(month, issue_date)
    key = calc.month_key(year, number)
    invoiced = _invoiced_accounts(key)
    billing = month_billing(year, number, skip_accounts=invoiced)
    summary = RunSummary(
        month=key,
        issue_date=issue_date,
        existing=len(invoiced),
        unbilled_tenants=len(billing.unbilled_tenant_ids),
    )
    series = series_key(InvoiceKind.INVOICE, issue_date)
    _ensure_series(series)
    supplier = supplier_snapshot()
    bounds = billing.bounds
    for start in range(0, len(billing.drafts), RUN_BATCH):
        batch = billing.drafts[start : start + RUN_BATCH]
        try:
            created, skipped = _issue_batch(
                batch,
                series=series,
                month=key,
                period=(bounds.first, bounds.last),
                issue_date=issue_date,
                supplier=supplier,
            )
        except IntegrityError:
            # Another run inserted an invoice the locked re-check did not see: redo this
            # batch one invoice per transaction; each refusal rolls back its own number.
            created, skipped = [], 0
            for draft in batch:
                try:
                    one, lost = _issue_batch(
                        [draft],
                        series=series,
                        month=key,
                        period=(bounds.first, bounds.last),
                        issue_date=issue_date,
                        supplier=supplier,
                    )
                except IntegrityError:
                    one, lost = [], 1
                created += one
                skipped += lost
        summary.existing += skipped
        for invoice, line_count in created:
            summary.created += 1
            summary.lines += line_count
            summary.net_total += invoice.net_total
            summary.tax_total += invoice.tax_total
            summary.gross_total += invoice.gross_total
            summary.numbers.append(invoice.number)
            summary.invoice_ids.append(invoice.pk)
        if render_documents and created:
            _enqueue_documents([invoice.pk for invoice, _count in created])
    summary.seconds = time.perf_counter() - started
    with transaction.atomic():
        audit_record(
            actor=actor,
            action="invoice.run",
            tenant=None,
            grant=OPERATOR_GRANT if actor is not None else None,
            changes=summary.as_dict(),
        )
    return summary


def _invoiced_accounts(month: str, account_ids: list[int] | None = None) -> set[int]:
    """The accounts (of ``account_ids``, or all) that have their invoice for ``month``."""
    with scopes_disabled():
        invoices = Invoice.objects.filter(kind=InvoiceKind.INVOICE, month=month)
        if account_ids is not None:
            invoices = invoices.filter(account_id__in=account_ids)
        return set(invoices.values_list("account_id", flat=True))


def _issue_batch(
    drafts: Sequence[InvoiceDraft],
    *,
    series: str,
    month: str,
    period: tuple[date, date],
    issue_date: date,
    supplier: dict[str, Any],
) -> tuple[list[tuple[Invoice, int]], int]:
    """Issue the drafts whose account has no invoice for the month yet, in one transaction:
    lock the series, look again, allocate the numbers, insert invoices and lines."""
    with transaction.atomic(), scopes_disabled():
        numbers = _locked_series(series)
        taken = _invoiced_accounts(month, [draft.account.pk for draft in drafts])
        todo = [draft for draft in drafts if draft.account.pk not in taken]
        if not todo:
            return [], len(drafts)
        first = numbers.last_number + 1
        numbers.last_number += len(todo)
        numbers.save(update_fields=["last_number"])
        invoices = []
        for offset, draft in enumerate(todo):
            totals = draft.totals()
            invoice = Invoice(
                number=invoice_number(series, first + offset),
                series=series,
                sequence=first + offset,
                kind=InvoiceKind.INVOICE,
                account=draft.account,
                tenant_id=draft.account.tenant_id,
                month=month,
                period_start=period[0],
                period_end=period[1],
                issue_date=issue_date,
                supplier=supplier,
                customer=customer_snapshot(draft),
                reverse_charge=draft.reverse_charge,
                net_total=totals.net,
                tax_total=totals.tax,
                gross_total=totals.gross,
                tax_breakdown=totals.breakdown(),
                note=calc.REVERSE_CHARGE_NOTE if draft.reverse_charge else "",
            )
            invoices.append(invoice)
        _insert(invoices, [draft.lines for draft in todo])
        issued = [
            (invoice, len(draft.lines)) for invoice, draft in zip(invoices, todo, strict=True)
        ]
        return issued, len(drafts) - len(todo)


def _insert(invoices: list[Invoice], lines_per_invoice: Sequence[Sequence[LineDraft]]) -> None:
    """Insert the invoices (ids come back from the insert where the database can) and then
    all their lines in a few statements."""
    connection = connections[Invoice.objects.db]
    if connection.features.can_return_rows_from_bulk_insert:
        Invoice.objects.bulk_create(invoices)
    else:
        for invoice in invoices:
            invoice.save(force_insert=True)
    rows = [
        InvoiceLine(
            invoice=invoice,
            position=position,
            tenant_id=line.tenant_id,
            tenant_name=line.tenant_name[:100],
            product_key=line.product_key,
            description=line.description,
            service_start=line.service_start,
            service_end=line.service_end,
            quantity=line.quantity,
            unit=line.unit,
            unit_price=line.unit_price,
            net_amount=line.net_amount,
            vat_rate=line.vat_rate,
        )
        for invoice, lines in zip(invoices, lines_per_invoice, strict=True)
        for position, line in enumerate(lines, start=1)
    ]
    InvoiceLine.objects.bulk_create(rows, batch_size=2000)


def _enqueue_documents(invoice_ids: list[int]) -> None:
    """After the commit: the PDF and the e-mail of each invoice, in background tasks."""

    def enqueue() -> None:
        from mandant.invoicing.tasks import render_and_send

        for invoice_id in invoice_ids:
            render_and_send.enqueue(invoice_id)

    transaction.on_commit(enqueue)


# --------------------------------------------------------------------------------------
# Corrections


def _clean_reason(reason: str) -> str:
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError(
            {"reason": ValidationError(_("State the reason for the correction."), code="required")}
        )
    if len(reason) > 500:
        raise ValidationError(
            {
                "reason": ValidationError(
                    _("The reason can have at most 500 characters."), code="max_length"
                )
            }
        )
    return reason


def _locked_original(invoice: Invoice) -> Invoice:
    """The original invoice, locked, so two corrections of it cannot pass the checks at once
    (on SQLite the IMMEDIATE transaction serialises them)."""
    with scope(tenant=invoice.tenant_id):
        return Invoice.objects.select_for_update().get(pk=invoice.pk)


def _corrections(invoice: Invoice) -> list[Invoice]:
    with scope(tenant=invoice.tenant_id):
        return list(Invoice.objects.filter(refers_to=invoice).order_by("pk"))


def _issue_correction(
    original: Invoice,
    *,
    kind: str,
    lines: list[InvoiceLine],
    note: str,
) -> Invoice:
    """Number and insert a correction of ``original`` (inside the caller's transaction)."""
    issue_date = timezone.localdate()
    series = series_key(kind, issue_date)
    _ensure_series(series)
    numbers = _locked_series(series)
    numbers.last_number += 1
    numbers.save(update_fields=["last_number"])
    totals = calc.invoice_totals(
        ((line.vat_rate, line.net_amount) for line in lines),
        reverse_charge=original.reverse_charge,
    )
    correction = Invoice(
        number=invoice_number(series, numbers.last_number),
        series=series,
        sequence=numbers.last_number,
        kind=kind,
        account_id=original.account_id,
        tenant_id=original.tenant_id,
        month=original.month,
        period_start=original.period_start,
        period_end=original.period_end,
        issue_date=issue_date,
        supplier=original.supplier,
        customer=original.customer,
        reverse_charge=original.reverse_charge,
        net_total=totals.net,
        tax_total=totals.tax,
        gross_total=totals.gross,
        tax_breakdown=totals.breakdown(),
        refers_to=original,
        note=note,
    )
    correction.save(force_insert=True)
    for line in lines:
        line.invoice = correction
    InvoiceLine.objects.bulk_create(lines)
    return correction


def _correction_note(original: Invoice, text: str) -> str:
    if original.reverse_charge:
        return f"{text}\n{calc.REVERSE_CHARGE_NOTE}"
    return text


def _language(invoice: Invoice) -> str:
    return str(invoice.customer.get("language") or calc.customer_language(""))


def invoice_cancel(*, actor: Actor | None, invoice: Invoice, reason: str) -> Invoice:
    """Cancel an invoice by a cancellation invoice (``ST-…``): every line negated (negative
    quantities, the same unit prices), referring to the original. An invoice is corrected
    once: a second cancellation, or one after a credit note, is refused."""
    _require_operator(actor)
    reason = _clean_reason(reason)
    if invoice.kind != InvoiceKind.INVOICE:
        raise ValidationError(
            {"invoice": ValidationError(_("Only an invoice can be cancelled."), code="invalid")}
        )
    with transaction.atomic(), scope(tenant=invoice.tenant_id):
        original = _locked_original(invoice)
        if _corrections(original):
            raise ValidationError(
                {
                    "invoice": ValidationError(
                        _("Invoice %(number)s has been corrected already.")
                        % {"number": original.number},
                        code="already_corrected",
                    )
                }
            )
        lines = [
            InvoiceLine(
                position=line.position,
                tenant_id=line.tenant_id,
                tenant_name=line.tenant_name,
                product_key=line.product_key,
                description=line.description,
                service_start=line.service_start,
                service_end=line.service_end,
                quantity=-line.quantity,
                unit=line.unit,
                unit_price=line.unit_price,
                net_amount=-line.net_amount,
                vat_rate=line.vat_rate,
            )
            for line in InvoiceLine.objects.filter(invoice=original).order_by("position")
        ]
        with translation.override(_language(original)):
            text = _("Cancellation of invoice %(number)s of %(date)s. Reason: %(reason)s") % {
                "number": original.number,
                "date": formats.date_format(original.issue_date, "DATE_FORMAT"),
                "reason": reason,
            }
        cancellation = _issue_correction(
            original,
            kind=InvoiceKind.CANCELLATION,
            lines=lines,
            note=_correction_note(original, text),
        )
        audit_record(
            actor=actor,
            action="invoice.cancel",
            tenant=original.tenant,
            grant=OPERATOR_GRANT if actor is not None else None,
            obj=cancellation,
            changes={
                "original": original.number,
                "number": cancellation.number,
                "gross_total": str(cancellation.gross_total),
                "reason": reason,
            },
        )
        _enqueue_documents([cancellation.pk])
    return cancellation


def _clean_amount(value: object) -> Decimal:
    try:
        amount = Decimal(str(value).strip().replace(",", "."))
    except (InvalidOperation, ValueError):
        amount = Decimal("NaN")
    if not amount.is_finite() or amount <= 0 or amount != amount.quantize(calc.CENT):
        raise ValidationError(
            {
                "amount": ValidationError(
                    _("Enter a positive net amount in euros with at most two decimals."),
                    code="invalid",
                )
            }
        )
    return amount


def credit_note_issue(
    *,
    actor: Actor | None,
    invoice: Invoice,
    amount: object,
    reason: str,
    vat_rate: object | None = None,
) -> Invoice:
    """A credit note (``GS-…``) over a net ``amount`` for ``invoice``: one line, negative
    (it reduces what is owed), at the invoice's VAT rate (``vat_rate`` when the invoice has
    several). The credits of an invoice cannot exceed its net total; a cancelled invoice
    gets none."""
    _require_operator(actor)
    reason = _clean_reason(reason)
    net = _clean_amount(amount)
    if invoice.kind != InvoiceKind.INVOICE:
        raise ValidationError(
            {"invoice": ValidationError(_("Only an invoice can be credited."), code="invalid")}
        )
    with transaction.atomic(), scope(tenant=invoice.tenant_id):
        original = _locked_original(invoice)
        corrections = _corrections(original)
        if any(c.kind == InvoiceKind.CANCELLATION for c in corrections):
            raise ValidationError(
                {
                    "invoice": ValidationError(
                        _("Invoice %(number)s has been cancelled.") % {"number": original.number},
                        code="already_corrected",
                    )
                }
            )
        credited = -sum((c.net_total for c in corrections), Decimal("0.00"))
        if credited + net > original.net_total:
            raise ValidationError(
                {
                    "amount": ValidationError(
                        _("At most %(amount)s € net can still be credited for this invoice.")
                        % {"amount": original.net_total - credited},
                        code="too_much",
                    )
                }
            )
        rate = _credit_rate(original, vat_rate)
        with translation.override(_language(original)):
            description = _("Credit for invoice %(number)s: %(reason)s") % {
                "number": original.number,
                "reason": reason,
            }
            note = _("Credit note for invoice %(number)s of %(date)s.") % {
                "number": original.number,
                "date": formats.date_format(original.issue_date, "DATE_FORMAT"),
            }
        line = InvoiceLine(
            position=1,
            tenant_id=original.tenant_id,
            tenant_name="",
            product_key="credit",
            description=description[:300],
            service_start=original.period_start,
            service_end=original.period_end,
            quantity=Decimal("-1.0000"),
            unit=_unit_label(original),
            unit_price=net,
            net_amount=-net,
            vat_rate=rate,
        )
        credit = _issue_correction(
            original,
            kind=InvoiceKind.CREDIT_NOTE,
            lines=[line],
            note=_correction_note(original, note),
        )
        audit_record(
            actor=actor,
            action="invoice.credit_note",
            tenant=original.tenant,
            grant=OPERATOR_GRANT if actor is not None else None,
            obj=credit,
            changes={
                "original": original.number,
                "number": credit.number,
                "net": str(net),
                "vat_rate": str(rate),
                "reason": reason,
            },
        )
        _enqueue_documents([credit.pk])
    return credit


def _unit_label(original: Invoice) -> str:
    from mandant.invoicing.billable import UNITS

    with translation.override(_language(original)):
        return str(UNITS["C62"])


def _credit_rate(original: Invoice, vat_rate: object | None) -> Decimal:
    rates = sorted({Decimal(group["rate"]) for group in original.tax_breakdown}, reverse=True) or [
        Decimal("0.00")
    ]
    if vat_rate is None or vat_rate == "":
        if len(rates) > 1:
            raise ValidationError(
                {
                    "vat_rate": ValidationError(
                        _("The invoice has several VAT rates: choose one of %(rates)s.")
                        % {"rates": ", ".join(str(rate) for rate in rates)},
                        code="required",
                    )
                }
            )
        return rates[0].quantize(calc.CENT)
    try:
        rate = Decimal(str(vat_rate).strip().replace(",", ".")).quantize(calc.CENT)
    except (InvalidOperation, ValueError):
        rate = Decimal("-1")
    if rate not in rates:
        raise ValidationError(
            {
                "vat_rate": ValidationError(
                    _("The invoice has no VAT rate %(rate)s; choose one of %(rates)s.")
                    % {"rate": vat_rate, "rates": ", ".join(str(r) for r in rates)},
                    code="invalid",
                )
            }
        )
    return rate


def invoice_by_number(number: str) -> Invoice:
    """For the CLI and tasks (platform-wide): NotFound for an unknown number."""
    with scopes_disabled():
        invoice = Invoice.objects.filter(number=(number or "").strip().upper()).first()
    if invoice is None:
        raise NotFound
    return invoice


# --------------------------------------------------------------------------------------
# Usage (recorded by the sending pipeline)


def usage_add(
    *, tenant: Tenant, quantity: int, day: date | None = None, metric: str = UsageMetric.MAILS
) -> None:
    """Add ``quantity`` to the tenant's usage of ``metric`` on ``day`` (today): one UPDATE,
    or an INSERT for the first of the day (a concurrent first insert is retried as UPDATE).
    No audit row: this is a counter, written by the send pipeline."""
    if quantity <= 0:
        return
    day = day or timezone.localdate()
    with scope(tenant=tenant.pk):
        for _attempt in range(2):
            updated = UsageRecord.objects.filter(tenant=tenant, metric=metric, day=day).update(
                quantity=F("quantity") + quantity
            )
            if updated:
                return
            try:
                with transaction.atomic():
                    UsageRecord.objects.create(
                        tenant=tenant, metric=metric, day=day, quantity=quantity
                    )
                return
            except IntegrityError:
                continue  # someone else created the day's row first: add to it
    raise RuntimeError("usage_add: could not record usage")  # pragma: no cover
