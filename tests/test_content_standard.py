"""The standard content set: STANDARD tenants start with it, CUSTOM tenants start empty."""

import dataclasses
import json
import math
import re
import shutil
from pathlib import Path

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import translation
from django_scopes import scope, scopes_disabled

from mandant.content import standard
from mandant.content.html import (
    asset_keys_in,
    check_placeholders,
    placeholders_in,
    render_preview,
    sanitize_html,
)
from mandant.content.models import AssetBlob, ContentItem, ContentKind, Folder
from mandant.content.standard import (
    STANDARD_DIR,
    StandardContentError,
    load_standard_set,
    standard_content_provision,
    standard_key,
    standard_set,
)
from mandant.core.actor import Actor
from mandant.tenants.models import Tenant
from mandant.tenants.services import NewTenant, tenant_create, tenant_create_many

MANIFEST = json.loads((STANDARD_DIR / "manifest.json").read_text(encoding="utf-8"))
FOOTER_PLACEHOLDERS = ("unsubscribe_url", "sender.postal_address", "webversion_url")


@pytest.fixture(autouse=True)
def _english():
    with translation.override("en"):
        yield


def items_of(tenant: Tenant) -> list[ContentItem]:
    with scope(tenant=tenant.pk):
        return list(ContentItem.objects.filter(tenant=tenant).order_by("pk"))


def folders_of(tenant: Tenant) -> list[Folder]:
    with scope(tenant=tenant.pk):
        return list(Folder.objects.filter(tenant=tenant).order_by("pk"))


def manifest_files(suffix: str) -> list[tuple[dict, Path]]:
    return [
        (entry, STANDARD_DIR / entry["files"][suffix])
        for entry in MANIFEST["items"]
        if suffix in entry.get("files", {})
    ]


def file_id(value: object) -> str:
    return str(value.relative_to(STANDARD_DIR)) if isinstance(value, Path) else ""


# ---- the files ------------------------------------------------------------------------------


def test_the_set_has_both_languages_and_every_kind():
    content = standard_set()
    assert standard_set() is content  # read once per process
    for language in ("en", "de"):
        kinds = [item.kind for item in content.items if item.language == language]
        assert 8 <= len(kinds) <= 12
        assert set(kinds) == set(ContentKind.values)
        assert sum(f.language == language for f in content.folders) >= 1
    assert len(content.items) == len(MANIFEST["items"])
    assert len(content.folders) == len(MANIFEST["folders"])


@pytest.mark.parametrize(("entry", "path"), manifest_files("html"), ids=file_id)
def test_every_standard_html_is_clean_and_email_safe(entry, path):
    raw = path.read_text(encoding="utf-8")
    # Stored exactly as in the file: sanitising changes nothing, and is idempotent.
    assert sanitize_html(raw) == raw.strip()
    assert sanitize_html(sanitize_html(raw)) == sanitize_html(raw)
    is_template = entry["kind"] == ContentKind.TEMPLATE
    check_placeholders(raw, field="html", allow_content=is_template)
    assert "<div" not in raw  # tables and paragraphs only: what every e-mail client lays out
    for image in re.findall(r"<img\b[^>]*>", raw):
        alt = re.search(r'\balt="([^"]*)"', image)
        assert alt and alt.group(1).strip(), image
        assert 'width="600"' in image and "max-width:600px" in image and "height:auto" in image
    if is_template:
        used = placeholders_in(raw)
        assert "content" in used
        assert all(name in used for name in FOOTER_PLACEHOLDERS), path
        assert 'width="600"' in raw and "max-width:600px" in raw
        assert f'lang="{entry["language"]}"' in raw


@pytest.mark.parametrize(("entry", "path"), manifest_files("text"), ids=file_id)
def test_every_text_part_has_valid_placeholders(entry, path):
    text = path.read_text(encoding="utf-8")
    is_template = entry["kind"] == ContentKind.TEMPLATE
    check_placeholders(text, field="text", allow_content=is_template)
    assert "<" not in text
    if is_template:
        assert all(name in placeholders_in(text) for name in FOOTER_PLACEHOLDERS), path
    html_path = STANDARD_DIR / entry["files"]["html"]
    # The text part says what the HTML part says: the same placeholders.
    assert set(placeholders_in(text)) <= set(placeholders_in(html_path.read_text()))


