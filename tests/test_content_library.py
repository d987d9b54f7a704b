"""The content library of a tenant: items, versions, the bin, folders, images, permissions."""

import io
import uuid
from datetime import timedelta

import pytest
import time_machine
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.utils import timezone, translation
from django_scopes import scope, scopes_disabled

import logo_corpus as corpus
from conftest import PASSWORD
from mandant.accounts.roles import Role
from mandant.accounts.services import membership_set, user_create
from mandant.audit.models import AuditEntry
from mandant.content import selectors, services
from mandant.content.assets import AssetUpload
from mandant.content.models import AssetBlob, ContentItem, ContentKind, ContentVersion, Folder
from mandant.core.actor import Actor
from mandant.core.errors import NotFound, PermissionDenied


@pytest.fixture(autouse=True)
def _english():
    with translation.override("en"):
        yield


@pytest.fixture
def carl(world) -> Actor:
    return world.actor(world.carl)


@pytest.fixture
def viewer(world) -> Actor:
    user = user_create(email="vera@kunde-eins.example", password=PASSWORD)
    membership_set(actor=None, tenant=world.kunde1, user=user, role=Role.VIEWER)
    return Actor(user=user)


def png_upload(width: int = 40, height: int = 20, name: str = "image.png") -> AssetUpload:
    return AssetUpload(data=corpus.png(width, height), filename=name)


def errors(exc: ValidationError) -> dict[str, list[str]]:
    return {field: [str(m) for m in msgs] for field, msgs in exc.message_dict.items()}


def refused(**kwargs) -> dict[str, list[str]]:  # type: ignore[no-untyped-def]
    with pytest.raises(ValidationError) as info:
        services.item_create(**kwargs)
    return errors(info.value)


def count_items(tenant) -> int:  # type: ignore[no-untyped-def]
    with scopes_disabled():
        return ContentItem.objects.filter(tenant=tenant).count()


def audit_actions(tenant, prefix: str = "content.") -> list[str]:  # type: ignore[no-untyped-def]
    return list(
        AuditEntry.objects.filter(tenant=tenant, action__startswith=prefix)
        .order_by("pk")
        .values_list("action", flat=True)
    )


def make(actor, tenant, kind="text_block", name="Item", **fields) -> ContentItem:  # type: ignore[no-untyped-def]
    return services.item_create(actor=actor, tenant=tenant, kind=kind, name=name, **fields)


def asset(actor, tenant, name="Logo", **kwargs) -> ContentItem:  # type: ignore[no-untyped-def]
    return make(actor, tenant, kind=ContentKind.ASSET, name=name, asset=png_upload(**kwargs))


# --- creating each kind --------------------------------------------------------------------------


def test_create_template_sanitises_html_and_records_who_and_when(world, carl):
    template = make(
        carl,
        world.kunde1,
        kind="template",
        name="  Newsletter  ",
        subject="News for {{ contact.first_name }}",
        preheader="This month",
        html='<p onclick="x()">Hi {{ contact.first_name }}</p><script>x()</script>{{ content }}'
        '<a href="{{ unsubscribe_url }}">Unsubscribe</a>',
        text="Hi {{ contact.first_name }}\n\n{{ content }}",
        language="de",
    )

    template.refresh_from_db()
    assert template.kind == ContentKind.TEMPLATE
    assert template.name == "Newsletter"
    assert template.html == (
        "<p>Hi {{ contact.first_name }}</p>{{ content }}"
        '<a href="{{ unsubscribe_url }}" rel="noopener noreferrer">Unsubscribe</a>'
    )
    assert template.text == "Hi {{ contact.first_name }}\n\n{{ content }}"
    assert template.version == 1
    assert template.created_by == template.updated_by == world.carl
    assert template.created_at == template.updated_at
    assert template.language == "de"
    assert template.deleted_at is None
    assert template.origin_item_id is None


def test_create_text_block(world, carl):
    block = make(carl, world.kunde1, name="Intro", html="<p>Hello</p>", text="Hello")

    assert block.kind == ContentKind.TEXT_BLOCK
    assert (block.html, block.text) == ("<p>Hello</p>", "Hello")


def test_create_campaign_draft_refers_to_template_and_blocks_by_key(world, carl):
    template = make(carl, world.kunde1, kind="template", name="T", html="<div>{{ content }}</div>")
    first = make(carl, world.kunde1, name="First", html="<p>one</p>")
    second = make(carl, world.kunde1, name="Second", html="<p>two</p>")

    draft = make(
        carl,
        world.kunde1,
        kind="campaign_draft",
        name="Spring sale",
        subject="Spring {{ contact.first_name }}",
        preheader="Only this week",
        sender_alias="Kunde Eins",
        reply_to="info@kunde-eins.example",
        template=template,
        blocks=[second, first.pk],  # instances or ids
    )

    assert draft.template_key == template.key
    assert draft.block_keys == [str(second.key), str(first.key)]
    assert draft.reply_to == "info@kunde-eins.example"
    from mandant.content.html import render_preview

    document, _text = render_preview(tenant=world.kunde1, item=draft)
    assert "<div><p>two</p>\n<p>one</p></div>" in document


