"""Every write to the content library. Keyword-only arguments, explicit actor and tenant, one
transaction, one audit row. Tenant-scoped queries run in the tenant's scope whether or not
the caller opened one."""

import unicodedata
import uuid
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import transaction
from django.db.models import Count
from django.db.models.functions import Lower
from django.utils import timezone
from django.utils.translation import gettext as _
from django_scopes import scope, scopes_disabled

from mandant.accounts.roles import Action
from mandant.audit.services import audit_record
from mandant.content.assets import AssetUpload, asset_blob_for
from mandant.content.html import asset_keys_in, check_placeholders, sanitize_html
from mandant.content.models import (
    CONTENT_COLUMNS,
    AssetBlob,
    ContentItem,
    ContentKind,
    ContentVersion,
    Folder,
)
from mandant.content.selectors import content_grant
from mandant.core.actor import Actor, RoleGrant
from mandant.core.errors import NotFound
from mandant.tenants.models import Tenant

ITEM_NAME_MAX = 200
FOLDER_NAME_MAX = 100
# Far above any real e-mail (Gmail clips at 102 KB) but bounded.
BODY_MAX_CHARS = 500_000
SINGLE_LINE_LIMITS = {"subject": 255, "preheader": 255, "sender_alias": 100}

# Which inputs apply to which kind; a non-empty value for another kind is refused.
KIND_FIELDS: dict[str, frozenset[str]] = {
    ContentKind.TEMPLATE: frozenset({"subject", "preheader", "html", "text"}),
    ContentKind.TEXT_BLOCK: frozenset({"html", "text"}),
    ContentKind.CAMPAIGN_DRAFT: frozenset(
        {"subject", "preheader", "sender_alias", "reply_to", "template", "blocks"}
    ),
    ContentKind.ASSET: frozenset({"asset"}),
}
CONTENT_INPUTS = (
    "subject",
    "preheader",
    "sender_alias",
    "reply_to",
    "html",
    "text",
    "template",
    "blocks",
    "asset",
)
UPDATABLE = frozenset({"name", "folder", "language", *CONTENT_INPUTS})

ItemRef = ContentItem | int


def field_error(field: str, message: str, code: str) -> ValidationError:
    return ValidationError({field: ValidationError(message, code=code)})


# ---- checks --------------------------------------------------------------------------------


def _has_control_chars(value: str, *, allow_newlines: bool = False) -> bool:
    allowed = {"\n", "\r", "\t"} if allow_newlines else set()
    return any(
        unicodedata.category(ch) in ("Cc", "Cs") and ch not in allowed for ch in value
    ) or any(ch in "\u2028\u2029" for ch in value)


def clean_name(value: Any, *, max_length: int, field: str = "name") -> str:
    name = unicodedata.normalize("NFC", str(value or "")).strip()
    if not name:
        raise field_error(field, _("Enter a name."), "required")
    if len(name) > max_length:
        raise field_error(
            field,
            _("The name has %(n)d characters; at most %(max)d are allowed.")
            % {"n": len(name), "max": max_length},
            "max_length",
        )
    if _has_control_chars(name):
        raise field_error(
            field,
            _("The name must not contain line breaks or control characters."),
            "control_characters",
        )
    return name


def _clean_single_line(value: Any, field: str, *, placeholders: bool) -> str:
    text = str(value or "").strip()
    limit = SINGLE_LINE_LIMITS[field]
    if len(text) > limit:
        raise field_error(
            field,
            _("This has %(n)d characters; at most %(max)d are allowed.")
            % {"n": len(text), "max": limit},
            "max_length",
        )
    # A line break in a header field would inject headers into the e-mail.
    if _has_control_chars(text):
        raise field_error(
            field,
            _("This must be one line without control characters."),
            "control_characters",
        )
    if placeholders:
        check_placeholders(text, field=field)
    return text


