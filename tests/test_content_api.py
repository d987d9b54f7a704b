"""API v1: the content library of a tenant, Copy Content and its job."""

import io
import json
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.test.client import BOUNDARY, MULTIPART_CONTENT, encode_multipart
from django_scopes import scope, scopes_disabled
from PIL import Image
from tests.user_support import IMMEDIATE_TASKS

from conftest import PASSWORD
from mandant.accounts.roles import Role
from mandant.accounts.services import apikey_create, membership_set, user_create
from mandant.content import services
from mandant.content.models import ContentItem, Folder
from mandant.core.actor import Actor
from mandant.jobs.models import Job

API = "/api/v1"


class Api:
    """A test client that sends one bearer key with every request."""

    def __init__(self, key: str) -> None:
        self.client = Client()
        self.headers = {"HTTP_AUTHORIZATION": f"Bearer {key}"}

    def get(self, path: str, params: dict[str, Any] | None = None) -> Any:
        return self.client.get(API + path, params or {}, **self.headers)

    def post(self, path: str, payload: object) -> Any:
        return self.client.post(
            API + path, json.dumps(payload), content_type="application/json", **self.headers
        )

    def patch(self, path: str, payload: object) -> Any:
        return self.client.patch(
            API + path, json.dumps(payload), content_type="application/json", **self.headers
        )

    def delete(self, path: str) -> Any:
        return self.client.delete(API + path, **self.headers)

    def multipart(self, method: str, path: str, data: dict[str, Any]) -> Any:
        return self.client.generic(
            method,
            API + path,
            encode_multipart(BOUNDARY, data),
            content_type=MULTIPART_CONTENT,
            **self.headers,
        )


def png_bytes(width: int = 40, height: int = 20) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), (0, 90, 200)).save(out, format="PNG")
    return out.getvalue()


@pytest.fixture(autouse=True)
def _immediate_tasks(settings):  # type: ignore[no-untyped-def]
    settings.TASKS = IMMEDIATE_TASKS


@pytest.fixture
def api(world) -> Api:  # type: ignore[no-untyped-def]
    """Paula's key: Customer Service in Agentur Alpha and, inherited, everywhere below."""
    return Api(world.api_key(world.paula, world.alpha))


@pytest.fixture
def viewer_api(world) -> Api:  # type: ignore[no-untyped-def]
    """A key made while its creator was Customer Service; she is a Viewer now."""
    op = Actor(user=world.olga)
    vera = user_create(email="vera@alpha.example", password=PASSWORD)
    membership_set(actor=op, tenant=world.alpha, user=vera, role=Role.CUSTOMER_SERVICE)
    _key, raw = apikey_create(actor=Actor(user=vera), tenant=world.alpha, name="old")
    membership_set(actor=op, tenant=world.alpha, user=vera, role=Role.VIEWER)
    return Api(raw)


def make_item(world, tenant, **fields: Any) -> ContentItem:  # type: ignore[no-untyped-def]
    fields.setdefault("kind", "text_block")
    fields.setdefault("name", "Gruß")
    with scope(tenant=tenant.pk):
        return services.item_create(actor=Actor(user=world.paula), tenant=tenant, **fields)


def reload(item: ContentItem) -> ContentItem:
    with scopes_disabled():
        return ContentItem.objects.get(pk=item.pk)


def content_url(tenant, item_id: int | None = None) -> str:  # type: ignore[no-untyped-def]
    base = f"/tenants/{tenant.pk}/content"
    return base if item_id is None else f"{base}/{item_id}"


# --- create, read, change, delete ------------------------------------------------------


def test_create_read_change_and_delete_an_item(world, api):
    response = api.post(
        content_url(world.kunde1),
        {
            "kind": "template",
            "name": "Newsletter",
            "subject": "Hallo {{ contact.first_name }}",
            "html": "<p>Hallo {{ contact.first_name }}</p><script>alert(1)</script>",
            "text": "Hallo",
        },
    )
    assert response.status_code == 201, response.content
    created = response.json()
    assert created["kind"] == "template"
    assert created["name"] == "Newsletter"
    assert created["subject"] == "Hallo {{ contact.first_name }}"
    assert "<script>" not in created["html"] and "Hallo" in created["html"]
    assert created["version"] == 1
    assert created["folder_id"] is None and created["origin"] is None
    assert created["image"] is None
    item_id = created["id"]

    got = api.get(content_url(world.kunde1, item_id))
    assert got.status_code == 200
    assert got.json() == created

    response = api.patch(content_url(world.kunde1, item_id), {"subject": "Neu"})
    assert response.status_code == 200, response.content
    changed = response.json()
    assert changed["subject"] == "Neu"
    assert changed["version"] == 2
    # Only what was sent changed.
    assert (changed["name"], changed["html"], changed["text"]) == (
        created["name"],
        created["html"],
        created["text"],
    )

    response = api.delete(content_url(world.kunde1, item_id))
    assert response.status_code == 204
    assert api.get(content_url(world.kunde1, item_id)).status_code == 404
    assert api.get(content_url(world.kunde1)).json()["total"] == _live_count(world.kunde1)
    item = reload(ContentItem(pk=item_id))
    assert item.deleted_at is not None  # in the bin, not gone


