"""Reads of the content library. Every query is filtered by tenant and runs in its scope."""

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db.models import Q, QuerySet
from django.db.models.functions import Lower
from django.utils.translation import gettext_lazy
from django_scopes import scope, scopes_disabled

from mandant.accounts.models import User
from mandant.accounts.roles import Action, role_allows
from mandant.content.models import AssetBlob, ContentItem, ContentKind, ContentVersion, Folder
from mandant.core.actor import Actor, RoleGrant
from mandant.core.errors import NotFound, PermissionDenied
from mandant.core.ids import as_pk
from mandant.core.paging import PageInfo, clamp_page
from mandant.tenants.models import Tenant
from mandant.tenants.selectors import effective_grant

DENIED_MESSAGES = {
    Action.CONTENT_VIEW: gettext_lazy(
        "Viewing content needs at least the role Viewer in this tenant."
    ),
    Action.CONTENT_EDIT: gettext_lazy(
        "Changing content needs at least the role Editor in this tenant."
    ),
    Action.CONTENT_COPY: gettext_lazy(
        "Copying content into sub-tenants needs at least the role Customer Service in this tenant."
    ),
}


def content_grant(actor: Actor, tenant: Tenant, action: Action) -> RoleGrant:
    """The actor's grant in ``tenant`` if it allows ``action``.

    NotFound when the tenant is out of reach, PermissionDenied when the role is too weak.
    """
    grant = effective_grant(actor, tenant)
    if grant is None:
        raise NotFound
    if not role_allows(grant.role, action):
        raise PermissionDenied(str(DENIED_MESSAGES[action]))
    return grant


def item_get(*, tenant: Tenant, pk: Any, deleted: bool = False) -> ContentItem:
    """A live item of the tenant (``deleted=True``: an item in the bin); NotFound otherwise."""
    with scope(tenant=tenant.pk):
        item = (
            ContentItem.objects.filter(tenant=tenant, pk=as_pk(pk), deleted_at__isnull=not deleted)
            .select_related("folder", "created_by", "updated_by", "deleted_by", "blob")
            .first()
        )
    if item is None:
        raise NotFound
    return item


def _live_assets(*, tenant: Tenant, key: Any) -> QuerySet[ContentItem] | None:
    """The tenant's live image by its key (how HTML refers to it), as a query to narrow;
    None for a key that is no UUID. Call inside the tenant's scope."""
    try:
        asset_key = uuid.UUID(str(key))
    except ValueError:
        return None
    return ContentItem.objects.filter(
        tenant=tenant, key=asset_key, kind=ContentKind.ASSET, deleted_at__isnull=True
    )


def asset_hash(*, tenant: Tenant, key: Any) -> str | None:
    """The content hash (sha256) of a live image of the tenant by its key, without reading its
    bytes: a campaign's public image URLs are signed over it for every batch it sends."""
    with scope(tenant=tenant.pk):
        items = _live_assets(tenant=tenant, key=key)
        if items is None:
            return None
        return items.filter(blob__isnull=False).values_list("blob__sha256", flat=True).first()


def asset_get(*, tenant: Tenant, key: Any) -> ContentItem:
    """A live image of the tenant by its key (how HTML refers to it), with its blob."""
    with scope(tenant=tenant.pk):
        items = _live_assets(tenant=tenant, key=key)
        item = items.select_related("blob").first() if items is not None else None
    if item is None or item.blob is None:
        raise NotFound
    return item


def mailed_image_blob_pk(*, tenant_id: int, key: Any, sha256: str) -> int | None:
    """The blob of a tenant's image in the version (bytes) a mail's signed URL names: only while
    the image is in the library (not in the bin) with those bytes now or in its history."""
    with scope(tenant=tenant_id):
        item = (
            ContentItem.objects.filter(
                tenant_id=tenant_id, key=key, kind=ContentKind.ASSET, deleted_at__isnull=True
            )
            .values_list("pk", "blob_id")
            .first()
        )
        if item is None:
            return None
        blob_pk = AssetBlob.objects.filter(sha256=sha256).values_list("pk", flat=True).first()
        if blob_pk is None:
            return None
        if item[1] == blob_pk:
            return blob_pk
        in_history = ContentVersion.objects.filter(
            tenant_id=tenant_id, item_id=item[0], blob_id=blob_pk
        ).exists()
        return blob_pk if in_history else None


