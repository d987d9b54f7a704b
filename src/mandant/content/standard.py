"""The standard content set: what every STANDARD tenant finds in its library at creation.

Templates, text blocks, an image and a campaign draft in English and German, kept as files in
``standard/`` (``manifest.json`` lists them). They are read and checked once per process;
a broken file raises ``StandardContentError`` at the first load (the tests load it), never
half-way through provisioning a tenant.

Standard folders and items carry deterministic lineage keys (uuid5 of the manifest id), the
same in every tenant. A master's standard item and a sub-tenant's are therefore one lineage:
Copy Content updates the sub-tenant's copy instead of reporting a name conflict, and the
references between standard items (a draft's template and blocks, a template's image) hold in
every tenant without rewriting.
"""

import functools
import hashlib
import io
import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import connections, router
from django.utils import timezone
from django_scopes import scopes_disabled
from PIL import Image

from mandant.accounts.models import User
from mandant.content.assets import FORMATS, AssetUpload, asset_blob_for
from mandant.content.html import asset_keys_in, check_placeholders, sanitize_html
from mandant.content.models import AssetBlob, ContentItem, ContentKind, Folder
from mandant.tenants.models import Tenant

STANDARD_DIR = Path(__file__).resolve().parent / "standard"
# Never change: the lineage keys of every provisioned standard item derive from it.
KEY_NAMESPACE = uuid.UUID("6f1c7e3a-9b2d-5c4e-8a71-3d5f0b9e2c64")
# Rows per INSERT: bounds the memory used when many tenants are created at once.
ITEM_BATCH_SIZE = 1000


class StandardContentError(Exception):
    """The files of the standard content set are inconsistent (a bug in the repository)."""


def standard_key(manifest_id: str) -> uuid.UUID:
    """The lineage key of a standard folder or item, the same in every tenant."""
    return uuid.uuid5(KEY_NAMESPACE, manifest_id)


@dataclass(frozen=True)
class StandardImage:
    path: str
    data: bytes
    sha256: str
    content_type: str
    width: int
    height: int


@dataclass(frozen=True)
class StandardFolder:
    id: str
    key: uuid.UUID
    language: str
    name: str


@dataclass(frozen=True)
class StandardItem:
    id: str
    key: uuid.UUID
    kind: str
    language: str
    name: str
    folder_id: str | None  # manifest id of the folder; None: the library's top level
    subject: str
    preheader: str
    html: str
    text: str
    template_key: uuid.UUID | None
    block_keys: tuple[str, ...]
    asset_keys: tuple[str, ...]
    image: StandardImage | None


@dataclass(frozen=True)
class StandardSet:
    folders: tuple[StandardFolder, ...]
    items: tuple[StandardItem, ...]

    @property
    def images(self) -> tuple[StandardImage, ...]:
        distinct = {item.image.sha256: item.image for item in self.items if item.image}
        return tuple(distinct.values())


@functools.cache
def standard_set() -> StandardSet:
    """The checked standard content set, read from disk once per process."""
    return load_standard_set(STANDARD_DIR)


