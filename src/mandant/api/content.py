"""The content library of a tenant and Copy Content, under ``/api/v1/tenants/{id}/``.

Every handler opens the tenant's django-scopes scope itself (the web's ``tenant_view`` does not
run for the API) and resolves every id in the path, the query or the body inside that tenant:
an item id of another tenant is a 404 in the path and a 422 on its field in a body.
"""

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from django.core.exceptions import ValidationError
from django.db import transaction
from django.http import HttpRequest, HttpResponse
from django.urls import NoReverseMatch, reverse
from django.utils.translation import gettext as _
from django_scopes import scope
from ninja import File, Form, Query, Router, Schema
from ninja.files import UploadedFile
from ninja.responses import Status
from pydantic import Field

from mandant.accounts.roles import Action
from mandant.api.auth import actor_of
from mandant.api.inputs import Input
from mandant.api.tenants import DetailOut, ErrorOut
from mandant.content import copying, selectors, services
from mandant.content.assets import AssetUpload
from mandant.content.models import AssetBlob, ContentItem, ContentKind, Folder
from mandant.core.actor import Actor
from mandant.core.errors import NotFound, error_list_by_field
from mandant.tenants.models import Tenant
from mandant.tenants.selectors import tenant_get_for_actor

router = Router(tags=["content"])

# The services name references by object, the API by id: errors are reported on the API's field.
SERVICE_TO_API_FIELD = {
    "folder": "folder_id",
    "template": "template_id",
    "blocks": "block_ids",
    "asset": "file",
}


# --- schemas ---------------------------------------------------------------------------


class ImageOut(Schema):
    url: str
    width: int
    height: int
    size: int
    content_type: str


class OriginOut(Schema):
    tenant_id: int | None
    tenant_name: str
    item_id: int | None
    version: int | None
    copied_at: datetime | None
    # The source's current version; null when the source item is gone (bin or purged).
    source_version: int | None
    newer_version_available: bool
    changed_here: bool


class ItemOut(Schema):
    id: int
    # The lineage key: an HTML part shows an image of this tenant as <img src="asset:<key>">.
    key: UUID
    kind: str
    name: str
    folder_id: int | None
    subject: str
    preheader: str
    sender_alias: str
    reply_to: str
    html: str
    text: str
    template_id: int | None
    block_ids: list[int]
    language: str
    version: int
    created_at: datetime
    updated_at: datetime
    image: ImageOut | None
    origin: OriginOut | None


class ItemPageOut(Schema):
    items: list[ItemOut]
    total: int
    page: int
    page_size: int


class ItemListQuery(Schema):
    q: str = ""
    kind: str = ""
    folder_id: int | None = None
    page: int = Field(1, ge=1)
    page_size: int = Field(50, ge=1, le=200)


class ItemIn(Input):
    kind: str
    name: str
    folder_id: int | None = None
    subject: str = ""
    preheader: str = ""
    sender_alias: str = ""
    reply_to: str = ""
    html: str = ""
    text: str = ""
    template_id: int | None = None
    block_ids: list[int] = []
    language: str = ""


class ItemPatchIn(Input):
    """Only the fields sent change. ``null`` leaves a text field unchanged; for ``folder_id``
    and ``template_id`` an explicit ``null`` means "top level" and "no template"."""

    name: str | None = None
    folder_id: int | None = None
    subject: str | None = None
    preheader: str | None = None
    sender_alias: str | None = None
    reply_to: str | None = None
    html: str | None = None
    text: str | None = None
    template_id: int | None = None
    block_ids: list[int] | None = None
    language: str | None = None


class CopyContentIn(Input):
    items: list[int] = []
    folders: list[int] = []
    targets: list[int] = []
    all_descendants: bool = False
    target_type: str = ""
    target_version: str = ""
    policy: str = "overwrite_unchanged"


class JobStartedOut(Schema):
    id: int
    status: str
    url: str


# --- helpers ---------------------------------------------------------------------------


@contextmanager
def tenant_scope(request: HttpRequest, tenant_id: int, action: Action) -> Iterator[Tenant]:
    """The tenant in the path, within the key's reach, with its scope active; ``action``
    checked (NotFound -> 404, PermissionDenied -> 403)."""
    actor = actor_of(request)
    tenant, _grant = tenant_get_for_actor(actor, pk=tenant_id)
    with scope(tenant=tenant.pk):
        selectors.content_grant(actor, tenant, action)
        yield tenant