def _clean_reply_to(value: Any) -> str:
    address = str(value or "").strip()
    if not address:
        return ""
    try:
        if len(address) > 254 or _has_control_chars(address):
            raise ValidationError("invalid")
        validate_email(address)
    except ValidationError:
        raise field_error(
            "reply_to",
            _("“%(value)s” is not a valid e-mail address.") % {"value": address[:80]},
            "invalid",
        ) from None
    return address


def _clean_body(value: Any, field: str, *, allow_content: bool) -> str:
    body = str(value or "")
    if len(body) > BODY_MAX_CHARS:
        raise field_error(
            field,
            _("This has %(n)d characters; at most %(max)d are allowed.")
            % {"n": len(body), "max": BODY_MAX_CHARS},
            "max_length",
        )
    if _has_control_chars(body, allow_newlines=True):
        raise field_error(field, _("This contains control characters."), "control")
    check_placeholders(body, field=field, allow_content=allow_content)
    if field == "html":
        body = sanitize_html(body)
    elif body.strip():
        body = body.replace("\r\n", "\n").strip("\n")
    else:
        body = ""
    return body


def _live_items(tenant: Tenant) -> Any:
    return ContentItem.objects.filter(tenant=tenant, deleted_at__isnull=True)


def _check_asset_keys(tenant: Tenant, keys: Sequence[str]) -> None:
    """Every ``asset:<key>`` in the HTML must be a live image of this tenant."""
    if not keys:
        return
    valid: list[uuid.UUID] = []
    for key in keys:
        try:
            valid.append(uuid.UUID(key))
        except ValueError:
            continue
    found = {
        str(k)
        for k in _live_items(tenant)
        .filter(kind=ContentKind.ASSET, key__in=valid)
        .values_list("key", flat=True)
    }
    missing = [key for key in keys if key not in found]
    if missing:
        raise field_error(
            "html",
            _(
                "The HTML shows an image that is not in this tenant's library: "
                "%(refs)s. Upload the image here (or restore it from the bin) and "
                "insert it again."
            )
            % {"refs": ", ".join(f"asset:{key}" for key in missing)},
            "unknown_asset",
        )


def _resolve_ref(tenant: Tenant, ref: ItemRef | str, kind: str) -> ContentItem | None:
    """A live item of ``kind`` in ``tenant`` given as an instance or an id."""
    if isinstance(ref, ContentItem):
        if ref.tenant_id != tenant.pk or ref.kind != kind:
            return None
        item_id = ref.pk
    else:
        try:
            item_id = int(ref)
        except (TypeError, ValueError):
            return None
    return _live_items(tenant).filter(pk=item_id, kind=kind).first()


def _ref_label(ref: ItemRef | str) -> str:
    return ref.name if isinstance(ref, ContentItem) else str(ref)


def _clean_template(tenant: Tenant, template: ItemRef | str | None) -> uuid.UUID | None:
    if template in (None, ""):
        return None
    assert template is not None
    found = _resolve_ref(tenant, template, ContentKind.TEMPLATE)
    if found is None:
        raise field_error(
            "template",
            _("“%(ref)s” is not a template of this tenant (or it is in the bin).")
            % {"ref": _ref_label(template)},
            "unknown_template",
        )
    return found.key


def _clean_blocks(tenant: Tenant, blocks: Sequence[ItemRef | str] | None) -> list[str]:
    keys: list[str] = []
    missing: list[str] = []
    for ref in blocks or ():
        found = _resolve_ref(tenant, ref, ContentKind.TEXT_BLOCK)
        if found is None:
            missing.append(_ref_label(ref))
        else:
            keys.append(str(found.key))
    if missing:
        raise field_error(
            "blocks",
            _("Not a text block of this tenant (or in the bin): %(refs)s.")
            % {"refs": ", ".join(f"“{m}”" for m in missing)},
            "unknown_block",
        )
    return keys


def _check_folder(tenant: Tenant, folder: Folder | None, field: str = "folder") -> Folder | None:
    if folder is None:
        return None
    if (
        folder.tenant_id != tenant.pk
        or not Folder.objects.filter(tenant=tenant, pk=folder.pk).exists()
    ):
        raise field_error(field, _("This folder does not exist here."), "unknown_folder")
    return folder