def folder_get(*, tenant: Tenant, pk: Any) -> Folder:
    with scope(tenant=tenant.pk):
        folder = Folder.objects.filter(tenant=tenant, pk=as_pk(pk)).first()
    if folder is None:
        raise NotFound
    return folder


@dataclass
class ItemPage(PageInfo):
    items: Sequence[ContentItem]
    total: int
    page: int
    page_size: int


def item_list(
    *,
    tenant: Tenant,
    q: str = "",
    kind: str = "",
    folder: Folder | None = None,
    page: int = 1,
    page_size: int = 50,
) -> ItemPage:
    """Live items, by name; ``q`` searches name and subject (case-insensitive); ``folder``
    limits the list to the items directly in that folder (None: all folders)."""
    page_size = max(1, page_size)
    with scope(tenant=tenant.pk):
        qs = ContentItem.objects.filter(tenant=tenant, deleted_at__isnull=True)
        if q.strip():
            qs = qs.filter(Q(name__icontains=q.strip()) | Q(subject__icontains=q.strip()))
        if kind:
            qs = qs.filter(kind=kind)
        if folder is not None:
            qs = qs.filter(folder_id=folder.pk)
        total = qs.count()
        page = clamp_page(page, total, page_size)
        offset = (page - 1) * page_size
        rows = list(
            qs.select_related("folder", "updated_by").order_by(Lower("name"), "pk")[
                offset : offset + page_size
            ]
        )
    return ItemPage(items=rows, total=total, page=page, page_size=page_size)


def folder_tree(*, tenant: Tenant) -> list[tuple[Folder, int]]:
    """All folders of the tenant in tree order (siblings by name) with their depth (0 = top)."""
    with scope(tenant=tenant.pk):
        folders = list(Folder.objects.filter(tenant=tenant).order_by(Lower("name"), "pk"))
    children: dict[int | None, list[Folder]] = {}
    for folder in folders:
        children.setdefault(folder.parent_id, []).append(folder)
    tree: list[tuple[Folder, int]] = []
    stack: list[tuple[Folder, int]] = [(f, 0) for f in reversed(children.get(None, []))]
    while stack:
        folder, depth = stack.pop()
        tree.append((folder, depth))
        stack.extend((child, depth + 1) for child in reversed(children.get(folder.pk, [])))
    return tree


def bin_list(*, tenant: Tenant) -> list[ContentItem]:
    """Items in the bin, most recently deleted first."""
    with scope(tenant=tenant.pk):
        return list(
            ContentItem.objects.filter(tenant=tenant, deleted_at__isnull=False)
            .select_related("deleted_by", "folder")
            .order_by("-deleted_at", "pk")
        )


@dataclass(frozen=True)
class VersionRow:
    number: int
    name: str
    saved_at: datetime
    saved_by: User | None
    current: bool

    @property
    def saved_by_name(self) -> str:
        if self.saved_by is None:
            return ""
        return self.saved_by.get_full_name() or self.saved_by.email


def item_history(*, tenant: Tenant, item: ContentItem) -> list[VersionRow]:
    """The current version first, then older versions, newest first."""
    if item.tenant_id != tenant.pk:
        raise NotFound
    with scope(tenant=tenant.pk):
        versions = list(
            ContentVersion.objects.filter(tenant=tenant, item=item)
            .select_related("saved_by")
            .only("number", "name", "saved_at", "saved_by", "tenant_id", "item_id")
            .order_by("-number")
        )
        updated_by = item.updated_by
    rows = [
        VersionRow(
            number=item.version,
            name=item.name,
            saved_at=item.updated_at,
            saved_by=updated_by,
            current=True,
        )
    ]
    rows.extend(
        VersionRow(
            number=v.number, name=v.name, saved_at=v.saved_at, saved_by=v.saved_by, current=False
        )
        for v in versions
    )
    return rows