def test_create_image_stores_the_bytes_once(world, carl):
    image = asset(carl, world.kunde1, width=64, height=32)

    assert image.kind == ContentKind.ASSET
    assert image.html == image.text == ""
    blob = AssetBlob.objects.get(pk=image.blob_id)
    assert (blob.width, blob.height, blob.content_type) == (64, 32, "image/png")
    assert bytes(blob.data) == corpus.png(64, 32)  # kept byte for byte
    assert blob.size == len(corpus.png(64, 32))


# --- validation ----------------------------------------------------------------------------------


def test_name_is_required_trimmed_bounded_and_single_line(world, carl):
    base = {"actor": carl, "tenant": world.kunde1, "kind": "text_block"}
    assert "name" in refused(**base, name="   ")
    assert "201" in refused(**base, name="x" * 201)["name"][0]
    assert "control" in refused(**base, name="Two\nlines")["name"][0]
    assert "control" in refused(**base, name="Bell\x07")["name"][0]
    assert make(carl, world.kunde1, name="x" * 200).name == "x" * 200


def test_kind_must_be_a_content_kind(world, carl):
    message = refused(actor=carl, tenant=world.kunde1, kind="contact", name="X")["kind"][0]
    assert "contact" in message and "template" in message


def test_all_field_errors_come_at_once_and_nothing_is_written(world, carl):
    before = count_items(world.kunde1)

    problems = refused(
        actor=carl,
        tenant=world.kunde1,
        kind="campaign_draft",
        name="",
        subject="Hi {{ nope }}",
        reply_to="not-an-address",
        html="<p>x</p>",
    )

    assert set(problems) == {"name", "subject", "reply_to", "html"}
    assert "{{ nope }}" in problems["subject"][0]
    assert "not-an-address" in problems["reply_to"][0]
    assert "does not apply" in problems["html"][0]
    assert count_items(world.kunde1) == before
    assert audit_actions(world.kunde1) == []


def test_header_fields_must_be_one_line(world, carl):
    problems = refused(
        actor=carl,
        tenant=world.kunde1,
        kind="campaign_draft",
        name="D",
        subject="Hi\r\nBcc: victim@example.com",
        sender_alias="A" * 101,
    )
    assert "one line" in problems["subject"][0]
    assert "101" in problems["sender_alias"][0]


def test_unknown_placeholder_in_html_or_text_is_refused_naming_it(world, carl):
    problems = refused(
        actor=carl,
        tenant=world.kunde1,
        kind="template",
        name="T",
        html="<p>{{ contact.vorname }}</p>",
        text="{{ kunde.name }}",
        preheader="{{ first name }}",
    )
    assert "{{ contact.vorname }}" in problems["html"][0]
    assert "{{ kunde.name }}" in problems["text"][0]
    assert "{{ first name }}" in problems["preheader"][0]


def test_content_placeholder_is_for_templates_only(world, carl):
    problems = refused(
        actor=carl, tenant=world.kunde1, kind="text_block", name="B", html="{{ content }}"
    )
    assert "templates" in problems["html"][0]


def test_fields_of_other_kinds_are_refused(world, carl):
    problems = refused(
        actor=carl,
        tenant=world.kunde1,
        kind="template",
        name="T",
        sender_alias="Someone",
        asset=png_upload(),
    )
    assert set(problems) == {"sender_alias", "asset"}


def test_draft_references_must_be_live_items_of_the_same_tenant(world, carl):
    eve = world.actor(world.eve)
    foreign_template = make(eve, world.fremd, kind="template", name="Foreign T")
    foreign_block = make(eve, world.fremd, name="Foreign B")
    own_block = make(carl, world.kunde1, name="Own B")
    binned_template = make(carl, world.kunde1, kind="template", name="Binned T")
    services.item_delete(actor=carl, tenant=world.kunde1, item=binned_template)
    base = {"actor": carl, "tenant": world.kunde1, "kind": "campaign_draft", "name": "D"}

    assert "Foreign T" in refused(**base, template=foreign_template)["template"][0]
    assert "Binned T" in refused(**base, template=binned_template)["template"][0]
    assert "Own B" in refused(**base, template=own_block)["template"][0]  # not a template
    assert "999999" in refused(**base, template=999999)["template"][0]
    message = refused(**base, blocks=[own_block, foreign_block])["blocks"][0]
    assert "Foreign B" in message and "Own B" not in message