def _clean_language(value: Any) -> str:
    language = str(value or "").strip()
    codes = [code for code, _label in settings.LANGUAGES]
    if language and language not in codes:
        raise field_error(
            "language",
            _("“%(value)s” is not a language we support. Choose one of: %(choices)s.")
            % {"value": language[:16], "choices": ", ".join(codes)},
            "invalid_choice",
        )
    return language


def _check_kind(kind: Any) -> str:
    if kind not in ContentKind.values:
        raise field_error(
            "kind",
            _("“%(value)s” is not a kind of content. Choose one of: %(choices)s.")
            % {"value": str(kind)[:32], "choices": ", ".join(ContentKind.values)},
            "invalid_choice",
        )
    return str(kind)


def _is_empty(value: Any) -> bool:
    return value is None or value == "" or (isinstance(value, (list, tuple)) and not value)


def _clean_content(
    tenant: Tenant, kind: str, inputs: dict[str, Any], *, creating: bool
) -> tuple[dict[str, Any], AssetUpload | None]:
    """The content columns for the given inputs (only the ones given), and an upload to store.

    Collects the errors of all fields into one ValidationError.
    """
    errors: dict[str, list[ValidationError]] = {}
    columns: dict[str, Any] = {}
    upload: AssetUpload | None = None
    applicable = KIND_FIELDS[kind]

    def collect(exc: ValidationError) -> None:
        for field, field_errors in exc.error_dict.items():
            errors.setdefault(field, []).extend(field_errors)

    for field, value in inputs.items():
        if field not in applicable:
            if not _is_empty(value):
                errors.setdefault(field, []).append(
                    ValidationError(
                        _("This does not apply to a %(kind)s.") % {"kind": ContentKind(kind).label},
                        code="not_applicable",
                    )
                )
            continue
        try:
            if field in SINGLE_LINE_LIMITS:
                columns[field] = _clean_single_line(value, field, placeholders=True)
            elif field == "reply_to":
                columns[field] = _clean_reply_to(value)
            elif field in ("html", "text"):
                columns[field] = _clean_body(
                    value, field, allow_content=kind == ContentKind.TEMPLATE
                )
            elif field == "template":
                columns["template_key"] = _clean_template(tenant, value)
            elif field == "blocks":
                columns["block_keys"] = _clean_blocks(tenant, value)
            elif field == "asset":
                upload = value
        except ValidationError as exc:
            collect(exc)
    if kind == ContentKind.ASSET and creating and upload is None:
        errors.setdefault("file", []).append(
            ValidationError(_("Choose an image file to upload."), code="required")
        )
    if "html" in columns and "html" not in errors:
        keys = asset_keys_in(columns["html"])
        try:
            _check_asset_keys(tenant, keys)
            columns["asset_keys"] = keys
        except ValidationError as exc:
            collect(exc)
    if upload is not None and not errors:
        try:
            columns["blob_id"] = asset_blob_for(upload).pk
        except ValidationError as exc:
            collect(exc)
    if errors:
        raise ValidationError(errors)
    return columns, upload


# ---- items ---------------------------------------------------------------------------------


def _item_in_tenant(tenant: Tenant, item: ContentItem) -> None:
    if item.tenant_id != tenant.pk:
        raise NotFound


def _audit(
    actor: Actor,
    grant: RoleGrant,
    tenant: Tenant,
    action: str,
    obj: Any,
    changes: dict[str, Any] | None = None,
) -> None:
    audit_record(actor=actor, action=action, tenant=tenant, grant=grant, obj=obj, changes=changes)


