"""Invoices: ``GET /api/v1/invoices`` and ``GET /api/v1/invoices/{number}.pdf``.

A key sees the invoices of every billing account held by a tenant in its subtree, when its
role there may view invoices (Administrator; operators' keys too). Amounts are strings
(exact decimals, e.g. ``"29.00"``); a correction names the invoice it ``refers_to``.
"""

from datetime import date, datetime

from django.http import HttpRequest, HttpResponse
from django.urls import reverse
from ninja import Query, Router, Schema
from pydantic import Field

from mandant.api.auth import actor_of
from mandant.api.tenants import DetailOut
from mandant.core.actor import Actor
from mandant.invoicing.documents import invoice_document_get_or_create
from mandant.invoicing.lookups import subtree_invoice_page
from mandant.invoicing.models import Invoice
from mandant.invoicing.selectors import invoice_get_for_actor, invoice_grant
from mandant.invoicing.views import pdf_response
from mandant.tenants.models import Tenant
from mandant.tenants.selectors import tenant_get_for_actor

router = Router(tags=["invoices"])

PDF_RESPONSE = {
    "responses": {
        "200": {
            "description": "The invoice as PDF/A-3 with the Factur-X XML (EN 16931) embedded",
            "content": {"application/pdf": {"schema": {"type": "string", "format": "binary"}}},
        }
    }
}


class PeriodOut(Schema):
    start: date
    end: date


class TaxRateOut(Schema):
    rate: str
    category: str  # UNTDID 5305: S standard, Z zero rate, AE reverse charge
    net: str
    tax: str


class AccountOut(Schema):
    id: int
    name: str
    tenant_id: int


class InvoiceOut(Schema):
    number: str
    kind: str  # "invoice", "cancellation", "credit_note"
    issue_date: date
    period: PeriodOut
    month: str  # "YYYY-MM" for monthly invoices, "" for corrections
    account: AccountOut
    currency: str
    net_total: str
    tax_total: str
    gross_total: str
    tax_breakdown: list[TaxRateOut]
    reverse_charge: bool
    refers_to: str | None  # the number of the corrected invoice
    emailed_at: datetime | None
    pdf_url: str

    @staticmethod
    def of(invoice: Invoice) -> "InvoiceOut":
        return InvoiceOut(
            number=invoice.number,
            kind=invoice.kind,
            issue_date=invoice.issue_date,
            period=PeriodOut(start=invoice.period_start, end=invoice.period_end),
            month=invoice.month,
            account=AccountOut(
                id=invoice.account_id, name=invoice.account.name, tenant_id=invoice.tenant_id
            ),
            currency=invoice.currency,
            net_total=str(invoice.net_total),
            tax_total=str(invoice.tax_total),
            gross_total=str(invoice.gross_total),
            tax_breakdown=[
                TaxRateOut(
                    rate=str(row.get("rate", "")),
                    category=str(row.get("category", "")),
                    net=str(row.get("net", "")),
                    tax=str(row.get("tax", "")),
                )
                for row in invoice.tax_breakdown or []
            ],
            reverse_charge=invoice.reverse_charge,
            refers_to=invoice.refers_to.number if invoice.refers_to else None,
            emailed_at=invoice.emailed_at,
            pdf_url=reverse("api:invoice_pdf", kwargs={"number": invoice.number}),
        )


class InvoicePageOut(Schema):
    items: list[InvoiceOut]
    total: int
    page: int
    page_size: int


class InvoiceListQuery(Schema):
    # Only the invoices of billing accounts in this tenant's subtree (a tenant the key reaches).
    tenant: int | None = None
    page: int = Field(1, ge=1)
    page_size: int = Field(50, ge=1, le=200)


def _root(actor: Actor, tenant_id: int | None) -> Tenant:
    """The subtree the request looks into (the key's tenant, or one inside its reach); the
    key's role there must allow invoices (403 otherwise)."""
    if tenant_id is not None:
        root, _grant = tenant_get_for_actor(actor, pk=tenant_id)
    else:
        assert actor.api_key is not None
        root = actor.api_key.tenant
    invoice_grant(actor, root)
    return root


@router.get(
    "",
    response={200: InvoicePageOut, 403: DetailOut, 404: DetailOut},
    summary="List the invoices of the billing accounts in the key's subtree",
)
def list_invoices(request: HttpRequest, filters: Query[InvoiceListQuery]) -> InvoicePageOut:
    root = _root(actor_of(request), filters.tenant)
    page = subtree_invoice_page(root, page=filters.page, page_size=filters.page_size)
    return InvoicePageOut(
        items=[InvoiceOut.of(invoice) for invoice in page.invoices],
        total=page.total,
        page=page.page,
        page_size=page.page_size,
    )


@router.get(
    "/{number}.pdf",
    response={200: None, 403: DetailOut, 404: DetailOut},
    summary="Download the PDF of an invoice (Factur-X embedded)",
    url_name="invoice_pdf",
    openapi_extra=PDF_RESPONSE,
)
def invoice_pdf(request: HttpRequest, number: str) -> HttpResponse:
    invoice = invoice_get_for_actor(actor_of(request), number)
    document = invoice_document_get_or_create(invoice_id=invoice.pk)
    return pdf_response(invoice, bytes(document.pdf))
