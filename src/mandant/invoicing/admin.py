"""Django admin for operators: invoices, their lines, number series and usage — read only.

Issued invoices are records (§ 14 UStG, GoBD): corrections are cancellation invoices and
credit notes (``mandant invoices cancel|credit``), never edits.
"""

from typing import Any

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest
from django_scopes import scopes_disabled

from mandant.invoicing.models import Invoice, InvoiceLine, NumberSeries, UsageRecord


class ReadOnlyMixin:
    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class ReadOnlyAdmin(ReadOnlyMixin, admin.ModelAdmin):
    """Read across tenants (operators)."""

    def get_queryset(self, request: HttpRequest) -> QuerySet[Any]:
        with scopes_disabled():
            return super().get_queryset(request)


LINE_FIELDS = [
    "position",
    "tenant_name",
    "product_key",
    "description",
    "service_start",
    "service_end",
    "quantity",
    "unit",
    "unit_price",
    "net_amount",
    "vat_rate",
]


class InvoiceLineInline(ReadOnlyMixin, admin.TabularInline):
    model = InvoiceLine
    extra = 0
    fields = tuple(LINE_FIELDS)
    readonly_fields = tuple(LINE_FIELDS)
    ordering = ["position"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Any]:
        with scopes_disabled():
            return super().get_queryset(request)


@admin.register(Invoice)
class InvoiceAdmin(ReadOnlyAdmin):
    list_display = [
        "number",
        "kind",
        "month",
        "issue_date",
        "account",
        "net_total",
        "tax_total",
        "gross_total",
        "reverse_charge",
        "emailed_at",
    ]
    list_filter = ["kind", "month", "reverse_charge"]
    search_fields = ["number", "account__name", "tenant__name"]
    list_select_related = ["account"]
    date_hierarchy = "issue_date"
    inlines = [InvoiceLineInline]
    readonly_fields = [
        "number",
        "series",
        "sequence",
        "kind",
        "account",
        "tenant",
        "month",
        "period_start",
        "period_end",
        "issue_date",
        "currency",
        "supplier",
        "customer",
        "reverse_charge",
        "net_total",
        "tax_total",
        "gross_total",
        "tax_breakdown",
        "refers_to",
        "note",
        "created_at",
        "emailed_at",
        "email_message",
    ]


@admin.register(NumberSeries)
class NumberSeriesAdmin(ReadOnlyAdmin):
    list_display = ["key", "last_number"]


@admin.register(UsageRecord)
class UsageRecordAdmin(ReadOnlyAdmin):
    list_display = ["day", "tenant", "metric", "quantity"]
    list_filter = ["metric"]
    search_fields = ["tenant__name"]
    list_select_related = ["tenant"]
    date_hierarchy = "day"
