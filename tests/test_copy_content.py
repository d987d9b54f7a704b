"""Copy Content: policies, lineage, rewired references, conflicts, refusals, idempotence,
failure isolation, "Get from master" — the engine in content/copying.py on a real database."""

import uuid
from typing import Any

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone
from django_scopes import scope, scopes_disabled

from mandant.accounts.roles import Role
from mandant.accounts.services import membership_set, user_create
from mandant.audit.models import AuditEntry
from mandant.billing.features import FeatureDisabled
from mandant.content import copying
from mandant.content.models import AssetBlob, ContentItem, ContentVersion, Folder
from mandant.core.actor import Actor
from mandant.core.errors import NotFound, PermissionDenied
from mandant.jobs.models import JobResult, JobStatus
from mandant.tenants.models import Tenant


def make_item(tenant: Tenant, name: str, kind: str = "template", **fields: Any) -> ContentItem:
    """A library row written directly: these tests are about the copy engine."""
    now = timezone.now()
    defaults: dict[str, Any] = {
        "subject": f"Subject of {name}",
        "html": f"<p>{name}</p>",
        "text": name,
        "created_at": now,
        "updated_at": now,
    }
    defaults.update(fields)
    with scope(tenant=tenant.pk):
        return ContentItem.objects.create(tenant=tenant, kind=kind, name=name, **defaults)


def edit(item: ContentItem, **changes: Any) -> ContentItem:
    """An edit as the library makes it: a new version."""
    with scopes_disabled():
        for name, value in changes.items():
            setattr(item, name, value)
        item.version += 1
        item.save()
    return item


def run(actor: Actor, source: Tenant, **kwargs: Any) -> Any:
    job = copying.copy_content_start(actor=actor, source=source, **kwargs)
    return copying.copy_job_run(job_id=job.pk)


def copy_of(target: Tenant, item: ContentItem) -> ContentItem | None:
    with scope(tenant=target.pk):
        return ContentItem.objects.filter(tenant=target, key=item.key).first()


def professional(tenant: Tenant) -> Tenant:
    """The edition that includes Copy Content (kunde1 is BASIC in the world)."""
    Tenant.objects.filter(pk=tenant.pk).update(version="PROFESSIONAL")
    return Tenant.objects.get(pk=tenant.pk)  # a fresh object: features are memoised per object


def result_of(job: Any, target: Tenant) -> JobResult:
    return JobResult.objects.get(job=job, target=target)


@pytest.fixture
def paula(world):  # type: ignore[no-untyped-def]
    return Actor(user=world.paula)


def test_copy_into_chosen_targets_records_lineage(world, paula):
    item = make_item(world.alpha, "Herbst-Newsletter")
    job = run(
        paula, world.alpha, item_ids=[item.pk], target_ids=[world.kunde1.pk, world.filiale.pk]
    )
    assert job.status == JobStatus.DONE
    assert (job.done, job.total) == (2, 2)
    for target in (world.kunde1, world.filiale):
        copy = copy_of(target, item)
        assert copy is not None and copy.pk != item.pk
        assert (copy.name, copy.subject, copy.html) == (item.name, item.subject, item.html)
        assert (copy.origin_tenant_id, copy.origin_item_id, copy.origin_version) == (
            world.alpha.pk,
            item.pk,
            1,
        )
        assert (copy.version, copy.copied_version) == (1, 1)
        assert result_of(job, target).outcome == "copied"
        assert result_of(job, target).counts["copied"] == 1
    assert copy_of(world.kunde2, item) is None  # not chosen
    assert job.summary["items"]["copied"] == 2


def test_rerun_is_idempotent(world, paula):
    item = make_item(world.alpha, "Einladung")
    run(paula, world.alpha, item_ids=[item.pk], target_ids=[world.kunde1.pk])
    job = run(paula, world.alpha, item_ids=[item.pk], target_ids=[world.kunde1.pk])
    assert result_of(job, world.kunde1).outcome == "skipped"
    with scope(tenant=world.kunde1.pk):
        assert ContentItem.objects.filter(tenant=world.kunde1, name="Einladung").count() == 1
    # Running the same job again changes nothing and adds no second result.
    again = copying.copy_job_run(job_id=job.pk)
    assert again.done == 1
    assert JobResult.objects.filter(job=job).count() == 1


