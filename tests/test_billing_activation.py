"""Online activation of paid products: the acceptance record, roles, conflicts, trials,
deactivation at the end of the month, expiry, Tenant management as a product, the history."""

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.utils import timezone
from django_scopes import scopes_disabled

from billing_support import (
    ADMIN,
    EDITOR,
    acceptances,
    activate,
    activations,
    events,
    member,
    version_of,
)
from mandant.accounts.roles import Role
from mandant.audit.models import AuditEntry
from mandant.billing import services
from mandant.billing.features import feature_enabled
from mandant.billing.models import Activation, ActivationEvent, Product
from mandant.billing.selectors import activation_history, tenant_upgrades
from mandant.core.actor import Actor
from mandant.core.errors import NotFound, PermissionDenied
from mandant.tenants.models import Tenant
from mandant.tenants.services import tenant_create, tenant_set_management_active

BERLIN_NOON = datetime(2026, 3, 11, 11, 0, tzinfo=UTC)  # 12:00 in Berlin


@pytest.fixture(autouse=True)
def _march(settings):  # type: ignore[no-untyped-def]
    settings.TIME_ZONE = "Europe/Berlin"
    with time_machine.travel(BERLIN_NOON, tick=False) as traveller:
        yield traveller


# --- the record -------------------------------------------------------------------------


def test_activation_records_who_accepted_what_when_and_from_where(world):
    outcome = activate(world.carl, world.kunde1, "copy_content", client_ip="2001:db8::7")
    activation = outcome.activation
    assert outcome.outcome == "activated"
    assert (activation.trial, activation.ends_at, activation.ended_at) == (False, None, None)
    assert activation.started_at == BERLIN_NOON
    assert activation.charge_setup_fee is True
    [acceptance] = acceptances(world.kunde1)
    assert acceptance == outcome.acceptance == activation.acceptance
    assert acceptance.user == world.carl
    assert acceptance.acting_as == world.kunde1  # carl's role comes from Kunde Eins itself
    assert acceptance.acting_role == Role.ADMINISTRATOR
    assert acceptance.tenant == world.kunde1
    assert acceptance.product.key == "copy_content"
    assert acceptance.conditions.version == 1
    assert acceptance.accepted_at == BERLIN_NOON
    assert acceptance.client_ip == "2001:db8::7"
    assert events(world.kunde1) == [("copy_content", "activated")]
    entry = AuditEntry.objects.get(action="billing.activate")
    assert (entry.tenant_id, entry.actor_id, entry.role_source_id) == (
        world.kunde1.pk,
        world.carl.pk,
        world.kunde1.pk,
    )
    assert entry.changes["conditions_version"] == 1
    assert entry.changes["client_ip"] == "2001:db8::7"
    assert feature_enabled(world.kunde1, "copy_content")


def test_an_inherited_role_records_the_tenant_it_comes_from(world):
    # Tenant management may be activated by Customer Service below its own tenant.
    outcome = activate(world.paula, world.kunde1, "tenant_management")
    acceptance = outcome.acceptance
    assert (acceptance.user, acceptance.acting_as, acceptance.acting_role) == (
        world.paula,
        world.alpha,
        Role.CUSTOMER_SERVICE,
    )
    assert outcome.activation.role_source == world.alpha
    world.kunde1.refresh_from_db()
    assert world.kunde1.tenant_management_active


def test_a_bad_client_address_is_not_stored(world):
    outcome = activate(world.carl, world.kunde1, "copy_content", client_ip="not-an-ip")
    assert outcome.acceptance.client_ip is None


# --- who may ----------------------------------------------------------------------------


def test_an_editor_cannot_activate(world):
    editor = member(world, world.kunde1, EDITOR, "ed@kunde-eins.example")
    with pytest.raises(PermissionDenied) as info:
        activate(editor, world.kunde1, "copy_content")
    assert "needs the role Administrator" in info.value.message
    assert activations(world.kunde1) == [] and acceptances(world.kunde1) == []
    assert not AuditEntry.objects.filter(action="billing.activate").exists()


