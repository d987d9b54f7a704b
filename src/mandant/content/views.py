"""The content library under ``/t/<slug>/content/``: parse, call a service or selector, render.

Copy Content and its jobs are in ``copy_views.py``.
"""

import base64
from collections.abc import Callable
from pathlib import PurePath
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import ValidationError
from django.db.models import Count
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.clickjacking import xframe_options_sameorigin
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from mandant.accounts.roles import Action, role_allows
from mandant.billing.features import COPY_CONTENT, feature_enabled
from mandant.content import selectors, services
from mandant.content.assets import asset_limits_text
from mandant.content.forms import (
    KIND_FIELDS,
    FolderForm,
    FolderRenameForm,
    ItemForm,
    LibraryFilterForm,
)
from mandant.content.html import PLACEHOLDERS, fill_placeholders, render_preview, sample_values
from mandant.content.image_responses import image_response
from mandant.content.kept_upload import keep_upload, posted_upload
from mandant.content.models import ContentItem, ContentKind, Folder
from mandant.core.errors import NotFound, PermissionDenied
from mandant.core.web import TenantRequest, apply_service_errors, require, tenant_view
from mandant.tenants.models import Tenant

LIBRARY_PAGE_SIZE = 50
# Images listed with their ``asset:`` address beside an HTML field.
IMAGES_LISTED = 100


# The preview document may show inline styles and images of this site, nothing else: no
# scripts, no forms, no plugins, an origin of its own (sandbox), whatever the HTML contains.
def preview_csp(image_origin: str = "") -> str:
    """The policy of a sandboxed preview document; images from ``image_origin`` too, if given."""
    images = " ".join(filter(None, ["'self' data:", image_origin]))
    return f"sandbox; default-src 'none'; img-src {images}; style-src 'unsafe-inline'"


PREVIEW_CSP = preview_csp()
NEW_ITEM_TITLES = {
    ContentKind.TEMPLATE: gettext_lazy("New template"),
    ContentKind.TEXT_BLOCK: gettext_lazy("New text block"),
    ContentKind.CAMPAIGN_DRAFT: gettext_lazy("New campaign draft"),
    ContentKind.ASSET: gettext_lazy("Upload image"),
}


# --- helpers ----------------------------------------------------------------------------------


def _may(request: TenantRequest, action: Action) -> bool:
    return role_allows(request.grant.role, action)


def _require(request: TenantRequest, action: Action) -> None:
    """For pages open to viewers whose POST needs more (a Viewer's POST is a 403)."""
    require(request, action)


def _item(request: TenantRequest, item_id: int, *, deleted: bool = False) -> ContentItem:
    try:
        return selectors.item_get(tenant=request.tenant, pk=item_id, deleted=deleted)
    except NotFound:
        raise Http404 from None


def _folder(request: TenantRequest, folder_id: int) -> Folder:
    try:
        return selectors.folder_get(tenant=request.tenant, pk=folder_id)
    except NotFound:
        raise Http404 from None


def _page_number(raw: str | None) -> int:
    try:
        return max(1, min(int(raw or 1), 10**7))
    except ValueError:
        return 1


def _int_param(request: HttpRequest, name: str) -> int | None:
    raw = request.GET.get(name, "")
    return int(raw) if raw.isdigit() and len(raw) < 19 else None


def _query_without_page(request: HttpRequest) -> str:
    query = request.GET.copy()
    query.pop("page", None)
    return query.urlencode()


def _library_url(request: TenantRequest, folder: Folder | None = None) -> str:
    url = reverse("content:library", args=[request.tenant.slug])
    return f"{url}?folder={folder.pk}" if folder is not None else url


def _item_url(request: TenantRequest, item: ContentItem) -> str:
    return reverse("content:item", args=[request.tenant.slug, item.pk])


def _folder_counts(tenant: Tenant) -> dict[int | None, int]:
    """Live items per folder (None: not in a folder), for the folder tree."""
    rows = (
        ContentItem.objects.filter(tenant=tenant, deleted_at__isnull=True)
        .values("folder_id")
        .annotate(count=Count("pk"))
        .order_by()
    )
    return {row["folder_id"]: row["count"] for row in rows}


# --- the library ------------------------------------------------------------------------------


