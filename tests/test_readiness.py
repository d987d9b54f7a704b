"""*Versendefähig*: the readiness checklist, on the tenant's home page and in the API."""

import pytest
from django.utils import timezone
from django_scopes import scope
from tests.user_support import Api

from mandant.accounts.models import User
from mandant.accounts.roles import Role
from mandant.accounts.services import membership_set, user_create
from mandant.core.actor import Actor
from mandant.sending import services
from mandant.sending.readiness import is_ready, tenant_readiness
from mandant.tenants.models import Tenant, TenantStatus
from mandant.tenants.services import tenant_mark_configured


@pytest.fixture
def fast_keys(monkeypatch):  # type: ignore[no-untyped-def]
    from mandant.sending.dkim_keys import DkimKeyPair

    # Readiness does not look at the key; a placeholder keeps these tests quick.
    monkeypatch.setattr(
        services,
        "generate_key_pair",
        lambda: DkimKeyPair(private_key_pem="-----BEGIN PRIVATE KEY-----", public_key_b64="AAAA"),
    )


def checks_of(tenant: Tenant) -> dict[str, bool]:
    return {check.key: check.ok for check in tenant_readiness(tenant)}


def verify_carl(world) -> None:  # type: ignore[no-untyped-def]
    User.objects.filter(pk=world.carl.pk).update(email_verified_at=timezone.now())


def make_ready(world, tenant: Tenant, admin: Actor) -> None:  # type: ignore[no-untyped-def]
    olga = Actor(user=world.olga)
    with scope(tenant=tenant.pk):
        row = services.domain_add(actor=admin, tenant=tenant, domain=f"{tenant.slug}.example")
        services.domain_verify_without_dns(actor=olga, tenant=tenant, sending_domain=row)
        services.postal_address_save(
            actor=admin,
            tenant=tenant,
            company_name=f"{tenant.name} GmbH",
            street="Hauptstraße 1",
            postal_code="10115",
            city="Berlin",
            country="DE",
        )


def test_a_new_standard_tenant_lacks_everything_but_its_type(world):
    checks = tenant_readiness(world.kunde1)
    assert [c.key for c in checks] == [
        "configured",
        "administrator",
        "sending_domain",
        "postal_address",
    ]
    assert checks_of(world.kunde1) == {
        "configured": True,
        "administrator": False,  # carl has not confirmed his address yet
        "sending_domain": False,
        "postal_address": False,
    }
    assert not is_ready(checks)
    # Each unmet item says where it is fixed.
    by_key = {c.key: c for c in checks}
    assert by_key["administrator"].fix_url == f"/t/{world.kunde1.slug}/setup/users/"
    assert by_key["sending_domain"].fix_url == f"/t/{world.kunde1.slug}/setup/sending/#domains"
    assert by_key["postal_address"].fix_url.endswith("/setup/sending/#postal-address")
    assert all(c.hint for c in checks if not c.ok)


def test_each_check_turns_green_on_its_own(world, fast_keys):
    carl = Actor(user=world.carl)
    verify_carl(world)
    assert checks_of(world.kunde1)["administrator"] is True
    with scope(tenant=world.kunde1.pk):
        row = services.domain_add(actor=carl, tenant=world.kunde1, domain="kunde-eins.example")
    # A pending domain is not enough.
    assert checks_of(world.kunde1)["sending_domain"] is False
    with scope(tenant=world.kunde1.pk):
        services.domain_verify_without_dns(
            actor=Actor(user=world.olga), tenant=world.kunde1, sending_domain=row
        )
    assert checks_of(world.kunde1)["sending_domain"] is True
    assert checks_of(world.kunde1)["postal_address"] is False
    with scope(tenant=world.kunde1.pk):
        services.postal_address_save(
            actor=carl,
            tenant=world.kunde1,
            company_name="Kunde Eins GmbH",
            street="Hauptstraße 1",
            postal_code="10115",
            city="Berlin",
        )
    assert is_ready(tenant_readiness(world.kunde1))
    # Another tenant's domain and address count for nothing here.
    assert checks_of(world.filiale)["sending_domain"] is False
    assert checks_of(world.filiale)["postal_address"] is False


def test_a_tenant_without_administrator_links_to_create_one(world):
    check = {c.key: c for c in tenant_readiness(world.filiale)}["administrator"]
    assert not check.ok
    assert check.fix_url == f"/t/{world.filiale.slug}/setup/users/administrator/"