def test_folder_and_language_are_checked(world, carl):
    foreign_folder = services.folder_create(
        actor=world.actor(world.eve), tenant=world.fremd, name="F"
    )
    problems = refused(
        actor=carl,
        tenant=world.kunde1,
        kind="text_block",
        name="B",
        folder=foreign_folder,
        language="fr",
    )
    assert set(problems) == {"folder", "language"}


def test_image_needs_a_file(world, carl):
    problems = refused(actor=carl, tenant=world.kunde1, kind="asset", name="Logo")
    assert "file" in problems


# --- image references in HTML --------------------------------------------------------------------


def test_html_images_must_be_live_images_of_this_tenant(world, carl):
    own = asset(carl, world.kunde1)
    foreign = asset(world.actor(world.eve), world.fremd)
    binned = asset(carl, world.kunde1, name="Old", width=2, height=2)
    services.item_delete(actor=carl, tenant=world.kunde1, item=binned)
    base = {"actor": carl, "tenant": world.kunde1, "kind": "text_block", "name": "B"}

    block = make(carl, world.kunde1, html=f'<img src="asset:{own.key}" alt="">')
    assert block.asset_keys == [str(own.key)]

    message = refused(**base, html=f'<img src="asset:{foreign.key}">')["html"][0]
    assert f"asset:{foreign.key}" in message
    assert (
        f"asset:{binned.key}" in refused(**base, html=f'<img src="asset:{binned.key}">')["html"][0]
    )
    assert "asset:nonsense" in refused(**base, html='<img src="asset:nonsense">')["html"][0]
    assert f"asset:{own.key}" not in refused(
        **base, html=f'<img src="asset:{own.key}"><img src="asset:{foreign.key}">'
    )["html"][0].replace(f"asset:{foreign.key}", "")


# --- updates and versions ------------------------------------------------------------------------


def test_update_keeps_the_old_state_as_a_version(world, carl):
    with time_machine.travel(timezone.now() - timedelta(hours=1), tick=False):
        block = make(carl, world.kunde1, name="Intro", html="<p>old</p>", text="old")
    created_at = block.updated_at
    paula = world.actor(world.paula)

    updated = services.item_update(
        actor=paula, tenant=world.kunde1, item=block, html="<p>new</p><script>x</script>"
    )

    assert block.version == 1  # the caller's instance still shows the state before
    assert updated.version == 2
    assert updated.html == "<p>new</p>"
    assert updated.updated_by == world.paula
    assert updated.updated_at > created_at
    with scope(tenant=world.kunde1.pk):
        old = ContentVersion.objects.get(item=block)
    assert (old.number, old.html, old.text, old.name) == (1, "<p>old</p>", "old", "Intro")
    assert old.saved_at == created_at
    assert old.saved_by == world.carl
    block.refresh_from_db()
    assert block.version == 2 and block.html == "<p>new</p>"


def test_an_update_that_changes_nothing_writes_nothing(world, carl):
    block = make(carl, world.kunde1, name="Intro", html="<p>same</p>")
    audit_before = audit_actions(world.kunde1)

    services.item_update(
        actor=carl, tenant=world.kunde1, item=block, name=" Intro ", html="<p>same</p>"
    )

    block.refresh_from_db()
    assert block.version == 1
    with scope(tenant=world.kunde1.pk):
        assert not ContentVersion.objects.filter(item=block).exists()
    assert audit_actions(world.kunde1) == audit_before


def test_moving_to_a_folder_is_not_a_new_version(world, carl):
    folder = services.folder_create(actor=carl, tenant=world.kunde1, name="Spring")
    block = make(carl, world.kunde1)

    services.item_update(actor=carl, tenant=world.kunde1, item=block, folder=folder)

    block.refresh_from_db()
    assert block.folder_id == folder.pk
    assert block.version == 1
    assert audit_actions(world.kunde1)[-1] == "content.item.update"


def test_update_validates_like_create_and_writes_nothing_on_error(world, carl):
    block = make(carl, world.kunde1, name="Intro", html="<p>ok</p>")

    with pytest.raises(ValidationError) as info:
        services.item_update(
            actor=carl, tenant=world.kunde1, item=block, name="", html="{{ unknown }}"
        )

    assert set(errors(info.value)) == {"name", "html"}
    block.refresh_from_db()
    assert (block.name, block.html, block.version) == ("Intro", "<p>ok</p>", 1)
    with pytest.raises(ValidationError) as info:
        services.item_update(actor=carl, tenant=world.kunde1, item=block, kind="template")
    assert "kind" in errors(info.value)


def test_image_update_with_a_new_file_is_a_new_version(world, carl):
    image = asset(carl, world.kunde1, width=10, height=10)
    first_blob = image.blob_id

    image = services.item_update(
        actor=carl, tenant=world.kunde1, item=image, asset=png_upload(20, 20, "new.png")
    )

    assert image.blob_id != first_blob
    assert image.version == 2
    with scope(tenant=world.kunde1.pk):
        assert ContentVersion.objects.get(item=image).blob_id == first_blob