def item_create(
    *,
    actor: Actor,
    tenant: Tenant,
    kind: str,
    name: str,
    folder: Folder | None = None,
    subject: str = "",
    preheader: str = "",
    sender_alias: str = "",
    reply_to: str = "",
    html: str = "",
    text: str = "",
    template: ItemRef | None = None,
    blocks: Sequence[ItemRef] = (),
    asset: AssetUpload | None = None,
    language: str = "",
) -> ContentItem:
    """Create an item of ``kind``. Raises ValidationError, PermissionDenied, NotFound."""
    grant = content_grant(actor, tenant, Action.CONTENT_EDIT)
    kind = _check_kind(kind)
    inputs = {
        "subject": subject,
        "preheader": preheader,
        "sender_alias": sender_alias,
        "reply_to": reply_to,
        "html": html,
        "text": text,
        "template": template,
        "blocks": list(blocks),
        "asset": asset,
    }
    with scope(tenant=tenant.pk), transaction.atomic():
        errors: dict[str, list[ValidationError]] = {}
        clean: dict[str, Any] = {}
        for field, check in (
            ("name", lambda: clean_name(name, max_length=ITEM_NAME_MAX)),
            ("folder", lambda: _check_folder(tenant, folder)),
            ("language", lambda: _clean_language(language)),
        ):
            try:
                clean[field] = check()
            except ValidationError as exc:
                errors.update(exc.error_dict)
        try:
            columns, _upload = _clean_content(tenant, kind, inputs, creating=True)
        except ValidationError as exc:
            for field, field_errors in exc.error_dict.items():
                errors.setdefault(field, []).extend(field_errors)
            columns = {}
        if errors:
            raise ValidationError(errors)
        now = timezone.now()
        item = ContentItem(
            tenant=tenant,
            kind=kind,
            name=clean["name"],
            folder=clean["folder"],
            language=clean["language"],
            version=1,
            created_at=now,
            created_by=actor.user,
            updated_at=now,
            updated_by=actor.user,
            **columns,
        )
        item.save(force_insert=True)
        _audit(actor, grant, tenant, "content.item.create", item, {"kind": kind, "name": item.name})
    return item


def _snapshot(item: ContentItem) -> ContentVersion:
    return ContentVersion(
        tenant_id=item.tenant_id,
        item=item,
        number=item.version,
        saved_at=item.updated_at,
        saved_by_id=item.updated_by_id,
        **{column: getattr(item, column) for column in CONTENT_COLUMNS},
    )


def _locked(tenant: Tenant, item: ContentItem) -> ContentItem:
    """The item's current row, locked until the end of the transaction (versions stay
    gap-free and unique under concurrent saves)."""
    _item_in_tenant(tenant, item)
    locked = ContentItem.objects.select_for_update().filter(tenant=tenant, pk=item.pk).first()
    if locked is None:
        raise NotFound
    return locked


def _in_bin_error() -> ValidationError:
    return ValidationError(
        _("This item is in the bin. Restore it before changing it."), code="in_bin"
    )


def _apply_new_version(
    current: ContentItem, columns: dict[str, Any], actor: Actor, extra: dict[str, Any]
) -> list[str]:
    """Save ``columns`` (content) and ``extra`` (folder, language) on the locked item.

    A content change keeps the previous state as a version; returns the changed names.
    """
    changed = [c for c, v in columns.items() if getattr(current, c) != v]
    changed_meta = [f for f, v in extra.items() if getattr(current, f) != v]
    if not changed and not changed_meta:
        return []
    update_fields = list(changed_meta)
    if changed:
        _snapshot(current).save(force_insert=True)
        for column in changed:
            setattr(current, column, columns[column])
        current.version += 1
        update_fields += [*changed, "version"]
    for field in changed_meta:
        setattr(current, field, extra[field])
    current.updated_at = timezone.now()
    current.updated_by = actor.user
    update_fields += ["updated_at", "updated_by"]
    current.save(update_fields=update_fields)
    return changed + changed_meta


