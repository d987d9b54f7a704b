"""The ``mandant`` console commands: demo data, API keys, tenants from the shell."""

import io
import json

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import Client
from django_scopes import scopes_disabled
from PIL import Image

from conftest import PASSWORD
from mandant.accounts.models import ApiKey
from mandant.accounts.roles import Role
from mandant.accounts.services import membership_set, user_create
from mandant.audit.models import AuditEntry
from mandant.contacts.models import ConsentRecord, Contact
from mandant.core.actor import Actor
from mandant.tenants.models import Tenant


def run(*args: str) -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    call_command(*args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def api_get(key: str, path: str = "/api/v1/tenants"):  # type: ignore[no-untyped-def]
    return Client().get(path, HTTP_AUTHORIZATION=f"Bearer {key}")


# --- mandant demo ------------------------------------------------------------------------


def test_demo_is_idempotent_and_prints_the_same_key(db):
    first, _err = run("demo")
    tenants, keys = Tenant.objects.count(), ApiKey.objects.count()
    audit_rows = AuditEntry.objects.count()
    second, _err = run("demo")
    assert Tenant.objects.count() == tenants
    assert ApiKey.objects.count() == keys == 1
    assert AuditEntry.objects.count() == audit_rows  # the second run changed nothing
    assert first == second
    assert "operator@mandant.example" in first
    assert "partner@demo-agentur.example" in first
    key_lines = [line for line in first.splitlines() if "API key:" in line]
    assert len(key_lines) == 1
    assert key_lines[0].split()[-1].startswith("mk_")


def test_demo_json(db):
    out, _err = run("demo", "--json")
    data = json.loads(out)
    assert set(data) >= {
        "operator_email",
        "operator_password",
        "partner_email",
        "partner_password",
        "partner_tenant_id",
        "partner_tenant_slug",
        "api_key",
    }
    partner_tenant = Tenant.objects.get(pk=data["partner_tenant_id"])
    assert partner_tenant.slug == data["partner_tenant_slug"]
    assert partner_tenant.name == "Demo Agentur"
    again = json.loads(run("demo", "--json")[0])
    assert again == data


def test_demo_key_and_logins_work(db):
    data = json.loads(run("demo", "--json")[0])
    response = api_get(data["api_key"])
    assert response.status_code == 200
    body = response.json()
    assert body["items"][0]["id"] == data["partner_tenant_id"]
    assert body["total"] == 4  # the agency and its three customers
    assert {item["name"] for item in body["items"][1:]} == {
        "Bäckerei Sonnenschein",
        "Autohaus Nord",
        "Stadtwerke Musterstadt",
    }
    client = Client()
    response = client.post(
        "/login/", {"email": data["partner_email"], "password": data["partner_password"]}
    )
    assert response.status_code == 302
    assert client.get(f"/t/{data['partner_tenant_slug']}/").status_code == 200
    operator = Client()
    assert (
        operator.post(
            "/login/", {"email": data["operator_email"], "password": data["operator_password"]}
        ).status_code
        == 302
    )
    assert operator.get("/operator/").status_code == 200
    # The demo's contacts have a consent record saying where they came from.
    with scopes_disabled():
        customer = Tenant.objects.get(slug="autohaus-nord")
        assert Contact.objects.filter(tenant=customer).count() == 25
        assert ConsentRecord.objects.filter(tenant=customer).count() == 25
    # The partner pays for its customers: a customer's billing page says so.
    admin = Client()
    admin.post(
        "/login/",
        {"email": data["customer_admin_email"], "password": data["customer_admin_password"]},
    )
    billing = admin.get("/t/autohaus-nord/setup/billing/").content.decode()
    assert "invoiced to <strong>Demo Agentur GmbH</strong>" in billing


def test_the_demo_campaign_is_german_from_the_german_standard_content(db):
    from django_scopes import scope

    from mandant.campaigns.message import content_parts, render_parts
    from mandant.campaigns.models import Campaign
    from mandant.content.models import ContentItem
    from mandant.content.standard import standard_key

    run("demo")
    tenant = Tenant.objects.get(name="Autohaus Nord")
    with scope(tenant=tenant.pk):
        campaign = Campaign.objects.select_related("template", "tenant").get(name="Willkommen")
        assert campaign.template is not None
        assert campaign.template.key == standard_key("de/template/newsletter")
        assert campaign.block_keys == [
            str(standard_key("de/block/greeting")),
            str(standard_key("de/block/article")),
        ]
        blocks = ContentItem.objects.filter(key__in=campaign.block_keys)
        assert {campaign.template.language, *(b.language for b in blocks)} == {"de"}
        parts = render_parts(campaign)
        html, _text = content_parts(campaign)
    assert parts["subject"] == "Willkommen bei Autohaus Nord"
    assert "hier sind die Neuigkeiten von Autohaus Nord" in parts["text"]
    assert "Diese E-Mail im Browser ansehen" in html


def test_demo_restores_the_product_if_it_was_switched_off(db):
    data = json.loads(run("demo", "--json")[0])
    Tenant.objects.filter(pk=data["partner_tenant_id"]).update(tenant_management_active=False)
    run("demo")
    assert Tenant.objects.get(pk=data["partner_tenant_id"]).tenant_management_active


# --- mandant apikey ----------------------------------------------------------------------


def test_apikey_create_prints_only_the_key(world):
    out, err = run("apikey", "create", "--tenant", "kunde-eins", "--user", world.paula.email)
    assert err == ""
    lines = out.splitlines()
    assert len(lines) == 1
    raw = lines[0]
    assert raw.startswith("mk_")
    key = ApiKey.objects.get()
    assert (key.tenant, key.created_by, key.name) == (world.kunde1, world.paula, "CLI")
    response = api_get(raw)
    assert response.status_code == 200
    assert [item["slug"] for item in response.json()["items"]] == ["kunde-eins", "filiale-eins-a"]


def test_apikey_create_with_a_name_and_any_case_email(world):
    out, _err = run(
        "apikey",
        "create",
        "--tenant",
        "agentur-alpha",
        "--user",
        "PAULA@Alpha.Example",
        "--name",
        "CRM sync",
    )
    assert ApiKey.objects.get().name == "CRM sync"
    assert api_get(out.strip()).status_code == 200


@pytest.mark.parametrize(
    ("tenant", "user", "message"),
    [
        ("kunde-eins", "nobody@nowhere.example", "No active user"),
        ("no-such-tenant", "paula@alpha.example", "No tenant"),
        ("kunde-eins", "eve@fremd.example", "No tenant"),  # exists, but not in eve's reach
        ("agentur-alpha", "carl@kunde-eins.example", "No tenant"),  # above carl's tenant
    ],
)
def test_apikey_create_errors(world, tenant, user, message):
    with pytest.raises(CommandError, match=message):
        run("apikey", "create", "--tenant", tenant, "--user", user)
    assert ApiKey.objects.count() == 0


def test_apikey_create_for_a_deactivated_user_fails(world):
    world.paula.is_active = False
    world.paula.save(update_fields=["is_active"])
    with pytest.raises(CommandError, match="No active user"):
        run("apikey", "create", "--tenant", "kunde-eins", "--user", world.paula.email)


def test_apikey_create_needs_the_role(world):
    viktor = user_create(email="viktor@alpha.example", password=PASSWORD)
    membership_set(actor=Actor(user=world.olga), tenant=world.alpha, user=viktor, role=Role.VIEWER)
    with pytest.raises(CommandError, match="Administrator or Customer Service"):
        run("apikey", "create", "--tenant", "kunde-eins", "--user", viktor.email)
    assert ApiKey.objects.count() == 0


def test_apikey_needs_a_subcommand(world):
    with pytest.raises(CommandError):
        run("apikey")


# --- mandant tenant create ---------------------------------------------------------------


def test_tenant_create(world):
    out, _err = run(
        "tenant",
        "create",
        "--actor",
        world.paula.email,
        "--master",
        "kunde-eins",
        "--name",
        "Filiale Eins-B",
        "--type",
        "CUSTOM",
        "--version",
        "ENTERPRISE",
        "--charset",
        "ISO-8859-1",
    )
    pk, slug = out.strip().split("\t")
    tenant = Tenant.objects.get(pk=int(pk))
    assert tenant.slug == slug == "filiale-eins-b"
    assert (tenant.parent, tenant.type, tenant.version, tenant.charset, tenant.status) == (
        world.kunde1,
        "CUSTOM",
        "ENTERPRISE",
        "ISO-8859-1",
        "awaiting_configuration",
    )
    assert tenant.created_by == world.paula
    entry = AuditEntry.objects.get(action="tenant.create", object_id=pk)
    assert entry.actor == world.paula
    assert entry.via_api_key is None


def test_tenant_create_with_a_logo(world, tmp_path):
    logo = tmp_path / "logo.png"
    Image.new("RGB", (50, 20), (10, 20, 30)).save(logo, format="PNG")
    out, _err = run(
        "tenant",
        "create",
        "--actor",
        world.paula.email,
        "--master",
        "agentur-alpha",
        "--name",
        "Kunde Mit Logo",
        "--logo",
        str(logo),
    )
    tenant = Tenant.objects.get(pk=int(out.split("\t")[0]))
    assert tenant.has_logo
    assert (tenant.logo_width, tenant.logo_height) == (50, 20)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--name", ""], "Please enter a name"),
        (["--name", "kunde eins"], "already exists"),
        (["--name", "Neu", "--type", "SPECIAL"], "is not a valid"),
        (["--name", "Neu", "--charset", "ISO-8859-1"], "STANDARD tenants always use UTF-8"),
    ],
)
def test_tenant_create_validation_errors(world, args, message):
    before = Tenant.objects.count()
    with pytest.raises(CommandError, match=message):
        run("tenant", "create", "--actor", world.paula.email, "--master", "agentur-alpha", *args)
    assert Tenant.objects.count() == before