def test_every_manifest_file_is_used_and_exists():
    referenced = {
        STANDARD_DIR / path
        for entry in MANIFEST["items"]
        for path in entry.get("files", {}).values()
    }
    on_disk = {p for p in STANDARD_DIR.rglob("*") if p.is_file() and p.name != "manifest.json"}
    assert referenced == on_disk


def test_subjects_and_names_are_fit_for_the_library():
    content = standard_set()
    names = [(item.kind, item.name) for item in content.items]
    assert len(names) == len(set(names))  # no name conflicts between the languages
    for item in content.items:
        check_placeholders(item.subject, field="subject")
        check_placeholders(item.preheader, field="preheader")
        if item.kind == ContentKind.CAMPAIGN_DRAFT:
            assert item.subject and item.preheader and not item.html


# ---- the loader refuses broken files ----------------------------------------------------------


@pytest.fixture
def broken_copy(tmp_path):
    target = tmp_path / "standard"
    shutil.copytree(STANDARD_DIR, target)
    return target


def edit_manifest(directory: Path, change) -> None:
    path = directory / "manifest.json"
    data = json.loads(path.read_text(encoding="utf-8"))
    change(data)
    path.write_text(json.dumps(data), encoding="utf-8")


def entry(data: dict, item_id: str) -> dict:
    return next(e for e in data["items"] if e["id"] == item_id)


def test_the_copy_loads_like_the_original(broken_copy):
    copy = load_standard_set(broken_copy)
    assert [i.key for i in copy.items] == [i.key for i in standard_set().items]


def test_unknown_placeholder_fails_loudly_naming_the_file(broken_copy):
    path = broken_copy / "en" / "blocks" / "greeting.html"
    path.write_text(path.read_text() + "<p>{{ contact.nickname }}</p>")
    with pytest.raises(StandardContentError, match=r"greeting\.html.*contact\.nickname"):
        load_standard_set(broken_copy)


def test_content_placeholder_outside_a_template_fails(broken_copy):
    path = broken_copy / "de" / "blocks" / "sign-off.txt"
    path.write_text("{{ content }}")
    with pytest.raises(StandardContentError, match="de/block/sign-off"):
        load_standard_set(broken_copy)


def test_dangerous_markup_is_sanitised_at_load(broken_copy):
    path = broken_copy / "en" / "blocks" / "sign-off.html"
    path.write_text('<p onclick="x()">Bye<script>alert(1)</script></p>')
    item = next(i for i in load_standard_set(broken_copy).items if i.id == "en/block/sign-off")
    assert item.html == "<p>Bye</p>"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: entry(d, "en/draft/monthly-newsletter")["blocks"].append("en/block/x"), "text"),
        (
            lambda d: entry(d, "en/draft/monthly-newsletter").update(
                template="de/template/newsletter"
            ),
            "template",
        ),
        (lambda d: entry(d, "de/block/greeting").update(name="Begrüßung " * 30), "name"),
        (lambda d: entry(d, "de/block/greeting").update(name="Greeting"), "appears twice"),
        (lambda d: entry(d, "de/block/greeting").update(language="fr"), "language"),
        (lambda d: entry(d, "de/block/greeting").update(folder="en/folder/text-blocks"), "folder"),
        (lambda d: entry(d, "de/block/greeting")["files"].update(html="../../x.html"), "outside"),
        (lambda d: entry(d, "de/template/welcome").update(id="de/template/newsletter"), "twice"),
        (
            lambda d: entry(d, "de/image/banner")["files"].update(image="de/blocks/greeting.txt"),
            "image",
        ),
    ],
)
def test_inconsistent_manifest_fails(broken_copy, change, message):
    edit_manifest(broken_copy, change)
    with pytest.raises(StandardContentError, match=message):
        load_standard_set(broken_copy)


def test_image_of_another_language_is_refused(broken_copy):
    path = broken_copy / "de" / "templates" / "welcome.html"
    de_key, en_key = standard_key("de/image/banner"), standard_key("en/image/banner")
    path.write_text(path.read_text().replace(str(de_key), str(en_key)))
    with pytest.raises(StandardContentError, match="image"):
        load_standard_set(broken_copy)


