"""The content library's web pages and Copy Content's pages, through the Django test client.

carl is Administrator of Kunde Eins, paula Customer Service in Agentur Alpha (inherited below),
vera a Viewer of Kunde Eins, eve an Administrator of an unrelated partner.
"""

import html as html_lib
import json
import re
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.utils import translation
from django_scopes import scope, scopes_disabled
from tests.worker import IMMEDIATE_TASKS

import logo_corpus as corpus
from conftest import PASSWORD
from mandant.accounts.roles import Role
from mandant.accounts.services import membership_set, user_create
from mandant.content import copying, services
from mandant.content.assets import AssetUpload
from mandant.content.models import ContentItem, ContentKind, Folder
from mandant.core.actor import Actor
from mandant.jobs.models import Job, JobResult, JobStatus
from mandant.tenants.models import Tenant

K1 = "/t/kunde-eins/content/"
ALPHA = "/t/agentur-alpha/content/"


@pytest.fixture(autouse=True)
def _english():  # type: ignore[no-untyped-def]
    with translation.override("en"):
        yield


@pytest.fixture
def vera(world):  # type: ignore[no-untyped-def]
    user = user_create(email="vera@kunde-eins.example", password=PASSWORD, first_name="Vera")
    membership_set(actor=None, tenant=world.kunde1, user=user, role=Role.VIEWER)
    return user


@pytest.fixture
def carl(world) -> Client:  # type: ignore[no-untyped-def]
    return world.client_for(world.carl)


@pytest.fixture
def paula(world) -> Client:  # type: ignore[no-untyped-def]
    return world.client_for(world.paula)


def create(world: Any, tenant: Tenant, kind: str = "template", **fields: Any) -> ContentItem:
    fields.setdefault("name", "Spring newsletter")
    if kind in (ContentKind.TEMPLATE, ContentKind.TEXT_BLOCK):
        fields.setdefault("html", "<p>Hello {{ contact.first_name }}</p>")
        fields.setdefault("text", "Hello {{ contact.first_name }}")
    return services.item_create(actor=Actor(user=world.olga), tenant=tenant, kind=kind, **fields)


def reload(item: ContentItem) -> ContentItem:
    with scopes_disabled():
        return ContentItem.objects.get(pk=item.pk)


def items_named(tenant: Tenant, name: str) -> list[ContentItem]:
    with scope(tenant=tenant.pk):
        return list(ContentItem.objects.filter(tenant=tenant, name=name))


def all_jobs() -> list[Job]:
    with scopes_disabled():
        return list(Job.objects.all())


def job_count() -> int:
    return len(all_jobs())


def text(response: Any) -> str:
    return response.content.decode()


def png_file(name: str = "photo.png", width: int = 40, height: int = 20) -> SimpleUploadedFile:
    return SimpleUploadedFile(name, corpus.png(width, height), content_type="image/png")


def field_value(page: str, name: str) -> str:
    """The value of an <input> (or the text of a <textarea>) named ``name``."""
    match = re.search(rf'<input[^>]*name="{name}"[^>]*value="([^"]*)"', page) or re.search(
        rf'<textarea[^>]*name="{name}"[^>]*>\n?(.*?)</textarea>', page, re.S
    )
    assert match, f"no field {name}"
    return html_lib.unescape(match.group(1))


# --- the library ------------------------------------------------------------------------------


def test_the_top_navigation_links_to_the_content_library(world, carl):
    page = text(carl.get("/t/kunde-eins/"))
    assert f'href="{K1}"' in page
    assert page.index('data-testid="content-link"') < page.index('data-testid="setup-link"')


