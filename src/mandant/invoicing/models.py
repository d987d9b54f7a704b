"""Monthly invoices: numbered, immutable once issued, corrected only by a cancellation
invoice or a credit note that refers to the original (German invoice rules, § 14 UStG).

An invoice keeps snapshots of the supplier and the customer as they were on the issue date,
so later changes of an address never change an issued invoice.
"""

from decimal import Decimal
from typing import Any

from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _
from django_scopes import ScopedManager

from mandant.billing.models import BillingAccount
from mandant.notices.models import OutboundMessage
from mandant.tenants.models import Tenant

# Amounts in EUR with cents; quantities and unit prices with four places (prorated months).
MONEY_DIGITS, MONEY_PLACES = 14, 2
QUANTITY_DIGITS, QUANTITY_PLACES = 14, 4


class InvoiceImmutable(Exception):
    """An issued invoice (or one of its lines) was to be changed or deleted: corrections are
    made by a cancellation invoice or a credit note (§ 14 UStG), never by editing."""


# What may still be written on an issued invoice: the record of its e-mail.
MUTABLE_AFTER_ISSUE = frozenset({"emailed_at", "email_message", "email_message_id"})


class InvoiceKind(models.TextChoices):
    INVOICE = "invoice", _("Invoice")
    CANCELLATION = "cancellation", _("Cancellation invoice")
    CREDIT_NOTE = "credit_note", _("Credit note")


class NumberSeries(models.Model):
    """A gapless sequence of numbers (e.g. ``RE-2026``): the next number is allocated by
    locking this row inside the transaction that issues the invoice."""

    key = models.CharField(max_length=20, unique=True)
    last_number = models.PositiveIntegerField(default=0)

    class Meta:
        verbose_name = _("number series")
        verbose_name_plural = _("number series")

    def __str__(self) -> str:
        return f"{self.key}: {self.last_number}"