# ---- provisioning ----------------------------------------------------------------------------


def test_standard_tenant_gets_the_whole_set(world):
    content = standard_set()
    items = items_of(world.kunde1)
    folders = folders_of(world.kunde1)
    assert len(items) == len(content.items) and len(folders) == len(content.folders)
    assert {item.language for item in items} == {"en", "de"}
    folder_by_pk = {folder.pk: folder for folder in folders}
    by_key = {item.key: item for item in items}
    for expected in content.items:
        item = by_key[standard_key(expected.id)]
        assert (item.kind, item.name, item.language) == (
            expected.kind,
            expected.name,
            expected.language,
        )
        assert item.html == expected.html and item.text == expected.text
        assert item.subject == expected.subject and item.preheader == expected.preheader
        assert item.version == 1 and item.copied_version == 1 and not item.changed_since_copy
        assert item.origin_tenant_id is None and item.origin_item_id is None
        assert item.origin_version is None and item.deleted_at is None
        assert item.created_by == world.paula and item.updated_by == world.paula
        assert item.created_at == item.updated_at
        assert list(item.asset_keys) == asset_keys_in(item.html)
        if expected.folder_id is None:
            assert item.folder_id is None
        else:
            folder = folder_by_pk[item.folder_id]
            assert folder.key == standard_key(expected.folder_id)
        if item.kind == ContentKind.ASSET:
            blob = AssetBlob.objects.get(pk=item.blob_id)
            assert bytes(blob.data) == expected.image.data
            assert (blob.content_type, blob.width, blob.height) == ("image/png", 1200, 360)
        else:
            assert item.blob_id is None


def test_references_resolve_inside_the_tenant(world):
    items = items_of(world.filiale)
    by_key = {str(item.key): item for item in items}
    drafts = [item for item in items if item.kind == ContentKind.CAMPAIGN_DRAFT]
    assert len(drafts) == 2
    for draft in drafts:
        template = by_key[str(draft.template_key)]
        assert template.kind == ContentKind.TEMPLATE and template.language == draft.language
        assert len(draft.block_keys) >= 2
        for key in draft.block_keys:
            block = by_key[key]
            assert block.kind == ContentKind.TEXT_BLOCK and block.language == draft.language
    for item in items:
        for key in item.asset_keys:
            assert by_key[key].kind == ContentKind.ASSET
            assert by_key[key].language == item.language


def test_the_draft_previews_as_a_whole_newsletter(world):
    items = items_of(world.kunde1)
    draft = next(i for i in items if i.key == standard_key("de/draft/monthly-newsletter"))
    html, text = render_preview(tenant=world.kunde1, item=draft, asset_url=lambda key: "/x")
    assert "Kunde Eins" in html and "Überschrift in wenigen Worten" in html  # template + blocks
    body = html.split("<body>", 1)[1]  # (the <title> is render_preview's business)
    assert "Mit freundlichen Grüßen" in body and "{{" not in body
    assert "#unsubscribe" in html and "Example Street 1" in html
    assert "Überschrift in wenigen Worten".upper() in text and "{{" not in text


def test_custom_tenant_starts_empty(world):
    assert items_of(world.kunde2) == [] and folders_of(world.kunde2) == []
    # The platform root is created by a migration and gets nothing either.
    assert items_of(world.root) == []


def test_two_tenants_share_keys_but_not_rows(world):
    one, two = items_of(world.kunde1), items_of(world.fremd)
    assert {i.key for i in one} == {i.key for i in two}
    assert not {i.pk for i in one} & {i.pk for i in two}
    one_folders, two_folders = folders_of(world.kunde1), folders_of(world.fremd)
    assert {f.key for f in one_folders} == {f.key for f in two_folders}
    assert not {f.pk for f in one_folders} & {f.pk for f in two_folders}
    # Each tenant's items sit in its own folders.
    assert {i.folder_id for i in one if i.folder_id} <= {f.pk for f in one_folders}
    # The image bytes are stored once for everybody.
    blobs = {i.blob_id for i in one + two if i.blob_id}
    assert len(blobs) == 1 and AssetBlob.objects.count() == 1


