"""Operators look into every tenant's content library here; changes go through the services
(the web UI and the API), so the admin only reads, plus restoring items from the bin."""

from typing import Any

from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _
from django_scopes import scopes_disabled

from mandant.content import services
from mandant.content.models import ContentItem, ContentVersion, Folder
from mandant.core.actor import Actor
from mandant.core.errors import NotFound, PermissionDenied


class ReadOnlyScopedAdmin(admin.ModelAdmin):
    """Read-only admin for tenant-scoped models.

    Operators work across tenants, so no tenant scope is active here: the queryset is built
    with scopes disabled (it is a plain queryset afterwards, usable outside the block).
    """

    def get_queryset(self, request: HttpRequest) -> QuerySet[Any]:
        with scopes_disabled():
            return super().get_queryset(request).select_related("tenant").defer("tenant__logo_png")

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        return [field.name for field in self.model._meta.fields]

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Folder)
class FolderAdmin(ReadOnlyScopedAdmin):
    list_display = ["name", "tenant", "parent", "created_at"]
    search_fields = ["name"]
    list_select_related = ["tenant", "parent"]
    ordering = ["tenant", "name"]


@admin.register(ContentItem)
class ContentItemAdmin(ReadOnlyScopedAdmin):
    list_display = ["name", "tenant", "kind", "version", "updated_at", "deleted_at"]
    list_filter = ["kind", ("deleted_at", admin.EmptyFieldListFilter)]
    search_fields = ["name"]
    ordering = ["tenant", "name"]
    actions = ["restore_from_bin"]

    @admin.action(description=_("Restore selected items from the bin"))
    def restore_from_bin(self, request: HttpRequest, queryset: QuerySet[ContentItem]) -> None:
        actor = Actor(user=request.user)  # type: ignore[arg-type]
        restored = 0
        for item in queryset.filter(deleted_at__isnull=False):
            try:
                services.item_restore(actor=actor, tenant=item.tenant, item=item)
            except (ValidationError, NotFound, PermissionDenied) as exc:
                self.message_user(request, f"{item}: {exc}", level=messages.ERROR)
            else:
                restored += 1
        self.message_user(
            request, _("%(n)d items restored from the bin.") % {"n": restored}, messages.SUCCESS
        )


@admin.register(ContentVersion)
class ContentVersionAdmin(ReadOnlyScopedAdmin):
    list_display = ["name", "number", "tenant", "saved_at", "saved_by"]
    search_fields = ["name"]
    list_select_related = ["saved_by"]
    ordering = ["tenant", "item", "-number"]
