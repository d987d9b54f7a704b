"""Section 2 of bench/content_bench.py: Copy Content of ``items`` items into ``targets``
sub-tenants, against the naive per-object ORM copy of the same work (see that script)."""

from __future__ import annotations

import time
from typing import Any

from benchlib import DbResult, Row

TARGET_S = {"postgres": 5.0, "sqlite": 15.0}

HTML_BODY = (
    '<table role="presentation" width="100%" cellpadding="0" cellspacing="0">'
    + "".join(
        f'<tr><td style="padding:12px 24px;font-family:Arial,sans-serif;font-size:16px">'
        f"Absatz {n}: Liebe {{{{ contact.first_name }}}}, hier sind die Neuigkeiten des Monats "
        f"mit Angeboten, Terminen und Tipps für Dich und Dein Team.</td></tr>"
        for n in range(12)
    )
    + "</table>"
)


def build_world(targets: int, items: int) -> dict[str, Any]:
    """A partner with ``targets`` STANDARD sub-tenants and a library of ``items`` items."""
    from django.utils import timezone
    from django_scopes import scope

    from mandant.accounts.services import user_create
    from mandant.content.models import AssetBlob, ContentItem, Folder
    from mandant.core.actor import Actor
    from mandant.tenants.services import (
        NewTenant,
        root_tenant,
        tenant_create,
        tenant_create_many,
        tenant_set_management_active,
    )

    operator = user_create(email="copy-op@bench.example", password=None, is_staff=True)
    actor = Actor(user=operator)
    partner = tenant_create(
        actor=actor,
        name="Copy Partner",
        type="STANDARD",
        version="ENTERPRISE",
        master=root_tenant(),
    )
    tenant_set_management_active(actor=actor, tenant=partner, active=True)
    started = time.perf_counter()
    for start in range(0, targets, 250):
        names = range(start, min(targets, start + 250))
        rows = [NewTenant(name=f"Kopierkunde {n:05d}") for n in names]
        tenant_create_many(actor=actor, master=partner, rows=rows)
    print(f"  {targets} sub-tenants in {time.perf_counter() - started:.1f} s", flush=True)
    now = timezone.now()
    blob = AssetBlob.objects.create(
        sha256="b" * 64,
        data=b"\x89PNG" + b"\0" * 4000,
        content_type="image/png",
        width=600,
        height=200,
        size=4004,
    )
    with scope(tenant=partner.pk):
        top = Folder.objects.create(tenant=partner, name="Bench")
        folders = [
            Folder.objects.create(tenant=partner, name=f"Ordner {n}", parent=top) for n in range(3)
        ]
        n_assets, n_blocks, n_drafts = items // 10, items * 3 // 10, items // 10
        n_templates = items - n_assets - n_blocks - n_drafts
        created: list[Any] = []

        def make(kind: str, name: str, **fields: Any) -> Any:
            item = ContentItem.objects.create(
                tenant=partner,
                kind=kind,
                name=name,
                folder=folders[len(created) % 3],
                created_at=now,
                updated_at=now,
                created_by=operator,
                updated_by=operator,
                **fields,
            )
            created.append(item)
            return item

        assets = [make("asset", f"Bild {n}", blob=blob) for n in range(n_assets)]
        templates = [
            make(
                "template",
                f"Vorlage {n}",
                subject=f"Newsletter {n}",
                html=f'<img src="asset:{assets[n % len(assets)].key}" alt="">' + HTML_BODY,
                text="Liebe {{ contact.first_name }}, " * 20,
                asset_keys=[str(assets[n % len(assets)].key)],
            )
            for n in range(n_templates)
        ]
        blocks = [
            make("text_block", f"Artikel {n}", html=HTML_BODY[:1500], text="Text " * 100)
            for n in range(n_blocks)
        ]
        for n in range(n_drafts):
            make(
                "campaign_draft",
                f"Kampagne {n}",
                subject=f"Kampagne {n}",
                sender_alias="Copy Partner",
                reply_to="antwort@bench.example",
                template_key=templates[n % len(templates)].key,
                block_keys=[str(blocks[(n + k) % len(blocks)].key) for k in (0, 1)],
            )
    return {"operator": operator, "partner": partner, "items": created}