def _live_count(tenant) -> int:  # type: ignore[no-untyped-def]
    with scope(tenant=tenant.pk):
        return ContentItem.objects.filter(tenant=tenant, deleted_at__isnull=True).count()


def test_a_campaign_draft_names_its_template_and_blocks_by_id(world, api):
    template = make_item(world, world.kunde1, kind="template", name="Rahmen", html="<p>x</p>")
    first = make_item(world, world.kunde1, name="Erster Artikel", html="<p>1</p>")
    second = make_item(world, world.kunde1, name="Zweiter Artikel", html="<p>2</p>")
    response = api.post(
        content_url(world.kunde1),
        {
            "kind": "campaign_draft",
            "name": "Frühjahr",
            "subject": "Frühjahrsangebote",
            "template_id": template.pk,
            "block_ids": [second.pk, first.pk],
        },
    )
    assert response.status_code == 201, response.content
    draft = response.json()
    assert draft["template_id"] == template.pk
    assert draft["block_ids"] == [second.pk, first.pk]
    stored = reload(ContentItem(pk=draft["id"]))
    assert stored.template_key == template.key
    assert stored.block_keys == [str(second.key), str(first.key)]

    response = api.patch(
        content_url(world.kunde1, draft["id"]), {"template_id": None, "block_ids": [first.pk]}
    )
    assert response.status_code == 200, response.content
    assert response.json()["template_id"] is None
    assert response.json()["block_ids"] == [first.pk]


def test_references_to_items_of_another_tenant_are_422_on_their_field(world, api):
    foreign_template = make_item(world, world.kunde2, kind="template", name="Fremd")
    foreign_block = make_item(world, world.kunde2, name="Fremder Artikel")
    foreign_folder = _folder(world, world.kunde2, "Fremder Ordner")
    before = _live_count(world.kunde1)
    response = api.post(
        content_url(world.kunde1),
        {
            "kind": "campaign_draft",
            "name": "Untergeschoben",
            "template_id": foreign_template.pk,
            "block_ids": [foreign_block.pk],
            "folder_id": foreign_folder.pk,
        },
    )
    assert response.status_code == 422
    errors = response.json()["errors"]
    assert set(errors) == {"folder_id", "template_id", "block_ids"}
    assert str(foreign_block.pk) in errors["block_ids"][0]
    assert _live_count(world.kunde1) == before


def _folder(world, tenant, name: str) -> Folder:  # type: ignore[no-untyped-def]
    with scope(tenant=tenant.pk):
        return services.folder_create(actor=Actor(user=world.paula), tenant=tenant, name=name)


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"kind": "text_block", "name": "A", "html": "<p>{{ contact.shoe_size }}</p>"}, "html"),
        ({"kind": "text_block", "name": "A", "text": "Hi {{ kontakt.vorname }}"}, "text"),
        ({"kind": "template", "name": "A", "subject": "{{ contact.shoe_size }}"}, "subject"),
        ({"kind": "text_block", "name": ""}, "name"),
        ({"kind": "poster", "name": "A"}, "kind"),
        ({"name": "A"}, "kind"),
        ({"kind": "text_block"}, "name"),
        ({"kind": "text_block", "name": "A", "block_ids": "eins"}, "block_ids"),
        ({"kind": "text_block", "name": "A", "folder_id": 999999}, "folder_id"),
        ({"kind": "campaign_draft", "name": "A", "template_id": 999999}, "template_id"),
        ({"kind": "asset", "name": "A"}, "file"),
        ({"kind": "template", "name": "A", "sender_alias": "Alpha"}, "sender_alias"),
        ({"kind": "text_block", "name": "A", "html": '<img src="asset:0000">'}, "html"),
    ],
)
def test_bad_fields_are_422_per_field(world, api, payload, field):
    before = _live_count(world.kunde1)
    response = api.post(content_url(world.kunde1), payload)
    assert response.status_code == 422, response.content
    assert field in response.json()["errors"], response.json()
    assert _live_count(world.kunde1) == before