def test_a_changed_master_item_updates_the_copy_and_keeps_the_old_version(world, paula):
    item = make_item(world.alpha, "Angebot")
    run(paula, world.alpha, item_ids=[item.pk], target_ids=[world.kunde1.pk])
    edit(item, subject="Neues Angebot", html="<p>neu</p>")
    job = run(paula, world.alpha, item_ids=[item.pk], target_ids=[world.kunde1.pk])
    assert result_of(job, world.kunde1).outcome == "updated"
    copy = copy_of(world.kunde1, item)
    assert copy is not None
    assert (copy.subject, copy.html, copy.version, copy.copied_version) == (
        "Neues Angebot",
        "<p>neu</p>",
        2,
        2,
    )
    assert copy.origin_version == 2
    with scope(tenant=world.kunde1.pk):
        old = ContentVersion.objects.get(item=copy, number=1)
    assert (old.subject, old.html) == ("Subject of Angebot", "<p>Angebot</p>")


@pytest.mark.parametrize(
    ("policy", "outcome", "subject"),
    [
        ("overwrite_unchanged", "skipped", "Lokal geändert"),
        ("overwrite", "updated", "Master v2"),
        ("skip", "skipped", "Lokal geändert"),
    ],
)
def test_policies_when_the_target_changed_its_copy(world, paula, policy, outcome, subject):
    item = make_item(world.alpha, "Gruß")
    run(paula, world.alpha, item_ids=[item.pk], target_ids=[world.kunde1.pk])
    local = copy_of(world.kunde1, item)
    assert local is not None
    edit(local, subject="Lokal geändert")
    edit(item, subject="Master v2")
    job = run(paula, world.alpha, item_ids=[item.pk], target_ids=[world.kunde1.pk], policy=policy)
    result = result_of(job, world.kunde1)
    assert result.outcome == outcome
    copy = copy_of(world.kunde1, item)
    assert copy is not None and copy.subject == subject
    if outcome == "skipped":
        assert result.details and result.details[0]["name"] == "Gruß"


@pytest.mark.parametrize(
    ("policy", "outcome"),
    [("overwrite_unchanged", "updated"), ("overwrite", "updated"), ("skip", "skipped")],
)
def test_policies_when_the_target_left_its_copy_alone(world, paula, policy, outcome):
    item = make_item(world.alpha, "Abschied")
    run(paula, world.alpha, item_ids=[item.pk], target_ids=[world.kunde1.pk])
    edit(item, subject="Master v2")
    job = run(paula, world.alpha, item_ids=[item.pk], target_ids=[world.kunde1.pk], policy=policy)
    assert result_of(job, world.kunde1).outcome == outcome
    copy = copy_of(world.kunde1, item)
    assert copy is not None
    assert copy.subject == ("Master v2" if outcome == "updated" else "Subject of Abschied")


def test_a_targets_own_item_with_the_same_name_is_a_conflict_never_overwritten(world, paula):
    own = make_item(world.kunde1, "Willkommen Kunde", subject="Eigener Betreff")
    asset = make_item(world.alpha, "Logo-Bild", kind="asset", html="", text="")
    template = make_item(world.alpha, "Willkommen Kunde", asset_keys=[str(asset.key)])
    draft = make_item(
        world.alpha, "Entwurf Willkommen", kind="campaign_draft", template_key=template.key
    )
    job = run(paula, world.alpha, item_ids=[draft.pk], target_ids=[world.kunde1.pk])
    result = result_of(job, world.kunde1)
    assert result.outcome == "conflict"
    assert result.counts == {"copied": 1, "updated": 0, "skipped": 0, "conflict": 2}
    names = {detail["name"] for detail in result.details}
    assert names == {"Willkommen Kunde", "Entwurf Willkommen"}
    own.refresh_from_db()
    assert own.subject == "Eigener Betreff" and own.origin_item_id is None
    assert copy_of(world.kunde1, draft) is None  # it would point at the wrong template
    assert copy_of(world.kunde1, asset) is not None  # the image has no conflict


