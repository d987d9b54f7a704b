"""Reads of the billing app: the price list, conditions, a tenant's upgrades and history."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _
from django_scopes import scope

from mandant.accounts.models import Membership
from mandant.accounts.roles import Action, Role, grant_allows
from mandant.billing.features import (
    EDITION_FEATURES,
    FEATURES,
    included_in_edition,
)
from mandant.billing.models import (
    Activation,
    ActivationEvent,
    BillingAccount,
    ConditionsVersion,
    EventKind,
    Product,
    ProductKind,
    ProductPrice,
)
from mandant.core.actor import RoleGrant
from mandant.tenants.models import Tenant, TenantVersion

# --------------------------------------------------------------------------------------
# Billing periods


def period_end(at: datetime) -> datetime:
    """The end of the billing period (calendar month, in ``TIME_ZONE``) that contains ``at``:
    the first moment of the next month."""
    local = timezone.localtime(at)
    year, month = (local.year + 1, 1) if local.month == 12 else (local.year, local.month + 1)
    return datetime(year, month, 1, tzinfo=timezone.get_default_timezone())


def last_day_in_force(end: datetime) -> date:
    """The last calendar day (local) on which something that ends at ``end`` is in force."""
    return timezone.localtime(end - timedelta(microseconds=1)).date()


# --------------------------------------------------------------------------------------
# The price list


def product_by_key(key: str) -> Product | None:
    return Product.objects.filter(key=key).first()


def price_on(product: Product, day: date) -> ProductPrice | None:
    """The price valid on ``day``: the latest row whose ``valid_from`` is not after it."""
    return (
        ProductPrice.objects.filter(product=product, valid_from__lte=day)
        .order_by("-valid_from")
        .first()
    )


def prices_on(products: Iterable[Product], day: date) -> dict[int, ProductPrice]:
    """``price_on`` for many products in one query (product id -> price)."""
    ids = [p.pk for p in products]
    prices: dict[int, ProductPrice] = {}
    rows = ProductPrice.objects.filter(product_id__in=ids, valid_from__lte=day).order_by(
        "product_id", "valid_from"
    )
    for row in rows:
        prices[row.product_id] = row  # the last one per product wins: the latest valid
    return prices


def price_history(product: Product) -> list[ProductPrice]:
    return list(
        ProductPrice.objects.filter(product=product)
        .select_related("created_by")
        .order_by("-valid_from")
    )


def current_conditions(product: Product, at: datetime | None = None) -> ConditionsVersion | None:
    """The conditions version in force: the highest version published by ``at``."""
    at = at or timezone.now()
    return (
        ConditionsVersion.objects.filter(product=product, published_at__lte=at)
        .order_by("-version")
        .first()
    )


def conditions_in_force(
    products: Iterable[Product], at: datetime | None = None
) -> dict[int, ConditionsVersion]:
    at = at or timezone.now()
    result: dict[int, ConditionsVersion] = {}
    rows = ConditionsVersion.objects.filter(
        product_id__in=[p.pk for p in products], published_at__lte=at
    ).order_by("product_id", "version")
    for row in rows:
        result[row.product_id] = row
    return result


def conditions_history(product: Product) -> list[ConditionsVersion]:
    return list(ConditionsVersion.objects.filter(product=product).order_by("-version"))


@dataclass(frozen=True)
class PriceListRow:
    product: Product
    price: ProductPrice | None
    conditions: ConditionsVersion | None


def price_list(*, offered_only: bool = False, day: date | None = None) -> list[PriceListRow]:
    """Every product with the price valid on ``day`` (today) and its current conditions:
    three queries."""
    products = list(Product.objects.all())
    if offered_only:
        products = [p for p in products if p.offered]
    day = day or timezone.localdate()
    prices = prices_on(products, day)
    conditions = conditions_in_force(products)
    return [PriceListRow(p, prices.get(p.pk), conditions.get(p.pk)) for p in products]


def edition_product(edition: str) -> Product | None:
    for product in Product.objects.filter(kind=ProductKind.EDITION):
        if edition in product.editions:
            return product
    return None


def billing_account_for(tenant: Tenant) -> BillingAccount | None:
    """Who pays for ``tenant``: the account of the nearest tenant upwards that has one (the
    tenant itself included) — its partner's, unless it has an account of its own."""
    return (
        BillingAccount.objects.filter(tenant__path__in=tenant.ancestor_paths())
        .order_by("-tenant__depth")
        .first()
    )


# --------------------------------------------------------------------------------------
# Who may activate


def may_activate(grant: RoleGrant | None, tenant: Tenant, product: Product) -> bool:
    """The product names the weakest role that may activate (and deactivate) it: Administrator
    by default; Customer Service only in the tenants below its own (as for managing users)."""
    if grant is None:
        return False
    if grant.role == Role.OPERATOR:
        return True
    if grant.role > product.activation_role:
        return False
    return grant.role <= Role.ADMINISTRATOR or grant.inherited_for(tenant)


