"""The public API v1: a key sees and changes only its tenant's subtree, errors are per field."""

import io
import json

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.test.client import BOUNDARY, MULTIPART_CONTENT, encode_multipart
from PIL import Image

from conftest import PASSWORD
from mandant.accounts.models import ApiKey
from mandant.accounts.roles import Role
from mandant.accounts.services import apikey_create, apikey_revoke, membership_set, user_create
from mandant.audit.models import AuditEntry
from mandant.core.actor import Actor
from mandant.tenants.models import Tenant

API = "/api/v1"


def png_bytes(width: int = 60, height: int = 30) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), (200, 30, 30)).save(out, format="PNG")
    return out.getvalue()


SVG = b'<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"><rect/></svg>'


class Api:
    """A test client that sends one bearer key (or none) with every request."""

    def __init__(self, key: str | None = None, language: str | None = None) -> None:
        self.client = Client()
        self.headers: dict[str, str] = {}
        if key is not None:
            self.headers["HTTP_AUTHORIZATION"] = f"Bearer {key}"
        if language is not None:
            self.headers["HTTP_ACCEPT_LANGUAGE"] = language

    def get(self, path: str, params: dict | None = None):  # type: ignore[no-untyped-def]
        return self.client.get(API + path, params or {}, **self.headers)

    def post(self, path: str, payload: object):  # type: ignore[no-untyped-def]
        return self.client.post(
            API + path, json.dumps(payload), content_type="application/json", **self.headers
        )

    def post_raw(self, path: str, body: str):  # type: ignore[no-untyped-def]
        return self.client.post(API + path, body, content_type="application/json", **self.headers)

    def patch(self, path: str, payload: object):  # type: ignore[no-untyped-def]
        return self.client.patch(
            API + path, json.dumps(payload), content_type="application/json", **self.headers
        )

    def put_logo(self, path: str, files: dict[str, SimpleUploadedFile]):  # type: ignore[no-untyped-def]
        return self.client.put(
            API + path,
            encode_multipart(BOUNDARY, files),
            content_type=MULTIPART_CONTENT,
            **self.headers,
        )


@pytest.fixture
def alpha_api(world) -> Api:  # type: ignore[no-untyped-def]
    return Api(world.api_key(world.paula, world.alpha))


@pytest.fixture
def fremd_api(world) -> Api:  # type: ignore[no-untyped-def]
    return Api(world.api_key(world.eve, world.fremd))


def slugs(response) -> list[str]:  # type: ignore[no-untyped-def]
    return [item["slug"] for item in response.json()["items"]]


# --- listing -----------------------------------------------------------------------------


def test_list_shows_exactly_the_keys_subtree_in_tree_order(alpha_api):
    response = alpha_api.get("/tenants")
    assert response.status_code == 200
    body = response.json()
    assert slugs(response) == ["agentur-alpha", "kunde-eins", "filiale-eins-a", "kunde-zwei"]
    assert body["total"] == 4
    assert body["page"] == 1
    assert body["page_size"] == 50


def test_list_of_a_sub_tenant_key_starts_at_that_tenant(world):
    api = Api(world.api_key(world.carl, world.kunde1))
    assert slugs(api.get("/tenants")) == ["kunde-eins", "filiale-eins-a"]


def test_list_never_shows_another_partners_tenants(world, fremd_api, alpha_api):
    assert slugs(fremd_api.get("/tenants")) == ["fremdagentur"]
    assert "fremdagentur" not in slugs(alpha_api.get("/tenants", {"page_size": 200}))
    assert "mandant-platform" not in slugs(alpha_api.get("/tenants", {"page_size": 200}))


