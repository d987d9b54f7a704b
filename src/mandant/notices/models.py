from django.db import models
from django.utils.translation import gettext_lazy as _


class OutboxMessage(models.Model):
    """A message kept by the ``outbox://`` transport instead of being sent."""

    from_email = models.CharField(max_length=254)
    to = models.TextField(help_text="Comma-separated recipients")
    subject = models.CharField(max_length=998)
    body = models.TextField()
    raw = models.BinaryField()
    # The OutboundMessage this copy belongs to (its X-Mandant-Message header), if any.
    outbound_id = models.PositiveBigIntegerField(null=True, blank=True, db_index=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        verbose_name = _("outbox message")
        verbose_name_plural = _("outbox")

    def __str__(self) -> str:
        return self.subject


class MessageStatus(models.TextChoices):
    QUEUED = "queued", _("queued")
    RETRYING = "retrying", _("waiting for a retry")
    SENT = "sent", _("sent")
    KEPT = "kept", _("kept in the outbox")
    FAILED = "failed", _("failed")


# Not yet delivered: a delivery task will (still) pick these up.
PENDING_STATUSES = (MessageStatus.QUEUED, MessageStatus.RETRYING)
DONE_STATUSES = (MessageStatus.SENT, MessageStatus.KEPT)


# The kinds of mail the product sends (``OutboundMessage.kind``, set by each sender), as the
# operator's outbox names them; a kind missing here is shown as it is.
MAIL_KIND_LABELS = {
    "notice": _("System message"),
    "user.invitation": _("Invitation"),
    "user.added": _("Added to a tenant"),
    "user.verify_email": _("Address confirmation"),
    "email_verify": _("Address confirmation"),
    "email_change_verify": _("New address confirmation"),
    "email_change_notice": _("Address change notice"),
    "password_reset": _("Password reset"),
    "upgrade_activated": _("Upgrade activated"),
    "upgrade_conditions": _("Upgrade conditions"),
    "invoice": _("Invoice"),
    "contact_confirm": _("Sign-up confirmation"),
}


class OutboundMessage(models.Model):
    """Every mail the product sends, recorded by the one outbound mail service."""

    tenant = models.ForeignKey(
        "tenants.Tenant", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    to_user = models.ForeignKey(
        "accounts.User", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    to_email = models.CharField(_("recipient"), max_length=254)
    kind = models.CharField(_("kind"), max_length=40)
    language = models.CharField(max_length=8)

    subject = models.CharField(_("subject"), max_length=998)
    text_body = models.TextField()
    html_body = models.TextField(blank=True)
    status = models.CharField(
        _("status"), max_length=16, choices=MessageStatus.choices, default=MessageStatus.QUEUED
    )
    attempts = models.PositiveSmallIntegerField(default=0)
    smtp_response = models.TextField(_("server response"), blank=True)
    # When the next attempt is due (status "retrying").
    next_attempt_at = models.DateTimeField(_("next attempt"), null=True, blank=True)
    # Content-ID of the tenant logo the HTML part refers to ("" when the mail carries none).
    logo_cid = models.CharField(max_length=100, blank=True)
    notice = models.ForeignKey(
        "notices.Notice", on_delete=models.SET_NULL, null=True, blank=True, related_name="messages"
    )
    # One attached file (e.g. the conditions PDF of an activated upgrade). Database defaults,
    # so that the raw INSERT of a notice's fan-out, which does not name them, still works.
    attachment_name = models.CharField(max_length=200, blank=True, db_default="")
    attachment_type = models.CharField(max_length=100, blank=True, db_default="")
    attachment_data = models.BinaryField(null=True, blank=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("outbound message")
        verbose_name_plural = _("outbound messages")
        indexes = [
            models.Index(fields=["tenant", "created_at"], name="outbound_tenant_created"),
            models.Index(fields=["notice", "status"], name="outbound_notice_status"),
            models.Index(fields=["status", "next_attempt_at"], name="outbound_status_next"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} → {self.to_email}"

    @property
    def kind_label(self) -> str:
        return str(MAIL_KIND_LABELS.get(self.kind, self.kind))


class NoticeKind(models.TextChoices):
    OUTAGE = "outage", _("outage")
    MAINTENANCE = "maintenance", _("maintenance")
    INFORMATION = "information", _("information")


class NoticeSeverity(models.TextChoices):
    INFO = "info", _("info")
    WARNING = "warning", _("warning")
    CRITICAL = "critical", _("critical")


class Notice(models.Model):
    """A system message from operators to the administrators of all tenants or a subtree."""

    kind = models.CharField(_("kind"), max_length=16, choices=NoticeKind.choices)
    severity = models.CharField(_("severity"), max_length=16, choices=NoticeSeverity.choices)
    title_en = models.CharField(_("title (English)"), max_length=200)
    title_de = models.CharField(_("title (German)"), max_length=200)
    body_en = models.TextField(_("text (English)"))
    body_de = models.TextField(_("text (German)"))
    # None: every tenant; otherwise this tenant and its subtree.
    scope = models.ForeignKey(
        "tenants.Tenant", on_delete=models.CASCADE, null=True, blank=True, related_name="+"
    )
    starts_at = models.DateTimeField(_("shown from"))
    ends_at = models.DateTimeField(_("shown until"))
    created_by = models.ForeignKey(
        "accounts.User", on_delete=models.SET_NULL, null=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    recipients_total = models.PositiveIntegerField(default=0)
    fanned_out_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("notice")
        verbose_name_plural = _("notices")
        indexes = [models.Index(fields=["starts_at", "ends_at"], name="notice_window")]

    def __str__(self) -> str:
        return self.title_en

    def title_for(self, language: str) -> str:
        return self.title_de if language.startswith("de") else self.title_en

    def body_for(self, language: str) -> str:
        return self.body_de if language.startswith("de") else self.body_en