@tenant_view(Action.CONTENT_VIEW)
@require_GET
def library(request: TenantRequest) -> HttpResponse:
    tenant = request.tenant
    tree = selectors.folder_tree(tenant=tenant)
    filter_form = LibraryFilterForm(request.GET or None, folders=tree)
    filters: dict[str, Any] = {}
    if filter_form.is_valid():
        filters = filter_form.cleaned_data
    folders_by_id = {folder.pk: folder for folder, _depth in tree}
    folder = folders_by_id.get(filters.get("folder") or 0)
    page = selectors.item_list(
        tenant=tenant,
        q=filters.get("q") or "",
        kind=filters.get("kind") or "",
        folder=folder,
        page=_page_number(request.GET.get("page")),
        page_size=LIBRARY_PAGE_SIZE,
    )
    origins = selectors.item_origins(tenant=tenant, items=page.items)
    counts = _folder_counts(tenant)
    may_copy = _may(request, Action.CONTENT_COPY) and tenant.child_count > 0
    copy_enabled = may_copy and feature_enabled(tenant, COPY_CONTENT)
    return render(
        request,
        "content/library.html",
        {
            "tree": [(f, depth, counts.get(f.pk, 0)) for f, depth in tree],
            "unfiled_count": counts.get(None, 0),
            "folder": folder,
            "filter_form": filter_form,
            "filtered": bool(filters.get("q") or filters.get("kind")),
            "page": page,
            "rows": [(item, origins.get(item.pk)) for item in page.items],
            "may_copy": may_copy and copy_enabled,
            # The role and sub-tenants are there, the product is not: say which one unlocks it.
            "copy_locked": may_copy and not copy_enabled,
            "kinds": ContentKind,
            "query_without_page": _query_without_page(request),
        },
    )


# --- create and edit --------------------------------------------------------------------------


def _item_form(
    request: TenantRequest, *, kind: str, read_only: bool = False, **kwargs: Any
) -> ItemForm:
    tenant = request.tenant
    fields = KIND_FIELDS[kind]
    return ItemForm(
        kind=kind,
        folders=selectors.folder_tree(tenant=tenant),
        templates=selectors.template_choices(tenant=tenant) if "template" in fields else (),
        blocks=selectors.block_choices(tenant=tenant) if "blocks" in fields else (),
        read_only=read_only,
        **kwargs,
    )


def _item_page(
    request: TenantRequest,
    *,
    form: ItemForm,
    item: ContentItem | None,
    kind: str,
    kept_file: str = "",
    status: int = 200,
) -> HttpResponse:
    tenant = request.tenant
    if item is not None and "file" in form.fields:
        form.fields["name"].help_text = ""  # a stored image has a name already
    origin = selectors.item_origins(tenant=tenant, items=[item]).get(item.pk) if item else None
    return render(
        request,
        "content/item.html",
        {
            "form": form,
            "item": item,
            "kind": kind,
            "kind_label": ContentKind(kind).label,
            "title": NEW_ITEM_TITLES[ContentKind(kind)] if item is None else item.name,
            "origin": origin,
            "kept_file": kept_file,
            "asset_limits": asset_limits_text() if kind == ContentKind.ASSET else "",
            "placeholders": list(PLACEHOLDERS.items()),
            "images": selectors.asset_choices(tenant=tenant)[:IMAGES_LISTED]
            if "html" in form.fields
            else [],
        },
        status=status,
    )


def _save_item(request: TenantRequest, *, kind: str, item: ContentItem | None) -> HttpResponse:
    """POST of the create or edit form: save, or re-render with every input kept (422)."""
    tenant = request.tenant
    form = _item_form(request, kind=kind, data=request.POST, files=request.FILES)
    upload = posted_upload(request, tenant=tenant) if kind == ContentKind.ASSET else None
    if form.is_valid():
        try:
            changes = form.service_changes(selectors.folder_tree(tenant=tenant))
            if upload is not None:
                changes["asset"] = upload
                if not changes["name"]:
                    changes["name"] = PurePath(upload.filename).stem or upload.filename
            if item is None:
                saved = services.item_create(
                    actor=request.actor, tenant=tenant, kind=kind, **changes
                )
            else:
                saved = services.item_update(
                    actor=request.actor, tenant=tenant, item=item, **changes
                )
        except ValidationError as exc:
            apply_service_errors(form, exc)
            if "file" in getattr(exc, "error_dict", {}):
                upload = None  # a refused image is not kept
        except PermissionDenied as exc:
            raise DjangoPermissionDenied(exc.message) from None
        else:
            if item is None:
                messages.success(request, _("“%(name)s” has been created.") % {"name": saved.name})
            elif saved.version != item.version:
                messages.success(
                    request,
                    _("“%(name)s” has been saved as version %(number)s.")
                    % {"name": saved.name, "number": saved.version},
                )
            else:
                messages.info(request, _("Nothing has changed."))
            return redirect(_item_url(request, saved))
    kept_file = ""
    if upload is not None:
        kept_file = keep_upload(form, upload, tenant=tenant)
        if not kept_file:
            form.add_error(None, _("Please choose the image file again."))
    elif kind == ContentKind.ASSET and item is None and "file" not in form.errors:
        form.add_error("file", _("Choose an image file to upload."))
    return _item_page(request, form=form, item=item, kind=kind, kept_file=kept_file, status=422)


