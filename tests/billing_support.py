"""Helpers for the billing tests: activations as a user of the test world, verified admins."""

from __future__ import annotations

from django.utils import timezone
from django_scopes import scopes_disabled

from mandant.accounts.models import User
from mandant.accounts.roles import Role
from mandant.accounts.services import membership_set, user_create
from mandant.billing.models import Activation, ActivationEvent, ConditionsAcceptance
from mandant.billing.selectors import current_conditions, product_by_key
from mandant.billing.services import ActivationOutcome, product_activate
from mandant.core.actor import Actor
from mandant.tenants.models import Tenant


def version_of(key: str) -> int:
    product = product_by_key(key)
    assert product is not None
    conditions = current_conditions(product)
    assert conditions is not None
    return conditions.version


def activate(
    user: User, tenant: Tenant, key: str, *, client_ip: str | None = "203.0.113.7"
) -> ActivationOutcome:
    """Activate ``key`` as ``user``, accepting the current conditions."""
    return product_activate(
        actor=Actor(user=user),
        tenant=tenant,
        product_key=key,
        accepted_conditions_version=version_of(key),
        client_ip=client_ip,
    )


def member(
    world, tenant: Tenant, role: int, email: str, *, verified: bool = True, language: str = "en"
) -> User:  # type: ignore[no-untyped-def]
    user = user_create(email=email, password="x" * 20, first_name=email.split("@")[0])
    user.language = language
    if verified:
        user.email_verified_at = timezone.now()
    user.save()
    membership_set(actor=Actor(user=world.olga), tenant=tenant, user=user, role=role)
    return user


def verify(user: User) -> User:
    user.email_verified_at = timezone.now()
    user.save(update_fields=["email_verified_at"])
    return user


def activations(tenant: Tenant, key: str | None = None) -> list[Activation]:
    with scopes_disabled():
        qs = Activation.objects.filter(tenant=tenant).order_by("pk")
        if key is not None:
            qs = qs.filter(product__key=key)
        return list(qs)


def events(tenant: Tenant) -> list[tuple[str, str]]:
    with scopes_disabled():
        return list(
            ActivationEvent.objects.filter(tenant=tenant)
            .order_by("at", "pk")
            .values_list("product__key", "kind")
        )


def acceptances(tenant: Tenant) -> list[ConditionsAcceptance]:
    with scopes_disabled():
        return list(
            ConditionsAcceptance.objects.filter(tenant=tenant)
            .select_related("conditions", "product", "user", "acting_as")
            .order_by("pk")
        )


ADMIN = Role.ADMINISTRATOR
EDITOR = Role.EDITOR