def test_list_item_shape(world, alpha_api):
    items = {item["slug"]: item for item in alpha_api.get("/tenants").json()["items"]}
    kunde2 = items["kunde-zwei"]
    assert kunde2 == {
        **kunde2,
        "id": world.kunde2.pk,
        "name": "Kunde Zwei",
        "type": "CUSTOM",
        "version": "ENTERPRISE",
        "master_id": world.alpha.pk,
        "depth": 2,
        "child_count": 0,
        "charset": "ISO-8859-15",
        "status": "awaiting_configuration",
        "configured": False,
        "logo_url": None,
    }
    assert items["kunde-eins"]["child_count"] == 1
    assert "created_at" in kunde2


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"q": "eins"}, ["kunde-eins", "filiale-eins-a"]),
        ({"q": "KUNDE"}, ["kunde-eins", "kunde-zwei"]),
        ({"q": "nothing-like-this"}, []),
        ({"type": "CUSTOM"}, ["kunde-zwei"]),
        ({"version": "PROFESSIONAL"}, ["agentur-alpha"]),
        ({"status": "awaiting_configuration"}, ["kunde-zwei"]),
        ({"status": "in_setup", "version": "BASIC"}, ["kunde-eins", "filiale-eins-a"]),
    ],
)
def test_list_filters(alpha_api, params, expected):
    response = alpha_api.get("/tenants", params)
    assert response.status_code == 200
    assert slugs(response) == expected
    assert response.json()["total"] == len(expected)


def test_list_filter_by_parent(world, alpha_api):
    assert slugs(alpha_api.get("/tenants", {"parent": world.alpha.pk})) == [
        "kunde-eins",
        "kunde-zwei",
    ]
    assert slugs(alpha_api.get("/tenants", {"parent": world.kunde1.pk})) == ["filiale-eins-a"]


@pytest.mark.parametrize("parent", ["fremd", "root", "missing"])
def test_list_parent_outside_the_subtree_is_404(world, alpha_api, parent):
    pk = {"fremd": world.fremd.pk, "root": world.root.pk, "missing": 987654}[parent]
    response = alpha_api.get("/tenants", {"parent": pk})
    assert response.status_code == 404
    assert response.json() == {"detail": "Not found."}


def test_list_paging(alpha_api):
    page2 = alpha_api.get("/tenants", {"page": 2, "page_size": 2}).json()
    assert [item["slug"] for item in page2["items"]] == ["filiale-eins-a", "kunde-zwei"]
    assert (page2["total"], page2["page"], page2["page_size"]) == (4, 2, 2)
    # A page past the end answers the last page (and says so), not an error.
    late = alpha_api.get("/tenants", {"page": 99, "page_size": 3}).json()
    assert late["page"] == 2
    assert [item["slug"] for item in late["items"]] == ["kunde-zwei"]
    assert len(alpha_api.get("/tenants", {"page_size": 200}).json()["items"]) == 4


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"page_size": 201}, "page_size"),
        ({"page_size": 0}, "page_size"),
        ({"page": 0}, "page"),
        ({"page": "two"}, "page"),
        ({"parent": "alpha"}, "parent"),
    ],
)
def test_list_bad_paging_is_422_per_field(alpha_api, params, field):
    response = alpha_api.get("/tenants", params)
    assert response.status_code == 422
    errors = response.json()["errors"]
    assert list(errors) == [field]
    assert all(isinstance(message, str) and message for message in errors[field])


# --- creating ----------------------------------------------------------------------------


def test_create_defaults_to_the_key_tenant_as_master(world, alpha_api):
    response = alpha_api.post("/tenants", {"name": "Kunde Drei"})
    assert response.status_code == 201
    body = response.json()
    assert body["name"] == "Kunde Drei"
    assert body["slug"] == "kunde-drei"
    assert body["master_id"] == world.alpha.pk
    assert (body["type"], body["version"], body["charset"]) == ("STANDARD", "BASIC", "UTF-8")
    assert body["depth"] == 2
    assert body["status"] == "in_setup"
    tenant = Tenant.objects.get(pk=body["id"])
    assert tenant.parent_id == world.alpha.pk
    assert tenant.created_by == world.paula


def test_create_below_a_tenant_of_the_subtree(world, alpha_api):
    response = alpha_api.post(
        "/tenants",
        {
            "name": "Filiale Eins-B",
            "type": "CUSTOM",
            "version": "ENTERPRISE",
            "master_id": world.kunde1.pk,
            "charset": "Windows-1252",
        },
    )
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["master_id"] == world.kunde1.pk
    assert body["depth"] == 3
    assert body["charset"] == "Windows-1252"
    assert body["status"] == "awaiting_configuration"
    assert body["configured"] is False


def test_create_trims_and_collapses_whitespace_in_the_name(alpha_api):
    response = alpha_api.post("/tenants", {"name": "  Kunde   Vier  "})
    assert response.status_code == 201
    assert response.json()["name"] == "Kunde Vier"