def test_library_lists_items_with_folders_counts_and_buttons(world, carl):
    folder = services.folder_create(actor=Actor(user=world.olga), tenant=world.kunde1, name="Q2")
    create(world, world.kunde1, name="Mai-Newsletter", folder=folder)
    response = carl.get(K1)
    assert response.status_code == 200
    page = text(response)
    assert "Mai-Newsletter" in page
    assert f'href="{K1}?folder={folder.pk}"' in page
    tree = page[page.index('data-testid="folder-tree"') : page.index("</aside>")]
    assert re.search(rf'folder={folder.pk}"[^>]*>Q2</a>\s*<span class="count"[^>]*>1</span>', tree)
    for label in ("New template", "New text block", "New campaign draft", "Upload image"):
        assert label in page
    assert "New folder" in page and f'href="{K1}bin/"' in page
    # Kunde Eins has a sub-tenant and carl is its Administrator, but its edition BASIC lacks
    # Copy Content: not offered, and the page says which product unlocks it.
    assert 'data-testid="copy-button"' not in page and 'form="copy-selection"' not in page
    assert 'data-testid="copy-locked"' in page
    world.set_version(world.kunde1, "PROFESSIONAL")
    page = text(carl.get(K1))
    assert 'data-testid="copy-button"' in page and 'data-testid="copy-locked"' not in page
    assert 'name="items"' in page and 'form="copy-selection"' in page


def test_library_search_kind_folder_filters_and_paging(world, carl, monkeypatch):
    folder = services.folder_create(actor=Actor(user=world.olga), tenant=world.kunde1, name="Q2")
    create(world, world.kunde1, name="Zebra offer", folder=folder)
    create(world, world.kunde1, kind="text_block", name="Zebra footer")
    page = text(carl.get(K1, {"q": "zebra"}))
    assert "Zebra offer" in page and "Zebra footer" in page and "Abmeldehinweis" not in page
    page = text(carl.get(K1, {"q": "zebra", "kind": "text_block"}))
    assert "Zebra footer" in page and "Zebra offer" not in page
    page = text(carl.get(K1, {"folder": folder.pk}))
    assert "Zebra offer" in page and "Zebra footer" not in page
    # A bad filter value is ignored rather than an error.
    assert carl.get(K1, {"kind": "nonsense", "folder": "x", "page": "-3"}).status_code == 200

    monkeypatch.setattr("mandant.content.views.LIBRARY_PAGE_SIZE", 2)
    first = text(carl.get(K1, {"q": "zebra"}))
    assert "Page 1 of" not in first  # two items fit on one page
    create(world, world.kunde1, name="Zebra third")
    first = text(carl.get(K1, {"q": "zebra"}))
    assert "Page 1 of 2" in first and "?q=zebra&page=2" in first
    second = text(carl.get(K1, {"q": "zebra", "page": 2}))
    assert "Zebra third" in second and "Zebra offer" not in second


def test_a_viewer_sees_the_library_without_edit_or_copy_buttons(world, vera):
    page = text(world.client_for(vera).get(K1))
    assert "New template" not in page and 'data-testid="copy-button"' not in page
    assert "Abmeldehinweis" in page or 'data-testid="item-row"' in page


def test_no_copy_button_in_a_tenant_without_sub_tenants(world):
    client = world.client_for(world.paula)
    page = text(client.get("/t/kunde-zwei/content/"))
    assert 'data-testid="copy-button"' not in page


def test_other_tenants_and_their_items_are_not_found(world, carl):
    alpha_item = create(world, world.alpha, name="Alpha only")
    assert carl.get(ALPHA).status_code == 404
    for url in (
        f"{K1}{alpha_item.pk}/",
        f"{K1}{alpha_item.pk}/preview/",
        f"{K1}{alpha_item.pk}/render/",
        f"{K1}{alpha_item.pk}/history/",
    ):
        assert carl.get(url).status_code == 404, url
    assert carl.post(f"{K1}{alpha_item.pk}/delete/").status_code == 404
    assert world.client_for(world.eve).get(K1).status_code == 404
    assert not reload(alpha_item).is_deleted


# --- create and edit --------------------------------------------------------------------------


def test_create_a_template(world, carl):
    folder = services.folder_create(actor=Actor(user=world.carl), tenant=world.kunde1, name="Q2")
    assert carl.get(f"{K1}new/template/?folder={folder.pk}").status_code == 200
    response = carl.post(
        f"{K1}new/template/",
        {
            "name": "Herbst",
            "subject": "Hallo {{ contact.first_name }}",
            "html": '<p onclick="x()">Hi {{ contact.first_name }}</p><script>bad()</script>',
            "text": "Hi",
            "folder": folder.pk,
            "language": "de",
        },
    )
    [item] = items_named(world.kunde1, "Herbst")
    assert response.status_code == 302 and response["Location"] == f"{K1}{item.pk}/"
    assert (item.kind, item.folder_id, item.language) == ("template", folder.pk, "de")
    assert "script" not in item.html and "onclick" not in item.html
    page = text(carl.get(response["Location"]))
    assert "“Herbst” has been created." in page
    assert 'data-testid="item-form"' in page and 'data-testid="save-item"' in page


