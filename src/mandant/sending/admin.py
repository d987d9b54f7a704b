"""Operators look at every tenant's sending settings here, read only: changes go through the
services (key generation, DNS check, audit). The DKIM private key is never shown."""

from typing import Any

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest
from django_scopes import scopes_disabled

from mandant.sending.models import SenderIdentity, SenderPostalAddress, SendingDomain


class ReadOnlyScopedAdmin(admin.ModelAdmin):
    def get_queryset(self, request: HttpRequest) -> QuerySet[Any]:
        with scopes_disabled():
            return super().get_queryset(request).select_related("tenant").defer("tenant__logo_png")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(SendingDomain)
class SendingDomainAdmin(ReadOnlyScopedAdmin):
    list_display = ("domain", "tenant", "status", "verified_without_dns", "checked_at")
    list_filter = ("status", "verified_without_dns")
    search_fields = ("domain",)
    exclude = ("dkim_private_key_pem",)


@admin.register(SenderIdentity)
class SenderIdentityAdmin(ReadOnlyScopedAdmin):
    list_display = ("from_address", "alias", "tenant")
    search_fields = ("from_address", "alias")


@admin.register(SenderPostalAddress)
class SenderPostalAddressAdmin(ReadOnlyScopedAdmin):
    list_display = ("company_name", "city", "country", "tenant")
