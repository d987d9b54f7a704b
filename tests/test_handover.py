"""The hand-over to the customer (*An Kunden übergeben*): only with an Administrator who can
really sign in (address proven, password set) and, for CUSTOM tenants, after configuration."""

import pytest
from django.core.exceptions import ValidationError
from django.test import Client
from django.utils import timezone
from tests.user_support import (
    IMMEDIATE_TASKS,
    STRONG,
    Api,
    add_member,
    invitation_token,
    verification_token,
)

from mandant.accounts.models import Membership, User
from mandant.accounts.roles import Role
from mandant.accounts.services import user_add
from mandant.audit.models import AuditEntry
from mandant.core.actor import Actor
from mandant.core.errors import PermissionDenied
from mandant.tenants.models import Tenant, TenantStatus
from mandant.tenants.selectors import handover_conditions
from mandant.tenants.services import tenant_hand_over, tenant_mark_configured

ANNA = "anna@kunde-zwei.example"


@pytest.fixture(autouse=True)
def _immediate_tasks(settings):  # type: ignore[no-untyped-def]
    settings.TASKS = IMMEDIATE_TASKS


def conditions(tenant: Tenant) -> dict[str, bool]:
    tenant.refresh_from_db()
    return {c.key: c.ok for c in handover_conditions(tenant)}


def invite_admin(world, tenant, capture, email=ANNA, **kw):  # type: ignore[no-untyped-def]
    with capture(execute=True):
        return user_add(
            actor=Actor(user=world.paula),
            tenant=tenant,
            email=email,
            first_name="Anna",
            role=Role.ADMINISTRATOR,
            **kw,
        )


def test_the_conditions_of_a_fresh_tenant(world):
    assert conditions(world.kunde2) == {
        "configured": False,
        "administrator": False,
        "administrator_ready": False,
    }
    assert conditions(world.filiale) == {
        "configured": True,
        "administrator": False,
        "administrator_ready": False,
    }
    keys_and_urls = [(c.key, c.fix_url) for c in handover_conditions(world.kunde2)]
    assert keys_and_urls == [
        ("configured", ""),
        ("administrator", "/t/kunde-zwei/setup/users/administrator/"),
        ("administrator_ready", "/t/kunde-zwei/setup/users/"),
    ]
    # Each is a (key, label, ok, fix_url) tuple.
    key, label, ok, fix_url = handover_conditions(world.kunde2)[1]
    assert (key, label, ok) == ("administrator", "At least one administrator", False)


def test_refused_until_every_condition_is_met(world, django_capture_on_commit_callbacks):
    paula = Actor(user=world.paula)
    with pytest.raises(ValidationError) as info:
        tenant_hand_over(actor=paula, tenant=world.kunde2)
    assert {e.code for e in info.value.error_list} == {"handover_unmet"}
    assert len(info.value.messages) == 3

    invite_admin(world, world.kunde2, django_capture_on_commit_callbacks)
    assert conditions(world.kunde2) == {
        "configured": False,
        "administrator": True,
        "administrator_ready": False,
    }
    # The invitation is accepted: address proven and password set.
    assert (
        Client()
        .post(
            f"/invitation/{invitation_token(ANNA)}/",
            {"password": STRONG, "password_repeat": STRONG},
        )
        .status_code
        == 302
    )
    assert conditions(world.kunde2)["administrator_ready"]
    with pytest.raises(ValidationError) as info:
        tenant_hand_over(actor=paula, tenant=world.kunde2)
    assert info.value.messages == ["Not met yet: Configured by our service staff."]

    tenant_mark_configured(actor=Actor(user=world.olga), tenant=world.kunde2)
    tenant = tenant_hand_over(actor=paula, tenant=world.kunde2)
    assert tenant.status == TenantStatus.HANDED_OVER
    entry = AuditEntry.objects.get(action="tenant.hand_over")
    assert (entry.tenant_id, entry.actor_id, entry.role_source_id) == (
        world.kunde2.pk,
        world.paula.pk,
        world.alpha.pk,
    )
    assert entry.changes == {"status": ["in_setup", "handed_over"]}
    # Again: nothing changes, nothing is audited twice.
    tenant_hand_over(actor=paula, tenant=world.kunde2)
    assert AuditEntry.objects.filter(action="tenant.hand_over").count() == 1


def test_an_initial_password_admin_counts_once_the_address_is_proven(
    world, django_capture_on_commit_callbacks
):
    invite_admin(
        world,
        world.filiale,
        django_capture_on_commit_callbacks,
        email="fio@filiale.example",
        method="initial_password",
        password=STRONG,
    )
    assert conditions(world.filiale)["administrator"]
    assert not conditions(world.filiale)["administrator_ready"]
    Client().post(f"/verify-email/{verification_token('fio@filiale.example')}/")
    assert conditions(world.filiale)["administrator_ready"]
    assert tenant_hand_over(actor=Actor(user=world.paula), tenant=world.filiale).status == (
        TenantStatus.HANDED_OVER
    )


