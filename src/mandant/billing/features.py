"""The feature registry: what a tenant may use, from its edition and its active upgrades.

The one place views, the API, services and tasks ask::

    feature_enabled(tenant, "copy_content")      -> bool
    feature_limit(tenant, "send_rate_per_hour")  -> int | None (None: unlimited)
    require_feature(tenant, "copy_content")      # raises FeatureDisabled naming the product

Editions (the tenant's version) include features and set limits; active upgrades (add-ons,
Tenant management) add features and may raise limits. The upgrades of a tenant are read with
one query the first time they are needed and memoised on the tenant object, so a request that
asks many times pays once.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.utils import timezone
from django.utils.functional import Promise
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from django_scopes import scope

from mandant.core.errors import PermissionDenied
from mandant.tenants.models import Tenant, TenantVersion

TENANT_MANAGEMENT = "tenant_management"
COPY_CONTENT = "copy_content"


@dataclass(frozen=True)
class Feature:
    key: str
    label: Promise
    # The product that unlocks the feature (its key in the price list).
    product: str


FEATURES: dict[str, Feature] = {
    feature.key: feature
    for feature in (
        Feature(TENANT_MANAGEMENT, _("Tenant management"), TENANT_MANAGEMENT),
        Feature("copy_content", _("Copy Content"), "copy_content"),
        Feature("tracking", _("Opens and clicks tracking"), "tracking"),
        Feature("dedicated_ip", _("Dedicated IP address"), "dedicated_ip"),
    )
}

# Features included in an edition (no activation needed, nothing to pay on top).
EDITION_FEATURES: dict[str, frozenset[str]] = {
    TenantVersion.BASIC: frozenset(),
    TenantVersion.PROFESSIONAL: frozenset({"copy_content", "tracking"}),
    TenantVersion.ENTERPRISE: frozenset({"copy_content", "tracking"}),
}

LIMITS: dict[str, Promise] = {
    "send_rate_per_hour": _("mails sent per hour"),
    "users": _("users"),
    "contacts": _("contacts"),
    "mails_per_month": _("mails per month included"),
}

# None: unlimited.
EDITION_LIMITS: dict[str, dict[str, int | None]] = {
    TenantVersion.BASIC: {
        "send_rate_per_hour": 10_000,
        "users": 5,
        "contacts": 5_000,
        "mails_per_month": 20_000,
    },
    TenantVersion.PROFESSIONAL: {
        "send_rate_per_hour": 50_000,
        "users": 25,
        "contacts": 50_000,
        "mails_per_month": 200_000,
    },
    TenantVersion.ENTERPRISE: {
        # Bounded only by the relay's limit (SENDING_RELAY_RATE_PER_HOUR).
        "send_rate_per_hour": None,
        "users": None,
        "contacts": None,
        "mails_per_month": 1_000_000,
    },
}

# Upgrades that raise a limit while they are active (the higher value wins).
UPGRADE_LIMITS: dict[str, dict[str, int | None]] = {
    "dedicated_ip": {"send_rate_per_hour": 500_000},
}


class FeatureDisabled(PermissionDenied):
    """The tenant's edition and upgrades do not include the feature (403, with the product)."""

    def __init__(self, message: str, *, feature: str, product: str) -> None:
        super().__init__(message)
        self.feature = feature
        self.product = product


@dataclass(frozen=True)
class UpgradeState:
    """The upgrades in force in one tenant at one moment."""

    at: datetime
    products: frozenset[str]  # keys of the products in force
    # Products with an open activation whose end has passed (not yet closed by ``expire``).
    lapsed: frozenset[str]


MEMO_ATTRIBUTE = "_billing_upgrades"


def upgrade_state(tenant: Tenant) -> UpgradeState:
    """The tenant's upgrades in force now: one query, memoised on the tenant object."""
    state: UpgradeState | None = tenant.__dict__.get(MEMO_ATTRIBUTE)
    if state is None:
        from mandant.billing.models import Activation

        now = timezone.now()
        with scope(tenant=tenant.pk):
            rows = list(
                Activation.objects.filter(tenant_id=tenant.pk, ended_at__isnull=True).values_list(
                    "product__key", "started_at", "ends_at"
                )
            )
        products = {key for key, start, end in rows if start <= now and (end is None or now < end)}
        lapsed = {key for key, _start, end in rows if end is not None and end <= now} - products
        state = UpgradeState(at=now, products=frozenset(products), lapsed=frozenset(lapsed))
        tenant.__dict__[MEMO_ATTRIBUTE] = state
    return state


def forget_upgrades(tenant: Tenant) -> None:
    """Drop the memo after a change of the tenant's upgrades (the services call it)."""
    tenant.__dict__.pop(MEMO_ATTRIBUTE, None)


def _feature(key: str) -> Feature:
    try:
        return FEATURES[key]
    except KeyError:
        raise ValueError(f"Unknown feature {key!r}") from None


def included_in_edition(edition: str, feature_key: str) -> bool:
    return feature_key in EDITION_FEATURES.get(edition, frozenset())


def feature_enabled(tenant: Tenant, feature_key: str) -> bool:
    feature = _feature(feature_key)
    if included_in_edition(tenant.version, feature_key):
        return True
    if feature.key == TENANT_MANAGEMENT:
        # The denormalised flag answers "no" without a query. When it is set, an activation
        # whose end has passed (before ``billing expire`` cleared the flag) counts as over.
        if not tenant.tenant_management_active:
            return False
        state = upgrade_state(tenant)
        return feature.product in state.products or feature.product not in state.lapsed
    return feature.product in upgrade_state(tenant).products


def enabled_features(tenant: Tenant) -> set[str]:
    return {key for key in FEATURES if feature_enabled(tenant, key)}


def feature_limit(tenant: Tenant, limit_key: str) -> int | None:
    """The tenant's limit (None: unlimited): its edition's, raised by active upgrades."""
    if limit_key not in LIMITS:
        raise ValueError(f"Unknown limit {limit_key!r}")
    value = EDITION_LIMITS.get(tenant.version, EDITION_LIMITS[TenantVersion.BASIC])[limit_key]
    if value is None:
        return None
    for product, limits in UPGRADE_LIMITS.items():
        if limit_key in limits and product in upgrade_state(tenant).products:
            raised = limits[limit_key]
            if raised is None:
                return None
            value = max(value, raised)
    return value


def feature_unlocked_by(feature_key: str) -> str:
    return _feature(feature_key).product


def require_feature(tenant: Tenant, feature_key: str) -> None:
    """Raise ``FeatureDisabled`` (a ``PermissionDenied``: 403) naming the product to activate."""
    if feature_enabled(tenant, feature_key):
        return
    feature = _feature(feature_key)
    from mandant.billing.models import Product

    product = Product.objects.filter(key=feature.product).first()
    product_name = product.name if product is not None else str(feature.label)
    message = gettext(
        "%(feature)s is not active for the tenant %(tenant)s. It needs the product "
        "“%(product)s”: activate it under Setup → Upgrades."
    ) % {"feature": feature.label, "tenant": tenant.name, "product": product_name}
    raise FeatureDisabled(message, feature=feature.key, product=feature.product)