def item_update(*, actor: Actor, tenant: Tenant, item: ContentItem, **changes: Any) -> ContentItem:
    """Change the given fields (same names as ``item_create``; ``kind`` cannot change).

    A content change keeps the previous state as a version and raises the version number;
    folder and language are not versioned; nothing changed means nothing is written.
    Returns the saved row as a new instance: ``item`` keeps showing the state before the call.
    """
    unknown = set(changes) - UPDATABLE - {"kind"}
    if unknown:
        raise TypeError(f"item_update() got unexpected fields: {', '.join(sorted(unknown))}")
    grant = content_grant(actor, tenant, Action.CONTENT_EDIT)
    _item_in_tenant(tenant, item)
    if "kind" in changes and changes.pop("kind") != item.kind:
        raise field_error(
            "kind",
            _("The kind of an item cannot be changed. Create a new item instead."),
            "kind_fixed",
        )
    with scope(tenant=tenant.pk), transaction.atomic():
        current = _locked(tenant, item)
        if current.deleted_at is not None:
            raise _in_bin_error()
        errors: dict[str, list[ValidationError]] = {}
        extra: dict[str, Any] = {}
        columns: dict[str, Any] = {}
        checks: dict[str, Callable[[Any], Any]] = {
            "name": lambda v: clean_name(v, max_length=ITEM_NAME_MAX),
            "folder": lambda v: _check_folder(tenant, v),
            "language": _clean_language,
        }
        for field, check in checks.items():
            if field not in changes:
                continue
            try:
                value = check(changes[field])
            except ValidationError as exc:
                errors.update(exc.error_dict)
                continue
            if field == "name":
                columns["name"] = value
            elif field == "folder":
                extra["folder_id"] = value.pk if value is not None else None
            else:
                extra[field] = value
        inputs = {k: v for k, v in changes.items() if k in CONTENT_INPUTS}
        try:
            content, _upload = _clean_content(tenant, current.kind, inputs, creating=False)
            columns.update(content)
        except ValidationError as exc:
            for field, field_errors in exc.error_dict.items():
                errors.setdefault(field, []).extend(field_errors)
        if errors:
            raise ValidationError(errors)
        changed = _apply_new_version(current, columns, actor, extra)
        if changed:
            _audit(
                actor,
                grant,
                tenant,
                "content.item.update",
                current,
                {"fields": changed, "version": current.version},
            )
    return current


def item_version_restore(
    *, actor: Actor, tenant: Tenant, item: ContentItem, number: int
) -> ContentItem:
    """Make an old version's content current again, as a new version (history is kept)."""
    grant = content_grant(actor, tenant, Action.CONTENT_EDIT)
    _item_in_tenant(tenant, item)
    with scope(tenant=tenant.pk), transaction.atomic():
        current = _locked(tenant, item)
        if current.deleted_at is not None:
            raise _in_bin_error()
        old = ContentVersion.objects.filter(tenant=tenant, item=current, number=number).first()
        if old is None:
            if number == current.version:
                return current
            raise NotFound
        columns = {column: getattr(old, column) for column in CONTENT_COLUMNS}
        # Images, template and blocks the old version used must still be here.
        _check_asset_keys(tenant, list(old.asset_keys or []))
        _check_references_exist(tenant, old)
        changed = _apply_new_version(current, columns, actor, {})
        if changed:
            _audit(
                actor,
                grant,
                tenant,
                "content.item.version_restore",
                current,
                {"restored": number, "version": current.version, "fields": changed},
            )
    return current


def _check_references_exist(tenant: Tenant, old: ContentVersion) -> None:
    if old.template_key is not None and not (
        _live_items(tenant).filter(kind=ContentKind.TEMPLATE, key=old.template_key).exists()
    ):
        raise field_error(
            "template",
            _(
                "The template this version used is no longer in the library. "
                "Restore it from the bin first."
            ),
            "unknown_template",
        )
    keys = [str(k) for k in old.block_keys or []]
    if keys:
        found = {
            str(k)
            for k in _live_items(tenant)
            .filter(kind=ContentKind.TEXT_BLOCK, key__in=keys)
            .values_list("key", flat=True)
        }
        if any(k not in found for k in keys):
            raise field_error(
                "blocks",
                _(
                    "A text block this version used is no longer in the library. "
                    "Restore it from the bin first."
                ),
                "unknown_block",
            )