def load_standard_set(directory: Path) -> StandardSet:
    """Read and check the manifest and files in ``directory``.

    Raises StandardContentError naming the file or entry at fault.
    """
    try:
        manifest = json.loads((directory / "manifest.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise StandardContentError(f"{directory / 'manifest.json'}: {exc}") from exc
    languages = {code for code, _name in settings.LANGUAGES}
    folders = tuple(
        _load_folder(entry, languages) for entry in _entries(manifest, "folders", "folder")
    )
    _check_unique([f.id for f in folders], "folder id")
    folder_languages = {f.id: f.language for f in folders}
    images: dict[str, StandardImage] = {}
    raw_items = _entries(manifest, "items", "item")
    _check_unique([str(entry.get("id")) for entry in raw_items], "item id")
    items = tuple(
        _load_item(entry, directory, languages, folder_languages, images) for entry in raw_items
    )
    _check_unique([f"{item.kind}: {item.name}" for item in items], "name of an item of a kind")
    _check_references(items)
    return StandardSet(folders=folders, items=items)


def _entries(manifest: Any, name: str, what: str) -> list[dict[str, Any]]:
    entries = manifest.get(name) if isinstance(manifest, dict) else None
    if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
        raise StandardContentError(f"manifest.json: “{name}” must be a list of objects")
    for entry in entries:
        if not isinstance(entry.get("id"), str) or not entry["id"]:
            raise StandardContentError(f"manifest.json: a {what} without an id: {entry}")
    return entries


def _check_unique(values: list[str], what: str) -> None:
    seen: set[str] = set()
    for value in values:
        if value in seen:
            raise StandardContentError(f"manifest.json: {what} “{value}” appears twice")
        seen.add(value)


def _name(entry: dict[str, Any], max_length: int) -> str:
    name = entry.get("name")
    if not isinstance(name, str) or not name.strip() or len(name) > max_length:
        raise StandardContentError(
            f"manifest.json, {entry['id']}: the name must be 1 to {max_length} characters"
        )
    return name


def _language(entry: dict[str, Any], languages: set[str]) -> str:
    language = entry.get("language")
    if language not in languages:
        raise StandardContentError(
            f"manifest.json, {entry['id']}: language must be one of {sorted(languages)}"
        )
    return str(language)


def _load_folder(entry: dict[str, Any], languages: set[str]) -> StandardFolder:
    return StandardFolder(
        id=entry["id"],
        key=standard_key(entry["id"]),
        language=_language(entry, languages),
        name=_name(entry, Folder._meta.get_field("name").max_length or 100),
    )


def _read(directory: Path, entry: dict[str, Any], part: str) -> bytes | None:
    relative = (entry.get("files") or {}).get(part)
    if relative is None:
        return None
    path = (directory / relative).resolve()
    if directory.resolve() not in path.parents:
        raise StandardContentError(f"manifest.json, {entry['id']}: {relative} is outside")
    try:
        return path.read_bytes()
    except OSError as exc:
        raise StandardContentError(f"manifest.json, {entry['id']}: {exc}") from exc


def _checked(value: str, *, where: str, field: str, allow_content: bool) -> str:
    try:
        check_placeholders(value, field=field, allow_content=allow_content)
    except ValidationError as exc:
        raise StandardContentError(f"{where}: {'; '.join(exc.messages)}") from exc
    return value


def _load_item(
    entry: dict[str, Any],
    directory: Path,
    languages: set[str],
    folder_languages: dict[str, str],
    images: dict[str, StandardImage],
) -> StandardItem:
    item_id = entry["id"]
    kind = entry.get("kind")
    if kind not in ContentKind.values:
        raise StandardContentError(f"manifest.json, {item_id}: unknown kind “{kind}”")
    language = _language(entry, languages)
    folder_id = entry.get("folder")
    if folder_id is not None and folder_languages.get(folder_id) != language:
        raise StandardContentError(
            f"manifest.json, {item_id}: folder “{folder_id}” is unknown or of another language"
        )
    is_template = kind == ContentKind.TEMPLATE
    where = f"{item_id} ({(entry.get('files') or {}).get('html', 'manifest.json')})"
    raw_html = _read(directory, entry, "html")
    html = sanitize_html(raw_html.decode("utf-8")) if raw_html is not None else ""
    _checked(html, where=where, field="html", allow_content=is_template)
    raw_text = _read(directory, entry, "text")
    text = raw_text.decode("utf-8").strip() if raw_text is not None else ""
    _checked(text, where=f"{item_id} (text)", field="text", allow_content=is_template)
    fields = {}
    for field in ("subject", "preheader"):
        value = entry.get(field, "")
        if not isinstance(value, str) or len(value) > 255 or "\n" in value:
            raise StandardContentError(f"manifest.json, {item_id}: bad {field}")
        fields[field] = _checked(
            value, where=f"{item_id} ({field})", field=field, allow_content=False
        )
    image = _load_image(directory, entry, images) if kind == ContentKind.ASSET else None
    template = entry.get("template")
    blocks = entry.get("blocks") or []
    if kind != ContentKind.CAMPAIGN_DRAFT and (template or blocks):
        raise StandardContentError(f"manifest.json, {item_id}: only drafts have a template")
    return StandardItem(
        id=item_id,
        key=standard_key(item_id),
        kind=kind,
        language=language,
        name=_name(entry, ContentItem._meta.get_field("name").max_length or 200),
        folder_id=folder_id,
        subject=fields["subject"],
        preheader=fields["preheader"],
        html=html,
        text=text,
        template_key=standard_key(template) if template else None,
        block_keys=tuple(str(standard_key(block)) for block in blocks),
        asset_keys=tuple(asset_keys_in(html)),
        image=image,
    )


def _load_image(
    directory: Path, entry: dict[str, Any], images: dict[str, StandardImage]
) -> StandardImage:
    relative = (entry.get("files") or {}).get("image", "")
    if relative in images:
        return images[relative]
    data = _read(directory, entry, "image")
    if not data:
        raise StandardContentError(f"manifest.json, {entry['id']}: an image needs files.image")
    try:
        with Image.open(io.BytesIO(data)) as probe:
            probe.verify()
        with Image.open(io.BytesIO(data)) as image:
            image_format, width, height = image.format or "", image.width, image.height
    except Exception as exc:  # noqa: BLE001 - Pillow raises many kinds; all mean "broken"
        raise StandardContentError(f"{relative}: not a readable image ({exc})") from exc
    side = settings.CONTENT_ASSET_MAX_PIXELS
    if (
        image_format not in FORMATS
        or len(data) > settings.CONTENT_ASSET_MAX_BYTES
        or max(width, height) > side
    ):
        raise StandardContentError(f"{relative}: {image_format} {width}×{height} is not allowed")
    images[relative] = StandardImage(
        path=relative,
        data=data,
        sha256=hashlib.sha256(data).hexdigest(),
        content_type=FORMATS[image_format][1],
        width=width,
        height=height,
    )
    return images[relative]


def _check_references(items: Sequence[StandardItem]) -> None:
    """Every reference names a standard item of the right kind and the same language."""
    by_key = {str(item.key): item for item in items}

    def check(item: StandardItem, key: str, kind: str, what: str) -> None:
        target = by_key.get(key)
        if target is None or target.kind != kind or target.language != item.language:
            raise StandardContentError(
                f"{item.id}: the {what} {key} is not a standard {kind} in “{item.language}”"
            )

    for item in items:
        if item.kind == ContentKind.CAMPAIGN_DRAFT and item.template_key is None:
            raise StandardContentError(f"{item.id}: a standard draft needs a template")
        if item.template_key is not None:
            check(item, str(item.template_key), ContentKind.TEMPLATE, "template")
        for key in item.block_keys:
            check(item, key, ContentKind.TEXT_BLOCK, "text block")
        for key in item.asset_keys:
            check(item, key, ContentKind.ASSET, "image")


# ---- provisioning ----------------------------------------------------------------------------

# The columns that differ between tenants; every other column of a standard item is the same
# in every tenant and is prepared for the database once per process.
VARYING_COLUMNS = (
    "tenant_id",
    "folder_id",
    "blob_id",
    "created_at",
    "created_by_id",
    "updated_at",
    "updated_by_id",
)


def standard_content_provision(*, tenants: Sequence[Tenant], user: User | None = None) -> int:
    """Put the standard content set into each of ``tenants`` (new, empty libraries).

    Call it inside the transaction that creates the tenants. A handful of queries however many
    tenants and items: the image blobs (one look-up; stored on first use), one INSERT for the
    folders (plus one look-up of their ids where the database cannot return them), one
    batched INSERT for the items. Returns the number of items created.
    """
    if not tenants:
        return 0
    content = standard_set()
    # Deliberately cross-tenant: one INSERT for the libraries of all the tenants just created.
    with scopes_disabled():
        blob_ids = _blob_ids(content.images)
        folder_ids = _insert_folders(tenants, content.folders)
        return _insert_items(tenants, content, folder_ids, blob_ids, user)


def _blob_ids(images: Sequence[StandardImage]) -> dict[str, int]:
    """sha256 -> AssetBlob id of the standard images, storing the ones not yet stored."""
    if not images:
        return {}
    found = dict(
        AssetBlob.objects.filter(sha256__in=[image.sha256 for image in images]).values_list(
            "sha256", "pk"
        )
    )
    for image in images:
        if image.sha256 not in found:
            # Once per database: the upload path checks the image and handles a race.
            blob = asset_blob_for(AssetUpload(data=image.data, filename=image.path))
            found[image.sha256] = blob.pk
    return found


def _insert_folders(
    tenants: Sequence[Tenant], folders: Sequence[StandardFolder]
) -> dict[tuple[int, str], int]:
    """(tenant id, manifest folder id) -> Folder id of the new folders."""
    if not folders:
        return {}
    rows = [
        Folder(tenant_id=tenant.pk, key=folder.key, name=folder.name)
        for tenant in tenants
        for folder in folders
    ]
    manifest_ids = {folder.key: folder.id for folder in folders}
    Folder.objects.bulk_create(rows, batch_size=ITEM_BATCH_SIZE)
    if connections[Folder.objects.db].features.can_return_rows_from_bulk_insert:
        return {(row.tenant_id, manifest_ids[row.key]): row.pk for row in rows}
    saved = Folder.objects.filter(
        tenant_id__in=[tenant.pk for tenant in tenants], key__in=list(manifest_ids)
    ).values_list("tenant_id", "key", "pk")
    return {(tenant_id, manifest_ids[key]): pk for tenant_id, key, pk in saved}


def _insert_items(
    tenants: Sequence[Tenant],
    content: StandardSet,
    folder_ids: dict[tuple[int, str], int],
    blob_ids: dict[str, int],
    user: User | None,
) -> int:
    """INSERT the items of every tenant with executemany.

    Not bulk_create: profiled, it spent about nine tenths of its time converting the same
    values of the same items again for every tenant (2.7 ms per tenant on SQLite, now 0.7;
    bench/content_bench.py). Here only the tenant's own columns are converted, per call.
    """
    connection = connections[router.db_for_write(ContentItem)]
    sql, constants = _prepared_items(connection.alias, content)
    meta = ContentItem._meta
    now = meta.get_field("created_at").get_db_prep_save(timezone.now(), connection)
    user_id = user.pk if user is not None else None
    rows = [
        (
            tenant.pk,
            folder_ids[tenant.pk, item.folder_id] if item.folder_id else None,
            blob_ids[item.image.sha256] if item.image else None,
            now,
            user_id,
            now,
            user_id,
            *prepared,
        )
        for tenant in tenants
        for item, prepared in zip(content.items, constants, strict=True)
    ]
    with connection.cursor() as cursor:
        for start in range(0, len(rows), ITEM_BATCH_SIZE):
            cursor.executemany(sql, rows[start : start + ITEM_BATCH_SIZE])
    return len(rows)


@functools.cache
def _prepared_items(alias: str, content: StandardSet) -> tuple[str, list[tuple[Any, ...]]]:
    """The INSERT statement for items and, per standard item, its constant column values as
    the database takes them. Columns not named here get their model default."""
    connection = connections[alias]
    meta = ContentItem._meta
    constant_fields = [
        field
        for field in meta.concrete_fields
        if not field.primary_key and field.attname not in VARYING_COLUMNS
    ]
    constants = []
    for item in content.items:
        values: dict[str, Any] = {
            "key": item.key,
            "kind": item.kind,
            "language": item.language,
            "name": item.name,
            "subject": item.subject,
            "preheader": item.preheader,
            "html": item.html,
            "text": item.text,
            "template_key": item.template_key,
            "block_keys": list(item.block_keys),
            "asset_keys": list(item.asset_keys),
            "version": 1,
            # "Unchanged since provisioning" is version == copied_version, as after a copy.
            "copied_version": 1,
        }
        constants.append(
            tuple(
                field.get_db_prep_save(
                    values[field.attname] if field.attname in values else field.get_default(),
                    connection,
                )
                for field in constant_fields
            )
        )
    by_attname = {field.attname: field for field in meta.concrete_fields}
    columns = [
        str(field.column)  # concrete fields always have one
        for field in [by_attname[name] for name in VARYING_COLUMNS] + constant_fields
    ]
    quote = connection.ops.quote_name
    # Table and column names come from the model; every value is a parameter.
    sql = (
        f"INSERT INTO {quote(meta.db_table)} ({', '.join(quote(c) for c in columns)}) "  # noqa: S608
        f"VALUES ({', '.join(['%s'] * len(columns))})"
    )
    return sql, constants