@pytest.mark.parametrize(
    ("payload", "fields"),
    [
        ({"name": ""}, ["name"]),
        ({"name": "   "}, ["name"]),
        ({"name": "Neu", "type": "SPECIAL"}, ["type"]),
        ({"name": "Neu", "version": "GOLD"}, ["version"]),
        ({"name": "Neu", "type": "STANDARD", "charset": "ISO-8859-1"}, ["charset"]),
        ({"name": "Neu", "type": "CUSTOM", "charset": "EBCDIC"}, ["charset"]),
        ({"name": "Neu\u200bName"}, ["name"]),
        ({"name": "x" * 101}, ["name"]),
        ({"name": "", "type": "SPECIAL", "version": "GOLD"}, ["name", "type", "version"]),
    ],
)
def test_create_validation_errors_are_422_per_field(world, alpha_api, payload, fields):
    before = Tenant.objects.count()
    response = alpha_api.post("/tenants", payload)
    assert response.status_code == 422
    errors = response.json()["errors"]
    assert sorted(errors) == sorted(fields)
    for field in fields:
        assert errors[field] and all(isinstance(m, str) and m for m in errors[field])
    assert Tenant.objects.count() == before


def test_create_error_messages_are_the_services_messages(alpha_api):
    errors = alpha_api.post(
        "/tenants", {"name": "", "type": "STANDARD", "charset": "ISO-8859-1"}
    ).json()["errors"]
    assert errors["name"] == ["Please enter a name for the tenant."]
    assert "STANDARD tenants always use UTF-8" in errors["charset"][0]
    errors = alpha_api.post("/tenants", {"name": "Neu", "type": "SPECIAL"}).json()["errors"]
    assert "“SPECIAL” is not a valid" in errors["type"][0]
    assert "STANDARD, CUSTOM" in errors["type"][0]


@pytest.mark.parametrize(
    "body",
    ['{"name": "Kaputt"', "not json at all", ""],
)
def test_create_malformed_json_is_422(alpha_api, body):
    response = alpha_api.post_raw("/tenants", body)
    assert response.status_code == 422
    errors = response.json()["errors"]
    if body:
        assert errors == {"__all__": ["The request body is not valid JSON."]}
    else:
        assert list(errors) == ["__all__"]  # no body at all: the payload is missing


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"name": 123}, "name"),
        ({"name": ["Kunde"]}, "name"),
        ({"name": "Neu", "master_id": "alpha"}, "master_id"),
        ({"name": "Neu", "type": 1}, "type"),
        ({"name": "Neu", "charset": {"x": 1}}, "charset"),
        ({}, "name"),
    ],
)
def test_create_wrong_json_types_are_422_per_field(alpha_api, payload, field):
    response = alpha_api.post("/tenants", payload)
    assert response.status_code == 422
    assert field in response.json()["errors"]


def test_create_json_that_is_not_an_object_is_422(alpha_api):
    response = alpha_api.post("/tenants", ["Kunde"])
    assert response.status_code == 422
    assert response.json()["errors"]


@pytest.mark.parametrize(
    "name", ["Kunde Eins", "kunde eins", "KUNDE EINS", "Fremdagentur", "ｋｕｎｄｅ ｅｉｎｓ"]
)
def test_create_with_a_taken_name_is_409(alpha_api, name):
    response = alpha_api.post("/tenants", {"name": name})
    assert response.status_code == 409
    errors = response.json()["errors"]
    assert list(errors) == ["name"]
    assert "already exists" in errors["name"][0]


@pytest.mark.parametrize("master", ["fremd", "root", "missing"])
def test_create_with_a_master_outside_the_subtree_is_404(world, alpha_api, master):
    pk = {"fremd": world.fremd.pk, "root": world.root.pk, "missing": 987654}[master]
    before = Tenant.objects.count()
    response = alpha_api.post("/tenants", {"name": "Eindringling", "master_id": pk})
    assert response.status_code == 404
    assert response.json() == {"detail": "Not found."}
    assert Tenant.objects.count() == before