def item_duplicate(*, actor: Actor, tenant: Tenant, item: ContentItem) -> ContentItem:
    """A new, independent item with the same content, named "Copy of …" (no lineage)."""
    grant = content_grant(actor, tenant, Action.CONTENT_EDIT)
    _item_in_tenant(tenant, item)
    with scope(tenant=tenant.pk), transaction.atomic():
        source = ContentItem.objects.filter(tenant=tenant, pk=item.pk).first()
        if source is None:
            raise NotFound
        if source.deleted_at is not None:
            raise _in_bin_error()
        now = timezone.now()
        name = (_("Copy of %(name)s") % {"name": source.name})[:ITEM_NAME_MAX]
        columns = {column: getattr(source, column) for column in CONTENT_COLUMNS}
        columns["name"] = name
        copy = ContentItem(
            tenant=tenant,
            kind=source.kind,
            folder_id=source.folder_id,
            language=source.language,
            version=1,
            created_at=now,
            created_by=actor.user,
            updated_at=now,
            updated_by=actor.user,
            **columns,
        )
        copy.save(force_insert=True)
        _audit(
            actor,
            grant,
            tenant,
            "content.item.duplicate",
            copy,
            {"source": source.pk, "name": name},
        )
    return copy


def item_delete(*, actor: Actor, tenant: Tenant, item: ContentItem) -> None:
    """Move the item to the bin (restorable for CONTENT_BIN_DAYS days)."""
    grant = content_grant(actor, tenant, Action.CONTENT_EDIT)
    _item_in_tenant(tenant, item)
    with scope(tenant=tenant.pk), transaction.atomic():
        current = _locked(tenant, item)
        if current.deleted_at is not None:
            raise ValidationError(_("This item is already in the bin."), code="in_bin")
        current.deleted_at = timezone.now()
        current.deleted_by = actor.user
        current.save(update_fields=["deleted_at", "deleted_by"])
        _audit(actor, grant, tenant, "content.item.delete", current, {"name": current.name})
    # The caller's instance shows it in the bin now (nothing is returned).
    item.deleted_at, item.deleted_by = current.deleted_at, current.deleted_by


def item_restore(*, actor: Actor, tenant: Tenant, item: ContentItem) -> ContentItem:
    """Take the item out of the bin."""
    grant = content_grant(actor, tenant, Action.CONTENT_EDIT)
    _item_in_tenant(tenant, item)
    with scope(tenant=tenant.pk), transaction.atomic():
        current = _locked(tenant, item)
        if current.deleted_at is None:
            raise ValidationError(_("This item is not in the bin."), code="not_in_bin")
        current.deleted_at = None
        current.deleted_by = None
        current.save(update_fields=["deleted_at", "deleted_by"])
        _audit(actor, grant, tenant, "content.item.restore", current, {"name": current.name})
    return current


def bin_purge(*, now: datetime | None = None) -> int:
    """Delete items that have been in the bin longer than CONTENT_BIN_DAYS; return how many.

    Runs for all tenants (a scheduled job), so it works unscoped; one audit row per tenant.
    Image bytes no item or version uses any more are deleted too.
    """
    cutoff = (now or timezone.now()) - timedelta(days=settings.CONTENT_BIN_DAYS)
    # Maintenance across all tenants: no tenant scope applies.
    with scopes_disabled(), transaction.atomic():
        expired = ContentItem.objects.filter(deleted_at__lt=cutoff)
        per_tenant = dict(
            expired.values("tenant_id").annotate(n=Count("pk")).values_list("tenant_id", "n")
        )
        if not per_tenant:
            return 0
        blob_ids = set(expired.exclude(blob_id=None).values_list("blob_id", flat=True)) | set(
            ContentVersion.objects.filter(item__in=expired)
            .exclude(blob_id=None)
            .values_list("blob_id", flat=True)
        )
        expired.delete()
        if blob_ids:
            in_use = set(
                ContentItem.objects.filter(blob_id__in=blob_ids).values_list("blob_id", flat=True)
            ) | set(
                ContentVersion.objects.filter(blob_id__in=blob_ids).values_list(
                    "blob_id", flat=True
                )
            )
            AssetBlob.objects.filter(pk__in=blob_ids - in_use).delete()
        for tenant_id, count in sorted(per_tenant.items()):
            audit_record(
                actor=None,
                action="content.bin.purge",
                tenant=Tenant(pk=tenant_id),  # only its id is recorded
                changes={"count": count, "days": settings.CONTENT_BIN_DAYS},
            )
    return sum(per_tenant.values())