def test_unknown_placeholder_is_refused_with_every_input_kept(world, carl):
    data = {
        "name": "Herbst",
        "subject": "Autumn",
        "html": "<p>Hi {{ contact.shoe_size }}</p>",
        "text": "Plain text kept",
        "language": "en",
    }
    response = carl.post(f"{K1}new/template/", data)
    assert response.status_code == 422
    page = text(response)
    assert "contact.shoe_size" in page[page.index('id="field-html"') :]
    assert field_value(page, "name") == "Herbst"
    assert field_value(page, "subject") == "Autumn"
    assert field_value(page, "html") == data["html"]
    assert field_value(page, "text") == "Plain text kept"
    assert '<option value="en" selected>' in page
    assert items_named(world.kunde1, "Herbst") == []


def test_a_missing_name_and_an_unknown_kind(world, carl):
    response = carl.post(f"{K1}new/text_block/", {"name": "", "html": "<p>kept</p>"})
    assert response.status_code == 422
    assert field_value(text(response), "html") == "<p>kept</p>"
    assert carl.get(f"{K1}new/contact/").status_code == 404


def test_edit_saves_a_new_version_and_history_lists_it(world, carl):
    item = create(world, world.kunde1, name="Offer")
    page = text(carl.get(f"{K1}{item.pk}/"))
    assert field_value(page, "name") == "Offer"
    response = carl.post(
        f"{K1}{item.pk}/", {"name": "Offer", "html": "<p>New text</p>", "text": "New"}
    )
    assert response.status_code == 302
    item = reload(item)
    assert (item.version, item.html) == (2, "<p>New text</p>")
    assert "saved as version 2" in text(carl.get(f"{K1}{item.pk}/"))
    # Saving the same again changes nothing.
    carl.post(f"{K1}{item.pk}/", {"name": "Offer", "html": "<p>New text</p>", "text": "New"})
    assert reload(item).version == 2

    history = text(carl.get(f"{K1}{item.pk}/history/"))
    rows = re.findall(r'data-testid="version-row" data-number="(\d+)"', history)
    assert rows == ["2", "1"]
    assert history.count('data-testid="current-version"') == 1
    assert "Carl" in history
    old = text(carl.get(f"{K1}{item.pk}/history/1/"))
    assert "Hello {{ contact.first_name }}" in html_lib.unescape(old)
    assert carl.get(f"{K1}{item.pk}/history/2/").status_code == 302  # the current one
    assert carl.get(f"{K1}{item.pk}/history/9/").status_code == 404

    response = carl.post(f"{K1}{item.pk}/history/1/restore/")
    assert response.status_code == 302
    item = reload(item)
    assert item.version == 3 and "Hello" in item.html
    assert "Version 1 has been restored as the new version 3." in text(
        carl.get(response["Location"])
    )


def test_edit_refused_keeps_the_inputs(world, carl):
    item = create(world, world.kunde1, name="Offer")
    response = carl.post(
        f"{K1}{item.pk}/", {"name": "x" * 250, "html": "<p>changed</p>", "text": "t"}
    )
    assert response.status_code == 422
    page = text(response)
    assert field_value(page, "name") == "x" * 250
    assert field_value(page, "html") == "<p>changed</p>"
    assert reload(item).version == 1