@pytest.mark.parametrize(
    ("actor", "master", "message"),
    [
        ("nobody@nowhere.example", "agentur-alpha", "No active user"),
        ("paula@alpha.example", "fremdagentur", "No tenant"),
        ("eve@fremd.example", "kunde-eins", "No tenant"),
        ("carl@kunde-eins.example", "kunde-eins", "Tenant management is not active"),
    ],
)
def test_tenant_create_reach_and_permission_errors(world, actor, master, message):
    before = Tenant.objects.count()
    with pytest.raises(CommandError, match=message):
        run("tenant", "create", "--actor", actor, "--master", master, "--name", "Eindringling")
    assert Tenant.objects.count() == before


# --- mandant tenant create-many ----------------------------------------------------------


def test_tenant_create_many_reports_bad_lines_and_goes_on(world, tmp_path):
    rows = tmp_path / "tenants.jsonl"
    rows.write_text(
        "\n".join(
            [
                json.dumps({"name": "Massen Eins"}),
                json.dumps({"name": "Kunde Eins"}),  # taken
                '{"name": "Kaputt"',  # not JSON
                "",  # blank lines are skipped
                json.dumps({"name": "Massen Zwei", "type": "SPECIAL"}),
                json.dumps(["not", "an", "object"]),
                json.dumps(
                    {
                        "name": "Massen Drei",
                        "type": "CUSTOM",
                        "version": "ENTERPRISE",
                        "charset": "Windows-1252",
                    }
                ),
                json.dumps({"name": None}),
                json.dumps({"name": "Massen Vier", "master": "kunde-eins"}),
                json.dumps({"name": "Massen Fünf", "master": "fremdagentur"}),
            ]
        )
        + "\n",
        encoding="utf-8",
    )
    out, err = run(
        "tenant",
        "create-many",
        "--actor",
        world.paula.email,
        "--master",
        "agentur-alpha",
        str(rows),
    )
    assert out.strip() == "created 3, failed 6"
    errors = err.splitlines()
    assert [line.split(":")[0] for line in errors] == [
        "line 2",
        "line 3",
        "line 5",
        "line 6",
        "line 8",
        "line 10",
    ]
    assert "already exists" in errors[0]
    assert "is not a valid" in errors[2]
    assert "Please enter a name" in errors[4]
    assert "No tenant" in errors[5]
    created = {t.name: t for t in Tenant.objects.filter(name__startswith="Massen")}
    assert set(created) == {"Massen Eins", "Massen Drei", "Massen Vier"}
    assert created["Massen Eins"].parent == world.alpha
    assert created["Massen Drei"].charset == "Windows-1252"
    assert created["Massen Vier"].parent == world.kunde1  # a row may name its own master
    assert not Tenant.objects.filter(name="None").exists()


def test_tenant_create_many_with_an_unknown_master_stops_before_reading(world, tmp_path):
    rows = tmp_path / "tenants.jsonl"
    rows.write_text(json.dumps({"name": "Massen Eins"}) + "\n", encoding="utf-8")
    with pytest.raises(CommandError, match="No tenant"):
        run(
            "tenant",
            "create-many",
            "--actor",
            world.paula.email,
            "--master",
            "fremdagentur",
            str(rows),
        )
    assert not Tenant.objects.filter(name="Massen Eins").exists()
