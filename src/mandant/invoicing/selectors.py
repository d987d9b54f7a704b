"""Reads of the invoicing app, for Setup → Billing, the API, the PDF and the CLI.

Access rule: an invoice belongs to the tenant of its billing account; who holds
``Action.INVOICE_VIEW`` there (its Administrators, also through a role inherited from a
master tenant above) sees it; operators see every invoice. Outside the actor's reach an
invoice does not exist (NotFound, 404); a weaker role in the tenant is PermissionDenied (403).
"""

from __future__ import annotations

from datetime import date

from django.db.models import QuerySet, Sum
from django.utils.translation import gettext as _
from django_scopes import scope, scopes_disabled

from mandant.accounts.roles import Action, grant_allows
from mandant.core.actor import Actor, RoleGrant
from mandant.core.errors import NotFound, PermissionDenied
from mandant.invoicing.models import Invoice, InvoiceLine, UsageMetric, UsageRecord
from mandant.tenants.models import Tenant
from mandant.tenants.selectors import effective_grant


def may_view_invoices(grant: RoleGrant | None, tenant: Tenant) -> bool:
    return grant is not None and grant_allows(
        grant.role, Action.INVOICE_VIEW, inherited=grant.inherited_for(tenant)
    )


def invoice_grant(actor: Actor, tenant: Tenant) -> RoleGrant:
    """The actor's grant in ``tenant`` if it may see the tenant's invoices; NotFound when the
    tenant is out of reach, PermissionDenied when the role is too weak."""
    grant = effective_grant(actor, tenant)
    if grant is None:
        raise NotFound
    if not may_view_invoices(grant, tenant):
        raise PermissionDenied(_("Invoices are shown to the Administrators of the tenant."))
    return grant


def invoice_list(
    *,
    tenant: Tenant,
    kind: str | None = None,
    year: int | None = None,
    month: str | None = None,
) -> QuerySet[Invoice]:
    """The tenant's invoices (of the billing account whose tenant it is), newest first. A
    lazy query (created in the tenant's scope), for pagination."""
    with scope(tenant=tenant.pk):
        invoices = Invoice.objects.filter(tenant=tenant)
    if kind:
        invoices = invoices.filter(kind=kind)
    if year:
        invoices = invoices.filter(issue_date__year=year)
    if month:
        invoices = invoices.filter(month=month)
    return invoices.order_by("-issue_date", "-pk")


def invoice_get(*, tenant: Tenant, number: str) -> Invoice:
    """The tenant's invoice with ``number``; NotFound otherwise (also another tenant's)."""
    with scope(tenant=tenant.pk):
        invoice = (
            Invoice.objects.filter(tenant=tenant, number=_clean_number(number))
            .select_related("refers_to")
            .first()
        )
    if invoice is None:
        raise NotFound
    return invoice


def invoice_get_for_actor(actor: Actor, number: str) -> Invoice:
    """The invoice with ``number`` if the actor may see it (module docstring)."""
    with scopes_disabled():
        invoice = (
            Invoice.objects.filter(number=_clean_number(number))
            .select_related("tenant", "refers_to")
            .first()
        )
    if invoice is None:
        raise NotFound
    invoice_grant(actor, invoice.tenant)
    return invoice


def invoice_lines(invoice: Invoice) -> list[InvoiceLine]:
    with scope(tenant=invoice.tenant_id):
        return list(InvoiceLine.objects.filter(invoice_id=invoice.pk).order_by("position"))


def invoice_corrections(invoice: Invoice) -> list[Invoice]:
    """The cancellation invoice and credit notes referring to ``invoice``, oldest first."""
    with scope(tenant=invoice.tenant_id):
        return list(Invoice.objects.filter(refers_to_id=invoice.pk).order_by("issue_date", "pk"))


def invoices_of_month(month: str) -> QuerySet[Invoice]:
    """Every invoice of a billing month, platform-wide (operators, the CLI)."""
    with scopes_disabled():
        return Invoice.objects.filter(month=month).order_by("series", "sequence")


def usage_total(*, tenant: Tenant, first: date, last: date, metric: str = UsageMetric.MAILS) -> int:
    """The tenant's usage of ``metric`` from ``first`` to ``last`` (inclusive)."""
    with scope(tenant=tenant.pk):
        total = UsageRecord.objects.filter(
            tenant=tenant, metric=metric, day__gte=first, day__lte=last
        ).aggregate(total=Sum("quantity"))["total"]
    return int(total or 0)


def _clean_number(number: str) -> str:
    return (number or "").strip().upper() if isinstance(number, str) else ""