def test_custom_tenant_is_ready_only_once_configured_by_the_operator(world, fast_keys):
    kunde2 = world.kunde2
    admin = user_create(email="ada@kunde-zwei.example", password="x" * 20)
    membership_set(actor=Actor(user=world.olga), tenant=kunde2, user=admin, role=Role.ADMINISTRATOR)
    User.objects.filter(pk=admin.pk).update(email_verified_at=timezone.now())
    make_ready(world, kunde2, Actor(user=admin))
    checks = checks_of(kunde2)
    assert checks == {
        "configured": False,
        "administrator": True,
        "sending_domain": True,
        "postal_address": True,
    }
    configured = {c.key: c for c in tenant_readiness(kunde2)}["configured"]
    assert "service staff" in configured.hint
    tenant_mark_configured(actor=Actor(user=world.olga), tenant=kunde2)
    kunde2.refresh_from_db()
    assert is_ready(tenant_readiness(kunde2))


def test_a_suspended_tenant_is_not_ready(world, fast_keys):
    verify_carl(world)
    make_ready(world, world.kunde1, Actor(user=world.carl))
    assert is_ready(tenant_readiness(world.kunde1))
    Tenant.objects.filter(pk=world.kunde1.pk).update(status=TenantStatus.SUSPENDED)
    world.kunde1.refresh_from_db()
    assert checks_of(world.kunde1)["not_suspended"] is False
    assert not is_ready(tenant_readiness(world.kunde1))


def test_the_api_answers_with_the_checklist(world, fast_keys):
    api = Api(world.api_key(world.paula, world.alpha))
    response = api.get(f"/tenants/{world.kunde1.pk}/readiness")
    assert response.status_code == 200
    body = response.json()
    assert body["ready"] is False
    assert [c["key"] for c in body["checks"]] == [
        "configured",
        "administrator",
        "sending_domain",
        "postal_address",
    ]
    assert set(body["checks"][0]) == {"key", "label", "ok", "hint", "fix_url"}
    verify_carl(world)
    make_ready(world, world.kunde1, Actor(user=world.carl))
    body = api.get(f"/tenants/{world.kunde1.pk}/readiness").json()
    assert body["ready"] is True and all(c["ok"] for c in body["checks"])
    # Another partner's key: 404.
    outsider = Api(world.api_key(world.eve, world.fremd))
    assert outsider.get(f"/tenants/{world.kunde1.pk}/readiness").status_code == 404


def test_the_api_lists_and_adds_sending_domains(world, fast_keys):
    olga = Api(world.api_key(world.olga, world.kunde1))
    created = olga.post(f"/tenants/{world.kunde1.pk}/sending-domains", {"domain": "Kunde.example"})
    assert created.status_code == 201
    body = created.json()
    assert body["domain"] == "kunde.example" and body["status"] == "pending"
    assert [r["key"] for r in body["records"]] == ["spf", "dkim", "dmarc"]
    again = olga.post(f"/tenants/{world.kunde1.pk}/sending-domains", {"domain": "kunde.example"})
    assert again.status_code == 422 and "domain" in again.json()["errors"]
    listed = olga.get(f"/tenants/{world.kunde1.pk}/sending-domains").json()
    assert [d["domain"] for d in listed] == ["kunde.example"]
    # Customer Service may read but not add (Administrators decide who mail comes from).
    paula = Api(world.api_key(world.paula, world.alpha))
    assert paula.get(f"/tenants/{world.kunde1.pk}/sending-domains").status_code == 200
    refused = paula.post(f"/tenants/{world.kunde1.pk}/sending-domains", {"domain": "x.example"})
    assert refused.status_code == 403


def test_the_home_page_shows_what_is_missing_and_links_to_the_fix(world, fast_keys):
    client = world.client_for(world.carl)
    page = client.get(f"/t/{world.kunde1.slug}/").content.decode()
    assert 'data-testid="ready-to-send" data-ready="false"' in page
    assert 'data-check="sending_domain" data-ok="false"' in page
    assert f'href="/t/{world.kunde1.slug}/setup/sending/#domains"' in page
    assert f'href="/t/{world.kunde1.slug}/setup/sending/#postal-address"' in page
    verify_carl(world)
    make_ready(world, world.kunde1, Actor(user=world.carl))
    page = client.get(f"/t/{world.kunde1.slug}/").content.decode()
    assert 'data-testid="ready-to-send" data-ready="true"' in page
    assert 'data-check="postal_address" data-ok="true"' in page
