"""Reads about tenants, always on behalf of an actor."""

from collections.abc import Sequence
from dataclasses import dataclass
from typing import NamedTuple

from django.contrib.auth.hashers import UNUSABLE_PASSWORD_PREFIX
from django.db.models import F, Q, QuerySet
from django.urls import reverse
from django.utils.translation import gettext as _

from mandant.accounts.models import Membership
from mandant.accounts.roles import Action, Role, role_allows
from mandant.core.actor import Actor, RoleGrant
from mandant.core.errors import NotFound
from mandant.core.paging import PageInfo, clamp_page
from mandant.tenants.models import Tenant, TenantStatus, TenantType
from mandant.tenants.names import tenant_name_key


def in_subtree(path: str, root_path: str) -> bool:
    return path.startswith(root_path)


def subtree_q(root: Tenant, prefix: str = "") -> Q:
    lower, upper = root.subtree_bounds()
    return Q(**{f"{prefix}path__gte": lower, f"{prefix}path__lt": upper})


def membership_grant(user_id: int, tenant: Tenant) -> RoleGrant | None:
    """The role from the nearest membership on the tenant or an ancestor: one query."""
    membership = (
        Membership.objects.filter(
            user_id=user_id, tenant__path__in=tenant.ancestor_paths(), deactivated_at__isnull=True
        )
        .select_related("tenant")
        .defer("tenant__logo_png")  # the grant's source tenant: its name and flags only
        .order_by("-tenant__depth")
        .first()
    )
    if membership is None:
        return None
    return RoleGrant(role=membership.role, source=membership.tenant)


def effective_grant(actor: Actor, tenant: Tenant) -> RoleGrant | None:
    """The role the actor acts with in ``tenant``, or None when the tenant is out of reach."""
    if tenant.pk in actor._grants:
        return actor._grants[tenant.pk]
    grant: RoleGrant | None
    if not actor.user.is_active:
        grant = None
    elif actor.api_key is not None:
        key_tenant = actor.api_key.tenant
        if not in_subtree(tenant.path, key_tenant.path):
            grant = None
        elif actor.user.is_staff:
            # An operator's key acts as operator, but only inside its tenant's subtree.
            grant = RoleGrant(role=Role.OPERATOR, source=None)
        elif key_tenant.pk in actor._grants:
            grant = actor._grants[key_tenant.pk]
        else:
            grant = membership_grant(actor.user.pk, key_tenant)
            actor._grants[key_tenant.pk] = grant
    elif actor.user.is_staff:
        grant = RoleGrant(role=Role.OPERATOR, source=None)
    else:
        grant = membership_grant(actor.user.pk, tenant)
    actor._grants[tenant.pk] = grant
    return grant


def tenant_get_for_actor(
    actor: Actor, *, slug: str | None = None, pk: int | None = None
) -> tuple[Tenant, RoleGrant]:
    """The tenant and the actor's grant there; NotFound when it is outside their reach."""
    lookup = {"slug": slug} if slug is not None else {"pk": pk}
    tenant = (
        Tenant.objects.select_related("parent").defer("parent__logo_png").filter(**lookup).first()
    )
    if tenant is None:
        raise NotFound
    grant = effective_grant(actor, tenant)
    if grant is None:
        raise NotFound
    return tenant, grant


def actor_may(actor: Actor, tenant: Tenant, action: Action) -> bool:
    return role_allows(getattr(effective_grant(actor, tenant), "role", None), action)


def tenant_management_active_for(actor: Actor, grant: RoleGrant) -> bool:
    """The tenant-management product must be active on the tenant the actor's role comes from.

    Asked through the feature registry: the denormalised flag answers "no" without a query;
    when it is set, an activation whose end has passed counts as over (one memoised query).
    """
    if grant.role == Role.OPERATOR:
        return True
    if grant.source is None:
        return False
    from mandant.billing.features import TENANT_MANAGEMENT, feature_enabled

    return feature_enabled(grant.source, TENANT_MANAGEMENT)


def actor_home_tenants(actor: Actor) -> list[tuple[Tenant, int]]:
    """Tenants where the user holds a membership, with the role there."""
    rows = (
        Membership.objects.filter(user=actor.user, deactivated_at__isnull=True)
        .select_related("tenant")
        .order_by("tenant__path")
    )
    return [(m.tenant, m.role) for m in rows]


@dataclass
class TenantPage(PageInfo):
    tenants: Sequence[Tenant]
    total: int
    page: int
    page_size: int