@tenant_view(Action.CONTENT_EDIT)
@require_http_methods(["GET", "POST"])
def item_new(request: TenantRequest, kind: str) -> HttpResponse:
    if kind not in ContentKind.values:
        raise Http404
    if request.method == "POST":
        return _save_item(request, kind=kind, item=None)
    # "New …" inside a folder of the library starts in that folder.
    form = _item_form(request, kind=kind, initial={"folder": _int_param(request, "folder")})
    return _item_page(request, form=form, item=None, kind=kind)


@tenant_view(Action.CONTENT_VIEW)
@require_http_methods(["GET", "POST"])
def item_detail(request: TenantRequest, item_id: int) -> HttpResponse:
    """The item's form for editors; a read-only view of the same fields for viewers."""
    item = _item(request, item_id)
    if request.method == "POST":
        _require(request, Action.CONTENT_EDIT)
        return _save_item(request, kind=item.kind, item=item)
    form = _item_form(request, kind=item.kind, read_only=not _may(request, Action.CONTENT_EDIT))
    form.initial = form.initial_for(item)
    return _item_page(request, form=form, item=item, kind=item.kind)


def _item_refused(request: TenantRequest, item: ContentItem, exc: Exception) -> HttpResponse:
    """The item's page again, with the reason an action was refused (403 or 409)."""
    if isinstance(exc, PermissionDenied):
        messages.error(request, exc.message)
        status = 403
    else:
        assert isinstance(exc, ValidationError)
        for text in exc.messages:
            messages.error(request, text)
        status = 409
    form = _item_form(request, kind=item.kind, read_only=not _may(request, Action.CONTENT_EDIT))
    form.initial = form.initial_for(item)
    return _item_page(request, form=form, item=item, kind=item.kind, status=status)


@tenant_view(Action.CONTENT_EDIT)
@require_POST
def item_duplicate(request: TenantRequest, item_id: int) -> HttpResponse:
    item = _item(request, item_id)
    try:
        copy = services.item_duplicate(actor=request.actor, tenant=request.tenant, item=item)
    except (PermissionDenied, ValidationError) as exc:
        return _item_refused(request, item, exc)
    messages.success(request, _("“%(name)s” has been created.") % {"name": copy.name})
    return redirect(_item_url(request, copy))


@tenant_view(Action.CONTENT_EDIT)
@require_POST
def item_delete(request: TenantRequest, item_id: int) -> HttpResponse:
    item = _item(request, item_id)
    try:
        services.item_delete(actor=request.actor, tenant=request.tenant, item=item)
    except (PermissionDenied, ValidationError) as exc:
        return _item_refused(request, item, exc)
    messages.success(
        request,
        _("“%(name)s” has been moved to the bin. You can restore it there for %(days)s days.")
        % {"name": item.name, "days": settings.CONTENT_BIN_DAYS},
    )
    return redirect(_library_url(request, item.folder))


@tenant_view(Action.CONTENT_EDIT)
@require_POST
def item_restore(request: TenantRequest, item_id: int) -> HttpResponse:
    """Take an item out of the bin."""
    item = _item(request, item_id, deleted=True)
    try:
        restored = services.item_restore(actor=request.actor, tenant=request.tenant, item=item)
    except PermissionDenied as exc:
        messages.error(request, exc.message)
        return _bin_page(request, status=403)
    except ValidationError as exc:
        for text in exc.messages:
            messages.error(request, text)
        return _bin_page(request, status=409)
    messages.success(request, _("“%(name)s” has been restored.") % {"name": restored.name})
    return redirect(_item_url(request, restored))