def test_customer_service_activates_only_what_the_product_allows_and_only_below(world):
    # copy_content: Administrator only (the default) — paula's Customer Service is not enough.
    with pytest.raises(PermissionDenied):
        activate(world.paula, world.kunde1, "copy_content")
    # tenant_management says Customer Service, but not in the partner's own tenant.
    assert Product.objects.get(key="tenant_management").activation_role == Role.CUSTOMER_SERVICE
    tenant_set_management_active(actor=Actor(user=world.olga), tenant=world.alpha, active=False)
    with pytest.raises(PermissionDenied):
        activate(world.paula, world.alpha, "tenant_management")


def test_a_foreign_tenant_is_not_found(world):
    with pytest.raises(NotFound):
        activate(world.eve, world.kunde1, "copy_content")
    with pytest.raises(NotFound):
        services.product_deactivate(
            actor=Actor(user=world.eve), tenant=world.kunde1, product_key="copy_content"
        )


# --- what may be activated --------------------------------------------------------------


def test_without_the_current_conditions_version_nothing_happens(world):
    for version in (None, 0, 2):
        with pytest.raises(ValidationError) as info:
            services.product_activate(
                actor=Actor(user=world.carl),
                tenant=world.kunde1,
                product_key="copy_content",
                accepted_conditions_version=version,
            )
        assert "accepted_conditions_version" in info.value.error_dict
        assert "version 1" in info.value.messages[0]
    assert activations(world.kunde1) == [] and acceptances(world.kunde1) == []


def test_activating_an_active_product_again_is_a_conflict(world):
    activate(world.carl, world.kunde1, "copy_content")
    with pytest.raises(ValidationError) as info:
        activate(world.carl, world.kunde1, "copy_content")
    assert info.value.error_dict["product"][0].code == "already_active"
    assert len(activations(world.kunde1)) == 1 and len(acceptances(world.kunde1)) == 1


def test_included_unavailable_and_unknown_products(world):
    # PROFESSIONAL includes Copy Content: nothing to activate.
    olga = Actor(user=world.olga)
    with pytest.raises(ValidationError) as info:
        services.product_activate(
            actor=olga,
            tenant=world.alpha,
            product_key="copy_content",
            accepted_conditions_version=1,
        )
    assert info.value.error_dict["product"][0].code == "included_in_edition"
    # A dedicated IP is only for PROFESSIONAL and ENTERPRISE.
    with pytest.raises(ValidationError) as info:
        activate(world.carl, world.kunde1, "dedicated_ip")
    assert info.value.error_dict["product"][0].code == "not_available"
    # Editions and usage are not activated online; unknown keys are refused.
    for key in ("basic", "extra_mails", "nope", ""):
        with pytest.raises(ValidationError) as info:
            services.product_activate(
                actor=Actor(user=world.carl),
                tenant=world.kunde1,
                product_key=key,
                accepted_conditions_version=1,
            )
        assert "product" in info.value.error_dict


def test_the_upgrades_overview_offers_only_what_fits_edition_and_role(world):
    upgrades = tenant_upgrades(world.kunde1, _grant(world.carl, world.kunde1))
    assert [row.product.key for row in upgrades.available] == [
        "tenant_management",
        "copy_content",
        "tracking",
    ]
    assert all(row.may_activate for row in upgrades.available)
    assert upgrades.edition is not None and upgrades.edition.key == "basic"
    # Alpha (PROFESSIONAL): Copy Content and tracking are included, Tenant management active.
    alpha = tenant_upgrades(world.alpha, _grant(world.paula, world.alpha))
    assert [row.product.key for row in alpha.available] == ["dedicated_ip"]
    assert not alpha.available[0].may_activate  # Administrator only
    assert {row.key for row in alpha.included} == {"copy_content", "tracking"}
    assert [row.product.key for row in alpha.active] == ["tenant_management"]
    activate(world.carl, world.kunde1, "copy_content")
    after = tenant_upgrades(world.kunde1, _grant(world.carl, world.kunde1))
    assert [row.product.key for row in after.active] == ["copy_content"]
    assert "copy_content" not in [row.product.key for row in after.available]


