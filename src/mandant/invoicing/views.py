"""Setup → Billing inside a tenant: who is billed, the invoices of the tenant's own billing
account, and their PDFs. Operators: the invoices of all accounts and the monthly run."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods

from mandant.accounts.roles import Action
from mandant.billing.models import BillingAccount
from mandant.billing.selectors import billing_account_for
from mandant.core.errors import NotFound
from mandant.core.web import (
    OperatorRequest,
    TenantRequest,
    apply_service_errors,
    operator_view,
    tenant_view,
)
from mandant.invoicing import services
from mandant.invoicing.documents import invoice_document_get_or_create
from mandant.invoicing.forms import InvoiceRunForm
from mandant.invoicing.lookups import InvoicePage, all_invoice_page, tenant_invoice_page
from mandant.invoicing.models import Invoice
from mandant.invoicing.selectors import invoice_get
from mandant.invoicing.snapshots import pdf_filename

SECTION = {"section": "billing"}
PAGE_SIZE = 50


def _page_number(request: TenantRequest | OperatorRequest) -> int:
    try:
        return max(1, int(request.GET.get("page", "1")))
    except ValueError:
        return 1


@tenant_view(Action.INVOICE_VIEW)
@require_GET
def billing(request: TenantRequest) -> HttpResponse:
    """The billing account of this tenant and its invoices; without an own account, who pays
    for the tenant (its invoices are the payer's)."""
    tenant = request.tenant
    account = BillingAccount.objects.filter(tenant=tenant).first()
    payer = account or billing_account_for(tenant)
    page: InvoicePage | None = None
    if account is not None:
        page = tenant_invoice_page(tenant, page=_page_number(request), page_size=PAGE_SIZE)
    return render(
        request,
        "invoicing/billing.html",
        {**SECTION, "account": account, "payer": payer, "page": page},
    )


def pdf_response(invoice: Invoice, pdf: bytes) -> HttpResponse:
    """The PDF as a download (web and API)."""
    response = HttpResponse(pdf, content_type="application/pdf")
    response["Content-Disposition"] = f'attachment; filename="{pdf_filename(invoice)}"'
    response["Cache-Control"] = "private, no-store"
    return response


@tenant_view(Action.INVOICE_VIEW)
@require_GET
def invoice_pdf(request: TenantRequest, number: str) -> HttpResponse:
    """The PDF of one invoice of this tenant's own account (rendered now if it is missing)."""
    try:
        invoice = invoice_get(tenant=request.tenant, number=number)
    except NotFound:
        raise Http404 from None
    document = invoice_document_get_or_create(invoice_id=invoice.pk)
    return pdf_response(invoice, bytes(document.pdf))


@operator_view
@require_http_methods(["GET", "POST"])
def operator_invoices(request: OperatorRequest) -> HttpResponse:
    """Every invoice, newest first, and the monthly run for a month."""
    form = InvoiceRunForm(request.POST or None)
    status = 200
    if request.method == "POST":
        if form.is_valid():
            try:
                result = services.invoices_run(
                    month=form.cleaned_data["month"], actor=request.actor
                )
            except ValidationError as exc:
                apply_service_errors(form, exc)
            else:
                messages.success(request, run_message(result))
                return redirect("invoicing_operator:invoices")
        status = 422
    page = all_invoice_page(
        page=_page_number(request), page_size=PAGE_SIZE, q=request.GET.get("q", "").strip()
    )
    return render(
        request,
        "invoicing/operator_invoices.html",
        {"form": form, "page": page, "q": request.GET.get("q", "").strip()},
        status=status,
    )


def run_message(summary: services.RunSummary) -> str:
    return _(
        "Invoice run for %(month)s: %(created)s new invoice(s), %(existing)s billing "
        "account(s) invoiced before. The PDFs are rendered and mailed in the background."
    ) % {"month": summary.month, "created": summary.created, "existing": summary.existing}
