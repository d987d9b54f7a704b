"""Products, their price history and conditions, and what each tenant has activated.

Global (kept by operators): ``Product``, ``ProductPrice`` (history by ``valid_from``),
``ConditionsVersion`` (versioned terms). Per tenant: ``ConditionsAcceptance`` (the recorded
"I accept"), ``Activation`` (one contiguous period of one product in one tenant, trial or paid)
and ``ActivationEvent`` (the history shown on Setup → Upgrades). ``BillingAccount`` says who
pays for a tenant: the nearest tenant upwards (the tenant itself included) that has one.

Monthly invoices are computed from these: for each day of the month, the activations in force
(``started_at`` … ``ended_at``/``ends_at``), the price valid on that day (``ProductPrice``) and
the paying account (``BillingAccount``).
"""

from datetime import datetime
from decimal import Decimal

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import translation
from django.utils.translation import gettext_lazy as _
from django_scopes import ScopedManager

from mandant.accounts.roles import Role
from mandant.tenants.models import TenantVersion


class ProductKind(models.TextChoices):
    EDITION = "edition", _("edition")
    ADDON = "addon", _("upgrade / add-on")
    PER_TENANT = "per_tenant", _("per-tenant fee")
    USAGE = "usage", _("usage")


# Kinds a tenant activates on Setup → Upgrades. An edition is the tenant's version (Setup →
# Tenant); usage is billed from what was used.
ACTIVATABLE_KINDS = (ProductKind.ADDON, ProductKind.PER_TENANT)


class DeactivationMode(models.TextChoices):
    PERIOD_END = "period_end", _("at the end of the billing period")
    IMMEDIATE = "immediate", _("immediately")


ACTIVATION_ROLE_CHOICES = [
    (Role.ADMINISTRATOR.value, Role.ADMINISTRATOR.label),
    (Role.CUSTOMER_SERVICE.value, _("Customer Service (in the tenants below its own)")),
]


def in_language(english: str, german: str) -> str:
    """The German text when the active language is German and it is filled in, else English."""
    language = translation.get_language() or "en"
    return german if language.startswith("de") and german else english


class Product(models.Model):
    key = models.SlugField(_("key"), max_length=40, unique=True)
    kind = models.CharField(_("kind"), max_length=16, choices=ProductKind.choices)
    name_en = models.CharField(_("name (English)"), max_length=100)
    name_de = models.CharField(_("name (German)"), max_length=100)
    description_en = models.TextField(_("description (English)"), blank=True)
    description_de = models.TextField(_("description (German)"), blank=True)
    # The editions (tenant versions) that may have the product; empty: every edition.
    editions = models.JSONField(_("editions"), default=list, blank=True)
    activation_role = models.PositiveSmallIntegerField(
        _("may be activated by"), choices=ACTIVATION_ROLE_CHOICES, default=Role.ADMINISTRATOR
    )
    trial_days = models.PositiveSmallIntegerField(
        _("trial days"), default=0, help_text=_("0: no trial.")
    )
    deactivation_mode = models.CharField(
        _("deactivation takes effect"),
        max_length=16,
        choices=DeactivationMode.choices,
        default=DeactivationMode.PERIOD_END,
    )
    # A retired product is no longer offered; existing activations run on.
    offered = models.BooleanField(_("offered"), default=True)
    sort_order = models.PositiveSmallIntegerField(_("order"), default=100)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("product")
        verbose_name_plural = _("products")
        ordering = ["sort_order", "key"]

    def __str__(self) -> str:
        return self.name_en

    @property
    def name(self) -> str:
        return in_language(self.name_en, self.name_de)

    @property
    def description(self) -> str:
        return in_language(self.description_en, self.description_de)

    @property
    def activatable(self) -> bool:
        return self.kind in ACTIVATABLE_KINDS

    def allowed_for(self, edition: str) -> bool:
        return not self.editions or edition in self.editions

    def get_kind_display(self) -> str:  # type: ignore[no-redef]
        return str(ProductKind(self.kind).label)

    def editions_display(self) -> str:
        if not self.editions:
            return str(_("all editions"))
        return ", ".join(str(TenantVersion(e).label) for e in self.editions)