def test_references_and_folders_point_to_the_copies_in_the_target(world, paula):
    blob = AssetBlob.objects.create(
        sha256="a" * 64, data=b"\x89PNG", content_type="image/png", width=1, height=1, size=4
    )
    with scope(tenant=world.alpha.pk):
        outer = Folder.objects.create(tenant=world.alpha, name="Kampagnen")
        inner = Folder.objects.create(tenant=world.alpha, name="Herbst", parent=outer)
    image = make_item(world.alpha, "Herbstbild", kind="asset", blob=blob, html="", text="")
    template = make_item(
        world.alpha,
        "Herbstvorlage",
        html=f'<img src="asset:{image.key}" alt="">{{{{ content }}}}',
        asset_keys=[str(image.key)],
    )
    block = make_item(world.alpha, "Herbstgruß", kind="text_block")
    draft = make_item(
        world.alpha,
        "Herbstkampagne",
        kind="campaign_draft",
        template_key=template.key,
        block_keys=[str(block.key)],
        folder=inner,
    )
    job = run(paula, world.alpha, item_ids=[draft.pk], target_ids=[world.filiale.pk])
    assert result_of(job, world.filiale).counts["copied"] == 4
    copies = {item.name: copy_of(world.filiale, item) for item in (image, template, block, draft)}
    assert all(copies.values())
    draft_copy = copies["Herbstkampagne"]
    assert draft_copy is not None
    with scope(tenant=world.filiale.pk):
        # The draft's references resolve inside the target, to the target's copies.
        resolved_template = ContentItem.objects.get(
            tenant=world.filiale, key=draft_copy.template_key
        )
        resolved_block = ContentItem.objects.get(
            tenant=world.filiale, key=uuid.UUID(draft_copy.block_keys[0])
        )
        resolved_image = ContentItem.objects.get(
            tenant=world.filiale, key=uuid.UUID(resolved_template.asset_keys[0])
        )
        folder = draft_copy.folder
    assert resolved_template.pk == copies["Herbstvorlage"].pk  # type: ignore[union-attr]
    assert resolved_block.pk == copies["Herbstgruß"].pk  # type: ignore[union-attr]
    assert resolved_image.pk == copies["Herbstbild"].pk  # type: ignore[union-attr]
    assert resolved_image.blob_id == blob.pk  # the bytes are shared, not duplicated
    assert folder is not None and folder.tenant_id == world.filiale.pk
    assert (folder.name, folder.parent.name, folder.parent.parent) == ("Herbst", "Kampagnen", None)
    # Items outside any folder stay outside.
    assert copies["Herbstvorlage"].folder_id is None  # type: ignore[union-attr]


def test_choosing_a_folder_copies_its_items_and_sub_folders(world, paula):
    with scope(tenant=world.alpha.pk):
        outer = Folder.objects.create(tenant=world.alpha, name="Vorlagen")
        Folder.objects.create(tenant=world.alpha, name="Leer", parent=outer)
    inside = make_item(world.alpha, "Drinnen", folder=outer)
    make_item(world.alpha, "Draußen")
    gone = make_item(world.alpha, "Im Papierkorb", folder=outer, deleted_at=timezone.now())
    run(paula, world.alpha, folder_ids=[outer.pk], target_ids=[world.kunde1.pk])
    assert copy_of(world.kunde1, inside) is not None
    assert copy_of(world.kunde1, gone) is None
    with scope(tenant=world.kunde1.pk):
        names = set(Folder.objects.filter(tenant=world.kunde1).values_list("name", flat=True))
        assert ContentItem.objects.filter(tenant=world.kunde1, name="Draußen").count() == 0
    assert {"Vorlagen", "Leer"} <= names


def test_all_descendants_with_type_and_version_filters(world, paula):
    item = make_item(world.alpha, "Für alle")
    job = run(paula, world.alpha, item_ids=[item.pk], all_descendants=True)
    assert job.total == 3  # kunde1, filiale, kunde2 — never alpha itself
    assert {r.target_id for r in JobResult.objects.filter(job=job)} == {
        world.kunde1.pk,
        world.filiale.pk,
        world.kunde2.pk,
    }
    item2 = make_item(world.alpha, "Nur CUSTOM")
    job = run(paula, world.alpha, item_ids=[item2.pk], all_descendants=True, target_type="CUSTOM")
    assert job.total == 1 and copy_of(world.kunde2, item2) is not None
    assert copy_of(world.kunde1, item2) is None
    item3 = make_item(world.alpha, "Nur ENTERPRISE")
    job = run(
        paula, world.alpha, item_ids=[item3.pk], all_descendants=True, target_version="ENTERPRISE"
    )
    assert job.total == 1 and copy_of(world.kunde2, item3) is not None


@pytest.mark.parametrize("target", ["alpha", "root", "fremd", "kunde2"])
def test_targets_must_lie_below_the_source(world, target):
    """From kunde1: its master, the root, another partner and its sibling are refused."""
    carl = Actor(user=world.carl)
    kunde1 = professional(world.kunde1)
    item = make_item(kunde1, "Nur nach unten")
    target_t = getattr(world, target)
    with pytest.raises(ValidationError) as exc:
        copying.copy_content_start(
            actor=carl, source=kunde1, item_ids=[item.pk], target_ids=[target_t.pk]
        )
    assert "targets" in exc.value.error_dict
    assert str(target_t.pk) in str(exc.value.error_dict["targets"][0].message)
    assert copy_of(target_t, item) is None