def test_an_unknown_placeholder_is_named(world, api):
    response = api.post(
        content_url(world.kunde1),
        {"kind": "text_block", "name": "A", "html": "<p>{{ contact.shoe_size }}</p>"},
    )
    [message] = response.json()["errors"]["html"]
    assert "contact.shoe_size" in message


def test_all_bad_fields_are_reported_at_once(world, api):
    template = make_item(world, world.kunde1, kind="template", name="Rahmen")
    response = api.post(
        content_url(world.kunde1),
        {
            "kind": "campaign_draft",
            "name": "Alles falsch",
            "folder_id": 999999,
            "subject": "{{ contact.shoe_size }}",
            # A template is not a text block.
            "block_ids": [template.pk],
        },
    )
    assert response.status_code == 422
    assert set(response.json()["errors"]) == {"folder_id", "subject", "block_ids"}


def test_a_valid_request_with_an_unknown_folder_writes_nothing(world, api):
    """The service accepts the rest; the folder error still undoes the write."""
    before = _live_count(world.kunde1)
    response = api.post(
        content_url(world.kunde1), {"kind": "text_block", "name": "Ohne", "folder_id": 999999}
    )
    assert response.status_code == 422
    assert list(response.json()["errors"]) == ["folder_id"]
    assert _live_count(world.kunde1) == before
    item = make_item(world, world.kunde1, name="Bleibt")
    response = api.patch(content_url(world.kunde1, item.pk), {"name": "Neu", "folder_id": 999999})
    assert response.status_code == 422
    assert reload(item).name == "Bleibt"


def test_patch_refusal_changes_nothing(world, api):
    item = make_item(world, world.kunde1, html="<p>ok</p>")
    response = api.patch(
        content_url(world.kunde1, item.pk),
        {"name": "Neu", "html": "<p>{{ contact.shoe_size }}</p>"},
    )
    assert response.status_code == 422
    assert "contact.shoe_size" in response.json()["errors"]["html"][0]
    stored = reload(item)
    assert (stored.name, stored.version) == (item.name, 1)


def test_move_into_a_folder_and_back_to_the_top(world, api):
    folder = _folder(world, world.kunde1, "Newsletter")
    item = make_item(world, world.kunde1)
    url = content_url(world.kunde1, item.pk)
    assert api.patch(url, {"folder_id": folder.pk}).json()["folder_id"] == folder.pk
    # Omitted or null text fields leave the folder alone …
    assert api.patch(url, {"name": "Umbenannt", "subject": None}).json()["folder_id"] == folder.pk
    # … an explicit null moves the item to the top level.
    assert api.patch(url, {"folder_id": None}).json()["folder_id"] is None


# --- listing -----------------------------------------------------------------------------


def test_list_filters_and_pages(world, api):
    folder = _folder(world, world.kunde2, "Aktionen")
    make_item(world, world.kunde2, kind="template", name="Sommer Vorlage")
    make_item(world, world.kunde2, name="Sommer Artikel", folder=folder)
    make_item(world, world.kunde2, name="Winter Artikel", folder=folder)
    gone = make_item(world, world.kunde2, name="Sommer alt")
    with scope(tenant=world.kunde2.pk):
        services.item_delete(actor=Actor(user=world.paula), tenant=world.kunde2, item=gone)

    def names(params: dict[str, Any]) -> list[str]:
        response = api.get(content_url(world.kunde2), params)
        assert response.status_code == 200, response.content
        return sorted(item["name"] for item in response.json()["items"])

    assert names({"q": "sommer"}) == ["Sommer Artikel", "Sommer Vorlage"]
    assert names({"q": "sommer", "kind": "text_block"}) == ["Sommer Artikel"]
    assert names({"folder_id": folder.pk}) == ["Sommer Artikel", "Winter Artikel"]
    total = _live_count(world.kunde2)
    page = api.get(content_url(world.kunde2), {"page_size": 2, "page": 1}).json()
    assert (page["total"], page["page"], page["page_size"], len(page["items"])) == (
        total,
        1,
        2,
        2,
    )
    seen = set()
    for number in range(1, -(-total // 2) + 1):
        page = api.get(content_url(world.kunde2), {"page_size": 2, "page": number}).json()
        seen.update(item["id"] for item in page["items"])
    assert len(seen) == total and gone.pk not in seen


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"page_size": 201}, "page_size"),
        ({"page": 0}, "page"),
        ({"kind": "poster"}, "kind"),
        ({"folder_id": "x"}, "folder_id"),
        ({"folder_id": 999999}, "folder_id"),
    ],
)
def test_list_bad_parameters_are_422(world, api, params, field):
    response = api.get(content_url(world.kunde1), params)
    assert response.status_code == 422
    assert field in response.json()["errors"]