def test_create_many_provisions_every_standard_row(world):
    results = tenant_create_many(
        actor=Actor(user=world.paula),
        master=world.alpha,
        rows=[
            NewTenant(name="Import Eins"),
            NewTenant(name="Import Zwei", type="CUSTOM"),
            NewTenant(name="Kunde Eins"),  # taken: refused, nothing provisioned
            NewTenant(name="Import Drei", version="ENTERPRISE"),
        ],
    )
    eins, zwei, taken, drei = results
    assert isinstance(eins, Tenant) and isinstance(zwei, Tenant) and isinstance(drei, Tenant)
    assert not isinstance(taken, Tenant)
    count = len(standard_set().items)
    assert len(items_of(eins)) == len(items_of(drei)) == count
    assert items_of(zwei) == [] and folders_of(zwei) == []
    assert {i.key for i in items_of(eins)} == {i.key for i in items_of(drei)}
    assert all(i.created_by == world.paula for i in items_of(drei))
    with scopes_disabled():  # counting across all tenants on purpose
        assert ContentItem.objects.count() == count * 6  # alpha, fremd, kunde1, filiale + 2


def test_a_failure_in_provisioning_creates_no_tenant(world, monkeypatch):
    def fail(**kwargs):
        raise RuntimeError("disk on fire")

    monkeypatch.setattr("mandant.tenants.services.standard_content_provision", fail)
    with pytest.raises(RuntimeError):
        tenant_create(
            actor=Actor(user=world.paula),
            name="Halbfertig",
            type="STANDARD",
            version="BASIC",
            master=world.alpha,
        )
    assert not Tenant.objects.filter(name="Halbfertig").exists()


def test_provision_of_nobody_is_a_no_op(db, django_assert_num_queries):
    with django_assert_num_queries(0):
        assert standard_content_provision(tenants=[]) == 0


def provision_queries(world, tenants: list[Tenant]) -> int:
    # Clean libraries for a second provisioning of the same tenants.
    with scopes_disabled():
        ContentItem.objects.filter(tenant__in=tenants).delete()
        Folder.objects.filter(tenant__in=tenants).delete()
    with CaptureQueriesContext(connection) as ctx:
        standard_content_provision(tenants=tenants, user=world.paula)
    return len(ctx.captured_queries)


def fixed_queries() -> int:
    """Blob look-up, folders, (folder ids where INSERT cannot return them), items."""
    return 3 if connection.features.can_return_rows_from_bulk_insert else 4


def test_provisioning_queries_do_not_grow_with_the_items(world, monkeypatch):
    assert provision_queries(world, [world.kunde1]) == fixed_queries()
    content = standard_set()
    tripled = dataclasses.replace(
        content,
        items=tuple(
            dataclasses.replace(item, id=f"{item.id}#{n}", key=standard_key(f"{item.id}#{n}"))
            for n in range(3)
            for item in content.items
        ),
    )
    monkeypatch.setattr(standard, "standard_set", lambda: tripled)
    assert provision_queries(world, [world.kunde1]) == fixed_queries()
    assert len(items_of(world.kunde1)) == 3 * len(content.items)


def test_provisioning_many_tenants_is_a_few_statements(
    world, monkeypatch, django_assert_max_num_queries
):
    tenants = [world.kunde1, world.filiale, world.fremd, world.alpha]
    rows = len(tenants) * len(standard_set().items)
    assert provision_queries(world, tenants) == fixed_queries()
    assert all(len(items_of(tenant)) == len(standard_set().items) for tenant in tenants)
    # Very many tenants: one INSERT per ITEM_BATCH_SIZE rows, and not one row lost.
    with scopes_disabled():
        ContentItem.objects.filter(tenant__in=tenants).delete()
        Folder.objects.filter(tenant__in=tenants).delete()
    batch = 7
    monkeypatch.setattr(standard, "ITEM_BATCH_SIZE", batch)
    folder_batches = math.ceil(len(tenants) * len(standard_set().folders) / batch)
    allowed = fixed_queries() - 2 + folder_batches + math.ceil(rows / batch)
    with django_assert_max_num_queries(allowed):
        assert standard_content_provision(tenants=tenants) == rows
    keys = {item.key for item in standard_set().items}
    for tenant in tenants:
        assert {item.key for item in items_of(tenant)} == keys
    assert all(item.created_by is None for item in items_of(world.fremd))