def test_version_restore_brings_old_content_back_as_a_new_version(world, carl):
    draft_template = make(carl, world.kunde1, kind="template", name="T1")
    other_template = make(carl, world.kunde1, kind="template", name="T2")
    draft = make(carl, world.kunde1, kind="campaign_draft", name="D", template=draft_template)
    services.item_update(actor=carl, tenant=world.kunde1, item=draft, subject="v2")
    services.item_update(
        actor=carl, tenant=world.kunde1, item=draft, subject="v3", template=other_template
    )

    services.item_version_restore(actor=carl, tenant=world.kunde1, item=draft, number=1)

    draft.refresh_from_db()
    assert draft.version == 4
    assert (draft.subject, draft.template_key) == ("", draft_template.key)
    history = selectors.item_history(tenant=world.kunde1, item=draft)
    assert [row.number for row in history] == [4, 3, 2, 1]
    assert [row.current for row in history] == [True, False, False, False]
    assert history[0].saved_by == world.carl
    assert audit_actions(world.kunde1)[-1] == "content.item.version_restore"
    with pytest.raises(NotFound):
        services.item_version_restore(actor=carl, tenant=world.kunde1, item=draft, number=99)


def test_version_restore_refuses_when_a_used_image_is_gone(world, carl):
    image = asset(carl, world.kunde1)
    block = make(carl, world.kunde1, html=f'<img src="asset:{image.key}">')
    services.item_update(actor=carl, tenant=world.kunde1, item=block, html="<p>no image</p>")
    services.item_delete(actor=carl, tenant=world.kunde1, item=image)

    with pytest.raises(ValidationError) as info:
        services.item_version_restore(actor=carl, tenant=world.kunde1, item=block, number=1)

    assert f"asset:{image.key}" in errors(info.value)["html"][0]
    block.refresh_from_db()
    assert block.version == 2


# --- duplicate -----------------------------------------------------------------------------------


def test_duplicate_is_an_independent_copy(world, carl):
    folder = services.folder_create(actor=carl, tenant=world.kunde1, name="F")
    image = asset(carl, world.kunde1)
    services.item_update(actor=carl, tenant=world.kunde1, item=image, folder=folder)
    with scopes_disabled():
        ContentItem.objects.filter(pk=image.pk).update(origin_item_id=1, origin_version=1)

    copy = services.item_duplicate(actor=carl, tenant=world.kunde1, item=image)

    assert copy.pk != image.pk and copy.key != image.key
    assert copy.name == "Copy of Logo"
    assert copy.blob_id == image.blob_id
    assert copy.folder_id == folder.pk
    assert copy.version == 1
    assert copy.origin_item_id is None and copy.copied_version is None
    assert audit_actions(world.kunde1)[-1] == "content.item.duplicate"


# --- the bin -------------------------------------------------------------------------------------


def test_delete_moves_to_the_bin_and_restore_brings_it_back(world, carl):
    block = make(carl, world.kunde1, name="Bin me")

    services.item_delete(actor=carl, tenant=world.kunde1, item=block)

    assert block.deleted_at is not None and block.deleted_by == world.carl
    assert block not in selectors.item_list(tenant=world.kunde1, q="Bin me").items
    assert [i.pk for i in selectors.bin_list(tenant=world.kunde1)] == [block.pk]
    with pytest.raises(NotFound):
        selectors.item_get(tenant=world.kunde1, pk=block.pk)
    binned = selectors.item_get(tenant=world.kunde1, pk=block.pk, deleted=True)
    with pytest.raises(ValidationError):
        services.item_update(actor=carl, tenant=world.kunde1, item=binned, name="X")
    with pytest.raises(ValidationError):
        services.item_delete(actor=carl, tenant=world.kunde1, item=binned)

    restored = services.item_restore(actor=carl, tenant=world.kunde1, item=binned)

    assert restored.deleted_at is None and restored.deleted_by is None
    assert selectors.item_get(tenant=world.kunde1, pk=block.pk).pk == block.pk
    assert selectors.bin_list(tenant=world.kunde1) == []
    with pytest.raises(ValidationError):
        services.item_restore(actor=carl, tenant=world.kunde1, item=restored)
    assert audit_actions(world.kunde1)[-2:] == ["content.item.delete", "content.item.restore"]