# --- images ------------------------------------------------------------------------------


def test_upload_an_image(world, api):
    folder = _folder(world, world.kunde1, "Bilder")
    response = api.multipart(
        "POST",
        content_url(world.kunde1) + "/assets",
        {
            "name": "Logo blau",
            "folder_id": str(folder.pk),
            "file": SimpleUploadedFile("logo.png", png_bytes(40, 20)),
        },
    )
    assert response.status_code == 201, response.content
    item = response.json()
    assert (item["kind"], item["name"], item["folder_id"]) == ("asset", "Logo blau", folder.pk)
    image = item["image"]
    assert (image["width"], image["height"], image["content_type"]) == (40, 20, "image/png")
    assert image["size"] == len(png_bytes(40, 20))
    assert str(item["id"]) in image["url"] and world.kunde1.slug in image["url"]
    # The image's key is what an HTML part references.
    response = api.post(
        content_url(world.kunde1),
        {"kind": "text_block", "name": "Mit Bild", "html": f'<img src="asset:{item["key"]}">'},
    )
    assert response.status_code == 201, response.content

    response = api.multipart(
        "PUT",
        content_url(world.kunde1, item["id"]) + "/file",
        {"file": SimpleUploadedFile("gross.png", png_bytes(80, 60))},
    )
    assert response.status_code == 200, response.content
    assert (response.json()["image"]["width"], response.json()["version"]) == (80, 2)


def test_an_upload_without_a_name_is_named_after_the_file(world, api):
    response = api.multipart(
        "POST",
        content_url(world.kunde1) + "/assets",
        {"file": SimpleUploadedFile("header.png", png_bytes())},
    )
    assert response.status_code == 201, response.content
    assert "header" in response.json()["name"]


@pytest.mark.parametrize(
    "data",
    [
        {"name": "SVG", "file": SimpleUploadedFile("x.svg", b"<svg xmlns='x'/>")},
        {"name": "Kaputt", "file": SimpleUploadedFile("x.png", b"not a png")},
        {"name": "Ohne Datei"},
    ],
)
def test_a_bad_upload_is_422_on_file(world, api, data):
    before = _live_count(world.kunde1)
    response = api.multipart("POST", content_url(world.kunde1) + "/assets", data)
    assert response.status_code == 422, response.content
    assert "file" in response.json()["errors"]
    assert _live_count(world.kunde1) == before


def test_only_an_image_item_has_a_file(world, api):
    item = make_item(world, world.kunde1)
    response = api.multipart(
        "PUT",
        content_url(world.kunde1, item.pk) + "/file",
        {"file": SimpleUploadedFile("x.png", png_bytes())},
    )
    assert response.status_code == 422
    assert "file" in response.json()["errors"]


# --- isolation and roles -----------------------------------------------------------------


def test_an_item_of_another_tenant_is_404_even_within_reach(world, api):
    """Kunde Zwei's item addressed through Kunde Eins: Paula reaches both, still a 404."""
    item = make_item(world, world.kunde2, name="Zwei")
    url = content_url(world.kunde1, item.pk)
    assert api.get(url).status_code == 404
    assert api.patch(url, {"name": "Gekapert"}).status_code == 404
    assert api.delete(url).status_code == 404
    files = {"file": SimpleUploadedFile("x.png", png_bytes())}
    assert api.multipart("PUT", url + "/file", files).status_code == 404
    stored = reload(item)
    assert (stored.name, stored.deleted_at) == ("Zwei", None)
    # Through its own tenant the same id works.
    assert api.get(content_url(world.kunde2, item.pk)).status_code == 200


