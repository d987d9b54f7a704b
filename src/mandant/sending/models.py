"""Who a tenant's mail comes from: its sending domains (with their DKIM keys), its sender
identities, and the sender's postal address for the footer (German imprint duty)."""

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _
from django_scopes import ScopedManager

from mandant.sending.key_sealing import SealedTextField
from mandant.tenants.models import Tenant


class DomainStatus(models.TextChoices):
    PENDING = "pending", _("pending")
    VERIFIED = "verified", _("verified")


class SendingDomain(models.Model):
    """A domain the tenant sends from, with the DKIM key pair the pipeline signs with.

    The private key PEM is stored encrypted (``key_sealing``: Fernet, key derived from
    SECRET_KEY); the attribute holds the ``enc1:…`` token once saved or loaded.
    """

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+", db_index=False)
    # Lower-case IDNA (A-label) form, so "Bücher.example" and "xn--bcher-kva.example" are one.
    domain = models.CharField(_("domain"), max_length=253)
    dkim_selector = models.CharField(_("DKIM selector"), max_length=63)
    dkim_private_key_pem = SealedTextField(editable=False)
    # The base64 SubjectPublicKeyInfo, as published in the DKIM record's p= tag.
    dkim_public_key = models.TextField(editable=False)
    status = models.CharField(
        _("status"), max_length=16, choices=DomainStatus.choices, default=DomainStatus.PENDING
    )
    checked_at = models.DateTimeField(_("last checked at"), null=True, blank=True)
    # {"spf": {"status": "ok|missing|wrong|error", "found": [...]}, "dkim": …, "dmarc": …}
    check_results = models.JSONField(default=dict, blank=True)
    verified_at = models.DateTimeField(_("verified at"), null=True, blank=True)
    verified_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    # Set by an operator for test systems: verified although the DNS records are not there.
    verified_without_dns = models.BooleanField(_("verified without DNS"), default=False)
    created_at = models.DateTimeField(auto_now_add=True)

    objects: models.Manager["SendingDomain"] = ScopedManager(tenant="tenant")

    class Meta:
        verbose_name = _("sending domain")
        verbose_name_plural = _("sending domains")
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "domain"], name="sending_domain_tenant_domain"
            )
        ]

    def __str__(self) -> str:
        return self.domain

    @property
    def is_verified(self) -> bool:
        return self.status == DomainStatus.VERIFIED


class SenderIdentity(models.Model):
    """A from address (on one of the tenant's sending domains) with its alias and reply-to."""

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+", db_index=False)
    # A domain with identities cannot be removed (PROTECT); remove the identities first.
    domain = models.ForeignKey(SendingDomain, on_delete=models.PROTECT, related_name="+")
    from_address = models.EmailField(_("from address"), max_length=254)
    alias = models.CharField(_("sender alias"), max_length=100)
    reply_to = models.EmailField(_("reply-to address"), max_length=254, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    objects: models.Manager["SenderIdentity"] = ScopedManager(tenant="tenant")

    class Meta:
        verbose_name = _("sender identity")
        verbose_name_plural = _("sender identities")
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "from_address"], name="sending_identity_tenant_address"
            )
        ]

    def __str__(self) -> str:
        return f"{self.alias} <{self.from_address}>"


class SenderPostalAddress(models.Model):
    """The sender's postal address shown in every mail's footer (Impressumspflicht)."""

    tenant = models.OneToOneField(Tenant, on_delete=models.CASCADE, related_name="+")
    company_name = models.CharField(_("company name"), max_length=200)
    street = models.CharField(_("street and number"), max_length=200)
    postal_code = models.CharField(_("postal code"), max_length=20)
    city = models.CharField(_("city"), max_length=100)
    # ISO 3166-1 alpha-2.
    country = models.CharField(_("country"), max_length=2, default="DE")
    updated_at = models.DateTimeField(auto_now=True)

    objects: models.Manager["SenderPostalAddress"] = ScopedManager(tenant="tenant")

    class Meta:
        verbose_name = _("sender postal address")
        verbose_name_plural = _("sender postal addresses")

    def __str__(self) -> str:
        return f"{self.company_name}, {self.street}, {self.postal_code} {self.city}"

    def lines(self) -> list[str]:
        return [self.company_name, self.street, f"{self.postal_code} {self.city}", self.country]