def test_bin_is_purged_after_30_days(world, carl):
    start = timezone.now()
    with time_machine.travel(start, tick=False):
        old_image = asset(carl, world.kunde1, name="Old", width=3, height=3)
        shared = asset(carl, world.kunde1, name="Shared", width=4, height=4)
        shared_copy = services.item_duplicate(actor=carl, tenant=world.kunde1, item=shared)
        old = make(carl, world.kunde1, name="Old block")
        services.item_update(actor=carl, tenant=world.kunde1, item=old, text="v2")
        for item in (old, old_image, shared):
            services.item_delete(actor=carl, tenant=world.kunde1, item=item)
    with time_machine.travel(start + timedelta(days=10), tick=False):
        recent = make(carl, world.kunde1, name="Recent")
        services.item_delete(actor=carl, tenant=world.kunde1, item=recent)

    assert services.bin_purge(now=start + timedelta(days=29)) == 0
    with time_machine.travel(start + timedelta(days=31), tick=False):
        out = io.StringIO()
        call_command("content", "purge-bin", stdout=out)

    assert out.getvalue().strip() == "3 items purged from the bin"
    with scopes_disabled():
        remaining = set(
            ContentItem.objects.filter(tenant=world.kunde1).values_list("pk", flat=True)
        )
        assert not ContentVersion.objects.filter(item_id=old.pk).exists()
    assert {old.pk, old_image.pk, shared.pk}.isdisjoint(remaining)
    assert {recent.pk, shared_copy.pk} <= remaining
    # Bytes still shown by the duplicate stay; bytes nobody uses are gone.
    assert AssetBlob.objects.filter(pk=shared.blob_id).exists()
    assert not AssetBlob.objects.filter(pk=old_image.blob_id).exists()
    purge = AuditEntry.objects.get(action="content.bin.purge")
    assert purge.tenant_id == world.kunde1.pk and purge.changes["count"] == 3


# --- folders -------------------------------------------------------------------------------------


def test_folders_form_a_tree(world, carl):
    b = services.folder_create(actor=carl, tenant=world.kunde1, name="  B  ")
    a = services.folder_create(actor=carl, tenant=world.kunde1, name="a")
    b1 = services.folder_create(actor=carl, tenant=world.kunde1, name="B1", parent=b)
    a1 = services.folder_create(actor=carl, tenant=world.kunde1, name="A1", parent=a)
    b1x = services.folder_create(actor=carl, tenant=world.kunde1, name="X", parent=b1)

    tree = selectors.folder_tree(tenant=world.kunde1)
    ours = [(f.pk, depth) for f, depth in tree if f.pk in {a.pk, b.pk, a1.pk, b1.pk, b1x.pk}]

    assert ours == [(a.pk, 0), (a1.pk, 1), (b.pk, 0), (b1.pk, 1), (b1x.pk, 2)]
    assert b.name == "B"
    assert selectors.folder_get(tenant=world.kunde1, pk=b1.pk) == b1
    with pytest.raises(NotFound):
        selectors.folder_get(tenant=world.fremd, pk=b1.pk)


def test_folder_names_are_checked(world, carl):
    services.folder_create(actor=carl, tenant=world.kunde1, name="Spring")
    foreign = services.folder_create(actor=world.actor(world.eve), tenant=world.fremd, name="F")

    for name, field in (("", "name"), ("x" * 101, "name"), ("spring", "name"), ("a\nb", "name")):
        with pytest.raises(ValidationError) as info:
            services.folder_create(actor=carl, tenant=world.kunde1, name=name)
        assert field in errors(info.value), name
    with pytest.raises(ValidationError) as info:
        services.folder_create(actor=carl, tenant=world.kunde1, name="Sub", parent=foreign)
    assert "parent" in errors(info.value)


def test_folder_rename(world, carl):
    folder = services.folder_create(actor=carl, tenant=world.kunde1, name="Old")
    services.folder_create(actor=carl, tenant=world.kunde1, name="Taken")

    services.folder_rename(actor=carl, tenant=world.kunde1, folder=folder, name="New")

    folder.refresh_from_db()
    assert folder.name == "New"
    assert audit_actions(world.kunde1)[-1] == "content.folder.rename"
    audited = len(audit_actions(world.kunde1))
    with pytest.raises(ValidationError):
        services.folder_rename(actor=carl, tenant=world.kunde1, folder=folder, name="taken")
    services.folder_rename(actor=carl, tenant=world.kunde1, folder=folder, name="New")  # no-op
    assert len(audit_actions(world.kunde1)) == audited


def test_folder_delete_only_when_empty(world, carl):
    parent = services.folder_create(actor=carl, tenant=world.kunde1, name="Parent")
    child = services.folder_create(actor=carl, tenant=world.kunde1, name="Child", parent=parent)
    block = make(carl, world.kunde1, folder=child)
    binned = make(carl, world.kunde1, name="Binned", folder=child)
    services.item_delete(actor=carl, tenant=world.kunde1, item=binned)

    with pytest.raises(ValidationError) as info:
        services.folder_delete(actor=carl, tenant=world.kunde1, folder=parent)
    assert "1 folders" in info.value.messages[0]
    with pytest.raises(ValidationError) as info:
        services.folder_delete(actor=carl, tenant=world.kunde1, folder=child)
    assert "1 items" in info.value.messages[0]

    services.item_update(actor=carl, tenant=world.kunde1, item=block, folder=None)
    services.folder_delete(actor=carl, tenant=world.kunde1, folder=child)
    services.folder_delete(actor=carl, tenant=world.kunde1, folder=parent)

    with scope(tenant=world.kunde1.pk):
        assert not Folder.objects.filter(pk__in=[parent.pk, child.pk]).exists()
        binned.refresh_from_db()
    assert binned.folder_id is None and binned.deleted_at is not None
    assert audit_actions(world.kunde1).count("content.folder.delete") == 2