def test_a_viewer_gets_a_read_only_view_and_403_on_every_write(world, vera):
    item = create(world, world.kunde1, name="Offer")
    folder = services.folder_create(actor=Actor(user=world.olga), tenant=world.kunde1, name="Q2")
    client = world.client_for(vera)
    page = text(client.get(f"{K1}{item.pk}/"))
    assert 'data-testid="save-item"' not in page
    assert re.search(r'<input[^>]*name="name"[^>]*disabled', page)
    assert "Duplicate" not in page
    for url in (f"{K1}{item.pk}/preview/", f"{K1}{item.pk}/history/", f"{K1}bin/", f"{K1}jobs/"):
        assert client.get(url).status_code == 200, url
    assert client.get(f"{K1}new/template/").status_code == 403
    writes = {
        f"{K1}{item.pk}/": {"name": "Hacked", "html": "", "text": ""},
        f"{K1}new/template/": {"name": "New"},
        f"{K1}{item.pk}/duplicate/": {},
        f"{K1}{item.pk}/delete/": {},
        f"{K1}{item.pk}/pull/": {},
        f"{K1}{item.pk}/history/1/restore/": {},
        f"{K1}{item.pk}/restore/": {},
        f"{K1}folders/new/": {"name": "F"},
        f"{K1}folders/{folder.pk}/": {"action": "delete"},
        f"{K1}copy/": {"items": item.pk, "targets": world.filiale.pk, "scope": "chosen"},
    }
    for url, data in writes.items():
        assert client.post(url, data).status_code == 403, url
    item = reload(item)
    assert (item.name, item.is_deleted) == ("Offer", False)
    assert job_count() == 0


def test_a_campaign_draft_with_template_and_ordered_blocks(world, carl):
    template = create(world, world.kunde1, name="Frame", html="<div>{{ content }}</div>")
    first = create(world, world.kunde1, kind="text_block", name="Block A")
    second = create(world, world.kunde1, kind="text_block", name="Block B")
    page = text(carl.get(f"{K1}new/campaign_draft/"))
    assert page.count('name="blocks"') == 2  # empty positions to choose blocks in
    response = carl.post(
        f"{K1}new/campaign_draft/",
        {
            "name": "May campaign",
            "subject": "News for {{ contact.first_name }}",
            "preheader": "Short",
            "sender_alias": "Bakery",
            "reply_to": "reply@example.com",
            "template": template.pk,
            "blocks": [second.pk, "", first.pk],
        },
    )
    assert response.status_code == 302, text(response)
    [draft] = items_named(world.kunde1, "May campaign")
    assert draft.template_key == template.key
    assert draft.block_keys == [str(second.key), str(first.key)]
    page = text(carl.get(f"{K1}{draft.pk}/"))
    chosen = re.findall(r'<option value="(\d+)" selected>', page)
    assert chosen == [str(template.pk), str(second.pk), str(first.pk)]

    bad = carl.post(
        f"{K1}{draft.pk}/",
        {"name": "May campaign", "reply_to": "not an address", "blocks": [first.pk]},
    )
    assert bad.status_code == 422
    assert field_value(text(bad), "reply_to") == "not an address"
    assert re.findall(r'<option value="(\d+)" selected>', text(bad)) == [str(first.pk)]


# --- images -----------------------------------------------------------------------------------


def test_upload_an_image_and_serve_it(world, carl):
    response = carl.post(f"{K1}new/asset/", {"name": "", "file": png_file("logo-big.png")})
    assert response.status_code == 302, text(response)
    [item] = items_named(world.kunde1, "logo-big")  # the file name, without its ending
    image = carl.get(f"{K1}{item.pk}/image/")
    assert image.status_code == 200
    assert image["Content-Type"] == "image/png"
    assert image["X-Content-Type-Options"] == "nosniff"
    assert "private" in image["Cache-Control"]
    assert bytes(image.content) == corpus.png(40, 20)
    again = carl.get(f"{K1}{item.pk}/image/", HTTP_IF_NONE_MATCH=image["ETag"])
    assert again.status_code == 304
    by_key = carl.get(f"{K1}assets/{item.key}/")
    assert by_key.status_code == 200 and bytes(by_key.content) == bytes(image.content)
    page = text(carl.get(f"{K1}{item.pk}/"))
    assert f"asset:{item.key}" in page and f'src="{K1}{item.pk}/image/"' in page
    # Another tenant's user cannot fetch it, not by id and not by key.
    eve = world.client_for(world.eve)
    assert eve.get(f"{K1}{item.pk}/image/").status_code == 404
    assert eve.get(f"{K1}assets/{item.key}/").status_code == 404
    assert carl.get(f"{K1}{create(world, world.kunde1).pk}/image/").status_code == 404


