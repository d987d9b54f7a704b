"""Contacts of a tenant: each address once per tenant, lists, saved segments, consent, imports.

A contact's status is tenant-wide: an unsubscribe, bounce or complaint applies to every list.
"""

from django.db import models
from django.utils.translation import gettext_lazy as _
from django_scopes import ScopedManager

from mandant.tenants.models import Tenant


class ContactStatus(models.TextChoices):
    ACTIVE = "active", _("active")
    UNSUBSCRIBED = "unsubscribed", _("unsubscribed")
    BOUNCED = "bounced", _("bounced")
    COMPLAINED = "complained", _("complained")
    BLOCKED = "blocked", _("blocked")


# Never sent to, whatever list or segment names them.
NOT_SENDABLE = (
    ContactStatus.UNSUBSCRIBED,
    ContactStatus.BOUNCED,
    ContactStatus.COMPLAINED,
    ContactStatus.BLOCKED,
)


class ConsentSource(models.TextChoices):
    IMPORT = "import", _("import")
    FORM = "form", _("form")
    API = "api", _("API")
    MANUAL = "manual", _("manual")


class Contact(models.Model):
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+")
    email = models.CharField(_("e-mail address"), max_length=254)
    first_name = models.CharField(_("first name"), max_length=150, blank=True)
    last_name = models.CharField(_("last name"), max_length=150, blank=True)
    language = models.CharField(_("language"), max_length=8, blank=True)
    fields = models.JSONField(_("custom fields"), default=dict, blank=True)
    status = models.CharField(
        _("status"), max_length=16, choices=ContactStatus.choices, default=ContactStatus.ACTIVE
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects: models.Manager["Contact"] = ScopedManager(tenant="tenant")

    class Meta:
        verbose_name = _("contact")
        verbose_name_plural = _("contacts")
        constraints = [
            models.UniqueConstraint(fields=["tenant", "email"], name="contact_tenant_email")
        ]
        indexes = [models.Index(fields=["tenant", "status", "id"], name="contact_tenant_status")]

    def __str__(self) -> str:
        return self.email


class ConsentRecord(models.Model):
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+")
    contact = models.ForeignKey(Contact, on_delete=models.CASCADE, related_name="+")
    source = models.CharField(max_length=16, choices=ConsentSource.choices)
    given_at = models.DateTimeField(auto_now_add=True)
    ip = models.GenericIPAddressField(null=True, blank=True)
    text = models.TextField(blank=True)

    objects: models.Manager["ConsentRecord"] = ScopedManager(tenant="tenant")

    class Meta:
        indexes = [models.Index(fields=["tenant", "contact"], name="consent_tenant_contact")]

    def __str__(self) -> str:
        return f"{self.contact_id} {self.source}"


class ContactList(models.Model):
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+")
    name = models.CharField(_("name"), max_length=200)
    created_at = models.DateTimeField(auto_now_add=True)

    objects: models.Manager["ContactList"] = ScopedManager(tenant="tenant")

    class Meta:
        verbose_name = _("list")
        verbose_name_plural = _("lists")
        constraints = [
            models.UniqueConstraint(fields=["tenant", "name"], name="contactlist_tenant_name")
        ]

    def __str__(self) -> str:
        return self.name


class ListMembership(models.Model):
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+")
    contact_list = models.ForeignKey(ContactList, on_delete=models.CASCADE, related_name="+")
    contact = models.ForeignKey(Contact, on_delete=models.CASCADE, related_name="+")
    added_at = models.DateTimeField(auto_now_add=True)

    objects: models.Manager["ListMembership"] = ScopedManager(tenant="tenant")

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "contact_list", "contact"], name="listmembership_unique"
            )
        ]
        indexes = [models.Index(fields=["tenant", "contact"], name="listmembership_contact")]

    def __str__(self) -> str:
        return f"{self.contact_list_id} ∋ {self.contact_id}"


class Segment(models.Model):
    """A saved filter (see ``segments.py`` for its small language)."""

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+")
    name = models.CharField(_("name"), max_length=200)
    rules = models.JSONField(default=dict)
    created_at = models.DateTimeField(auto_now_add=True)

    objects: models.Manager["Segment"] = ScopedManager(tenant="tenant")

    class Meta:
        verbose_name = _("segment")
        verbose_name_plural = _("segments")
        constraints = [
            models.UniqueConstraint(fields=["tenant", "name"], name="segment_tenant_name")
        ]

    def __str__(self) -> str:
        return self.name


class ImportFile(models.Model):
    """An uploaded CSV file, kept until its import job has run (streamed from the bytes)."""

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+")
    name = models.CharField(max_length=255, blank=True)
    data = models.BinaryField()
    encoding = models.CharField(max_length=32)
    delimiter = models.CharField(max_length=1)
    created_at = models.DateTimeField(auto_now_add=True)

    objects: models.Manager["ImportFile"] = ScopedManager(tenant="tenant")

    class Meta:
        indexes = [models.Index(fields=["tenant", "-created_at"], name="importfile_tenant")]

    def __str__(self) -> str:
        return self.name