def test_a_deactivated_or_inactive_administrator_does_not_count(world):
    # carl has a password but never proved his address.
    assert conditions(world.kunde1) == {
        "configured": True,
        "administrator": True,
        "administrator_ready": False,
    }
    User.objects.filter(pk=world.carl.pk).update(email_verified_at=timezone.now())
    assert conditions(world.kunde1)["administrator_ready"]
    Membership.objects.filter(user=world.carl).update(deactivated_at=timezone.now())
    assert conditions(world.kunde1)["administrator"] is False
    Membership.objects.filter(user=world.carl).update(deactivated_at=None)
    User.objects.filter(pk=world.carl.pk).update(is_active=False)
    assert conditions(world.kunde1)["administrator"] is False
    User.objects.filter(pk=world.carl.pk).update(is_active=True)
    # An editor with everything proven is no administrator.
    Membership.objects.filter(user=world.carl).update(role=Role.EDITOR)
    assert conditions(world.kunde1)["administrator"] is False


def test_a_suspended_tenant_is_not_handed_over(world):
    User.objects.filter(pk=world.carl.pk).update(email_verified_at=timezone.now())
    Tenant.objects.filter(pk=world.kunde1.pk).update(status=TenantStatus.SUSPENDED)
    world.kunde1.refresh_from_db()
    with pytest.raises(ValidationError) as info:
        tenant_hand_over(actor=Actor(user=world.paula), tenant=world.kunde1)
    assert "not suspended" in info.value.messages[0]


def test_who_may_hand_over(world):
    User.objects.filter(pk=world.carl.pk).update(email_verified_at=timezone.now())
    with pytest.raises(PermissionDenied):  # Customer Service in its own tenant
        tenant_hand_over(actor=Actor(user=world.paula), tenant=world.alpha)
    editor = add_member(world.kunde1, "ed@kunde-eins.example", Role.EDITOR)
    with pytest.raises(PermissionDenied):
        tenant_hand_over(actor=Actor(user=editor), tenant=world.kunde1)
    client = world.client_for(editor)
    assert client.post("/t/kunde-eins/handover/").status_code == 403
    assert "Hand over to customer" not in client.get("/t/kunde-eins/").content.decode()
    world.kunde1.refresh_from_db()
    assert world.kunde1.status == TenantStatus.IN_SETUP


# --- the web page -----------------------------------------------------------------------------


def test_the_home_checklist_and_the_button(world):
    client = world.client_for(world.paula)
    home = client.get("/t/kunde-eins/").content.decode()
    assert 'data-condition="administrator" data-ok="true"' in home
    assert 'data-condition="administrator_ready" data-ok="false"' in home
    assert "Hand over to customer" in home
    assert 'data-confirm="Hand this tenant over to the customer?' in home  # asks first

    response = client.post("/t/kunde-eins/handover/")
    assert response.status_code == 409
    content = response.content.decode()
    assert "cannot be handed over yet" in content
    assert (
        "Not met yet: An administrator has confirmed their e-mail address and set their password."
    ) in content
    world.kunde1.refresh_from_db()
    assert world.kunde1.status == TenantStatus.IN_SETUP

    User.objects.filter(pk=world.carl.pk).update(email_verified_at=timezone.now())
    response = client.post("/t/kunde-eins/handover/")
    assert response.status_code == 302
    world.kunde1.refresh_from_db()
    assert world.kunde1.status == TenantStatus.HANDED_OVER
    home = client.get("/t/kunde-eins/").content.decode()
    assert "has been handed over to the customer" in home
    assert "handed over" in home
    assert 'data-testid="handover-button"' not in home


# --- the API ----------------------------------------------------------------------------------


def test_the_api_answers_409_with_the_unmet_conditions_then_200(world):
    api = Api(world.api_key(world.paula, world.alpha))
    response = api.post(f"/tenants/{world.kunde1.pk}/handover")
    assert response.status_code == 409
    assert response.json() == {
        "errors": {
            "__all__": [
                "Not met yet: An administrator has confirmed their e-mail address and set their "
                "password."
            ]
        }
    }
    User.objects.filter(pk=world.carl.pk).update(email_verified_at=timezone.now())
    response = api.post(f"/tenants/{world.kunde1.pk}/handover")
    assert response.status_code == 200
    assert response.json()["status"] == "handed_over"
    assert response.json()["id"] == world.kunde1.pk
    # Other partners' tenants do not exist for this key; its own tenant needs an Administrator.
    assert api.post(f"/tenants/{world.fremd.pk}/handover").status_code == 404
    assert api.post(f"/tenants/{world.alpha.pk}/handover").status_code == 403