def _grant(user, tenant):  # type: ignore[no-untyped-def]
    from mandant.tenants.selectors import effective_grant

    return effective_grant(Actor(user=user), tenant)


# --- deactivation -----------------------------------------------------------------------


def test_deactivation_takes_effect_at_the_end_of_the_month(world, _march):
    activate(world.carl, world.kunde1, "copy_content")
    activation = services.product_deactivate(
        actor=Actor(user=world.carl), tenant=world.kunde1, product_key="copy_content"
    )
    berlin = timezone.get_default_timezone()
    assert activation.ends_at == datetime(2026, 4, 1, tzinfo=berlin)  # 22:00 UTC on 31 March
    assert activation.ended_at is None
    assert events(world.kunde1)[-1] == ("copy_content", "deactivation_scheduled")
    # Asking again changes nothing.
    again = services.product_deactivate(
        actor=Actor(user=world.carl), tenant=world.kunde1, product_key="copy_content"
    )
    assert again.pk == activation.pk and again.ends_at == activation.ends_at
    assert len(events(world.kunde1)) == 2
    # Still active on 31 March in the evening …
    _march.move_to(datetime(2026, 3, 31, 21, 59, tzinfo=UTC))
    assert feature_enabled(Tenant.objects.get(pk=world.kunde1.pk), "copy_content")
    # … and over at midnight in Berlin, before any job ran (read-time evaluation).
    _march.move_to(datetime(2026, 3, 31, 22, 0, tzinfo=UTC))
    kunde1 = Tenant.objects.get(pk=world.kunde1.pk)
    assert not feature_enabled(kunde1, "copy_content")
    assert [row.kind for row in activation_history(kunde1)][0] == "deactivated"
    # ``billing expire`` records it.
    call_command("billing", "expire")
    activation.refresh_from_db()
    assert activation.ended_at == activation.ends_at
    assert activation.end_reason == "deactivated"
    assert events(kunde1)[-1] == ("copy_content", "deactivated")
    assert services.activations_expire() == 0  # nothing left to do
    # It can be activated again: a new period (no second set-up fee).
    second = activate(world.carl, kunde1, "copy_content").activation
    assert second.pk != activation.pk and second.charge_setup_fee is False


def test_a_pending_deactivation_is_withdrawn_by_activating_again(world):
    activate(world.carl, world.kunde1, "copy_content")
    services.product_deactivate(
        actor=Actor(user=world.carl), tenant=world.kunde1, product_key="copy_content"
    )
    outcome = activate(world.carl, world.kunde1, "copy_content")
    assert outcome.outcome == "resumed"
    assert outcome.activation.ends_at is None
    assert len(activations(world.kunde1)) == 1
    assert len(acceptances(world.kunde1)) == 2
    assert events(world.kunde1)[-1] == ("copy_content", "deactivation_cancelled")


def test_deactivating_what_is_not_active_is_a_conflict(world):
    with pytest.raises(ValidationError) as info:
        services.product_deactivate(
            actor=Actor(user=world.carl), tenant=world.kunde1, product_key="tracking"
        )
    assert info.value.error_dict["product"][0].code == "not_active"
    with pytest.raises(NotFound):
        services.product_deactivate(
            actor=Actor(user=world.carl), tenant=world.kunde1, product_key="no_such_product"
        )


def test_an_editor_cannot_deactivate(world):
    activate(world.carl, world.kunde1, "copy_content")
    editor = member(world, world.kunde1, EDITOR, "ed@kunde-eins.example")
    with pytest.raises(PermissionDenied):
        services.product_deactivate(
            actor=Actor(user=editor), tenant=world.kunde1, product_key="copy_content"
        )


def test_a_product_may_say_deactivation_is_immediate(world):
    services.product_update(
        actor=Actor(user=world.olga),
        product=Product.objects.get(key="copy_content"),
        deactivation_mode="immediate",
    )
    activate(world.carl, world.kunde1, "copy_content")
    activation = services.product_deactivate(
        actor=Actor(user=world.carl), tenant=world.kunde1, product_key="copy_content"
    )
    assert activation.ended_at == BERLIN_NOON
    assert not feature_enabled(world.kunde1, "copy_content")