class _Refused(Exception):
    """Undo a write that succeeded although the request had errors found before it."""


@contextmanager
def api_write(earlier: ValidationError | None = None) -> Iterator[None]:
    """Run a service write in a transaction and report its validation errors on the API's
    field names, together with ``earlier`` ones (an unknown ``folder_id``, …). With any
    error nothing is written."""
    errors: dict[str, list[ValidationError]] = {}

    def collect(error: ValidationError) -> None:
        for field, field_errors in error_list_by_field(error).items():
            errors.setdefault(SERVICE_TO_API_FIELD.get(field, field), []).extend(field_errors)

    if earlier is not None:
        collect(earlier)
    try:
        with transaction.atomic():
            yield
            if errors:
                raise _Refused
    except _Refused:
        raise ValidationError(errors) from None
    except ValidationError as error:
        collect(error)
        raise ValidationError(errors) from error


def image_url(tenant: Tenant, item: ContentItem) -> str:
    try:
        return reverse("content:image", args=[tenant.slug, item.pk])
    except NoReverseMatch:
        return f"/t/{tenant.slug}/content/{item.pk}/image/"


def items_out(tenant: Tenant, items: Sequence[ContentItem]) -> list[ItemOut]:
    """The items as the API shows them: references resolved to ids, images and origins."""
    keys: set[str] = set()
    for item in items:
        if item.template_key is not None:
            keys.add(str(item.template_key))
        keys.update(str(key) for key in item.block_keys or ())
    ids_by_key = {
        key: row.pk for key, row in selectors.items_by_keys(tenant=tenant, keys=keys).items()
    }
    blob_ids = {item.blob_id for item in items if item.blob_id is not None}
    # Only the metadata: the image bytes stay in the database.
    blobs = {
        blob.pk: blob
        for blob in AssetBlob.objects.filter(pk__in=blob_ids).only(
            "id", "width", "height", "size", "content_type"
        )
    }
    origins = selectors.item_origins(tenant=tenant, items=list(items))
    result = []
    for item in items:
        blob = blobs.get(item.blob_id) if item.blob_id is not None else None
        origin = origins.get(item.pk)
        result.append(
            ItemOut(
                id=item.pk,
                key=item.key,
                kind=item.kind,
                name=item.name,
                folder_id=item.folder_id,
                subject=item.subject,
                preheader=item.preheader,
                sender_alias=item.sender_alias,
                reply_to=item.reply_to,
                html=item.html,
                text=item.text,
                template_id=(
                    ids_by_key.get(str(item.template_key))
                    if item.template_key is not None
                    else None
                ),
                block_ids=[
                    ids_by_key[str(key)] for key in item.block_keys or () if str(key) in ids_by_key
                ],
                language=item.language,
                version=item.version,
                created_at=item.created_at,
                updated_at=item.updated_at,
                image=(
                    ImageOut(
                        url=image_url(tenant, item),
                        width=blob.width,
                        height=blob.height,
                        size=blob.size,
                        content_type=blob.content_type,
                    )
                    if blob is not None
                    else None
                ),
                origin=(
                    OriginOut(
                        tenant_id=origin.tenant_id,
                        tenant_name=origin.tenant_name,
                        item_id=origin.item_id,
                        version=origin.version_copied,
                        copied_at=item.copied_at,
                        source_version=origin.current_version,
                        newer_version_available=origin.newer_available,
                        changed_here=origin.changed_here,
                    )
                    if origin is not None
                    else None
                ),
            )
        )
    return result


def item_out(tenant: Tenant, item: ContentItem) -> ItemOut:
    return items_out(tenant, [item])[0]


@dataclass
class FolderRef:
    """The folder a request names by id, resolved in the tenant; ``error`` when it is not
    there (reported together with the service's errors)."""

    folder: Folder | None = None
    error: ValidationError | None = None


def folder_ref(tenant: Tenant, folder_id: int | None) -> FolderRef:
    if folder_id is None:
        return FolderRef()
    try:
        return FolderRef(folder=selectors.folder_get(tenant=tenant, pk=folder_id))
    except NotFound:
        return FolderRef(
            error=ValidationError(
                {
                    "folder_id": _("There is no folder with the id %(id)s in this tenant.")
                    % {"id": folder_id}
                }
            )
        )