def activation_role_text(product: Product) -> str:
    if product.activation_role >= Role.CUSTOMER_SERVICE:
        return _("Administrator, or Customer Service in a master tenant")
    return str(Role.ADMINISTRATOR.label)


def activation_refusal(grant: RoleGrant | None, tenant: Tenant, product: Product) -> str:
    """Why the actor cannot activate the product in the tenant now ("": nothing stands in
    the way) — for the confirmation page; ``product_activate`` checks the same."""
    if not may_activate(grant, tenant, product):
        return _("Activating “%(product)s” needs the role %(role)s.") % {
            "product": product.name,
            "role": activation_role_text(product),
        }
    edition = TenantVersion(tenant.version).label
    if not product.offered or not product.activatable:
        return _("“%(product)s” cannot be activated online.") % {"product": product.name}
    if not product.allowed_for(tenant.version):
        return _("“%(product)s” is not available for the edition %(edition)s.") % {
            "product": product.name,
            "edition": edition,
        }
    if included_in_edition(tenant.version, product.key):
        return _("“%(product)s” is included in the edition %(edition)s already.") % {
            "product": product.name,
            "edition": edition,
        }
    current = activation_in_force(tenant, product)
    if current is not None and not current.trial and current.ends_at is None:
        return _("“%(product)s” is already active in this tenant.") % {"product": product.name}
    if current_conditions(product) is None:
        return _("“%(product)s” has no conditions yet and cannot be activated online.") % {
            "product": product.name
        }
    return ""


def never_had(tenant: Tenant, product: Product) -> bool:
    """The tenant never had the product (its first activation may be a trial)."""
    with scope(tenant=tenant.pk):
        return not Activation.objects.filter(tenant=tenant, product=product).exists()


def may_see_history(grant: RoleGrant | None, tenant: Tenant) -> bool:
    """Administrators of the tenant, its partner (Customer Service or Administrator above),
    operators."""
    if grant is None:
        return False
    return grant_allows(grant.role, Action.UPGRADE_HISTORY, inherited=grant.inherited_for(tenant))


# --------------------------------------------------------------------------------------
# A tenant's upgrades


def open_activations(tenant: Tenant) -> list[Activation]:
    with scope(tenant=tenant.pk):
        return list(
            Activation.objects.filter(tenant=tenant, ended_at__isnull=True)
            .select_related("product", "activated_by", "deactivated_by", "acceptance__conditions")
            .order_by("product__sort_order", "product__key")
        )


def activation_in_force(tenant: Tenant, product: Product) -> Activation | None:
    now = timezone.now()
    with scope(tenant=tenant.pk):
        activation = Activation.objects.filter(
            tenant=tenant, product=product, ended_at__isnull=True
        ).first()
    if activation is None or not activation.in_force(now):
        return None
    return activation


@dataclass
class ActiveRow:
    activation: Activation
    product: Product
    price: ProductPrice | None
    may_deactivate: bool
    # ends_at set: a trial's end or a requested deactivation; the last day in force.
    active_until: date | None

    @property
    def state(self) -> str:
        if self.activation.trial:
            return "trial"
        if self.activation.ends_at is not None:
            return "ending"
        return "active"


@dataclass
class AvailableRow:
    product: Product
    price: ProductPrice | None
    conditions: ConditionsVersion | None
    may_activate: bool
    trial: bool  # the activation would start a free trial
    needs_role: str


@dataclass
class IncludedRow:
    key: str
    label: str


@dataclass
class Upgrades:
    active: list[ActiveRow] = field(default_factory=list)
    available: list[AvailableRow] = field(default_factory=list)
    included: list[IncludedRow] = field(default_factory=list)
    edition: Product | None = None
    edition_price: ProductPrice | None = None


def tenant_upgrades(tenant: Tenant, grant: RoleGrant | None) -> Upgrades:
    """What is active in the tenant, what its edition includes, and what it can activate
    (products allowed for its edition, not included in it, not active, offered), each with
    today's price. A handful of queries, whatever the number of products."""
    now = timezone.now()
    today = timezone.localdate()
    products = list(Product.objects.all())
    prices = prices_on(products, today)
    conditions = conditions_in_force(products, now)
    with scope(tenant=tenant.pk):
        rows = list(
            Activation.objects.filter(tenant=tenant)
            .filter(Q(ended_at__isnull=True) | Q(trial=True))
            .select_related("activated_by", "deactivated_by", "acceptance__conditions")
            .order_by("started_at")
        )
    by_product = {p.pk: p for p in products}
    tried = {row.product_id for row in rows if row.trial}
    result = Upgrades()
    in_force: set[int] = set()
    for activation in rows:
        if activation.ended_at is not None or not activation.in_force(now):
            continue
        product = by_product[activation.product_id]
        activation.product = product
        in_force.add(product.pk)
        result.active.append(
            ActiveRow(
                activation=activation,
                product=product,
                price=prices.get(product.pk),
                may_deactivate=may_activate(grant, tenant, product),
                active_until=(
                    last_day_in_force(activation.ends_at) if activation.ends_at else None
                ),
            )
        )
    for product in products:
        if product.kind == ProductKind.EDITION and tenant.version in product.editions:
            result.edition, result.edition_price = product, prices.get(product.pk)
        if (
            not product.activatable
            or not product.offered
            or product.pk in in_force
            or not product.allowed_for(tenant.version)
            or included_in_edition(tenant.version, product.key)
        ):
            continue
        result.available.append(
            AvailableRow(
                product=product,
                price=prices.get(product.pk),
                conditions=conditions.get(product.pk),
                may_activate=may_activate(grant, tenant, product),
                trial=product.trial_days > 0 and product.pk not in tried,
                needs_role=activation_role_text(product),
            )
        )
    result.included = [
        IncludedRow(key, str(FEATURES[key].label))
        for key in sorted(EDITION_FEATURES.get(tenant.version, frozenset()))
    ]
    return result