def test_a_valid_image_survives_an_error_page(world, carl):
    response = carl.post(f"{K1}new/asset/", {"name": "n" * 300, "file": png_file()})
    assert response.status_code == 422
    page = text(response)
    kept = field_value(page, "file_kept")
    assert kept and "photo.png" in page and 'data-testid="kept-file"' in page
    # The second try sends no file: the kept one is used.
    response = carl.post(f"{K1}new/asset/", {"name": "Photo", "file_kept": kept})
    assert response.status_code == 302, text(response)
    [item] = items_named(world.kunde1, "Photo")
    assert bytes(item.blob.data) == corpus.png(40, 20)
    # A kept token is bound to its tenant: it is worthless elsewhere.
    paula = world.client_for(world.paula)
    response = paula.post(f"{ALPHA}new/asset/", {"name": "Stolen", "file_kept": kept})
    assert response.status_code == 422 and items_named(world.alpha, "Stolen") == []


def test_a_bad_image_is_refused_and_not_kept(world, carl):
    bad = SimpleUploadedFile("photo.png", b"not an image at all", content_type="image/png")
    response = carl.post(f"{K1}new/asset/", {"name": "Photo", "file": bad})
    assert response.status_code == 422
    page = text(response)
    assert field_value(page, "name") == "Photo"
    assert 'data-testid="kept-file"' not in page
    assert "PNG, JPEG, GIF or WebP" in page
    response = carl.post(f"{K1}new/asset/", {"name": "Photo"})
    assert response.status_code == 422 and "Choose an image file to upload." in text(response)


# --- preview ----------------------------------------------------------------------------------


def test_preview_is_sandboxed(world, carl):
    item = create(
        world,
        world.kunde1,
        name="Offer",
        html='<p style="color:red">Hello {{ contact.first_name }}</p>',
        text="Hello {{ contact.first_name }}, plain",
    )
    page = text(carl.get(f"{K1}{item.pk}/preview/"))
    iframe = re.search(r"<iframe[^>]*>", page)
    assert iframe is not None
    tag = iframe.group(0)
    assert 'sandbox=""' in tag and f'src="{K1}{item.pk}/render/"' in tag
    assert "allow-scripts" not in page and "allow-same-origin" not in page
    assert "Hello Erika, plain" in page  # the text part beside it, with a sample value

    response = carl.get(f"{K1}{item.pk}/render/")
    assert response.status_code == 200
    csp = response["Content-Security-Policy"]
    assert csp.startswith("sandbox;") and "default-src 'none'" in csp
    assert "img-src 'self' data:" in csp and "style-src 'unsafe-inline'" in csp
    assert "script-src" not in csp
    assert response["X-Frame-Options"] == "SAMEORIGIN"
    assert "Hello Erika" in text(response)
    # Everything else keeps the global DENY.
    assert carl.get(f"{K1}{item.pk}/preview/")["X-Frame-Options"] == "DENY"


def test_preview_images_come_inline(world, carl):
    # The sandboxed preview gets no session cookie, so image URLs would not load there.
    image = services.item_create(
        actor=Actor(user=world.carl),
        tenant=world.kunde1,
        kind="asset",
        name="Pic",
        asset=AssetUpload(data=corpus.png(30, 30), filename="pic.png"),
    )
    item = create(world, world.kunde1, html=f'<p><img src="asset:{image.key}" alt="x"></p>')
    document = text(carl.get(f"{K1}{item.pk}/render/"))
    assert 'src="data:image/png;base64,' in document and "asset:" not in document


def test_preview_of_an_image_shows_it(world, carl):
    item = services.item_create(
        actor=Actor(user=world.carl),
        tenant=world.kunde1,
        kind="asset",
        name="Pic",
        asset=AssetUpload(data=corpus.png(30, 30), filename="pic.png"),
    )
    response = carl.get(f"{K1}{item.pk}/render/")
    assert '<img src="data:image/png;base64,' in text(response)


# --- duplicate, delete, bin -------------------------------------------------------------------