def test_a_sub_tenant_key_cannot_create_next_to_or_above_itself(world):
    api = Api(world.api_key(world.paula, world.kunde1))
    for master in (world.alpha, world.kunde2):
        response = api.post("/tenants", {"name": "Seitwärts", "master_id": master.pk})
        assert response.status_code == 404
    assert api.post("/tenants", {"name": "Abwärts"}).json()["master_id"] == world.kunde1.pk


def test_create_is_audited_with_the_api_key(world):
    key, raw = apikey_create(actor=Actor(user=world.paula), tenant=world.alpha, name="CRM")
    response = Api(raw).post("/tenants", {"name": "Kunde Audit", "master_id": world.kunde1.pk})
    assert response.status_code == 201
    entry = AuditEntry.objects.get(action="tenant.create", object_id=str(response.json()["id"]))
    assert entry.via_api_key_id == key.pk
    assert entry.actor_id == world.paula.pk
    assert entry.acting_role == Role.CUSTOMER_SERVICE
    assert entry.role_source_id == world.alpha.pk
    assert entry.changes["master"] == world.kunde1.pk


def test_using_a_key_updates_last_used(world):
    key, raw = apikey_create(actor=Actor(user=world.paula), tenant=world.alpha, name="CRM")
    assert key.last_used_at is None
    Api(raw).get("/tenants")
    key.refresh_from_db()
    assert key.last_used_at is not None


# --- roles -------------------------------------------------------------------------------


@pytest.fixture
def editor_key(world) -> str:  # type: ignore[no-untyped-def]
    """A key made while its creator was Customer Service; she is an Editor now."""
    op = Actor(user=world.olga)
    edda = user_create(email="edda@alpha.example", password=PASSWORD)
    membership_set(actor=op, tenant=world.alpha, user=edda, role=Role.CUSTOMER_SERVICE)
    _key, raw = apikey_create(actor=Actor(user=edda), tenant=world.alpha, name="old")
    membership_set(actor=op, tenant=world.alpha, user=edda, role=Role.EDITOR)
    return raw


def test_an_editors_key_can_read_but_not_create_or_change(world, editor_key):
    api = Api(editor_key)
    assert api.get("/tenants").status_code == 200
    assert api.get(f"/tenants/{world.kunde1.pk}").status_code == 200
    response = api.post("/tenants", {"name": "Kunde Editor"})
    assert response.status_code == 403
    assert "Administrator or Customer Service" in response.json()["detail"]
    assert not Tenant.objects.filter(name="Kunde Editor").exists()
    response = api.patch(f"/tenants/{world.kunde1.pk}", {"name": "Umbenannt"})
    assert response.status_code == 403
    response = api.put_logo(
        f"/tenants/{world.kunde1.pk}/logo", {"logo": SimpleUploadedFile("logo.png", png_bytes())}
    )
    assert response.status_code == 403


def test_create_needs_the_tenant_management_product(world):
    op = Actor(user=world.olga)
    api = Api(world.api_key(world.carl, world.kunde1))
    # carl's role comes from Kunde Eins, where the product is not active.
    response = api.post("/tenants", {"name": "Kunde Ohne Produkt"})
    assert response.status_code == 403
    assert "Tenant management is not active" in response.json()["detail"]
    from mandant.tenants.services import tenant_set_management_active

    tenant_set_management_active(actor=op, tenant=world.kunde1, active=True)
    assert api.post("/tenants", {"name": "Kunde Mit Produkt"}).status_code == 201


# --- reading and changing one tenant -----------------------------------------------------


def test_get_one_tenant(world, alpha_api):
    response = alpha_api.get(f"/tenants/{world.filiale.pk}")
    assert response.status_code == 200
    body = response.json()
    assert (body["id"], body["slug"], body["master_id"], body["depth"]) == (
        world.filiale.pk,
        "filiale-eins-a",
        world.kunde1.pk,
        3,
    )


@pytest.mark.parametrize("target", ["fremd", "root", "missing"])
def test_get_outside_the_subtree_is_404(world, alpha_api, target):
    pk = {"fremd": world.fremd.pk, "root": world.root.pk, "missing": 987654}[target]
    response = alpha_api.get(f"/tenants/{pk}")
    assert response.status_code == 404
    assert response.json() == {"detail": "Not found."}