@dataclass(frozen=True)
class HistoryRow:
    at: datetime
    kind: str
    kind_label: str
    product: Product
    user_email: str  # "" when the platform did it (a trial ran out)
    acting_role: int | None
    role_source_name: str
    effective_at: datetime | None
    conditions_version: int | None
    client_ip: str | None


def activation_history(tenant: Tenant, *, limit: int = 100) -> list[HistoryRow]:
    """The tenant's activation history, newest first: the recorded events, plus the ends that
    have passed but that ``billing expire`` has not recorded yet (evaluated now)."""
    now = timezone.now()
    with scope(tenant=tenant.pk):
        events = list(
            ActivationEvent.objects.filter(tenant=tenant)
            .select_related("product", "user", "role_source", "acceptance__conditions")
            .order_by("-at", "-pk")[:limit]
        )
        lapsed = list(
            Activation.objects.filter(tenant=tenant, ended_at__isnull=True, ends_at__lte=now)
            .select_related("product")
            .order_by("-ends_at")
        )
    rows = [
        HistoryRow(
            at=event.at,
            kind=event.kind,
            kind_label=event.get_kind_display(),
            product=event.product,
            user_email=event.user.email if event.user else "",
            acting_role=event.acting_role,
            role_source_name=event.role_source.name if event.role_source else "",
            effective_at=event.effective_at,
            conditions_version=(
                event.acceptance.conditions.version if event.acceptance is not None else None
            ),
            client_ip=event.acceptance.client_ip if event.acceptance is not None else None,
        )
        for event in events
    ]
    for activation in lapsed:
        assert activation.ends_at is not None
        kind = EventKind.TRIAL_ENDED if activation.trial else EventKind.DEACTIVATED
        rows.append(
            HistoryRow(
                at=activation.ends_at,
                kind=kind,
                kind_label=str(kind.label),
                product=activation.product,
                user_email="",
                acting_role=None,
                role_source_name="",
                effective_at=None,
                conditions_version=None,
                client_ip=None,
            )
        )
    rows.sort(key=lambda row: row.at, reverse=True)
    return rows[:limit]


# --------------------------------------------------------------------------------------
# Recipients of "paid upgrade activated"


@dataclass(frozen=True)
class AdminRecipient:
    user_id: int
    tenant_id: int


def upgrade_notice_recipients(tenant: Tenant) -> list[AdminRecipient]:
    """The verified, deliverable, active administrators of the tenant and of its masters up
    to and including its partner: the nearest master that has Tenant management (the one
    whose sub-tenants these are). Never the platform root's. Each person once."""
    paths = tenant.ancestor_paths()[::-1]  # the tenant first, then upwards
    chain = {
        t.path: t
        for t in Tenant.objects.filter(path__in=paths, depth__gte=1).only(
            "id", "path", "depth", "tenant_management_active"
        )
    }
    tenant_ids: list[int] = []
    for index, path in enumerate(paths):
        node = chain.get(path)
        if node is None:
            break
        tenant_ids.append(node.pk)
        if index > 0 and node.tenant_management_active:
            break
    rows = (
        Membership.objects.filter(
            tenant_id__in=tenant_ids,
            role=Role.ADMINISTRATOR,
            deactivated_at__isnull=True,
            user__is_active=True,
            user__email_verified_at__isnull=False,
            user__email_undeliverable_at__isnull=True,
        )
        .order_by("-tenant__depth", "user_id")
        .values_list("user_id", "tenant_id")
    )
    seen: set[int] = set()
    recipients = []
    for user_id, tenant_id in rows:
        if user_id not in seen:
            seen.add(user_id)
            recipients.append(AdminRecipient(user_id, tenant_id))
    return recipients


def products_by_keys(keys: Sequence[str]) -> dict[str, Product]:
    return {p.key: p for p in Product.objects.filter(key__in=list(keys))}