def refuse_asset_as_json(tenant: Tenant) -> None:
    raise ValidationError(
        {
            "file": _(
                "Upload an image as multipart form data (fields name, folder_id and file) "
                "to %(url)s."
            )
            % {"url": reverse("api:create_asset", kwargs={"tenant_id": tenant.pk})}
        }
    )


def listed_folder(tenant: Tenant, folder_id: int | None) -> Folder | None:
    folder = folder_ref(tenant, folder_id)
    if folder.error is not None:
        raise folder.error
    return folder.folder


def item_in_tenant(tenant: Tenant, item_id: int) -> ContentItem:
    """The live item ``item_id`` of ``tenant``: any other id (another tenant's too) is a 404."""
    return selectors.item_get(tenant=tenant, pk=item_id)


def patch_changes(payload: ItemPatchIn, folder: FolderRef) -> dict[str, Any]:
    sent = payload.model_fields_set
    changes: dict[str, Any] = {
        name: getattr(payload, name)
        for name in (
            "name",
            "subject",
            "preheader",
            "sender_alias",
            "reply_to",
            "html",
            "text",
            "language",
        )
        if getattr(payload, name) is not None
    }
    if "folder_id" in sent and folder.error is None:
        changes["folder"] = folder.folder
    # The services resolve template and blocks by id within the tenant (and check the kind).
    if "template_id" in sent:
        changes["template"] = payload.template_id
    if payload.block_ids is not None:
        changes["blocks"] = payload.block_ids
    return changes


# --- routes ----------------------------------------------------------------------------


@router.get(
    "/{id:tenant_id}/content",
    response={200: ItemPageOut, 404: DetailOut, 422: ErrorOut},
    summary="The tenant's content library (items in the bin are left out)",
)
def list_content(
    request: HttpRequest, tenant_id: int, filters: Query[ItemListQuery]
) -> ItemPageOut:
    with tenant_scope(request, tenant_id, Action.CONTENT_VIEW) as tenant:
        if filters.kind and filters.kind not in ContentKind.values:
            raise ValidationError(
                {
                    "kind": _("Choose one of: %(choices)s.")
                    % {"choices": ", ".join(ContentKind.values)}
                }
            )
        page = selectors.item_list(
            tenant=tenant,
            q=filters.q,
            kind=filters.kind,
            folder=listed_folder(tenant, filters.folder_id),
            page=filters.page,
            page_size=filters.page_size,
        )
        return ItemPageOut(
            items=items_out(tenant, list(page.items)),
            total=page.total,
            page=page.page,
            page_size=page.page_size,
        )


@router.post(
    "/{id:tenant_id}/content",
    response={201: ItemOut, 403: DetailOut, 404: DetailOut, 422: ErrorOut},
    summary="Create a template, text block or campaign draft (images: POST …/content/assets)",
)
def create_content(request: HttpRequest, tenant_id: int, payload: ItemIn) -> Status[ItemOut]:
    actor = actor_of(request)
    with tenant_scope(request, tenant_id, Action.CONTENT_EDIT) as tenant:
        if payload.kind == ContentKind.ASSET:
            refuse_asset_as_json(tenant)
        folder = folder_ref(tenant, payload.folder_id)
        with api_write(folder.error):
            item = services.item_create(
                actor=actor,
                tenant=tenant,
                kind=payload.kind,
                name=payload.name,
                folder=folder.folder,
                subject=payload.subject,
                preheader=payload.preheader,
                sender_alias=payload.sender_alias,
                reply_to=payload.reply_to,
                html=payload.html,
                text=payload.text,
                template=payload.template_id,
                blocks=payload.block_ids,
                language=payload.language,
            )
        return Status(201, item_out(tenant, item))