def test_duplicate_delete_and_restore_from_the_bin(world, carl):
    item = create(world, world.kunde1, name="Offer")
    response = carl.post(f"{K1}{item.pk}/duplicate/")
    assert response.status_code == 302
    [copy] = items_named(world.kunde1, "Copy of Offer")
    assert response["Location"] == f"{K1}{copy.pk}/"
    assert carl.get(f"{K1}{item.pk}/duplicate/").status_code == 405

    response = carl.post(f"{K1}{item.pk}/delete/")
    assert response.status_code == 302 and reload(item).is_deleted
    assert "moved to the bin" in text(carl.get(response["Location"]))
    assert carl.get(f"{K1}{item.pk}/").status_code == 404
    page = text(carl.get(f"{K1}bin/"))
    assert f'data-item-id="{item.pk}"' in page and "Carl" in page
    assert re.search(r"<td>30</td>", page)  # days left

    response = carl.post(f"{K1}{item.pk}/restore/")
    assert response.status_code == 302 and not reload(item).is_deleted
    assert carl.post(f"{K1}{item.pk}/restore/").status_code == 404  # not in the bin any more


# --- folders ----------------------------------------------------------------------------------


def test_folders_create_rename_and_delete(world, carl):
    parent = services.folder_create(actor=Actor(user=world.carl), tenant=world.kunde1, name="A")
    assert carl.get(f"{K1}folders/new/?parent={parent.pk}").status_code == 200
    response = carl.post(f"{K1}folders/new/", {"name": "", "parent": parent.pk})
    assert response.status_code == 422
    assert f'<option value="{parent.pk}" selected>' in text(response)
    response = carl.post(f"{K1}folders/new/", {"name": "Child", "parent": parent.pk})
    assert response.status_code == 302
    with scope(tenant=world.kunde1.pk):
        child = Folder.objects.get(tenant=world.kunde1, name="Child")
    assert child.parent_id == parent.pk

    response = carl.post(f"{K1}folders/{child.pk}/", {"action": "rename", "name": ""})
    assert response.status_code == 422
    response = carl.post(f"{K1}folders/{child.pk}/", {"action": "rename", "name": "Kid"})
    assert response.status_code == 302
    # Not empty: refused with a message.
    response = carl.post(f"{K1}folders/{parent.pk}/", {"action": "delete"})
    assert response.status_code == 409
    assert 'class="msg msg-error"' in text(response)
    response = carl.post(f"{K1}folders/{child.pk}/", {"action": "delete"})
    assert response.status_code == 302
    with scope(tenant=world.kunde1.pk):
        assert not Folder.objects.filter(pk=child.pk).exists()
    alpha_folder = services.folder_create(
        actor=Actor(user=world.olga), tenant=world.alpha, name="Alpha folder"
    )
    assert carl.get(f"{K1}folders/{alpha_folder.pk}/").status_code == 404


# --- Copy Content -----------------------------------------------------------------------------


def test_the_copy_form_lists_the_selection_and_the_targets(world, paula):
    item = create(world, world.alpha, name="Spring")
    folder = services.folder_create(actor=Actor(user=world.olga), tenant=world.alpha, name="Q2")
    page = text(paula.get(f"{ALPHA}copy/", {"items": item.pk, "folders": folder.pk}))
    assert re.search(r'data-testid="chosen-item">Spring', page)
    assert re.search(r'data-testid="chosen-folder">[^<]*Q2', page)
    assert f'name="items" value="{item.pk}"' in page
    for tenant in (world.kunde1, world.filiale, world.kunde2):
        assert f'name="targets" value="{tenant.pk}"' in page
    assert f'name="targets" value="{world.alpha.pk}"' not in page
    assert f'name="targets" value="{world.fremd.pk}"' not in page
    # Filiale Eins-A is indented below Kunde Eins.
    assert re.search(r'padding-left: 1em" data-target-name="filiale eins-a"', page)
    assert 'value="overwrite_unchanged" checked' in page
    assert "Never copied: contacts, users, settings and statistics" in page