@tenant_view(Action.CONTENT_EDIT)
@require_POST
def item_pull(request: TenantRequest, item_id: int) -> HttpResponse:
    """*Vom Master holen*: the newest version of the item this one was copied from."""
    item = _item(request, item_id)
    try:
        pulled = services.item_pull_from_master(
            actor=request.actor, tenant=request.tenant, item=item
        )
    except (PermissionDenied, ValidationError) as exc:
        return _item_refused(request, item, exc)
    messages.success(
        request,
        _("“%(name)s” now has the master's newest version (version %(number)s here).")
        % {"name": pulled.name, "number": pulled.version},
    )
    return redirect(_item_url(request, pulled))


# --- preview and images -----------------------------------------------------------------------


@tenant_view(Action.CONTENT_VIEW)
@require_GET
def item_preview(request: TenantRequest, item_id: int) -> HttpResponse:
    item = _item(request, item_id)
    _html, text = render_preview(tenant=request.tenant, item=item)
    values = sample_values(request.tenant, item)
    return render(
        request,
        "content/preview.html",
        {
            "item": item,
            "text": text,
            "subject": fill_placeholders(item.subject, values, escape=False),
            "preheader": fill_placeholders(item.preheader, values, escape=False),
        },
    )


def inline_images_for(tenant: Tenant) -> Callable[[str], str]:
    """Images of the preview as data: URLs. The sandboxed document has an origin of its own,
    so the browser sends no session cookie (SameSite) with its requests: image URLs of the
    library would answer with the login page there."""
    urls: dict[str, str] = {}

    def url_for(key: str) -> str:
        if key not in urls:
            try:
                blob = selectors.asset_get(tenant=tenant, key=key).blob
            except NotFound:
                blob = None
            urls[key] = (
                f"data:{blob.content_type};base64,{base64.b64encode(bytes(blob.data)).decode()}"
                if blob is not None
                else ""
            )
        return urls[key]

    return url_for


@xframe_options_sameorigin
@tenant_view(Action.CONTENT_VIEW)
@require_GET
def item_render(request: TenantRequest, item_id: int) -> HttpResponse:
    """The preview document, for ``<iframe sandbox>`` on the preview page only."""
    item = _item(request, item_id)
    document, _text = render_preview(
        tenant=request.tenant, item=item, asset_url=inline_images_for(request.tenant)
    )
    response = HttpResponse(document, content_type="text/html; charset=utf-8")
    response["Content-Security-Policy"] = PREVIEW_CSP
    response["Cache-Control"] = "private, no-cache"
    return response


def _image_response(request: HttpRequest, item: ContentItem) -> HttpResponse:
    blob = item.blob if item.kind == ContentKind.ASSET and item.blob_id is not None else None
    if blob is None:
        raise Http404
    # The bytes of one blob never change; an item that gets a new image gets a new blob.
    return image_response(request, blob.sha256, lambda: blob, cache_control="private, max-age=300")


@tenant_view(Action.CONTENT_VIEW)
@require_GET
def item_image(request: TenantRequest, item_id: int) -> HttpResponse:
    return _image_response(request, _item(request, item_id))


@tenant_view(Action.CONTENT_VIEW)
@require_GET
def asset_file(request: TenantRequest, key: Any) -> HttpResponse:
    """An image by its lineage key: the address ``asset:<key>`` in HTML stands for."""
    try:
        item = selectors.asset_get(tenant=request.tenant, key=key)
    except NotFound:
        raise Http404 from None
    return _image_response(request, item)


# --- version history --------------------------------------------------------------------------


@tenant_view(Action.CONTENT_VIEW)
@require_GET
def item_history(request: TenantRequest, item_id: int) -> HttpResponse:
    item = _item(request, item_id)
    return render(
        request,
        "content/history.html",
        {
            "item": item,
            "rows": selectors.item_history(tenant=request.tenant, item=item),
        },
    )


@tenant_view(Action.CONTENT_VIEW)
@require_GET
def item_version(request: TenantRequest, item_id: int, number: int) -> HttpResponse:
    """An old version, read-only, with the button to restore it."""
    item = _item(request, item_id)
    if number == item.version:
        return redirect(_item_url(request, item))
    try:
        version = selectors.version_get(tenant=request.tenant, item=item, number=number)
    except NotFound:
        raise Http404 from None
    form = _item_form(request, kind=item.kind, read_only=True)
    form.initial = form.initial_for(version)
    return render(
        request,
        "content/version.html",
        {
            "item": item,
            "version": version,
            "form": form,
        },
    )