@router.post(
    "/{id:tenant_id}/content/assets",
    response={201: ItemOut, 403: DetailOut, 404: DetailOut, 422: ErrorOut},
    summary="Upload an image (multipart: file, name, folder_id)",
)
def create_asset(
    request: HttpRequest,
    tenant_id: int,
    file: File[UploadedFile],
    name: Form[str] = "",
    folder_id: Form[int | None] = None,
) -> Status[ItemOut]:
    actor = actor_of(request)
    with tenant_scope(request, tenant_id, Action.CONTENT_EDIT) as tenant:
        folder = folder_ref(tenant, folder_id)
        with api_write(folder.error):
            item = services.item_create(
                actor=actor,
                tenant=tenant,
                kind=ContentKind.ASSET,
                name=name.strip() or (file.name or ""),
                folder=folder.folder,
                asset=AssetUpload.from_file(file),
            )
        return Status(201, item_out(tenant, item))


@router.get(
    "/{id:tenant_id}/content/{id:item_id}",
    response={200: ItemOut, 404: DetailOut},
    summary="One content item with its origin (lineage)",
)
def get_content(request: HttpRequest, tenant_id: int, item_id: int) -> ItemOut:
    with tenant_scope(request, tenant_id, Action.CONTENT_VIEW) as tenant:
        return item_out(tenant, item_in_tenant(tenant, item_id))


@router.patch(
    "/{id:tenant_id}/content/{id:item_id}",
    response={200: ItemOut, 403: DetailOut, 404: DetailOut, 422: ErrorOut},
    summary="Change the fields sent (a new version)",
)
def patch_content(
    request: HttpRequest, tenant_id: int, item_id: int, payload: ItemPatchIn
) -> ItemOut:
    actor = actor_of(request)
    with tenant_scope(request, tenant_id, Action.CONTENT_EDIT) as tenant:
        item = item_in_tenant(tenant, item_id)
        folder = folder_ref(tenant, payload.folder_id)
        with api_write(folder.error if "folder_id" in payload.model_fields_set else None):
            updated = services.item_update(
                actor=actor, tenant=tenant, item=item, **patch_changes(payload, folder)
            )
        return item_out(tenant, updated)


@router.put(
    "/{id:tenant_id}/content/{id:item_id}/file",
    response={200: ItemOut, 403: DetailOut, 404: DetailOut, 422: ErrorOut},
    summary="Replace the image of an image item (multipart field `file`; a new version)",
)
def put_content_file(
    request: HttpRequest, tenant_id: int, item_id: int, file: File[UploadedFile]
) -> ItemOut:
    actor = actor_of(request)
    with tenant_scope(request, tenant_id, Action.CONTENT_EDIT) as tenant:
        item = item_in_tenant(tenant, item_id)
        if item.kind != ContentKind.ASSET:
            raise ValidationError({"file": _("Only an image item has a file.")})
        with api_write():
            updated = services.item_update(
                actor=actor, tenant=tenant, item=item, asset=AssetUpload.from_file(file)
            )
        return item_out(tenant, updated)


@router.delete(
    "/{id:tenant_id}/content/{id:item_id}",
    response={204: None, 403: DetailOut, 404: DetailOut},
    summary="Move the item to the bin (restorable in the web interface)",
)
def delete_content(request: HttpRequest, tenant_id: int, item_id: int) -> HttpResponse:
    actor = actor_of(request)
    with tenant_scope(request, tenant_id, Action.CONTENT_EDIT) as tenant:
        item = item_in_tenant(tenant, item_id)
        services.item_delete(actor=actor, tenant=tenant, item=item)
    return HttpResponse(status=204)


@router.post(
    "/{id:tenant_id}/copy-content",
    response={202: JobStartedOut, 403: DetailOut, 404: DetailOut, 422: ErrorOut},
    summary="Copy Content into sub-tenants: starts a job (poll the URL in Location)",
)
def copy_content(
    request: HttpRequest, response: HttpResponse, tenant_id: int, payload: CopyContentIn
) -> Status[JobStartedOut]:
    actor: Actor = actor_of(request)
    # copy_content_start checks the role for Copy Content itself.
    with tenant_scope(request, tenant_id, Action.CONTENT_VIEW) as tenant:
        job = copying.copy_content_start(
            actor=actor,
            source=tenant,
            item_ids=payload.items,
            folder_ids=payload.folders,
            target_ids=payload.targets,
            all_descendants=payload.all_descendants,
            target_type=payload.target_type,
            target_version=payload.target_version,
            policy=payload.policy,
        )
    url = reverse("api:get_job", kwargs={"job_id": job.pk})
    response["Location"] = url
    return Status(202, JobStartedOut(id=job.pk, status=job.status, url=url))
