"""Contacts of a tenant: each address once per tenant, lists, saved segments, consent, imports,
sign-up forms (double opt-in).

A contact's status is tenant-wide: an unsubscribe, bounce or complaint applies to every list.
"""

import secrets

from django.db import models
from django.utils.text import capfirst
from django.utils.translation import gettext_lazy as _
from django_scopes import ScopedManager

from mandant.core.languages import language_name
from mandant.tenants.models import Tenant


class ContactStatus(models.TextChoices):
    ACTIVE = "active", _("active")
    UNSUBSCRIBED = "unsubscribed", _("unsubscribed")
    BOUNCED = "bounced", _("bounced")
    COMPLAINED = "complained", _("complained")
    BLOCKED = "blocked", _("blocked")
    # Signed up through a form, confirmation (double opt-in) still missing.
    UNCONFIRMED = "unconfirmed", _("unconfirmed")


# Never sent to, whatever list or segment names them.
NOT_SENDABLE = (
    ContactStatus.UNCONFIRMED,
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

    @property
    def language_name(self) -> str:
        """The language as people read it ("Deutsch" on a German page), not its code."""
        return language_name(self.language)


class ConsentRecord(models.Model):
    """Proof of consent: where (``source``: a ``ConsentSource`` value, for a sign-up form
    ``form:<form name>``), when, from which IP and with which exact text. A sign-up through a
    form is *pending* (``double_opt_in`` without ``confirmed_at``) until the contact confirms
    through the link in the confirmation mail; ``data`` keeps what the form asked for, applied
    on confirmation."""

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+")
    contact = models.ForeignKey(Contact, on_delete=models.CASCADE, related_name="+")
    source = models.CharField(max_length=220)
    given_at = models.DateTimeField(auto_now_add=True)
    ip = models.GenericIPAddressField(null=True, blank=True)
    text = models.TextField(blank=True)
    # The sign-up form (kept as ``source`` when the form is deleted).
    form = models.ForeignKey(
        "SignupForm", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    double_opt_in = models.BooleanField(default=False)
    data = models.JSONField(default=dict, blank=True)
    confirmed_at = models.DateTimeField(null=True, blank=True)
    confirmed_ip = models.GenericIPAddressField(null=True, blank=True)

    objects: models.Manager["ConsentRecord"] = ScopedManager(tenant="tenant")

    class Meta:
        indexes = [
            models.Index(fields=["tenant", "contact"], name="consent_tenant_contact"),
            # Sign-ups per client address in the rate-limit window (contacts.signup).
            models.Index(
                fields=["ip", "given_at"],
                name="consent_signup_ip",
                condition=models.Q(double_opt_in=True),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.contact_id} {self.source}"

    @property
    def source_label(self) -> str:
        """The source as people read it: "Form: Website" for ``form:Website``."""
        kind, _sep, name = self.source.partition(":")
        try:
            label = capfirst(str(ConsentSource(kind).label))
        except ValueError:
            return self.source
        return f"{label}: {name}" if name else label


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
    """An uploaded CSV file, kept until its import job has run. Its bytes are in
    ``ImportFileChunk`` rows: written and read a chunk at a time, never whole in memory."""

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+")
    name = models.CharField(max_length=255, blank=True)
    size = models.BigIntegerField(default=0)
    encoding = models.CharField(max_length=32)
    delimiter = models.CharField(max_length=1)
    created_at = models.DateTimeField(auto_now_add=True)

    objects: models.Manager["ImportFile"] = ScopedManager(tenant="tenant")

    class Meta:
        indexes = [models.Index(fields=["tenant", "-created_at"], name="importfile_tenant")]

    def __str__(self) -> str:
        return self.name


class ImportFileChunk(models.Model):
    """``seq``-th piece of an ``ImportFile``'s bytes (contacts.importing.UPLOAD_CHUNK each but
    the last). Reached only through its file, which is tenant-scoped."""

    file = models.ForeignKey(ImportFile, on_delete=models.CASCADE, related_name="+", db_index=False)
    seq = models.PositiveIntegerField()
    data = models.BinaryField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["file", "seq"], name="importfilechunk_seq")]

    def __str__(self) -> str:
        return f"{self.file_id}#{self.seq}"


def new_public_key() -> str:
    return secrets.token_urlsafe(18)


class SignupForm(models.Model):
    """A sign-up form with double opt-in: hosted at ``/f/<public_key>/`` and embeddable as a plain
    HTML form posting there. A confirmed sign-up joins ``contact_list``."""

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+")
    name = models.CharField(_("name"), max_length=200)
    # Deleting the list keeps the form (inactive until a list is chosen again).
    contact_list = models.ForeignKey(
        ContactList,
        verbose_name=_("list"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    consent_text = models.TextField(_("consent text"))
    ask_first_name = models.BooleanField(_("ask for the first name"), default=True)
    ask_last_name = models.BooleanField(_("ask for the last name"), default=False)
    # Codes of settings.LANGUAGES; the first one is the default.
    languages = models.JSONField(_("languages"), default=list)
    success_url = models.URLField(_("page after sign-up"), max_length=500, blank=True)
    confirmed_url = models.URLField(_("page after confirmation"), max_length=500, blank=True)
    active = models.BooleanField(_("active"), default=True)
    # Found by the public routes without a tenant, so unique platform-wide (random, unguessable).
    public_key = models.CharField(max_length=40, unique=True, default=new_public_key)
    created_at = models.DateTimeField(auto_now_add=True)

    objects: models.Manager["SignupForm"] = ScopedManager(tenant="tenant")

    class Meta:
        verbose_name = _("sign-up form")
        verbose_name_plural = _("sign-up forms")
        constraints = [
            models.UniqueConstraint(fields=["tenant", "name"], name="signupform_tenant_name")
        ]

    def __str__(self) -> str:
        return self.name