def item_pull_from_master(*, actor: Actor, tenant: Tenant, item: ContentItem) -> ContentItem:
    """ "Get from master": take the newer version of an inherited item (content/copying.py)."""
    from mandant.content.copying import copy_pull_item

    return copy_pull_item(actor=actor, tenant=tenant, item=item)


# ---- folders -------------------------------------------------------------------------------


def _check_sibling_name(
    tenant: Tenant, parent_id: int | None, name: str, exclude: int | None
) -> None:
    siblings = Folder.objects.filter(tenant=tenant, parent_id=parent_id).annotate(
        lower_name=Lower("name")
    )
    if exclude is not None:
        siblings = siblings.exclude(pk=exclude)
    if siblings.filter(lower_name=name.lower()).exists():
        raise field_error(
            "name",
            _("A folder named “%(name)s” already exists here.") % {"name": name},
            "folder_name_taken",
        )


def folder_create(
    *, actor: Actor, tenant: Tenant, name: str, parent: Folder | None = None
) -> Folder:
    grant = content_grant(actor, tenant, Action.CONTENT_EDIT)
    with scope(tenant=tenant.pk), transaction.atomic():
        clean = clean_name(name, max_length=FOLDER_NAME_MAX)
        _check_folder(tenant, parent, field="parent")
        _check_sibling_name(tenant, parent.pk if parent else None, clean, None)
        folder = Folder.objects.create(tenant=tenant, name=clean, parent=parent)
        _audit(
            actor,
            grant,
            tenant,
            "content.folder.create",
            folder,
            {"name": clean, "parent": parent.pk if parent else None},
        )
    return folder


def _folder_in_tenant(tenant: Tenant, folder: Folder) -> Folder:
    if folder.tenant_id != tenant.pk:
        raise NotFound
    current = Folder.objects.select_for_update().filter(tenant=tenant, pk=folder.pk).first()
    if current is None:
        raise NotFound
    return current


def folder_rename(*, actor: Actor, tenant: Tenant, folder: Folder, name: str) -> Folder:
    grant = content_grant(actor, tenant, Action.CONTENT_EDIT)
    with scope(tenant=tenant.pk), transaction.atomic():
        current = _folder_in_tenant(tenant, folder)
        clean = clean_name(name, max_length=FOLDER_NAME_MAX)
        if clean == current.name:
            return current
        _check_sibling_name(tenant, current.parent_id, clean, current.pk)
        before = current.name
        current.name = clean
        current.save(update_fields=["name"])
        _audit(actor, grant, tenant, "content.folder.rename", current, {"name": [before, clean]})
    folder.name = clean
    return current


def folder_delete(*, actor: Actor, tenant: Tenant, folder: Folder) -> None:
    """Delete an empty folder; items in the bin that were in it lose their folder."""
    grant = content_grant(actor, tenant, Action.CONTENT_EDIT)
    with scope(tenant=tenant.pk), transaction.atomic():
        current = _folder_in_tenant(tenant, folder)
        subfolders = Folder.objects.filter(tenant=tenant, parent=current).count()
        live = _live_items(tenant).filter(folder=current).count()
        if subfolders or live:
            raise ValidationError(
                _(
                    "The folder “%(name)s” is not empty (%(folders)d folders, %(items)d items). "
                    "Move or delete its contents first."
                )
                % {"name": current.name, "folders": subfolders, "items": live},
                code="folder_not_empty",
            )
        ContentItem.objects.filter(tenant=tenant, folder=current).update(folder=None)
        _audit(actor, grant, tenant, "content.folder.delete", current, {"name": current.name})
        current.delete()