def naive_copy(source: Any, items: list[Any], targets: list[Any], user: Any) -> None:
    """The obvious ORM version: per target and item, look up, check, save, fix references."""
    from django.db import transaction
    from django.utils import timezone
    from django_scopes import scopes_disabled

    from mandant.content.models import ContentItem, Folder

    with scopes_disabled():
        for target in targets:
            with transaction.atomic():
                folder_map: dict[int, Any] = {}
                for item in items:
                    folder = item.folder
                    if folder is not None and folder.pk not in folder_map:
                        parent = None
                        if folder.parent_id is not None:
                            parent, _created = Folder.objects.get_or_create(
                                tenant=target,
                                key=folder.parent.key,
                                defaults={"name": folder.parent.name},
                            )
                        folder_map[folder.pk], _created = Folder.objects.get_or_create(
                            tenant=target,
                            key=folder.key,
                            defaults={"name": folder.name, "parent": parent},
                        )
                    if ContentItem.objects.filter(tenant=target, key=item.key).exists():
                        continue
                    if ContentItem.objects.filter(
                        tenant=target, kind=item.kind, name=item.name
                    ).exists():
                        continue
                    now = timezone.now()
                    copy = ContentItem(
                        tenant=target,
                        key=item.key,
                        kind=item.kind,
                        name=item.name,
                        folder=folder_map.get(item.folder_id),
                        subject=item.subject,
                        preheader=item.preheader,
                        sender_alias=item.sender_alias,
                        reply_to=item.reply_to,
                        html=item.html,
                        text=item.text,
                        blob_id=item.blob_id,
                        created_at=now,
                        updated_at=now,
                        created_by=user,
                        updated_by=user,
                        origin_tenant=source,
                        origin_item_id=item.pk,
                        origin_version=item.version,
                        copied_version=1,
                        copied_at=now,
                    )
                    copy.save()
                    # References: look up each used item in the target and store it again.
                    if item.template_key:
                        copy.template_key = (
                            ContentItem.objects.filter(tenant=target, key=item.template_key)
                            .values_list("key", flat=True)
                            .first()
                        )
                    copy.block_keys = [
                        str(key)
                        for key in ContentItem.objects.filter(
                            tenant=target, key__in=item.block_keys
                        ).values_list("key", flat=True)
                    ]
                    copy.asset_keys = list(item.asset_keys)
                    copy.save()


def bench_copy(result: DbResult, *, targets: int, items: int, naive: int) -> None:
    from django_scopes import scopes_disabled

    from mandant.content import copying
    from mandant.content.models import ContentItem
    from mandant.core.actor import Actor
    from mandant.tenants.services import (
        NewTenant,
        root_tenant,
        tenant_create,
        tenant_create_many,
        tenant_set_management_active,
    )

    print("2. Copy Content", flush=True)
    world = build_world(targets, items)
    partner, operator, library = world["partner"], world["operator"], world["items"]
    actor = Actor(user=operator)
    ids = [item.pk for item in library]

    def job_seconds() -> tuple[float, Any]:
        job = copying.copy_content_start(
            actor=actor, source=partner, item_ids=ids, all_descendants=True
        )
        started = time.perf_counter()
        job = copying.copy_job_run(job_id=job.pk)
        return time.perf_counter() - started, job

    # The naive baseline first, on fresh tenants of their own master (outside the partner's
    # subtree, so that the measured jobs do not see them).
    naive_master = tenant_create(
        actor=actor, name="Naive Master", type="CUSTOM", version="BASIC", master=root_tenant()
    )
    tenant_set_management_active(actor=actor, tenant=naive_master, active=True)
    extra = tenant_create_many(
        actor=actor,
        master=naive_master,
        rows=[NewTenant(name=f"Naiv {n:04d}") for n in range(naive)],
    )
    with scopes_disabled():
        loaded = list(
            ContentItem.objects.filter(pk__in=ids).select_related("folder", "folder__parent")
        )
    started = time.perf_counter()
    naive_copy(partner, loaded, extra, operator)
    naive_s = (time.perf_counter() - started) * targets / max(1, naive)
    with scopes_disabled():
        naive_rows = ContentItem.objects.filter(tenant__in=extra, origin_tenant=partner)
        assert naive_rows.count() == len(library) * naive
        naive_rows.delete()

    seconds, job = job_seconds()
    with scopes_disabled():
        copies = ContentItem.objects.filter(origin_tenant=partner).count()
    assert copies == len(library) * targets, (copies, len(library), targets)
    assert job.done == targets and job.summary["items"]["copied"] == copies, job.summary
    result.add(
        Row(
            key="copy_first",
            label=f"2a. Copy {len(library)} items into {targets:,} sub-tenants (first run)",
            unit="s",
            value=seconds,
            target=TARGET_S[result.db],
            baseline=naive_s,
            baseline_label=f"naive per-object ORM copy, {naive} targets extrapolated",
            note=f"{copies:,} rows written; naive/ours {naive_s / seconds:.0f}×",
        )
    )
    seconds, job = job_seconds()
    assert job.summary["items"]["skipped"] == len(library) * targets, job.summary
    result.add(
        Row(key="copy_again", label="2b. The same job again (up to date)", unit="s", value=seconds)
    )
    with scopes_disabled():
        for item in library[:10]:
            ContentItem.objects.filter(pk=item.pk).update(subject="Neu", version=item.version + 1)
    seconds, job = job_seconds()
    assert job.summary["items"]["updated"] == 10 * targets, job.summary
    result.add(
        Row(
            key="copy_update",
            label=f"2c. After 10 master items changed ({10 * targets:,} updates)",
            unit="s",
            value=seconds,
        )
    )
