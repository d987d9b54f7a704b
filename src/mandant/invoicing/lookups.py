"""Paged invoice lists for the pages and the API, on top of ``invoicing.selectors``: the
tenant's own, those of a subtree (API keys), all of them (operators)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from django.db.models import Q, QuerySet
from django_scopes import scopes_disabled

from mandant.core.paging import PageInfo, clamp_page
from mandant.invoicing import selectors
from mandant.invoicing.models import Invoice
from mandant.tenants.models import Tenant
from mandant.tenants.selectors import subtree_q


@dataclass
class InvoicePage(PageInfo):
    invoices: Sequence[Invoice]
    total: int
    page: int
    page_size: int


def _listed(qs: QuerySet[Invoice]) -> QuerySet[Invoice]:
    return (
        qs.select_related("refers_to", "email_message", "account", "document", "tenant")
        .defer(
            "document__pdf",
            "email_message__attachment_data",
            "email_message__html_body",
            "email_message__text_body",
            "tenant__logo_png",
        )
        .order_by("-issue_date", "-sequence", "-pk")
    )


def _page(qs: QuerySet[Invoice], *, page: int, page_size: int) -> InvoicePage:
    total = qs.count()
    page = clamp_page(page, total, page_size)
    start = (page - 1) * page_size
    return InvoicePage(
        invoices=list(_listed(qs)[start : start + page_size]),
        total=total,
        page=page,
        page_size=page_size,
    )


def tenant_invoice_page(tenant: Tenant, *, page: int, page_size: int) -> InvoicePage:
    """The invoices of the tenant's own billing account (Setup → Billing)."""
    return _page(selectors.invoice_list(tenant=tenant), page=page, page_size=page_size)


def subtree_invoice_page(root: Tenant, *, page: int, page_size: int) -> InvoicePage:
    """The invoices of every billing account held by a tenant in ``root``'s subtree."""
    with scopes_disabled():
        qs = Invoice.objects.filter(subtree_q(root, "tenant__"))
    return _page(qs, page=page, page_size=page_size)


def all_invoice_page(*, page: int, page_size: int, q: str = "") -> InvoicePage:
    """Operators: every invoice, optionally filtered by number or account name."""
    with scopes_disabled():
        qs = Invoice.objects.all()
        if q:
            qs = qs.filter(Q(number__icontains=q) | Q(account__name__icontains=q))
        return _page(qs, page=page, page_size=page_size)
