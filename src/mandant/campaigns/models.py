"""Campaigns of a tenant: what is sent (subject, template and text blocks), from whom, to whom.

The sending pipeline (campaigns.pipeline) moves a campaign on from draft and keeps one
Delivery row per recipient.
"""

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _
from django_scopes import ScopedManager

from mandant.contacts.models import ContactList, Segment
from mandant.content.models import ContentItem
from mandant.sending.models import SenderIdentity
from mandant.tenants.models import Tenant


class CampaignStatus(models.TextChoices):
    DRAFT = "draft", _("draft")
    # Reached only through the sending pipeline (campaigns.pipeline).
    SCHEDULED = "scheduled", _("scheduled")
    SENDING = "sending", _("sending")
    PAUSED = "paused", _("paused")
    SENT = "sent", _("sent")
    CANCELLED = "cancelled", _("cancelled")


class Campaign(models.Model):
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+", db_index=False)
    name = models.CharField(_("name"), max_length=200)
    subject = models.CharField(_("subject"), max_length=255, blank=True)
    preheader = models.CharField(_("preheader"), max_length=255, blank=True)
    sender_identity = models.ForeignKey(
        SenderIdentity,
        verbose_name=_("sender"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    sender_alias = models.CharField(_("sender alias"), max_length=100, blank=True)
    reply_to = models.CharField(_("reply-to address"), max_length=254, blank=True)
    # The template is chosen by row; it may go to the bin later (the checklist says so).
    template = models.ForeignKey(
        ContentItem,
        verbose_name=_("template"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        db_constraint=False,
    )
    # Text blocks by lineage key (str UUIDs, ordered), put in at {{ content }}.
    block_keys = models.JSONField(default=list, blank=True)
    contact_list = models.ForeignKey(
        ContactList,
        verbose_name=_("list"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    segment = models.ForeignKey(
        Segment,
        verbose_name=_("segment"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    status = models.CharField(
        _("status"), max_length=16, choices=CampaignStatus.choices, default=CampaignStatus.DRAFT
    )
    tracking = models.BooleanField(_("track opens and clicks"), default=False)
    # Set by the sending pipeline: when sending was asked for and when the last delivery ended.
    send_at = models.DateTimeField(_("send at"), null=True, blank=True)
    # Every delivery row exists (prepare_campaign walked all recipients); only then can the
    # campaign be finished.
    prepared_at = models.DateTimeField(null=True, blank=True, editable=False)
    finished_at = models.DateTimeField(_("finished at"), null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        db_index=False,
    )
    updated_at = models.DateTimeField(auto_now=True)
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        db_index=False,
    )

    objects: models.Manager["Campaign"] = ScopedManager(tenant="tenant")

    class Meta:
        verbose_name = _("campaign")
        verbose_name_plural = _("campaigns")
        indexes = [models.Index(fields=["tenant", "-updated_at"], name="campaign_tenant_updated")]
        constraints = [
            # A list or a segment, never both (neither while the draft is incomplete).
            models.CheckConstraint(
                condition=models.Q(contact_list__isnull=True) | models.Q(segment__isnull=True),
                name="campaign_list_or_segment",
            )
        ]

    def __str__(self) -> str:
        return self.name


class SentContent(models.Model):
    """What a campaign sends, frozen when its send starts (campaigns.pipeline.freeze_content):
    the parts with the shared values filled in, the personal placeholders still in place and
    the links already pointing at the click redirect. Every batch and the web version build
    from it, so an edit of the template or a text block during or after the send changes
    nothing that goes or went out. A table of its own: lists of campaigns never load it."""

    campaign = models.OneToOneField(
        Campaign, on_delete=models.CASCADE, primary_key=True, related_name="+"
    )
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+", db_index=False)
    subject = models.TextField()
    preheader = models.TextField(blank=True)
    html = models.TextField()
    text = models.TextField()
    tracked = models.BooleanField(default=False)
    frozen_at = models.DateTimeField(auto_now_add=True)

    # The rendered parts it keeps, by the names message.render_parts gives them.
    PARTS = ("subject", "preheader", "html", "text")

    objects: models.Manager["SentContent"] = ScopedManager(tenant="tenant")

    def __str__(self) -> str:
        return f"{self.campaign_id}: {self.subject}"


class DeliveryStatus(models.TextChoices):
    PENDING = "pending", _("pending")
    RETRY = "retry", _("retry")
    SENT = "sent", _("sent")
    FAILED = "failed", _("failed")
    # Sent, then refused later by a DSN (campaigns.bounces).
    BOUNCED = "bounced", _("bounced")


class Delivery(models.Model):
    """One recipient of a campaign. Unique per (campaign, contact); claimed with a lease and
    marked right after the server's answer (campaigns.claims), so a killed or repeated batch
    neither skips anyone nor sends twice beyond RFC 1047's window."""

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+", db_index=False)
    campaign = models.ForeignKey(
        Campaign, on_delete=models.CASCADE, related_name="+", db_index=False
    )
    # No foreign key: deleting a contact must not rewrite the history of sent campaigns.
    contact_id = models.BigIntegerField()
    email = models.CharField(max_length=254)
    status = models.CharField(
        max_length=8, choices=DeliveryStatus.choices, default=DeliveryStatus.PENDING
    )
    attempts = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    # A sending loop's claim (campaigns.claims.claim): no other loop takes the row before.
    claimed_until = models.DateTimeField(null=True, blank=True)
    message_id = models.CharField(max_length=255, blank=True)
    smtp_response = models.TextField(blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)

    objects: models.Manager["Delivery"] = ScopedManager(tenant="tenant")

    class Meta:
        verbose_name = _("delivery")
        verbose_name_plural = _("deliveries")
        indexes = [
            # The loops claim open rows in id order per status (campaigns.claims.claim); the
            # counts group by status. Rows are always reached through their campaign.
            models.Index(fields=["campaign", "status", "id"], name="delivery_campaign_status"),
            # A DSN names its original by Message-ID (campaigns.bounces).
            models.Index(
                fields=["message_id"],
                name="delivery_message_id",
                condition=~models.Q(message_id=""),
            ),
        ]
        constraints = [
            models.UniqueConstraint(fields=["campaign", "contact_id"], name="delivery_once"),
        ]

    def __str__(self) -> str:
        return f"{self.campaign_id}:{self.email}"


class RateWindow(models.Model):
    """A fixed one-second window of a send-rate limit shared by every worker on every machine
    (campaigns.throttle): ``key`` names the limit ("tenant:<id>", "relay:<host>")."""

    key = models.CharField(max_length=200, primary_key=True)
    window = models.BigIntegerField(default=0)  # Unix second the count belongs to
    used = models.PositiveIntegerField(default=0)

    def __str__(self) -> str:
        return f"{self.key}@{self.window}: {self.used}"
