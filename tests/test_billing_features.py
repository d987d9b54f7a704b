"""The feature registry: editions include features and set limits, upgrades add features;
one memoised query per tenant object; a refusal names the product that unlocks the feature."""

import pytest
from django.utils import translation

from billing_support import activate
from mandant.billing.features import (
    EDITION_FEATURES,
    FEATURES,
    FeatureDisabled,
    enabled_features,
    feature_enabled,
    feature_limit,
    forget_upgrades,
    require_feature,
)
from mandant.core.errors import PermissionDenied
from mandant.tenants.models import Tenant


def fresh(tenant: Tenant) -> Tenant:
    return Tenant.objects.get(pk=tenant.pk)


def test_copy_content_is_included_in_professional_and_enterprise_only(world):
    assert feature_enabled(world.alpha, "copy_content")  # PROFESSIONAL
    assert feature_enabled(world.kunde2, "copy_content")  # ENTERPRISE
    assert not feature_enabled(world.kunde1, "copy_content")  # BASIC
    assert not feature_enabled(world.fremd, "copy_content")  # BASIC
    assert EDITION_FEATURES["BASIC"] == frozenset()


def test_an_active_add_on_adds_its_feature_to_that_tenant_only(world):
    activate(world.carl, world.kunde1, "copy_content")
    assert feature_enabled(fresh(world.kunde1), "copy_content")
    assert not feature_enabled(fresh(world.filiale), "copy_content")  # not inherited
    assert enabled_features(fresh(world.kunde1)) == {"copy_content"}
    assert enabled_features(fresh(world.alpha)) == {"copy_content", "tracking", "tenant_management"}


def test_limits_come_from_the_edition_and_upgrades_raise_them(world):
    assert feature_limit(world.kunde1, "send_rate_per_hour") == 10_000
    assert feature_limit(world.kunde1, "users") == 5
    assert feature_limit(world.alpha, "contacts") == 50_000
    assert feature_limit(world.kunde2, "users") is None  # ENTERPRISE: unlimited
    # A dedicated IP (PROFESSIONAL and up) raises the send rate.
    from mandant.accounts.roles import Role
    from mandant.accounts.services import membership_set
    from mandant.core.actor import Actor

    membership_set(
        actor=Actor(user=world.olga), tenant=world.alpha, user=world.carl, role=Role.ADMINISTRATOR
    )
    activate(world.carl, world.alpha, "dedicated_ip")
    assert feature_limit(fresh(world.alpha), "send_rate_per_hour") == 500_000
    with pytest.raises(ValueError):
        feature_limit(world.alpha, "unicorns")


def test_one_query_per_tenant_object(world, django_assert_num_queries):
    kunde1 = fresh(world.kunde1)
    with django_assert_num_queries(1):
        for _ in range(3):
            for key in FEATURES:
                feature_enabled(kunde1, key)
            feature_limit(kunde1, "send_rate_per_hour")
    # Included features and an unset Tenant-management flag need no query at all.
    alpha = fresh(world.alpha)
    with django_assert_num_queries(0):
        assert feature_enabled(alpha, "copy_content")
        assert not feature_enabled(fresh_without_query(world.kunde2), "tenant_management")


def fresh_without_query(tenant: Tenant) -> Tenant:
    tenant.tenant_management_active = False
    forget_upgrades(tenant)
    return tenant


def test_the_memo_is_dropped_when_the_service_changes_the_tenant(world):
    kunde1 = fresh(world.kunde1)
    assert not feature_enabled(kunde1, "copy_content")  # memoised: not active
    activate(world.carl, kunde1, "copy_content")
    assert feature_enabled(kunde1, "copy_content")  # the same object knows at once


def test_require_feature_names_the_product_in_the_users_language(world):
    with pytest.raises(FeatureDisabled) as info:
        require_feature(world.kunde1, "copy_content")
    assert isinstance(info.value, PermissionDenied)  # 403 wherever PermissionDenied is
    assert (info.value.feature, info.value.product) == ("copy_content", "copy_content")
    assert "“Copy Content”" in info.value.message and "Kunde Eins" in info.value.message
    with translation.override("de"), pytest.raises(FeatureDisabled) as info:
        require_feature(world.kunde1, "copy_content")
    assert "„Copy Content“" in info.value.message
    require_feature(world.alpha, "copy_content")  # included: no error
    with pytest.raises(ValueError):
        feature_enabled(world.alpha, "teleport")


def test_tenant_management_follows_the_product(world):
    assert feature_enabled(world.alpha, "tenant_management")
    assert not feature_enabled(world.kunde1, "tenant_management")
    activate(world.paula, world.kunde1, "tenant_management")
    assert feature_enabled(fresh(world.kunde1), "tenant_management")