def test_a_tenant_of_another_partner_is_404(world):
    item = make_item(world, world.kunde1, name="Eins")
    eve = Api(world.api_key(world.eve, world.fremd))
    assert eve.get(content_url(world.kunde1)).status_code == 404
    assert eve.get(content_url(world.kunde1, item.pk)).status_code == 404
    assert eve.post(content_url(world.kunde1), {"kind": "text_block", "name": "X"}).status_code == (
        404
    )
    assert eve.patch(content_url(world.kunde1, item.pk), {"name": "X"}).status_code == 404
    assert eve.delete(content_url(world.kunde1, item.pk)).status_code == 404
    response = eve.post(
        f"/tenants/{world.kunde1.pk}/copy-content", {"items": [item.pk], "all_descendants": True}
    )
    assert response.status_code == 404
    # Her own tenant with Kunde Eins's item id: 404 as well.
    assert eve.get(content_url(world.fremd, item.pk)).status_code == 404
    assert reload(item).name == "Eins"


def test_a_viewers_key_reads_but_cannot_write(world, viewer_api):
    item = make_item(world, world.kunde1, name="Lesbar")
    assert viewer_api.get(content_url(world.kunde1)).status_code == 200
    assert viewer_api.get(content_url(world.kunde1, item.pk)).status_code == 200
    for response in (
        viewer_api.post(content_url(world.kunde1), {"kind": "text_block", "name": "X"}),
        viewer_api.patch(content_url(world.kunde1, item.pk), {"name": "X"}),
        viewer_api.delete(content_url(world.kunde1, item.pk)),
        viewer_api.multipart(
            "POST",
            content_url(world.kunde1) + "/assets",
            {"file": SimpleUploadedFile("x.png", png_bytes())},
        ),
        viewer_api.post(
            f"/tenants/{world.alpha.pk}/copy-content",
            {"items": [item.pk], "targets": [world.kunde1.pk]},
        ),
    ):
        assert response.status_code == 403, response.content
        assert response.json()["detail"]
    stored = reload(item)
    assert (stored.name, stored.deleted_at) == ("Lesbar", None)


# --- Copy Content and its job ------------------------------------------------------------


def _start_copy(api, source, payload, django_capture_on_commit_callbacks):  # type: ignore[no-untyped-def]
    with django_capture_on_commit_callbacks(execute=True):
        return api.post(f"/tenants/{source.pk}/copy-content", payload)


def test_copy_content_starts_a_job_and_the_job_reports_per_target(
    world, api, django_capture_on_commit_callbacks
):
    template = make_item(
        world, world.alpha, kind="template", name="Hausvorlage", html="<p>Alpha</p>"
    )
    response = _start_copy(
        api,
        world.alpha,
        {"items": [template.pk], "targets": [world.kunde1.pk, world.kunde2.pk]},
        django_capture_on_commit_callbacks,
    )
    assert response.status_code == 202, response.content
    started = response.json()
    assert started["url"] == f"/api/v1/jobs/{started['id']}"
    assert response["Location"] == started["url"]
    assert started["status"] in ("queued", "running", "done")

    job = None
    for _attempt in range(20):  # the immediate backend has finished already; poll anyway
        job = api.client.get(started["url"], **api.headers).json()
        if job["status"] in ("done", "failed"):
            break
    assert job is not None and job["status"] == "done", job
    assert (job["id"], job["kind"]) == (started["id"], "copy_content")
    assert job["done"] == job["total"] == 2
    by_tenant = {result["tenant_id"]: result for result in job["results"]}
    assert set(by_tenant) == {world.kunde1.pk, world.kunde2.pk}
    assert by_tenant[world.kunde1.pk]["tenant_name"] == "Kunde Eins"
    for result in by_tenant.values():
        assert set(result) >= {"outcome", "reason", "counts", "details"}
        assert result["outcome"] != "failed", result

    # The copy in Kunde Eins shows where it came from.
    copies = api.get(content_url(world.kunde1), {"q": "Hausvorlage"}).json()["items"]
    [copy] = copies
    assert copy["html"] == "<p>Alpha</p>"
    origin = copy["origin"]
    assert origin["tenant_id"] == world.alpha.pk
    assert origin["tenant_name"] == "Agentur Alpha"
    assert origin["item_id"] == template.pk
    assert origin["version"] == 1
    assert origin["newer_version_available"] is False
    assert origin["changed_here"] is False
    assert origin["copied_at"]

    # A new version at the master is announced in the copy.
    api.patch(content_url(world.alpha, template.pk), {"html": "<p>Alpha 2</p>"})
    origin = api.get(content_url(world.kunde1, copy["id"])).json()["origin"]
    assert origin["newer_version_available"] is True