def test_copy_starts_a_job_that_copies_and_shows_results(
    world, paula, settings, django_capture_on_commit_callbacks
):
    settings.TASKS = IMMEDIATE_TASKS
    item = create(world, world.alpha, name="Spring")
    with django_capture_on_commit_callbacks(execute=True):
        response = paula.post(
            f"{ALPHA}copy/",
            {
                "items": [item.pk],
                "scope": "chosen",
                "targets": [world.kunde1.pk, world.filiale.pk],
                "policy": "overwrite_unchanged",
                "action": "start",
            },
        )
    [job] = all_jobs()
    assert response.status_code == 302
    assert response["Location"] == f"{ALPHA}jobs/{job.pk}/"
    with scopes_disabled():
        job.refresh_from_db()
    assert (job.status, job.done, job.total) == (JobStatus.DONE, 2, 2)
    assert len(items_named(world.kunde1, "Spring")) == 1
    assert len(items_named(world.filiale, "Spring")) == 1
    assert items_named(world.kunde2, "Spring") == []

    page = text(paula.get(response["Location"]))
    assert re.search(r'<progress max="2" value="2"', page)
    assert 'data-job-status-url=""' in page  # finished: no polling
    assert "http-equiv" not in page
    assert page.count('data-testid="job-result"') == 2
    assert 'href="/t/kunde-eins/content/">Kunde Eins</a>' in page
    assert 'data-outcome="copied"' in page

    status = paula.get(f"{ALPHA}jobs/{job.pk}/status/")
    data = json.loads(status.content)
    assert (data["status"], data["done"], data["total"], data["percent"]) == ("done", 2, 2, 100)
    assert {r["tenant_name"] for r in data["results"]} == {"Kunde Eins", "Filiale Eins-A"}
    assert status["Cache-Control"] == "no-store"

    jobs = text(paula.get(f"{ALPHA}jobs/"))
    assert f'href="{ALPHA}jobs/{job.pk}/"' in jobs

    # The target shows where the copy came from.
    carl = world.client_for(world.carl)
    library = text(carl.get(K1))
    assert "from Agentur Alpha · v1" in library
    [copy] = items_named(world.kunde1, "Spring")
    detail = text(carl.get(f"{K1}{copy.pk}/"))
    assert "Copied from <strong>Agentur Alpha</strong> (version 1)" in detail
    assert 'data-testid="pull"' not in detail


def test_a_running_job_page_polls_and_has_a_no_script_refresh(world, paula):
    with scopes_disabled():
        job = Job.objects.create(tenant=world.alpha, kind="copy_content", total=3, done=1)
    page = text(paula.get(f"{ALPHA}jobs/{job.pk}/"))
    assert f'data-job-status-url="{ALPHA}jobs/{job.pk}/status/"' in page
    assert '<noscript><meta http-equiv="refresh" content="2"></noscript>' in page
    assert re.search(r'<progress max="3" value="1"', page)
    data = json.loads(paula.get(f"{ALPHA}jobs/{job.pk}/status/").content)
    assert (data["status"], data["done"], data["percent"]) == ("queued", 1, 33)
    # Another tenant's job is not found, even for someone who can see both tenants.
    assert paula.get(f"/t/kunde-eins/content/jobs/{job.pk}/").status_code == 404
    assert world.client_for(world.eve).get(f"{ALPHA}jobs/{job.pk}/status/").status_code == 404


def test_copy_refusals_keep_every_input(world, paula):
    item = create(world, world.alpha, name="Spring")
    response = paula.post(
        f"{ALPHA}copy/",
        {"items": [item.pk], "scope": "chosen", "policy": "skip", "tq": "eins"},
    )
    assert response.status_code == 422
    page = text(response)
    assert "Choose at least one sub-tenant" in page
    assert f'name="items" value="{item.pk}"' in page
    assert 'value="skip" checked' in page and field_value(page, "tq") == "eins"
    # A tenant outside the subtree.
    response = paula.post(
        f"{ALPHA}copy/",
        {"items": [item.pk], "scope": "chosen", "targets": [world.fremd.pk], "policy": "skip"},
    )
    assert response.status_code == 422 and "only be copied into tenants below" in text(response)
    # Nothing chosen.
    response = paula.post(
        f"{ALPHA}copy/", {"scope": "all", "policy": "overwrite", "target_type": "CUSTOM"}
    )
    assert response.status_code == 422
    page = text(response)
    assert "Choose at least one item or folder" in page
    assert 'value="all" checked' in page and '<option value="CUSTOM" selected>' in page
    # Garbage.
    response = paula.post(f"{ALPHA}copy/", {"items": "x", "scope": "sideways", "policy": "?"})
    assert response.status_code == 422
    assert job_count() == 0