@tenant_view(Action.CONTENT_EDIT)
@require_POST
def item_version_restore(request: TenantRequest, item_id: int, number: int) -> HttpResponse:
    item = _item(request, item_id)
    try:
        restored = services.item_version_restore(
            actor=request.actor, tenant=request.tenant, item=item, number=number
        )
    except NotFound:
        raise Http404 from None
    except PermissionDenied as exc:
        raise DjangoPermissionDenied(exc.message) from None
    except ValidationError as exc:
        for text in exc.messages:
            messages.error(request, text)
        return redirect("content:history", request.tenant.slug, item.pk)
    messages.success(
        request,
        _("Version %(old)s has been restored as the new version %(number)s.")
        % {"old": number, "number": restored.version},
    )
    return redirect(_item_url(request, restored))


# --- the bin ----------------------------------------------------------------------------------


def _bin_page(request: TenantRequest, *, status: int = 200) -> HttpResponse:
    now = timezone.now()
    days = settings.CONTENT_BIN_DAYS
    rows = [
        (item, max(0, days - (now - item.deleted_at).days) if item.deleted_at else days)
        for item in selectors.bin_list(tenant=request.tenant)
    ]
    return render(
        request,
        "content/bin.html",
        {"rows": rows, "bin_days": days},
        status=status,
    )


@tenant_view(Action.CONTENT_VIEW)
@require_GET
def bin_view(request: TenantRequest) -> HttpResponse:
    return _bin_page(request)


# --- folders ----------------------------------------------------------------------------------


@tenant_view(Action.CONTENT_EDIT)
@require_http_methods(["GET", "POST"])
def folder_new(request: TenantRequest) -> HttpResponse:
    tenant = request.tenant
    tree = selectors.folder_tree(tenant=tenant)
    folders = {folder.pk: folder for folder, _depth in tree}
    status = 200
    if request.method == "POST":
        form = FolderForm(request.POST, folders=tree)
        status = 422
        if form.is_valid():
            parent_id = form.cleaned_data["parent"]
            try:
                folder = services.folder_create(
                    actor=request.actor,
                    tenant=tenant,
                    name=form.cleaned_data["name"],
                    parent=folders[parent_id] if parent_id else None,
                )
            except ValidationError as exc:
                apply_service_errors(form, exc)
            except PermissionDenied as exc:
                raise DjangoPermissionDenied(exc.message) from None
            else:
                messages.success(
                    request, _("The folder “%(name)s” has been created.") % {"name": folder.name}
                )
                return redirect(_library_url(request, folder))
    else:
        form = FolderForm(folders=tree, initial={"parent": _int_param(request, "parent")})
    return render(request, "content/folder_new.html", {"form": form}, status=status)


@tenant_view(Action.CONTENT_VIEW)
@require_http_methods(["GET", "POST"])
def folder_edit(request: TenantRequest, folder_id: int) -> HttpResponse:
    """Rename or delete a folder (POST needs CONTENT_EDIT)."""
    folder = _folder(request, folder_id)
    form = FolderRenameForm(initial={"name": folder.name})
    status = 200
    if request.method == "POST":
        _require(request, Action.CONTENT_EDIT)
        try:
            if request.POST.get("action") == "delete":
                services.folder_delete(actor=request.actor, tenant=request.tenant, folder=folder)
                messages.success(
                    request, _("The folder “%(name)s” has been deleted.") % {"name": folder.name}
                )
                return redirect(_library_url(request, folder.parent))
            form = FolderRenameForm(request.POST)
            status = 422
            if form.is_valid():
                folder = services.folder_rename(
                    actor=request.actor,
                    tenant=request.tenant,
                    folder=folder,
                    name=form.cleaned_data["name"],
                )
                messages.success(
                    request, _("The folder has been renamed to “%(name)s”.") % {"name": folder.name}
                )
                return redirect(_library_url(request, folder))
        except PermissionDenied as exc:
            raise DjangoPermissionDenied(exc.message) from None
        except ValidationError as exc:
            if request.POST.get("action") == "delete":
                for text in exc.messages:
                    messages.error(request, text)
                status = 409
            else:
                apply_service_errors(form, exc)
                status = 422
    return render(
        request,
        "content/folder_edit.html",
        {
            "folder": folder,
            "form": form,
        },
        status=status,
    )