@pytest.mark.parametrize("tenant_id", ["kunde-eins", "0", "99999999999999999999", "-1"])
def test_an_id_that_can_name_no_tenant_is_404(alpha_api, tenant_id):
    response = alpha_api.get(f"/tenants/{tenant_id}")
    assert response.status_code == 404
    assert response.json() == {"detail": "Not found."}


def test_unknown_paths_and_methods_answer_json(alpha_api):
    response = alpha_api.get("/nonexistent")
    assert (response.status_code, response.json()) == (404, {"detail": "Not found."})
    response = alpha_api.client.delete(API + "/tenants", **alpha_api.headers)
    assert response.status_code == 405
    assert response.json() == {"detail": "This method is not allowed here."}
    assert "GET" in response["Allow"]


def test_patch_name_version_and_charset(world, alpha_api):
    response = alpha_api.patch(
        f"/tenants/{world.kunde2.pk}",
        {"name": "Kunde Zwei GmbH", "version": "PROFESSIONAL", "charset": "ISO-8859-1"},
    )
    assert response.status_code == 200, response.json()
    body = response.json()
    assert (body["name"], body["version"], body["charset"]) == (
        "Kunde Zwei GmbH",
        "PROFESSIONAL",
        "ISO-8859-1",
    )
    assert body["slug"] == "kunde-zwei"  # the slug (and so every URL) stays
    world.kunde2.refresh_from_db()
    assert world.kunde2.name == "Kunde Zwei GmbH"
    entry = AuditEntry.objects.get(action="tenant.update")
    assert entry.via_api_key is not None
    assert entry.changes["version"] == ["ENTERPRISE", "PROFESSIONAL"]


def test_patch_only_what_is_sent(world, alpha_api):
    response = alpha_api.patch(f"/tenants/{world.kunde2.pk}", {"version": "BASIC"})
    assert response.status_code == 200
    body = response.json()
    assert (body["name"], body["version"], body["charset"]) == (
        "Kunde Zwei",
        "BASIC",
        "ISO-8859-15",
    )


def test_patch_changing_only_the_case_of_the_name_is_allowed(world, alpha_api):
    response = alpha_api.patch(f"/tenants/{world.kunde1.pk}", {"name": "KUNDE EINS"})
    assert response.status_code == 200
    assert response.json()["name"] == "KUNDE EINS"


@pytest.mark.parametrize("name", ["Kunde Zwei", "kunde zwei", "FREMDAGENTUR"])
def test_patch_to_a_taken_name_is_409(world, alpha_api, name):
    response = alpha_api.patch(f"/tenants/{world.kunde1.pk}", {"name": name})
    assert response.status_code == 409
    assert list(response.json()["errors"]) == ["name"]
    world.kunde1.refresh_from_db()
    assert world.kunde1.name == "Kunde Eins"


def test_patch_charset_of_a_standard_tenant_is_422(world, alpha_api):
    response = alpha_api.patch(f"/tenants/{world.kunde1.pk}", {"charset": "ISO-8859-15"})
    assert response.status_code == 422
    errors = response.json()["errors"]
    assert list(errors) == ["charset"]
    assert "STANDARD tenants always use UTF-8" in errors["charset"][0]
    world.kunde1.refresh_from_db()
    assert world.kunde1.charset == "UTF-8"


@pytest.mark.parametrize(
    ("payload", "field"),
    [({"name": ""}, "name"), ({"version": "GOLD"}, "version"), ({"name": 5}, "name")],
)
def test_patch_validation_errors_are_422(world, alpha_api, payload, field):
    response = alpha_api.patch(f"/tenants/{world.kunde1.pk}", payload)
    assert response.status_code == 422
    assert field in response.json()["errors"]


def test_patch_outside_the_subtree_is_404_and_changes_nothing(world, alpha_api):
    response = alpha_api.patch(f"/tenants/{world.fremd.pk}", {"version": "ENTERPRISE"})
    assert response.status_code == 404
    world.fremd.refresh_from_db()
    assert world.fremd.version == "BASIC"


# --- logo --------------------------------------------------------------------------------