def test_copy_content_into_the_whole_subtree(world, api, django_capture_on_commit_callbacks):
    block = make_item(world, world.alpha, name="Impressum Alpha")
    response = _start_copy(
        api,
        world.alpha,
        {"items": [block.pk], "all_descendants": True, "policy": "skip"},
        django_capture_on_commit_callbacks,
    )
    assert response.status_code == 202, response.content
    job = api.client.get(response["Location"], **api.headers).json()
    assert job["status"] == "done"
    assert {result["tenant_id"] for result in job["results"]} == {
        world.kunde1.pk,
        world.filiale.pk,
        world.kunde2.pk,
    }


@pytest.mark.parametrize("target", ["fremd", "alpha", "root", "kunde2"])
def test_copy_targets_outside_the_subtree_are_422_on_targets(world, api, target):
    """From Kunde Eins: another partner, its master, the root and its sibling are refused."""
    world.set_version(world.kunde1, "PROFESSIONAL")  # an edition with Copy Content
    block = make_item(world, world.kunde1, name="Eins")
    jobs_before = _job_count()
    response = api.post(
        f"/tenants/{world.kunde1.pk}/copy-content",
        {"items": [block.pk], "targets": [getattr(world, target).pk]},
    )
    assert response.status_code == 422, response.content
    assert "targets" in response.json()["errors"]
    assert _job_count() == jobs_before


def _job_count() -> int:
    with scopes_disabled():
        return Job.objects.count()


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"policy": "always"}, "policy"),
        ({"items": [999999]}, "items"),
        ({"folders": [999999]}, "folders"),
        ({"items": "eins"}, "items"),
        ({"all_descendants": "vielleicht"}, "all_descendants"),
    ],
)
def test_copy_bad_fields_are_422(world, api, payload, field):
    block = make_item(world, world.alpha, name="Alpha")
    body = {"items": [block.pk], "targets": [world.kunde1.pk], **payload}
    response = api.post(f"/tenants/{world.alpha.pk}/copy-content", body)
    assert response.status_code == 422, response.content
    assert field in response.json()["errors"]


def test_copy_an_item_of_another_tenant_is_422_on_items(world, api):
    """Kunde Zwei's item, sent from Agentur Alpha (which reaches it), is not Alpha's item."""
    foreign = make_item(world, world.kunde2, name="Zwei")
    response = api.post(
        f"/tenants/{world.alpha.pk}/copy-content",
        {"items": [foreign.pk], "targets": [world.kunde1.pk]},
    )
    assert response.status_code == 422
    assert "items" in response.json()["errors"]


def test_a_job_of_another_partner_is_404(world, api, django_capture_on_commit_callbacks):
    block = make_item(world, world.alpha, name="Alpha")
    response = _start_copy(
        api,
        world.alpha,
        {"items": [block.pk], "targets": [world.kunde1.pk]},
        django_capture_on_commit_callbacks,
    )
    job_id = response.json()["id"]
    eve = Api(world.api_key(world.eve, world.fremd))
    assert eve.get(f"/jobs/{job_id}").status_code == 404
    # Carl (Kunde Eins) does not see the job of his master either.
    carl = Api(world.api_key(world.carl, world.kunde1))
    assert carl.get(f"/jobs/{job_id}").status_code == 404
    assert api.get(f"/jobs/{job_id}").status_code == 200
    assert api.get("/jobs/999999").status_code == 404


# --- documentation -----------------------------------------------------------------------


def test_the_openapi_schema_lists_the_new_routes(world):
    schema = Client().get(API + "/openapi.json").json()
    paths = schema["paths"]
    expected = {
        "/api/v1/tenants/{tenant_id}/content": {"get", "post"},
        "/api/v1/tenants/{tenant_id}/content/assets": {"post"},
        "/api/v1/tenants/{tenant_id}/content/{item_id}": {"get", "patch", "delete"},
        "/api/v1/tenants/{tenant_id}/content/{item_id}/file": {"put"},
        "/api/v1/tenants/{tenant_id}/copy-content": {"post"},
        "/api/v1/jobs/{job_id}": {"get"},
    }
    for path, methods in expected.items():
        assert path in paths, path
        assert set(paths[path]) >= methods, (path, set(paths[path]))
    item = schema["components"]["schemas"]["ItemOut"]["properties"]
    assert {"id", "kind", "name", "folder_id", "subject", "html", "text", "origin"} <= set(item)