def test_copy_search_keeps_the_chosen_targets(world, paula):
    item = create(world, world.alpha, name="Spring")
    response = paula.post(
        f"{ALPHA}copy/",
        {
            "items": [item.pk],
            "scope": "chosen",
            "targets": [world.kunde2.pk],
            "policy": "overwrite",
            "tq": "eins",
            "action": "search",
        },
    )
    assert response.status_code == 200
    page = text(response)
    listed = re.findall(r'<input type="checkbox" name="targets" value="(\d+)"', page)
    assert listed == [str(world.kunde1.pk), str(world.filiale.pk)]
    assert f'<input type="hidden" name="targets" value="{world.kunde2.pk}">' in page
    assert 'value="overwrite" checked' in page
    assert job_count() == 0


def test_copy_into_all_sub_tenants_with_a_type_filter(
    world, paula, settings, django_capture_on_commit_callbacks
):
    settings.TASKS = IMMEDIATE_TASKS
    item = create(world, world.alpha, name="Spring")
    with django_capture_on_commit_callbacks(execute=True):
        response = paula.post(
            f"{ALPHA}copy/",
            {"items": [item.pk], "scope": "all", "target_type": "CUSTOM", "policy": "skip"},
        )
    assert response.status_code == 302
    [job] = all_jobs()
    assert job.params["targets"] == [world.kunde2.pk]
    assert len(items_named(world.kunde2, "Spring")) == 1
    assert items_named(world.kunde1, "Spring") == []


def test_who_may_open_the_copy_form(world, carl, vera):
    # BASIC: refused with the product that unlocks it, also when posted.
    response = carl.get(f"{K1}copy/")
    assert response.status_code == 403
    assert "Copy Content" in text(response) and "Setup → Upgrades" in text(response)
    response = carl.post(
        f"{K1}copy/", {"scope": "all", "policy": "skip", "items": [create(world, world.kunde1).pk]}
    )
    assert response.status_code == 403 and all_jobs() == []
    world.set_version(world.kunde1, "PROFESSIONAL")
    assert carl.get(f"{K1}copy/").status_code == 200  # Administrator of Kunde Eins
    page = text(carl.get(f"{K1}copy/"))
    assert f'name="targets" value="{world.filiale.pk}"' in page
    assert f'name="targets" value="{world.kunde1.pk}"' not in page
    assert world.client_for(vera).get(f"{K1}copy/").status_code == 403
    assert world.client_for(world.eve).get(f"{ALPHA}copy/").status_code == 404


def test_get_from_master(world, paula, settings, django_capture_on_commit_callbacks):
    settings.TASKS = IMMEDIATE_TASKS
    item = create(world, world.alpha, name="Spring")
    job = copying.copy_content_start(
        actor=Actor(user=world.paula), source=world.alpha, item_ids=[item.pk],
        target_ids=[world.kunde1.pk],
    )  # fmt: skip
    copying.copy_job_run(job_id=job.pk)
    services.item_update(
        actor=Actor(user=world.paula), tenant=world.alpha, item=item, html="<p>Version two</p>"
    )
    [copy] = items_named(world.kunde1, "Spring")
    carl = world.client_for(world.carl)
    assert "newer version available" in text(carl.get(K1))
    detail = text(carl.get(f"{K1}{copy.pk}/"))
    assert 'data-testid="pull"' in detail and "The master now has version 2." in detail
    response = carl.post(f"{K1}{copy.pk}/pull/")
    assert response.status_code == 302
    assert reload(copy).html == "<p>Version two</p>"
    assert "newer version available" not in text(carl.get(K1))
    # An item of the tenant's own has no master to get from.
    own = create(world, world.kunde1, name="Own")
    response = carl.post(f"{K1}{own.pk}/pull/")
    assert response.status_code == 409 and "no master version" in text(response)
    assert JobResult.objects.count() == 1
