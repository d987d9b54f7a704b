"""The content library of a tenant: folders, items (templates, text blocks, campaign drafts,
images), their past versions, and the lineage that Copy Content records.

References between items (a campaign draft's template and text blocks, the images an HTML part
shows as ``src="asset:<key>"``) name the *lineage key* of the item, resolved inside the same
tenant. A copy keeps the key of its source, so the references of copied items point to the
copies in the target without any rewriting (docs/decisions.md).
"""

import uuid

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _
from django_scopes import ScopedManager

from mandant.tenants.models import Tenant


class ContentKind(models.TextChoices):
    TEMPLATE = "template", _("E-mail template")
    TEXT_BLOCK = "text_block", _("Text block")
    CAMPAIGN_DRAFT = "campaign_draft", _("Campaign draft")
    ASSET = "asset", _("Image")


class Folder(models.Model):
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+", db_index=False)
    # Lineage key: kept by copies, so a later Copy Content finds the folder again.
    key = models.UUIDField(default=uuid.uuid4)
    parent = models.ForeignKey(
        "self",
        verbose_name=_("parent folder"),
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="+",
    )
    name = models.CharField(_("name"), max_length=100)
    created_at = models.DateTimeField(auto_now_add=True)

    objects: models.Manager["Folder"] = ScopedManager(tenant="tenant")

    class Meta:
        verbose_name = _("folder")
        verbose_name_plural = _("folders")
        constraints = [
            models.UniqueConstraint(fields=["tenant", "key"], name="content_folder_tenant_key")
        ]
        indexes = [models.Index(fields=["tenant", "parent"], name="content_folder_parent")]

    def __str__(self) -> str:
        return self.name


class AssetBlob(models.Model):
    """The bytes of an image, stored once however many items (copies) show it.

    Not tenant-owned: content-addressed and immutable; it is only ever reached through a
    tenant's ContentItem.
    """

    sha256 = models.CharField(max_length=64, unique=True)
    data = models.BinaryField()
    content_type = models.CharField(max_length=32)
    width = models.PositiveIntegerField()
    height = models.PositiveIntegerField()
    size = models.PositiveIntegerField()
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return self.sha256[:12]


# Foreign keys without an index of their own (db_index=False) are covered by a composite index
# that starts with tenant, or are never looked up (users are deactivated, not deleted). The
# foreign keys of items and versions have no database constraint either (db_constraint=False;
# Django still applies on_delete): PostgreSQL checks foreign keys row by row, which took 80 %
# of a 100,000-row Copy Content (docs/decisions.md). Folders keep theirs.


class ContentFields(models.Model):
    """The versioned content of an item: what a version snapshot keeps and a copy carries."""

    name = models.CharField(_("name"), max_length=200)
    subject = models.CharField(_("subject"), max_length=255, blank=True)
    preheader = models.CharField(_("preheader"), max_length=255, blank=True)
    sender_alias = models.CharField(_("sender alias"), max_length=100, blank=True)
    reply_to = models.CharField(_("reply-to address"), max_length=254, blank=True)
    html = models.TextField(_("HTML part"), blank=True)
    text = models.TextField(_("text part"), blank=True)
    # Campaign draft -> template and text blocks, images used by the HTML: lineage keys.
    template_key = models.UUIDField(null=True, blank=True)
    block_keys = models.JSONField(default=list, blank=True)
    asset_keys = models.JSONField(default=list, blank=True)
    blob = models.ForeignKey(
        AssetBlob,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        db_index=False,  # blobs are never deleted while in use; no lookup by blob
        db_constraint=False,
    )

    class Meta:
        abstract = True


# The columns a version snapshot and a copy carry over (ContentFields, in order).
CONTENT_COLUMNS = (
    "name",
    "subject",
    "preheader",
    "sender_alias",
    "reply_to",
    "html",
    "text",
    "template_key",
    "block_keys",
    "asset_keys",
    "blob_id",
)


class ContentItem(ContentFields):
    # No database constraint (see above); Django still cascades. (tenant, …) indexes serve it.
    tenant = models.ForeignKey(
        Tenant, on_delete=models.CASCADE, related_name="+", db_index=False, db_constraint=False
    )
    key = models.UUIDField(default=uuid.uuid4)
    kind = models.CharField(_("kind"), max_length=16, choices=ContentKind.choices)
    folder = models.ForeignKey(
        Folder,
        verbose_name=_("folder"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        db_index=False,  # (tenant, folder) serves it
        db_constraint=False,  # folders are deleted only when empty (services.folder_delete)
    )
    language = models.CharField(_("language"), max_length=8, blank=True)
    # The current version's number; older versions are ContentVersion rows.
    version = models.PositiveIntegerField(default=1)
    created_at = models.DateTimeField()
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        related_name="+",
        db_index=False,
        db_constraint=False,
    )
    updated_at = models.DateTimeField()
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        related_name="+",
        db_index=False,
        db_constraint=False,
    )
    # In the bin (restorable for CONTENT_BIN_DAYS) when set.
    deleted_at = models.DateTimeField(null=True, blank=True)
    deleted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        db_index=False,
        db_constraint=False,
    )
    # Lineage: where the last copy came from (no FK: the source may be purged later).
    origin_tenant = models.ForeignKey(
        Tenant,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        db_index=False,
        db_constraint=False,
    )
    origin_item_id = models.BigIntegerField(null=True, blank=True)
    origin_version = models.PositiveIntegerField(null=True, blank=True)
    # This item's own version right after the last copy (or the standard provisioning):
    # "unchanged since the last copy" is version == copied_version.
    copied_version = models.PositiveIntegerField(null=True, blank=True)
    copied_at = models.DateTimeField(null=True, blank=True)

    objects: models.Manager["ContentItem"] = ScopedManager(tenant="tenant")

    class Meta:
        verbose_name = _("content item")
        verbose_name_plural = _("content items")
        constraints = [
            models.UniqueConstraint(fields=["tenant", "key"], name="content_item_tenant_key")
        ]
        indexes = [
            models.Index(fields=["tenant", "kind", "name"], name="content_item_kind_name"),
            models.Index(fields=["tenant", "folder"], name="content_item_folder"),
            models.Index(fields=["tenant", "deleted_at"], name="content_item_deleted"),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def is_deleted(self) -> bool:
        return self.deleted_at is not None

    @property
    def changed_since_copy(self) -> bool:
        return self.copied_version is not None and self.version != self.copied_version


class ContentVersion(ContentFields):
    """A past version of an item: its content as it was, who saved it and when."""

    # No database constraint (see above); Django still cascades. (tenant, …) indexes serve it.
    tenant = models.ForeignKey(
        Tenant, on_delete=models.CASCADE, related_name="+", db_index=False, db_constraint=False
    )
    item = models.ForeignKey(
        ContentItem,
        on_delete=models.CASCADE,
        related_name="+",
        db_index=False,  # (item, number) serves it
        db_constraint=False,
    )
    number = models.PositiveIntegerField()
    saved_at = models.DateTimeField()
    saved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        related_name="+",
        db_index=False,
        db_constraint=False,
    )

    objects: models.Manager["ContentVersion"] = ScopedManager(tenant="tenant")

    class Meta:
        verbose_name = _("content version")
        verbose_name_plural = _("content versions")
        constraints = [
            models.UniqueConstraint(fields=["item", "number"], name="content_version_number")
        ]
        indexes = [models.Index(fields=["tenant", "item"], name="content_version_item")]

    def __str__(self) -> str:
        return f"{self.name} v{self.number}"