# --- trials -----------------------------------------------------------------------------


def test_a_trial_ends_by_itself(world, _march):
    outcome = activate(world.carl, world.kunde1, "tracking")
    trial = outcome.activation
    assert outcome.outcome == "trial_started"
    assert trial.trial and trial.ends_at == BERLIN_NOON + timedelta(days=14)
    assert trial.charge_setup_fee is False
    assert events(world.kunde1) == [("tracking", "trial_started")]
    _march.move_to(BERLIN_NOON + timedelta(days=13, hours=23))
    assert feature_enabled(Tenant.objects.get(pk=world.kunde1.pk), "tracking")
    _march.move_to(BERLIN_NOON + timedelta(days=14))
    kunde1 = Tenant.objects.get(pk=world.kunde1.pk)
    assert not feature_enabled(kunde1, "tracking")
    assert services.activations_expire() == 1
    trial.refresh_from_db()
    assert (trial.ended_at, trial.end_reason) == (trial.ends_at, "trial_ended")
    assert events(kunde1)[-1] == ("tracking", "trial_ended")
    # The second activation is paid: one trial per tenant and product.
    paid = activate(world.carl, kunde1, "tracking")
    assert paid.outcome == "activated" and not paid.activation.trial
    assert paid.activation.charge_setup_fee is True


def test_activating_during_the_trial_makes_it_paid_from_now(world, _march):
    trial = activate(world.carl, world.kunde1, "tracking").activation
    _march.move_to(BERLIN_NOON + timedelta(days=3))
    outcome = activate(world.carl, world.kunde1, "tracking")
    assert outcome.outcome == "converted"
    trial.refresh_from_db()
    assert trial.ended_at == BERLIN_NOON + timedelta(days=3)
    assert trial.end_reason == "converted"
    assert outcome.activation.started_at == trial.ended_at
    assert not outcome.activation.trial and outcome.activation.ends_at is None


def test_deactivating_a_trial_ends_it_at_once(world):
    activate(world.carl, world.kunde1, "tracking")
    activation = services.product_deactivate(
        actor=Actor(user=world.carl), tenant=world.kunde1, product_key="tracking"
    )
    assert activation.ended_at == BERLIN_NOON and activation.end_reason == "trial_ended"


# --- Tenant management as a product -----------------------------------------------------


def test_the_operator_switch_records_an_activation_without_conditions(world):
    [activation] = activations(world.alpha, "tenant_management")
    assert activation.acceptance is None and activation.acting_role == Role.OPERATOR
    assert activation.activated_by == world.olga
    assert events(world.alpha) == [("tenant_management", "added")]
    op = Actor(user=world.olga)
    tenant_set_management_active(actor=op, tenant=world.alpha, active=True)  # idempotent
    assert len(activations(world.alpha)) == 1
    tenant_set_management_active(actor=op, tenant=world.alpha, active=False)
    activation.refresh_from_db()
    assert activation.ended_at == BERLIN_NOON
    world.alpha.refresh_from_db()
    assert not world.alpha.tenant_management_active
    assert events(world.alpha)[-1] == ("tenant_management", "removed")
    with pytest.raises(PermissionDenied):
        tenant_create(
            actor=Actor(user=world.paula),
            name="Kunde Drei",
            type="STANDARD",
            version="BASIC",
            master=world.alpha,
        )
    with pytest.raises(PermissionDenied):
        tenant_set_management_active(actor=Actor(user=world.paula), tenant=world.alpha, active=True)


def test_an_administrator_activates_tenant_management_and_can_create_sub_tenants(world):
    carl = Actor(user=world.carl)
    with pytest.raises(PermissionDenied):
        tenant_create(
            actor=carl, name="Unter", type="STANDARD", version="BASIC", master=world.kunde1
        )
    activate(world.carl, world.kunde1, "tenant_management")
    world.kunde1.refresh_from_db()
    assert world.kunde1.tenant_management_active
    created = tenant_create(
        actor=Actor(user=world.carl),
        name="Unter",
        type="STANDARD",
        version="BASIC",
        master=world.kunde1,
    )
    assert created.parent_id == world.kunde1.pk