def test_the_source_itself_is_not_a_target(world, paula):
    item = make_item(world.alpha, "Selbst")
    with pytest.raises(ValidationError) as exc:
        copying.copy_content_start(
            actor=paula, source=world.alpha, item_ids=[item.pk], target_ids=[world.alpha.pk]
        )
    assert "targets" in exc.value.error_dict


def test_bad_requests_are_refused_per_field(world, paula):
    foreign = make_item(world.fremd, "Fremd")
    with pytest.raises(ValidationError) as exc:
        copying.copy_content_start(
            actor=paula,
            source=world.alpha,
            item_ids=[foreign.pk],
            folder_ids=[987654],
            target_ids=[],
            policy="sometimes",
        )
    assert set(exc.value.error_dict) == {"items", "folders", "targets", "policy"}
    with pytest.raises(ValidationError) as exc:
        copying.copy_content_start(actor=paula, source=world.alpha, target_ids=[world.kunde1.pk])
    assert set(exc.value.error_dict) == {"items"}


def test_who_may_copy(world):
    item = make_item(world.kunde1, "Rechte")
    viewer = user_create(email="viewer@kunde-eins.example", password="x" * 20)
    membership_set(actor=Actor(user=world.olga), tenant=world.kunde1, user=viewer, role=Role.EDITOR)
    with pytest.raises(PermissionDenied):
        copying.copy_content_start(
            actor=Actor(user=viewer),
            source=world.kunde1,
            item_ids=[item.pk],
            target_ids=[world.filiale.pk],
        )
    with pytest.raises(NotFound):
        copying.copy_content_start(
            actor=Actor(user=world.eve),
            source=world.kunde1,
            item_ids=[item.pk],
            target_ids=[world.filiale.pk],
        )
    # The administrator of kunde1 may copy into its own sub-tenant, once its edition (or the
    # add-on) includes Copy Content.
    with pytest.raises(FeatureDisabled) as refused:
        copying.copy_content_start(
            actor=Actor(user=world.carl),
            source=world.kunde1,
            item_ids=[item.pk],
            target_ids=[world.filiale.pk],
        )
    assert "Copy Content" in refused.value.message
    kunde1 = professional(world.kunde1)
    job = run(Actor(user=world.carl), kunde1, item_ids=[item.pk], target_ids=[world.filiale.pk])
    assert result_of(job, world.filiale).outcome == "copied"


def test_a_failing_target_does_not_undo_the_others(world, paula, monkeypatch, settings):
    settings.COPY_CONTENT_CHUNK = 10
    item = make_item(world.alpha, "Robust")
    real_insert = copying._insert_copies

    def insert(source, source_ids, targets, user_id, now):  # type: ignore[no-untyped-def]
        if world.filiale.pk in targets:
            raise RuntimeError("disk full")
        return real_insert(source, source_ids, targets, user_id, now)

    monkeypatch.setattr(copying, "_insert_copies", insert)
    job = run(paula, world.alpha, item_ids=[item.pk], all_descendants=True)
    assert job.status == JobStatus.DONE
    assert result_of(job, world.filiale).outcome == "failed"
    assert "failed" in result_of(job, world.filiale).reason
    assert copy_of(world.filiale, item) is None
    for ok in (world.kunde1, world.kunde2):
        assert result_of(job, ok).outcome == "copied"
        assert copy_of(ok, item) is not None
    # Fixed, the next run copies into the failed target only.
    monkeypatch.setattr(copying, "_insert_copies", real_insert)
    job = run(paula, world.alpha, item_ids=[item.pk], all_descendants=True)
    assert result_of(job, world.filiale).outcome == "copied"
    assert result_of(job, world.kunde1).outcome == "skipped"


def test_a_target_moved_away_after_the_start_fails_alone(world, paula):
    item = make_item(world.alpha, "Unterwegs")
    job = copying.copy_content_start(
        actor=paula,
        source=world.alpha,
        item_ids=[item.pk],
        target_ids=[world.kunde1.pk, world.kunde2.pk],
    )
    Tenant.objects.filter(pk=world.kunde2.pk).update(path="999999")
    job = copying.copy_job_run(job_id=job.pk)
    assert result_of(job, world.kunde2).outcome == "failed"
    assert copy_of(world.kunde2, item) is None
    assert result_of(job, world.kunde1).outcome == "copied"