def test_put_a_png_logo(world, alpha_api):
    response = alpha_api.put_logo(
        f"/tenants/{world.kunde1.pk}/logo",
        {"logo": SimpleUploadedFile("logo.png", png_bytes(), content_type="image/png")},
    )
    assert response.status_code == 200, response.content
    logo_url = response.json()["logo_url"]
    assert logo_url.startswith("/t/kunde-eins/logo.png?v=")
    world.kunde1.refresh_from_db()
    assert world.kunde1.has_logo
    image = world.client_for(world.paula).get(logo_url)
    assert image.status_code == 200
    assert image["Content-Type"] == "image/png"
    assert Image.open(io.BytesIO(image.content)).size == (60, 30)
    assert alpha_api.get(f"/tenants/{world.kunde1.pk}").json()["logo_url"] == logo_url


def test_put_an_svg_logo_is_422_with_the_reason(world, alpha_api):
    response = alpha_api.put_logo(
        f"/tenants/{world.kunde1.pk}/logo",
        {"logo": SimpleUploadedFile("logo.svg", SVG, content_type="image/svg+xml")},
    )
    assert response.status_code == 422
    errors = response.json()["errors"]
    assert list(errors) == ["logo"]
    assert "“.svg” are not accepted" in errors["logo"][0]
    assert "PNG, JPEG, GIF or WebP" in errors["logo"][0]
    world.kunde1.refresh_from_db()
    assert not world.kunde1.has_logo


def test_put_an_svg_renamed_to_png_is_422(world, alpha_api):
    response = alpha_api.put_logo(
        f"/tenants/{world.kunde1.pk}/logo", {"logo": SimpleUploadedFile("logo.png", SVG)}
    )
    assert response.status_code == 422
    assert "not an image we can read" in response.json()["errors"]["logo"][0]


def test_put_a_too_large_logo_is_422(world, alpha_api):
    response = alpha_api.put_logo(
        f"/tenants/{world.kunde1.pk}/logo",
        {"logo": SimpleUploadedFile("big.png", png_bytes(301, 50))},
    )
    assert response.status_code == 422
    assert "301 × 50" in response.json()["errors"]["logo"][0]


def test_put_logo_without_the_file_field_is_422_not_500(world, alpha_api):
    response = alpha_api.put_logo(
        f"/tenants/{world.kunde1.pk}/logo", {"image": SimpleUploadedFile("logo.png", png_bytes())}
    )
    assert response.status_code == 422
    assert "logo" in response.json()["errors"]
    response = alpha_api.client.put(
        f"{API}/tenants/{world.kunde1.pk}/logo", b"", content_type="image/png", **alpha_api.headers
    )
    assert response.status_code == 422


def test_put_logo_outside_the_subtree_is_404(world, alpha_api):
    response = alpha_api.put_logo(
        f"/tenants/{world.fremd.pk}/logo", {"logo": SimpleUploadedFile("logo.png", png_bytes())}
    )
    assert response.status_code == 404
    world.fremd.refresh_from_db()
    assert not world.fremd.has_logo


# --- authentication ----------------------------------------------------------------------


def _assert_401(response) -> None:  # type: ignore[no-untyped-def]
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == "Bearer"
    assert response.json() == {"detail": "Missing or invalid API key."}


@pytest.mark.parametrize(
    "header",
    [
        None,
        "",
        "Bearer",
        "Bearer ",
        "Bearer mk_0000",
        "Bearer nonsense",
        "Basic dXNlcjpwdw==",
        "Token mk_abc",
    ],
)
def test_missing_or_bad_key_is_401(world, header):
    client = Client()
    extra = {} if header is None else {"HTTP_AUTHORIZATION": header}
    _assert_401(client.get(f"{API}/tenants", **extra))
    _assert_401(client.post(f"{API}/tenants", "{}", content_type="application/json", **extra))
    _assert_401(client.get(f"{API}/tenants/{world.alpha.pk}", **extra))


def test_a_session_is_no_substitute_for_a_key(world):
    client = world.client_for(world.paula)
    _assert_401(client.get(f"{API}/tenants"))
    _assert_401(
        client.post(
            f"{API}/tenants", json.dumps({"name": "Per Sitzung"}), content_type="application/json"
        )
    )


def test_a_revoked_key_is_401(world):
    key, raw = apikey_create(actor=Actor(user=world.paula), tenant=world.alpha, name="CRM")
    assert Api(raw).get("/tenants").status_code == 200
    apikey_revoke(actor=Actor(user=world.paula), key=key)
    _assert_401(Api(raw).get("/tenants"))


