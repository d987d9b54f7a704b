from django.contrib import admin
from django.http import HttpRequest

from mandant.audit.models import AuditEntry


@admin.register(AuditEntry)
class AuditEntryAdmin(admin.ModelAdmin):
    list_display = [
        "created_at",
        "action",
        "actor",
        "acting_role",
        "role_source",
        "tenant",
        "object_type",
        "object_id",
    ]
    list_filter = ["action"]
    search_fields = ["action", "actor__email", "tenant__name", "object_id"]
    date_hierarchy = "created_at"
    list_select_related = ["actor", "tenant", "role_source"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False
