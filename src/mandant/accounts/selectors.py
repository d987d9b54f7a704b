from django.db.models import QuerySet

from mandant.accounts.models import ApiKey, Membership
from mandant.tenants.models import Tenant


def tenant_members(*, tenant: Tenant) -> QuerySet[Membership]:
    """Users with a membership directly on the tenant."""
    return Membership.objects.filter(tenant=tenant).select_related("user").order_by("user__email")


def tenant_inherited_members(*, tenant: Tenant) -> QuerySet[Membership]:
    """Users who act here through a membership on an ancestor."""
    ancestors = tenant.ancestor_paths()[:-1]
    return (
        Membership.objects.filter(tenant__path__in=ancestors)
        .select_related("user", "tenant")
        .defer("tenant__logo_png")
        .order_by("-tenant__depth", "user__email")
    )


def tenant_api_keys(*, tenant: Tenant) -> QuerySet[ApiKey]:
    return ApiKey.objects.filter(tenant=tenant).select_related("created_by").order_by("-created_at")


def tenant_api_key(*, tenant: Tenant, key_id: int) -> ApiKey | None:
    return ApiKey.objects.filter(pk=key_id, tenant=tenant).select_related("tenant").first()