def test_the_key_of_a_deactivated_user_is_401(world):
    raw = world.api_key(world.paula, world.alpha)
    world.paula.is_active = False
    world.paula.save(update_fields=["is_active"])
    _assert_401(Api(raw).get("/tenants"))
    _assert_401(Api(raw).post("/tenants", {"name": "Geist"}))


def test_a_key_is_stored_only_as_a_hash(world):
    raw = world.api_key(world.paula, world.alpha)
    key = ApiKey.objects.get()
    assert raw not in (key.key_hash, key.prefix)
    assert raw.startswith(key.prefix)


def test_a_key_whose_user_lost_the_membership_sees_nothing(world):
    raw = world.api_key(world.carl, world.kunde1)
    world.carl.memberships.all().delete()
    api = Api(raw)
    assert api.get(f"/tenants/{world.kunde1.pk}").status_code == 404
    assert api.post("/tenants", {"name": "Verwaist"}).status_code == 404


# --- language ----------------------------------------------------------------------------


def test_errors_in_german_with_accept_language_de(world):
    api = Api(world.api_key(world.paula, world.alpha), language="de")
    errors = api.post("/tenants", {"name": ""}).json()["errors"]
    assert errors["name"] == ["Bitte gib einen Namen für den Mandanten ein."]
    response = api.post("/tenants", {"name": "kunde eins"})
    assert response.status_code == 409
    assert response.json()["errors"]["name"][0].startswith("Es gibt bereits einen Mandanten")
    response = api.post("/tenants", {"name": "Neu", "charset": "ISO-8859-1"})
    assert "STANDARD-Mandanten verwenden immer UTF-8" in response.json()["errors"]["charset"][0]
    response = api.get(f"/tenants/{world.fremd.pk}")
    assert response.json() == {"detail": "Nicht gefunden."}
    response = api.post_raw("/tenants", '{"name": ')
    assert response.json() == {
        "errors": {"__all__": ["Der Inhalt der Anfrage ist kein gültiges JSON."]}
    }
    response = api.put_logo(
        f"/tenants/{world.kunde1.pk}/logo", {"logo": SimpleUploadedFile("logo.svg", SVG)}
    )
    assert "werden nicht angenommen" in response.json()["errors"]["logo"][0]


def test_auth_error_in_german(world):
    response = Api("mk_wrong", language="de").get("/tenants")
    assert response.status_code == 401
    assert response.json() == {"detail": "API-Schlüssel fehlt oder ist ungültig."}


def test_permission_error_in_german(world, editor_key):
    response = Api(editor_key, language="de").post("/tenants", {"name": "Kunde Editor"})
    assert response.status_code == 403
    assert response.json()["detail"].startswith("Zum Erzeugen von Mandanten")


# --- docs --------------------------------------------------------------------------------


def test_openapi_and_docs_are_public(db):
    client = Client()
    response = client.get(f"{API}/openapi.json")
    assert response.status_code == 200
    schema = response.json()
    assert schema["info"]["title"] == "Mandant API"
    assert set(schema["paths"]) >= {
        "/api/v1/tenants",
        "/api/v1/tenants/{tenant_id}",
        "/api/v1/tenants/{tenant_id}/logo",
    }
    assert set(schema["paths"]["/api/v1/tenants"]) >= {"get", "post"}
    assert schema["components"]["securitySchemes"]
    docs = client.get(f"{API}/docs")
    assert docs.status_code == 200
    assert b"openapi.json" in docs.content


def test_the_spec_documents_the_errors_every_route_can_give(db):
    schema = Client().get(f"{API}/openapi.json").json()
    operations = [
        (path, method, operation)
        for path, item in schema["paths"].items()
        for method, operation in item.items()
    ]
    assert len(operations) > 40
    for path, method, operation in operations:
        responses = operation["responses"]
        assert "401" in responses, (method, path)
        if "{" in path:
            assert "404" in responses, (method, path)
        if operation.get("requestBody") or operation.get("parameters"):
            assert "422" in responses, (method, path)
    # The routes' own descriptions win over the common ones.
    tenant = schema["paths"]["/api/v1/tenants/{tenant_id}"]["get"]["responses"]["404"]
    assert tenant["content"]["application/json"]["schema"]["$ref"].endswith("DetailOut")