def test_tenant_management_ends_at_the_end_of_the_month_even_before_expire(world, _march):
    activate(world.carl, world.kunde1, "tenant_management")
    services.product_deactivate(
        actor=Actor(user=world.carl), tenant=world.kunde1, product_key="tenant_management"
    )
    _march.move_to(datetime(2026, 4, 1, 8, tzinfo=UTC))
    kunde1 = Tenant.objects.get(pk=world.kunde1.pk)
    assert kunde1.tenant_management_active  # the flag is cleared by ``expire`` …
    with pytest.raises(PermissionDenied):  # … but the end already counts
        tenant_create(
            actor=Actor(user=world.carl),
            name="Zu Spät",
            type="STANDARD",
            version="BASIC",
            master=kunde1,
        )
    services.activations_expire()
    kunde1.refresh_from_db()
    assert not kunde1.tenant_management_active


def test_the_flag_alone_still_counts_for_tenants_without_records(world):
    """Rows written before the product existed (or by bulk tools) have the flag only."""
    with scopes_disabled():
        ActivationEvent.objects.filter(tenant=world.alpha).delete()
        Activation.objects.filter(tenant=world.alpha).delete()
    alpha = Tenant.objects.get(pk=world.alpha.pk)
    assert alpha.tenant_management_active
    assert feature_enabled(alpha, "tenant_management")
    Tenant.objects.filter(pk=alpha.pk).update(tenant_management_active=False)
    assert not feature_enabled(Tenant.objects.get(pk=alpha.pk), "tenant_management")


# --- the history ------------------------------------------------------------------------


def test_history_lists_who_did_what_when(world, _march):
    activate(world.paula, world.kunde1, "tenant_management")
    _march.move_to(BERLIN_NOON + timedelta(hours=1))
    activate(world.carl, world.kunde1, "tracking")
    _march.move_to(BERLIN_NOON + timedelta(hours=2))
    services.product_deactivate(
        actor=Actor(user=world.carl), tenant=world.kunde1, product_key="tracking"
    )
    rows = activation_history(world.kunde1)
    assert [(r.product.key, r.kind, r.user_email) for r in rows] == [
        ("tracking", "trial_ended", "carl@kunde-eins.example"),
        ("tracking", "trial_started", "carl@kunde-eins.example"),
        ("tenant_management", "activated", "paula@alpha.example"),
    ]
    assert rows[2].role_source_name == "Agentur Alpha" and rows[2].conditions_version == 1
    assert rows[1].client_ip == "203.0.113.7"


@pytest.mark.parametrize(
    ("who", "visible"),
    [("carl", True), ("paula", True), ("olga", True), ("editor", False), ("viewer", False)],
)
def test_history_is_shown_to_administrators_the_partner_and_operators(world, who, visible):
    activate(world.carl, world.kunde1, "copy_content")
    users = {
        "editor": lambda: member(world, world.kunde1, EDITOR, "ed@kunde-eins.example"),
        "viewer": lambda: member(world, world.kunde1, Role.VIEWER, "vi@kunde-eins.example"),
    }
    user = users[who]() if who in users else getattr(world, who)
    response = world.client_for(user).get("/t/kunde-eins/setup/upgrades/")
    assert response.status_code == 200
    body = response.content.decode()
    assert ('data-testid="activation-history"' in body) is visible
    assert 'data-testid="active-row" data-product="copy_content"' in body


def test_customer_service_does_not_see_the_history_of_its_own_tenant(world):
    response = world.client_for(world.paula).get("/t/agentur-alpha/setup/upgrades/")
    assert response.status_code == 200
    assert 'data-testid="activation-history"' not in response.content.decode()
    admin = member(world, world.alpha, ADMIN, "admin@alpha.example")
    response = world.client_for(admin).get("/t/agentur-alpha/setup/upgrades/")
    assert 'data-testid="activation-history"' in response.content.decode()


def test_version_helper_matches_the_current_conditions(world):
    assert version_of("copy_content") == 1