class Invoice(models.Model):
    number = models.CharField(_("invoice number"), max_length=32, unique=True)
    series = models.CharField(max_length=20)
    sequence = models.PositiveIntegerField()
    kind = models.CharField(_("kind"), max_length=16, choices=InvoiceKind.choices)
    account = models.ForeignKey(BillingAccount, on_delete=models.PROTECT, related_name="+")
    # The billing account's tenant: whose Setup → Billing shows it (and the scope).
    tenant = models.ForeignKey(Tenant, on_delete=models.PROTECT, related_name="+")
    month = models.CharField(_("billing month"), max_length=7, blank=True)  # "YYYY-MM"
    period_start = models.DateField(_("service period from"))
    period_end = models.DateField(_("service period to"))
    issue_date = models.DateField(_("invoice date"))
    currency = models.CharField(max_length=3, default="EUR")
    # Snapshots on the issue date: name, address lines, country, VAT ID / tax number, e-mail.
    supplier = models.JSONField()
    customer = models.JSONField()
    reverse_charge = models.BooleanField(_("reverse charge"), default=False)
    net_total = models.DecimalField(_("net"), max_digits=MONEY_DIGITS, decimal_places=MONEY_PLACES)
    tax_total = models.DecimalField(_("VAT"), max_digits=MONEY_DIGITS, decimal_places=MONEY_PLACES)
    gross_total = models.DecimalField(
        _("gross"), max_digits=MONEY_DIGITS, decimal_places=MONEY_PLACES
    )
    # [{"rate": "19.00", "net": "…", "tax": "…"}], one per VAT rate.
    tax_breakdown = models.JSONField(default=list)
    refers_to = models.ForeignKey(
        "self", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    note = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    emailed_at = models.DateTimeField(null=True, blank=True)
    email_message = models.ForeignKey(
        OutboundMessage, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    objects: models.Manager["Invoice"] = ScopedManager(tenant="tenant")

    class Meta:
        verbose_name = _("invoice")
        verbose_name_plural = _("invoices")
        constraints = [
            models.UniqueConstraint(fields=["series", "sequence"], name="invoice_series_sequence"),
            # One invoice per account and month: a second run of the month creates none.
            models.UniqueConstraint(
                fields=["account", "month"],
                condition=Q(kind="invoice"),
                name="invoice_one_per_account_month",
            ),
        ]
        indexes = [models.Index(fields=["tenant", "-issue_date"], name="invoice_tenant_date")]

    def __str__(self) -> str:
        return self.number

    # The guard for code paths that load and save the object; QuerySet.update() and raw SQL
    # are not covered (the services never use them on invoices except for the e-mail fields).
    def save(self, *args: Any, **kwargs: Any) -> None:
        if not self._state.adding:
            fields = kwargs.get("update_fields")
            if fields is None or not set(fields) <= MUTABLE_AFTER_ISSUE:
                raise InvoiceImmutable(f"Invoice {self.number} is issued and cannot be changed.")
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> Any:
        raise InvoiceImmutable(f"Invoice {self.number} is issued and cannot be deleted.")


class InvoiceLine(models.Model):
    invoice = models.ForeignKey(Invoice, on_delete=models.CASCADE, related_name="lines")
    position = models.PositiveIntegerField()
    # The tenant the line is for (snapshot of its name) and the product.
    tenant = models.ForeignKey(
        Tenant, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    tenant_name = models.CharField(max_length=100, blank=True)
    product_key = models.CharField(max_length=40)
    description = models.CharField(max_length=300)
    service_start = models.DateField()
    service_end = models.DateField()
    quantity = models.DecimalField(max_digits=QUANTITY_DIGITS, decimal_places=QUANTITY_PLACES)
    unit = models.CharField(max_length=40)  # UN/ECE rec. 20 code in the XML, label here
    unit_price = models.DecimalField(max_digits=QUANTITY_DIGITS, decimal_places=QUANTITY_PLACES)
    net_amount = models.DecimalField(max_digits=MONEY_DIGITS, decimal_places=MONEY_PLACES)
    vat_rate = models.DecimalField(max_digits=5, decimal_places=2, default=Decimal("19.00"))

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["invoice", "position"], name="invoice_line_position")
        ]

    def __str__(self) -> str:
        return f"{self.invoice_id}/{self.position}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if not self._state.adding:
            raise InvoiceImmutable("Lines of an issued invoice cannot be changed.")
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> Any:
        raise InvoiceImmutable("Lines of an issued invoice cannot be deleted.")


class InvoiceDocument(models.Model):
    """The PDF (with the embedded Factur-X XML) of an invoice, rendered in a background task.
    Derived from the invoice; the invoice row itself is the record."""

    invoice = models.OneToOneField(Invoice, on_delete=models.CASCADE, related_name="document")
    pdf = models.BinaryField()
    sha256 = models.CharField(max_length=64)
    rendered_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"{self.invoice_id}.pdf"


class UsageMetric(models.TextChoices):
    MAILS = "mails", _("mails sent")


class UsageRecord(models.Model):
    """What a tenant used on one day (issue 5 records the mails sent): summed per month by
    the invoice run and billed per unit above the edition's quota."""

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+")
    metric = models.CharField(max_length=16, choices=UsageMetric.choices, default=UsageMetric.MAILS)
    day = models.DateField()
    quantity = models.PositiveBigIntegerField(default=0)

    objects: models.Manager["UsageRecord"] = ScopedManager(tenant="tenant")

    class Meta:
        verbose_name = _("usage record")
        verbose_name_plural = _("usage records")
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "metric", "day"], name="usage_tenant_metric_day"
            ),
        ]
        # The run reads one month of every tenant.
        indexes = [models.Index(fields=["day", "metric"], name="usage_day_metric")]

    def __str__(self) -> str:
        return f"{self.metric} of tenant {self.tenant_id} on {self.day}: {self.quantity}"