def tenant_filter(
    *,
    root: Tenant,
    q: str = "",
    type: str = "",
    version: str = "",
    status: str = "",
    parent_id: int | None = None,
) -> QuerySet[Tenant]:
    """The subtree of ``root`` (root included), filtered; ordered in tree order."""
    qs = Tenant.objects.filter(subtree_q(root))
    if q.strip():
        qs = qs.filter(name_key__contains=tenant_name_key(q.strip()))
    if type:
        qs = qs.filter(type=type)
    if version:
        qs = qs.filter(version=version)
    if status:
        qs = qs.filter(status=status)
    if parent_id is not None:
        qs = qs.filter(parent_id=parent_id)
    return qs.order_by("path")


def tenant_list(
    *,
    root: Tenant,
    page: int = 1,
    page_size: int = 50,
    **filters: object,
) -> TenantPage:
    qs = tenant_filter(root=root, **filters)  # type: ignore[arg-type]
    total = qs.count()
    page = clamp_page(page, total, page_size)
    offset = (page - 1) * page_size
    # The page shows only the master's name: one joined column (``parent_name``) instead of a
    # second model instance per row, which was a third of this selector's time.
    rows = list(
        qs.defer("logo_png").annotate(parent_name=F("parent__name"))[offset : offset + page_size]
    )
    return TenantPage(tenants=rows, total=total, page=page, page_size=page_size)


MASTER_CHOICES_LIMIT = 500


def master_choices(actor: Actor, context: Tenant) -> list[Tenant]:
    """Tenants the actor may create a sub-tenant under, within the context's subtree.

    Only the fields the choice list and ``tenant_create`` need are loaded: building up to
    500 full model instances was a fifth of the Mandantenverwaltung page's time (see
    docs/benchmarks.md). Other fields still work, with one query each when read.
    """
    grant = effective_grant(actor, context)
    if not role_allows(getattr(grant, "role", None), Action.TENANT_CREATE_SUBTENANT):
        return []
    return list(
        Tenant.objects.filter(subtree_q(context))
        .only("id", "name", "slug", "parent_id", "path", "depth")
        .order_by("path")[:MASTER_CHOICES_LIMIT]
    )


def tenants_awaiting_configuration(limit: int = 200) -> QuerySet[Tenant]:
    """For operators: CUSTOM tenants waiting for service staff, oldest first."""
    return (
        Tenant.objects.filter(status=TenantStatus.AWAITING_CONFIGURATION)
        .select_related("parent")
        .defer("logo_png", "parent__logo_png")
        .order_by("created_at")[:limit]
    )


def partner_tenants(limit: int = 200) -> QuerySet[Tenant]:
    """For operators: the tenants directly below the platform root (the partners)."""
    return Tenant.objects.filter(depth=1).defer("logo_png").order_by("name")[:limit]


def tenant_by_id(tenant_id: int) -> Tenant | None:
    """Cross-tenant lookup for operator pages only (callers check is_staff)."""
    return Tenant.objects.defer("logo_png").filter(pk=tenant_id).first()


class HandoverCondition(NamedTuple):
    """One condition for handing a tenant over to the customer; ``fix_url`` leads to the fix."""

    key: str
    label: str
    ok: bool
    fix_url: str


def handover_conditions(tenant: Tenant) -> list[HandoverCondition]:
    """What must be true before ``tenants.services.tenant_hand_over`` (and the home checklist).

    An active Administrator (membership and user active) who proved their address and has a
    usable password, i.e. someone the customer can actually sign in as; CUSTOM tenants must
    be configured by service staff; a suspended tenant cannot be handed over.
    """
    admins = Membership.objects.filter(
        tenant=tenant, role=Role.ADMINISTRATOR, deactivated_at__isnull=True, user__is_active=True
    )
    has_admin = admins.exists()
    admin_ready = has_admin and (
        admins.filter(user__email_verified_at__isnull=False)
        .exclude(user__password="")
        .exclude(user__password__startswith=UNUSABLE_PASSWORD_PREFIX)
        .exists()
    )
    conditions = []
    if tenant.type == TenantType.CUSTOM:
        conditions.append(
            HandoverCondition(
                "configured",
                str(_("Configured by our service staff")),
                tenant.configured_at is not None,
                "",
            )
        )
    else:
        conditions.append(
            HandoverCondition(
                "configured",
                str(_("STANDARD tenant: all standard features provisioned")),
                True,
                "",
            )
        )
    conditions.append(
        HandoverCondition(
            "administrator",
            str(_("At least one administrator")),
            has_admin,
            reverse("tenants:create_administrator", args=[tenant.slug]),
        )
    )
    conditions.append(
        HandoverCondition(
            "administrator_ready",
            str(_("An administrator has confirmed their e-mail address and set their password")),
            admin_ready,
            reverse("tenants:setup_users", args=[tenant.slug]),
        )
    )
    if tenant.status == TenantStatus.SUSPENDED:
        conditions.append(
            HandoverCondition(
                "not_suspended",
                str(_("The tenant is not suspended")),
                False,
                "",
            )
        )
    return conditions