class ProductPrice(models.Model):
    """The prices of a product from ``valid_from`` on, until the next row's ``valid_from``.

    Rows are never changed once their date has come (invoices use the price of each day); a
    price change is a new row. Amounts in EUR, net; the VAT rate in percent.
    """

    product = models.ForeignKey(Product, on_delete=models.PROTECT, related_name="prices")
    valid_from = models.DateField(_("valid from"))
    monthly_fee = models.DecimalField(
        _("monthly fee"), max_digits=10, decimal_places=2, default=Decimal("0.00")
    )
    setup_fee = models.DecimalField(
        _("one-time set-up fee"), max_digits=10, decimal_places=2, default=Decimal("0.00")
    )
    unit_price = models.DecimalField(
        _("price per unit"), max_digits=10, decimal_places=4, default=Decimal("0.0000")
    )
    unit_en = models.CharField(_("unit (English)"), max_length=60, blank=True)
    unit_de = models.CharField(_("unit (German)"), max_length=60, blank=True)
    vat_rate = models.DecimalField(
        _("VAT rate (%)"), max_digits=5, decimal_places=2, default=Decimal("19.00")
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("price")
        verbose_name_plural = _("prices")
        constraints = [
            models.UniqueConstraint(fields=["product", "valid_from"], name="price_product_from"),
        ]

    def __str__(self) -> str:
        return f"{self.product.key} from {self.valid_from}"

    @property
    def unit(self) -> str:
        return in_language(self.unit_en, self.unit_de)


class ConditionsVersion(models.Model):
    """One version of a product's conditions (terms), published from ``published_at`` on.

    Published versions are never changed: an acceptance refers to the exact text accepted.
    """

    product = models.ForeignKey(Product, on_delete=models.PROTECT, related_name="conditions")
    version = models.PositiveIntegerField(_("version"))
    text_en = models.TextField(_("conditions (English)"))
    text_de = models.TextField(_("conditions (German)"))
    published_at = models.DateTimeField(_("published at"))
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("conditions version")
        verbose_name_plural = _("conditions versions")
        constraints = [
            models.UniqueConstraint(fields=["product", "version"], name="conditions_version"),
        ]

    def __str__(self) -> str:
        return f"{self.product.key} v{self.version}"

    def text_for(self, language: str) -> str:
        return self.text_de if language.startswith("de") and self.text_de else self.text_en


class BillingAccount(models.Model):
    """Who pays: a partner's account. Its tenant and every tenant below it are billed to it,
    unless a tenant further down has an account of its own (configurable per partner)."""

    # Read across tenants (the ancestors of a tenant): a plain manager, not a scoped one.
    tenant = models.OneToOneField(
        "tenants.Tenant", on_delete=models.PROTECT, related_name="billing_account"
    )
    name = models.CharField(_("invoice recipient"), max_length=200)
    address = models.TextField(_("address"), blank=True)
    country = models.CharField(_("country (ISO code)"), max_length=2, default="DE")
    vat_id = models.CharField(_("VAT ID"), max_length=20, blank=True)
    email = models.EmailField(_("billing contact e-mail"), blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("billing account")
        verbose_name_plural = _("billing accounts")

    def __str__(self) -> str:
        return self.name


class ConditionsAcceptance(models.Model):
    """The recorded acceptance of a product's conditions, before an online activation."""

    tenant = models.ForeignKey("tenants.Tenant", on_delete=models.CASCADE, related_name="+")
    product = models.ForeignKey(Product, on_delete=models.PROTECT, related_name="+")
    conditions = models.ForeignKey(ConditionsVersion, on_delete=models.PROTECT, related_name="+")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    acting_role = models.PositiveSmallIntegerField(_("acting role"))
    # The tenant the acting role comes from (None for operators).
    acting_as = models.ForeignKey(
        "tenants.Tenant",
        verbose_name=_("acting as"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    via_api_key = models.ForeignKey(
        "accounts.ApiKey", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    accepted_at = models.DateTimeField(_("accepted at"))
    client_ip = models.GenericIPAddressField(_("client IP address"), null=True, blank=True)
    # The mail with the accepted conditions (PDF), once it is made (at most one).
    conditions_mail = models.ForeignKey(
        "notices.OutboundMessage",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )

    objects: models.Manager["ConditionsAcceptance"] = ScopedManager(tenant="tenant")

    class Meta:
        verbose_name = _("acceptance of conditions")
        verbose_name_plural = _("acceptances of conditions")
        indexes = [
            models.Index(fields=["tenant", "accepted_at"], name="acceptance_tenant_time"),
        ]

    def __str__(self) -> str:
        return f"{self.conditions} accepted in tenant {self.tenant_id}"


class EndReason(models.TextChoices):
    TRIAL_ENDED = "trial_ended", _("trial ended")
    DEACTIVATED = "deactivated", _("deactivated")
    CONVERTED = "converted", _("trial turned into a paid activation")


class Activation(models.Model):
    """One contiguous period of a product in a tenant: a trial or a paid activation.

    In force from ``started_at`` until ``ends_at`` (a trial's end, or the end of the billing
    period after a deactivation) — evaluated when read, so an activation whose ``ends_at`` has
    passed is over even before ``billing expire`` writes ``ended_at``. At most one activation
    per tenant and product is open (``ended_at`` empty).
    """

    tenant = models.ForeignKey("tenants.Tenant", on_delete=models.CASCADE, related_name="+")
    product = models.ForeignKey(Product, on_delete=models.PROTECT, related_name="+")
    trial = models.BooleanField(_("trial"), default=False)
    started_at = models.DateTimeField(_("active since"))
    ends_at = models.DateTimeField(_("ends at"), null=True, blank=True)
    ended_at = models.DateTimeField(_("ended at"), null=True, blank=True)
    end_reason = models.CharField(max_length=16, choices=EndReason.choices, blank=True)
    # None: added by service staff (no online activation, no conditions accepted).
    acceptance = models.ForeignKey(
        ConditionsAcceptance, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    activated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    acting_role = models.PositiveSmallIntegerField(null=True)
    role_source = models.ForeignKey(
        "tenants.Tenant", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    via_api_key = models.ForeignKey(
        "accounts.ApiKey", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    deactivation_requested_at = models.DateTimeField(null=True, blank=True)
    deactivated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    # The one-time set-up fee is due for the first paid activation of a product in a tenant.
    charge_setup_fee = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)

    objects: models.Manager["Activation"] = ScopedManager(tenant="tenant")

    class Meta:
        verbose_name = _("activation")
        verbose_name_plural = _("activations")
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "product"],
                condition=Q(ended_at__isnull=True),
                name="activation_one_open",
            ),
        ]
        indexes = [
            models.Index(fields=["tenant", "ended_at"], name="activation_tenant_open"),
            models.Index(fields=["ended_at", "ends_at"], name="activation_due"),
        ]

    def __str__(self) -> str:
        return f"{self.product.key} in tenant {self.tenant_id} from {self.started_at:%Y-%m-%d}"

    @property
    def end(self) -> datetime | None:
        """When it ends or ended (None: open-ended)."""
        return self.ended_at or self.ends_at

    def in_force(self, at: datetime) -> bool:
        end = self.end
        return self.started_at <= at and (end is None or at < end)

    @property
    def paid(self) -> bool:
        return not self.trial


class EventKind(models.TextChoices):
    ADDED = "added", _("added by our service staff")
    ACTIVATED = "activated", _("activated")
    TRIAL_STARTED = "trial_started", _("trial started")
    DEACTIVATION_SCHEDULED = "deactivation_scheduled", _("deactivation requested")
    DEACTIVATION_CANCELLED = "deactivation_cancelled", _("deactivation cancelled")
    DEACTIVATED = "deactivated", _("deactivated")
    TRIAL_ENDED = "trial_ended", _("trial ended")
    REMOVED = "removed", _("removed by our service staff")


class ActivationEvent(models.Model):
    """One line of a tenant's activation history: what happened to which product, who, when."""

    tenant = models.ForeignKey("tenants.Tenant", on_delete=models.CASCADE, related_name="+")
    product = models.ForeignKey(Product, on_delete=models.PROTECT, related_name="+")
    activation = models.ForeignKey(Activation, on_delete=models.CASCADE, related_name="+")
    kind = models.CharField(_("event"), max_length=32, choices=EventKind.choices)
    at = models.DateTimeField(_("time"))
    # When a deactivation takes effect (for "deactivation requested").
    effective_at = models.DateTimeField(null=True, blank=True)
    # None: the platform itself (a trial or a deactivation that ran out).
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    acting_role = models.PositiveSmallIntegerField(null=True)
    role_source = models.ForeignKey(
        "tenants.Tenant", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    acceptance = models.ForeignKey(
        ConditionsAcceptance, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )

    objects: models.Manager["ActivationEvent"] = ScopedManager(tenant="tenant")

    class Meta:
        verbose_name = _("activation event")
        verbose_name_plural = _("activation history")
        indexes = [models.Index(fields=["tenant", "-at"], name="activation_event_tenant_at")]

    def __str__(self) -> str:
        return f"{self.kind} {self.product_id} in tenant {self.tenant_id}"

    def get_kind_display(self) -> str:  # type: ignore[no-redef]
        return str(EventKind(self.kind).label)