# --- lists and search ----------------------------------------------------------------------------


def test_item_list_searches_filters_and_pages(world, carl):
    folder = services.folder_create(actor=carl, tenant=world.kunde1, name="F")
    make(carl, world.kunde1, kind="template", name="Zebra", subject="Autumn offer")
    make(carl, world.kunde1, kind="campaign_draft", name="Autumn campaign")
    make(carl, world.kunde1, name="Other", folder=folder)
    make(world.actor(world.eve), world.fremd, name="Autumn elsewhere")

    found = selectors.item_list(tenant=world.kunde1, q="AUTUMN")
    assert [i.name for i in found.items] == ["Autumn campaign", "Zebra"]
    assert [
        i.name for i in selectors.item_list(tenant=world.kunde1, q="autumn", kind="template").items
    ] == ["Zebra"]
    assert [i.name for i in selectors.item_list(tenant=world.kunde1, folder=folder).items] == [
        "Other"
    ]
    total = selectors.item_list(tenant=world.kunde1).total
    page = selectors.item_list(tenant=world.kunde1, page=2, page_size=2)
    assert page.page == 2 and len(page.items) == min(2, total - 2)
    assert page.has_previous and page.pages == -(-total // 2)
    assert selectors.item_list(tenant=world.kunde1, page=999, page_size=2).page == page.pages


def test_choices_list_live_items_of_one_kind(world, carl):
    template = make(carl, world.kunde1, kind="template", name="My template")
    block = make(carl, world.kunde1, name="My block")
    gone = make(carl, world.kunde1, kind="template", name="Gone")
    services.item_delete(actor=carl, tenant=world.kunde1, item=gone)

    templates = selectors.template_choices(tenant=world.kunde1)
    blocks = selectors.block_choices(tenant=world.kunde1)

    assert template.pk in [t.pk for t in templates] and gone.pk not in [t.pk for t in templates]
    assert {t.kind for t in templates} == {ContentKind.TEMPLATE}
    assert block.pk in [b.pk for b in blocks]
    assert {b.kind for b in blocks} == {ContentKind.TEXT_BLOCK}


def test_item_get_is_tenant_bound(world, carl):
    block = make(carl, world.kunde1)

    assert selectors.item_get(tenant=world.kunde1, pk=str(block.pk)).pk == block.pk
    for tenant, pk in ((world.fremd, block.pk), (world.filiale, block.pk), (world.kunde1, "x")):
        with pytest.raises(NotFound):
            selectors.item_get(tenant=tenant, pk=pk)


# --- lineage -------------------------------------------------------------------------------------


def test_item_origins_report_source_version_and_local_changes(world, carl):
    paula = world.actor(world.paula)
    source = make(paula, world.alpha, name="Master block", text="v1")
    copy = make(carl, world.kunde1, name="Master block", text="v1")
    other = make(carl, world.kunde1, name="Own")
    with scopes_disabled():
        ContentItem.objects.filter(pk=copy.pk).update(
            origin_tenant=world.alpha, origin_item_id=source.pk, origin_version=1, copied_version=1
        )
    copy.refresh_from_db()

    [info] = selectors.item_origins(tenant=world.kunde1, items=[copy, other]).values()
    assert (info.tenant_name, info.tenant_id, info.item_id) == (
        "Agentur Alpha",
        world.alpha.pk,
        source.pk,
    )
    assert (info.version_copied, info.current_version) == (1, 1)
    assert not info.newer_available and not info.changed_here

    services.item_update(actor=paula, tenant=world.alpha, item=source, text="v2")
    copy = services.item_update(actor=carl, tenant=world.kunde1, item=copy, text="local")
    info = selectors.item_origins(tenant=world.kunde1, items=[copy])[copy.pk]
    assert info.current_version == 2 and info.newer_available and info.changed_here

    services.item_delete(actor=paula, tenant=world.alpha, item=source)
    info = selectors.item_origins(tenant=world.kunde1, items=[copy])[copy.pk]
    assert info.current_version is None and not info.newer_available


# --- permissions, audit, scopes ------------------------------------------------------------------


def test_a_viewer_may_read_but_not_write(world, carl, viewer):
    block = make(carl, world.kunde1)
    folder = services.folder_create(actor=carl, tenant=world.kunde1, name="F")

    assert selectors.content_grant(viewer, world.kunde1, selectors.Action.CONTENT_VIEW)
    writes = [
        lambda: make(viewer, world.kunde1),
        lambda: services.item_update(actor=viewer, tenant=world.kunde1, item=block, name="X"),
        lambda: services.item_delete(actor=viewer, tenant=world.kunde1, item=block),
        lambda: services.item_duplicate(actor=viewer, tenant=world.kunde1, item=block),
        lambda: services.item_version_restore(
            actor=viewer, tenant=world.kunde1, item=block, number=1
        ),
        lambda: services.folder_create(actor=viewer, tenant=world.kunde1, name="G"),
        lambda: services.folder_rename(actor=viewer, tenant=world.kunde1, folder=folder, name="G"),
        lambda: services.folder_delete(actor=viewer, tenant=world.kunde1, folder=folder),
    ]
    for write in writes:
        with pytest.raises(PermissionDenied) as info:
            write()
        assert "Editor" in info.value.message


def test_an_outsider_gets_not_found(world, carl):
    block = make(carl, world.kunde1)
    eve = world.actor(world.eve)

    for write in (
        lambda: make(eve, world.kunde1),
        lambda: services.item_update(actor=eve, tenant=world.kunde1, item=block, name="X"),
        lambda: services.item_delete(actor=eve, tenant=world.kunde1, item=block),
        lambda: services.folder_create(actor=eve, tenant=world.kunde1, name="G"),
        lambda: selectors.content_grant(eve, world.kunde1, selectors.Action.CONTENT_VIEW),
    ):
        with pytest.raises(NotFound):
            write()
    # Carl's tenant is below nobody he can see: alpha is out of his reach.
    with pytest.raises(NotFound):
        make(carl, world.alpha)


def test_an_item_of_another_tenant_cannot_be_changed_through_this_one(world, carl):
    eve = world.actor(world.eve)
    foreign = make(eve, world.fremd, name="Eve's")

    with pytest.raises(NotFound):
        services.item_update(actor=carl, tenant=world.kunde1, item=foreign, name="Mine")
    with pytest.raises(NotFound):
        services.item_delete(actor=carl, tenant=world.kunde1, item=foreign)
    foreign.refresh_from_db()
    assert foreign.name == "Eve's" and foreign.deleted_at is None


def test_each_write_is_audited_once_with_the_inherited_role(world):
    paula = world.actor(world.paula)  # Customer Service in alpha, inherited in kunde1
    block = make(paula, world.kunde1, name="B")
    services.item_update(actor=paula, tenant=world.kunde1, item=block, text="t")
    services.item_duplicate(actor=paula, tenant=world.kunde1, item=block)
    services.item_delete(actor=paula, tenant=world.kunde1, item=block)
    services.item_restore(actor=paula, tenant=world.kunde1, item=block)
    folder = services.folder_create(actor=paula, tenant=world.kunde1, name="F")
    services.folder_rename(actor=paula, tenant=world.kunde1, folder=folder, name="G")
    services.folder_delete(actor=paula, tenant=world.kunde1, folder=folder)

    assert audit_actions(world.kunde1) == [
        "content.item.create",
        "content.item.update",
        "content.item.duplicate",
        "content.item.delete",
        "content.item.restore",
        "content.folder.create",
        "content.folder.rename",
        "content.folder.delete",
    ]
    entries = AuditEntry.objects.filter(tenant=world.kunde1, action__startswith="content.")
    assert {(e.actor_id, e.acting_role, e.role_source_id) for e in entries} == {
        (world.paula.pk, Role.CUSTOMER_SERVICE, world.alpha.pk)
    }


def test_services_work_with_another_tenants_scope_active(world, carl):
    with scope(tenant=world.fremd.pk):
        block = make(carl, world.kunde1, name="Scoped")
        services.item_update(actor=carl, tenant=world.kunde1, item=block, text="x")
        assert selectors.item_get(tenant=world.kunde1, pk=block.pk).text == "x"
        assert selectors.item_list(tenant=world.kunde1, q="Scoped").total == 1


# --- images --------------------------------------------------------------------------------------


def image_refusal(data: bytes, filename: str, size: int | None = None) -> str:
    with pytest.raises(ValidationError) as info:
        from mandant.content.assets import asset_blob_for

        asset_blob_for(AssetUpload(data=data, filename=filename, size=size))
    [message] = errors(info.value)["file"]
    return message.replace("\xa0", " ")


@pytest.mark.parametrize(
    ("data", "filename", "size"),
    [
        (corpus.jpeg(50, 30), "photo.jpg", (50, 30)),
        (corpus.jpeg(50, 30), "photo.JPEG", (50, 30)),
        (corpus.gif(20, 10), "a.gif", (20, 10)),
        (corpus.webp(16, 8), "a.webp", (16, 8)),
        (corpus.animated(5), "anim.gif", (8, 8)),
    ],
    ids=["jpeg", "upper-case-extension", "gif", "webp", "animated-gif"],
)
@pytest.mark.django_db
def test_other_image_formats_are_kept_as_uploaded(data, filename, size):
    from mandant.content.assets import asset_blob_for

    blob = asset_blob_for(AssetUpload(data=data, filename=filename))

    assert (blob.width, blob.height) == size
    assert bytes(blob.data) == data


def test_identical_bytes_share_one_blob(world, carl):
    first = asset(carl, world.kunde1, name="One")
    second = asset(carl, world.kunde1, name="Two")
    elsewhere = asset(world.actor(world.eve), world.fremd, name="Three")

    assert first.blob_id == second.blob_id == elsewhere.blob_id
    assert AssetBlob.objects.filter(data=corpus.png(40, 20)).count() == 1


@pytest.mark.django_db
def test_svg_is_refused():
    assert "svg" in image_refusal(corpus.SVG, "logo.svg")
    assert "not an image" in image_refusal(corpus.SVG, "logo.png")


@pytest.mark.django_db
def test_wrong_extension_is_refused():
    message = image_refusal(corpus.png(10, 10), "photo.jpg")
    assert "“.jpg”" in message and "PNG" in message
    assert ".bmp" in image_refusal(corpus.bmp(), "a.bmp")
    assert "BMP" in image_refusal(corpus.bmp(), "a.png")


@pytest.mark.django_db
def test_empty_damaged_and_long_animations_are_refused():
    assert "empty" in image_refusal(b"", "a.png")
    assert "damaged" in image_refusal(corpus.png(100, 100)[:-40], "a.png")
    assert "101 frames" in image_refusal(corpus.animated(101), "a.gif")


@pytest.mark.django_db
def test_bombs_and_oversized_images_are_refused():
    message = image_refusal(corpus.png_bomb(), "bomb.png")
    assert "too many pixels" in message and "4000 × 4000" in message
    assert "4001 × 1" in image_refusal(corpus.png(4001, 1), "wide.png")


@pytest.mark.django_db
def test_too_large_files_are_refused_with_the_limit(settings):
    settings.CONTENT_ASSET_MAX_BYTES = 1000
    data = corpus.noisy_png(100, 100)
    assert len(data) > 1000

    message = image_refusal(data, "big.png")

    assert f"{len(data):,}" in message and "1000 bytes" in message
    upload = AssetUpload.from_file(io.BytesIO(data), "big.png")
    assert len(upload.data) == 1001 and upload.size == len(data)  # read only up to the limit
    assert "big.png" in upload.filename


def test_image_upload_errors_reach_the_item_form(world, carl):
    blobs = AssetBlob.objects.count()
    with pytest.raises(ValidationError) as info:
        make(
            carl,
            world.kunde1,
            kind="asset",
            name="Evil",
            asset=AssetUpload(data=corpus.SVG, filename="evil.svg"),
        )
    assert "file" in errors(info.value)
    assert AssetBlob.objects.count() == blobs


# --- admin ---------------------------------------------------------------------------------------


def test_admin_lists_and_shows_content_without_a_scope(world, carl):
    image = asset(carl, world.kunde1)
    block = make(carl, world.kunde1, name="Findable")
    services.item_update(actor=carl, tenant=world.kunde1, item=block, text="v2")
    folder = services.folder_create(actor=carl, tenant=world.kunde1, name="F")
    services.item_delete(actor=carl, tenant=world.kunde1, item=image)
    client = world.client_for(world.olga)

    for url in (
        "/admin/content/contentitem/",
        "/admin/content/contentitem/?q=Findable",
        f"/admin/content/contentitem/{block.pk}/change/",
        "/admin/content/contentversion/",
        "/admin/content/folder/",
        f"/admin/content/folder/{folder.pk}/change/",
    ):
        response = client.get(url)
        assert response.status_code == 200, url
    assert "Findable" in client.get("/admin/content/contentitem/?q=Findable").content.decode()

    response = client.post(
        "/admin/content/contentitem/",
        {"action": "restore_from_bin", "_selected_action": [image.pk]},
    )
    assert response.status_code == 302
    image.refresh_from_db()
    assert image.deleted_at is None
    assert world.client_for(world.eve).get("/admin/content/contentitem/").status_code == 302


def test_bin_purge_without_anything_to_do(db):
    assert services.bin_purge() == 0


def test_unknown_update_field_is_a_programming_error(world, carl):
    block = make(carl, world.kunde1)
    with pytest.raises(TypeError):
        services.item_update(actor=carl, tenant=world.kunde1, item=block, colour="red")


def test_keys_are_uuids(world, carl):
    block = make(carl, world.kunde1)
    assert isinstance(block.key, uuid.UUID)