def version_get(*, tenant: Tenant, item: ContentItem, number: Any) -> ContentVersion:
    """One past version of an item; NotFound for an unknown number."""
    version_number = as_pk(number)
    if item.tenant_id != tenant.pk or not version_number:
        raise NotFound
    with scope(tenant=tenant.pk):
        version = ContentVersion.objects.filter(
            tenant=tenant, item=item, number=version_number
        ).first()
    if version is None:
        raise NotFound
    return version


@dataclass(frozen=True)
class OriginInfo:
    """Where a copied item came from and how it relates to its source now."""

    tenant_name: str
    tenant_id: int | None
    item_id: int
    version_copied: int | None
    # None: the source item was deleted (in the bin or purged).
    current_version: int | None
    newer_available: bool
    changed_here: bool


def item_origins(*, tenant: Tenant, items: Iterable[ContentItem]) -> dict[int, OriginInfo]:
    """Lineage of the given items of ``tenant`` (those copied from elsewhere), by item id."""
    copied = [i for i in items if i.tenant_id == tenant.pk and i.origin_item_id is not None]
    if not copied:
        return {}
    source_ids = {i.origin_item_id for i in copied if i.origin_item_id is not None}
    tenant_ids = {i.origin_tenant_id for i in copied if i.origin_tenant_id is not None}
    # Lineage crosses tenants by design: read only the source rows' version and bin state
    # and the source tenants' names, never their content.
    with scopes_disabled():
        sources = {
            row["pk"]: row
            for row in ContentItem.objects.filter(pk__in=source_ids).values(
                "pk", "tenant_id", "version", "deleted_at"
            )
        }
    names = dict(Tenant.objects.filter(pk__in=tenant_ids).values_list("pk", "name"))
    origins: dict[int, OriginInfo] = {}
    for item in copied:
        assert item.origin_item_id is not None
        source = sources.get(item.origin_item_id)
        live = (
            source is not None
            and source["deleted_at"] is None
            and source["tenant_id"] == item.origin_tenant_id
        )
        current = source["version"] if live and source is not None else None
        origins[item.pk] = OriginInfo(
            tenant_name=names.get(item.origin_tenant_id, "") if item.origin_tenant_id else "",
            tenant_id=item.origin_tenant_id,
            item_id=item.origin_item_id,
            version_copied=item.origin_version,
            current_version=current,
            newer_available=current is not None
            and (item.origin_version is None or current > item.origin_version),
            changed_here=item.changed_since_copy,
        )
    return origins


def live_items_of_kind(tenant: Tenant, kind: str) -> list[ContentItem]:
    with scope(tenant=tenant.pk):
        return list(
            ContentItem.objects.filter(tenant=tenant, kind=kind, deleted_at__isnull=True)
            .only("pk", "key", "name", "kind", "tenant_id", "language", "folder_id")
            .order_by(Lower("name"), "pk")
        )


def template_choices(*, tenant: Tenant) -> list[ContentItem]:
    """Live templates of the tenant, by name (for a campaign draft's template)."""
    return live_items_of_kind(tenant, ContentKind.TEMPLATE)


def block_choices(*, tenant: Tenant) -> list[ContentItem]:
    """Live text blocks of the tenant, by name (for a campaign draft's blocks)."""
    return live_items_of_kind(tenant, ContentKind.TEXT_BLOCK)


def asset_choices(*, tenant: Tenant) -> list[ContentItem]:
    """Live images of the tenant, by name (to insert ``asset:<key>`` into HTML)."""
    return live_items_of_kind(tenant, ContentKind.ASSET)


def items_by_keys(*, tenant: Tenant, keys: Iterable[str]) -> dict[str, ContentItem]:
    """Live items of the tenant by lineage key (str), e.g. a draft's template and blocks."""
    wanted = []
    for key in keys:
        try:
            wanted.append(uuid.UUID(str(key)))
        except ValueError:
            continue
    if not wanted:
        return {}
    with scope(tenant=tenant.pk):
        rows = ContentItem.objects.filter(tenant=tenant, key__in=wanted, deleted_at__isnull=True)
        return {str(row.key): row for row in rows}
