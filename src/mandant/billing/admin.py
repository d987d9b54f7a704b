"""Django admin for operators: the price list, billing accounts, and (read only) what tenants
activated and accepted. Prices and conditions are versioned: rows already in force are not
changed here (a price change is a new row from a date; new conditions are a new version)."""

from typing import Any

from django import forms
from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django_scopes import scopes_disabled

from mandant.billing.models import (
    Activation,
    ActivationEvent,
    BillingAccount,
    ConditionsAcceptance,
    ConditionsVersion,
    Product,
    ProductPrice,
)
from mandant.tenants.models import TenantVersion


class ProductAdminForm(forms.ModelForm):
    editions = forms.MultipleChoiceField(
        choices=TenantVersion.choices, required=False, widget=forms.CheckboxSelectMultiple
    )

    class Meta:
        model = Product
        fields = [
            "key",
            "kind",
            "name_en",
            "name_de",
            "description_en",
            "description_de",
            "editions",
            "activation_role",
            "trial_days",
            "deactivation_mode",
            "offered",
            "sort_order",
        ]


class PriceInlineForm(forms.ModelForm):
    class Meta:
        model = ProductPrice
        fields = [
            "valid_from",
            "monthly_fee",
            "setup_fee",
            "unit_price",
            "unit_en",
            "unit_de",
            "vat_rate",
        ]

    def clean_valid_from(self) -> Any:
        valid_from = self.cleaned_data["valid_from"]
        if valid_from < timezone.localdate():
            raise forms.ValidationError(
                _("A price change takes effect today or later; past days keep their prices.")
            )
        return valid_from


class PriceInline(admin.TabularInline):
    model = ProductPrice
    form = PriceInlineForm
    extra = 0
    fields = [
        "valid_from",
        "monthly_fee",
        "setup_fee",
        "unit_price",
        "unit_en",
        "unit_de",
        "vat_rate",
        "created_by",
    ]
    readonly_fields = ["created_by"]
    ordering = ["-valid_from"]

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # add a row from a date instead (or use the operator page)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class ConditionsInline(admin.StackedInline):
    model = ConditionsVersion
    extra = 0
    fields = ["version", "published_at", "text_en", "text_de", "created_by"]
    readonly_fields = ["created_by"]
    ordering = ["-version"]

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Product)
class ProductAdmin(admin.ModelAdmin):
    form = ProductAdminForm
    list_display = ["key", "name_en", "kind", "activation_role", "trial_days", "offered"]
    list_filter = ["kind", "offered"]
    search_fields = ["key", "name_en", "name_de"]
    inlines = [PriceInline, ConditionsInline]

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        # The key names the product in activations, the API and the feature registry.
        return ["key"] if obj is not None else []

    def save_formset(self, request: HttpRequest, form: Any, formset: Any, change: bool) -> None:
        instances = formset.save(commit=False)
        for instance in instances:
            if isinstance(instance, ProductPrice | ConditionsVersion) and not instance.pk:
                instance.created_by = request.user  # type: ignore[assignment]
            instance.save()
        formset.save_m2m()


@admin.register(BillingAccount)
class BillingAccountAdmin(admin.ModelAdmin):
    list_display = ["name", "tenant", "country", "vat_id", "email"]
    search_fields = ["name", "tenant__name", "vat_id", "email"]
    raw_id_fields = ["tenant"]


class ReadOnlyAdmin(admin.ModelAdmin):
    """Records of what happened: shown, never edited. Read across tenants (operators)."""

    def get_queryset(self, request: HttpRequest) -> QuerySet[Any]:
        with scopes_disabled():
            return super().get_queryset(request)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Activation)
class ActivationAdmin(ReadOnlyAdmin):
    list_display = ["product", "tenant", "trial", "started_at", "ends_at", "ended_at"]
    list_filter = ["product", "trial"]
    search_fields = ["tenant__name"]
    list_select_related = ["product", "tenant"]


@admin.register(ActivationEvent)
class ActivationEventAdmin(ReadOnlyAdmin):
    list_display = ["at", "kind", "product", "tenant", "user"]
    list_filter = ["kind", "product"]
    search_fields = ["tenant__name", "user__email"]
    list_select_related = ["product", "tenant", "user"]


@admin.register(ConditionsAcceptance)
class ConditionsAcceptanceAdmin(ReadOnlyAdmin):
    list_display = ["accepted_at", "product", "conditions", "tenant", "user", "client_ip"]
    list_filter = ["product"]
    search_fields = ["tenant__name", "user__email", "client_ip"]
    list_select_related = ["product", "conditions", "tenant", "user"]
