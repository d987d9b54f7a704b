from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _

from mandant.core.actor import Actor
from mandant.tenants import services
from mandant.tenants.models import Tenant


@admin.register(Tenant)
class TenantAdmin(admin.ModelAdmin):
    list_display = [
        "name",
        "type",
        "version",
        "status",
        "charset",
        "depth",
        "child_count",
        "tenant_management_active",
        "configured_at",
        "created_at",
    ]
    list_filter = ["type", "version", "status", "tenant_management_active"]
    search_fields = ["name", "slug"]
    ordering = ["path"]
    readonly_fields = [
        "name_key",
        "slug",
        "path",
        "depth",
        "child_count",
        "parent",
        "type",
        "configured_at",
        "configured_by",
        "created_by",
        "created_at",
        "tenant_management_active",
        "status",
    ]
    fields = [
        "name",
        "slug",
        "type",
        "version",
        "charset",
        "status",
        "parent",
        "path",
        "depth",
        "child_count",
        "tenant_management_active",
        "configured_at",
        "configured_by",
        "created_by",
        "created_at",
    ]
    actions = ["mark_configured", "activate_tenant_management", "deactivate_tenant_management"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        # Tenants are created through the one creation service (UI, API, CLI), never here.
        return False

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def save_model(self, request: HttpRequest, obj: Tenant, form: object, change: bool) -> None:
        services.tenant_update(
            actor=Actor(user=request.user),  # type: ignore[arg-type]
            tenant=Tenant.objects.get(pk=obj.pk),
            name=obj.name,
            version=obj.version,
            charset=obj.charset,
        )

    @admin.action(description=_("Mark as configured by service staff"))
    def mark_configured(self, request: HttpRequest, queryset: QuerySet[Tenant]) -> None:
        actor = Actor(user=request.user)  # type: ignore[arg-type]
        for tenant in queryset:
            services.tenant_mark_configured(actor=actor, tenant=tenant)
        self.message_user(request, _("Marked as configured."), messages.SUCCESS)

    @admin.action(description=_("Activate tenant management"))
    def activate_tenant_management(self, request: HttpRequest, queryset: QuerySet[Tenant]) -> None:
        actor = Actor(user=request.user)  # type: ignore[arg-type]
        for tenant in queryset:
            services.tenant_set_management_active(actor=actor, tenant=tenant, active=True)

    @admin.action(description=_("Deactivate tenant management"))
    def deactivate_tenant_management(
        self, request: HttpRequest, queryset: QuerySet[Tenant]
    ) -> None:
        actor = Actor(user=request.user)  # type: ignore[arg-type]
        for tenant in queryset:
            services.tenant_set_management_active(actor=actor, tenant=tenant, active=False)