def test_one_audit_entry_per_job_with_its_counts(world, paula):
    items = [make_item(world.alpha, f"Artikel {n}", kind="text_block") for n in range(3)]
    job = run(paula, world.alpha, item_ids=[i.pk for i in items], all_descendants=True)
    entries = AuditEntry.objects.filter(action="content.copy")
    assert entries.count() == 1
    entry = entries.get()
    assert entry.tenant_id == world.alpha.pk and entry.actor_id == world.paula.pk
    assert entry.object_id == str(job.pk)
    assert entry.changes["item_ids"] == [i.pk for i in items]
    assert entry.changes["target_count"] == 3
    assert entry.changes["items"]["copied"] == 9
    assert entry.changes["targets"] == {"copied": 3}
    assert entry.changes["policy"] == "overwrite_unchanged"


def test_get_from_master_pulls_the_newer_version(world, paula):
    item = make_item(world.alpha, "Stammvorlage")
    run(paula, world.alpha, item_ids=[item.pk], target_ids=[world.kunde1.pk])
    local = copy_of(world.kunde1, item)
    assert local is not None
    edit(local, subject="Lokal")
    edit(item, subject="Master neu")
    carl = Actor(user=world.carl)
    pulled = copying.copy_pull_item(actor=carl, tenant=world.kunde1, item=local)
    assert (pulled.subject, pulled.version, pulled.origin_version) == ("Master neu", 3, 2)
    with scope(tenant=world.kunde1.pk):
        assert ContentVersion.objects.get(item=local, number=2).subject == "Lokal"
    assert AuditEntry.objects.filter(action="content.item.pull").count() == 1
    own = make_item(world.kunde1, "Eigenes")
    with pytest.raises(ValidationError):
        copying.copy_pull_item(actor=carl, tenant=world.kunde1, item=own)


def test_query_count_does_not_grow_with_the_targets(world, paula, django_assert_max_num_queries):
    items = [make_item(world.alpha, f"Menge {n}") for n in range(5)]
    op = Actor(user=world.olga)
    from mandant.tenants.services import NewTenant, tenant_create_many

    tenant_create_many(
        actor=op, master=world.alpha, rows=[NewTenant(name=f"Massenkunde {n}") for n in range(30)]
    )
    job = copying.copy_content_start(
        actor=paula, source=world.alpha, item_ids=[i.pk for i in items], all_descendants=True
    )
    with django_assert_max_num_queries(40):
        job = copying.copy_job_run(job_id=job.pk)
    assert job.done == job.total == 33
    with scopes_disabled():
        assert ContentItem.objects.filter(origin_tenant=world.alpha).count() == 5 * 33


def test_a_job_whose_worker_died_is_finished_by_the_resume_command(world, paula, settings):
    """Half the targets done, then the worker died: the command finishes the rest."""
    from django.core.management import call_command

    settings.COPY_CONTENT_CHUNK = 1
    item = make_item(world.alpha, "Wiederaufnahme")
    job = copying.copy_content_start(
        actor=paula, source=world.alpha, item_ids=[item.pk], all_descendants=True
    )
    with scopes_disabled():  # the first chunk as the task runs it; then the worker died
        plan = copying._source_plan(world.alpha, [item.pk], [])
        job.refresh_from_db()
        copying._run_chunk(job, plan, [world.kunde1.pk], world.paula.pk)
    call_command("content", "resume-job", str(job.pk))
    with scopes_disabled():
        job.refresh_from_db()
    assert (job.status, job.done, job.total) == (JobStatus.DONE, 3, 3)
    assert JobResult.objects.filter(job=job).count() == 3
    for target in (world.kunde1, world.filiale, world.kunde2):
        assert copy_of(target, item) is not None
    with scope(tenant=world.kunde1.pk):
        assert ContentItem.objects.filter(tenant=world.kunde1, key=item.key).count() == 1


def test_a_job_writes_in_the_language_of_the_user_who_started_it(world, paula):
    item = make_item(world.alpha, "Einladung")
    run(paula, world.alpha, item_ids=[item.pk], target_ids=[world.kunde1.pk])
    world.paula.language = "de"
    world.paula.save(update_fields=["language"])
    job = run(paula, world.alpha, item_ids=[item.pk], target_ids=[world.kunde1.pk])
    assert result_of(job, world.kunde1).reason.startswith("Nichts zu kopieren")
