"""What is billable in a month, for the whole platform, in a handful of queries.

Reads tenants, billing accounts, products with their price history, the activations that
touch the month and the month's usage — each with one query — and turns them into line
drafts per billing account (``month_billing``). No writes; ``services.invoices_run`` numbers
and stores the drafts.

Who pays what (docs/invoices.md):

- Every tenant below the platform root costs its edition's monthly fee for each day of the
  month it existed (from the day of ``created_at``), exactly once per day:
  - on days when a master tenant above it (the nearest one) has paid Tenant management in
    force, as that partner's *per-tenant fee* ("Tenant management: sub-tenant …"), billed to
    the partner's billing account;
  - on the other days as its own *edition* line, billed to its own billing account (the
    nearest account upwards — usually its partner's anyway).
- Add-ons (and any product with a monthly fee) cost that fee for each day a paid activation
  was in force (any moment of the day counts), billed to the tenant's billing account.
  Trials are free. A price change splits the line: one line per run of days with one price.
- A set-up fee is charged once, in the month a paid activation with ``charge_setup_fee``
  started.
- Usage: the month's sum per tenant and metric, above the quota of ``feature_limit`` (at the
  month's end), per unit of the usage product (mails: per 1,000).
- The platform root itself is never billed. A tenant whose chain has no billing account is
  not billed (counted in the run summary).
"""

from __future__ import annotations

from bisect import bisect_right
from collections import defaultdict
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db.models import F, Q, Sum
from django.utils import timezone, translation
from django.utils.formats import number_format
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django_scopes import scopes_disabled

from mandant.billing.features import MEMO_ATTRIBUTE, TENANT_MANAGEMENT, UpgradeState, feature_limit
from mandant.billing.models import (
    Activation,
    BillingAccount,
    Product,
    ProductKind,
    ProductPrice,
)
from mandant.invoicing import calculation as calc
from mandant.invoicing.models import UsageMetric, UsageRecord
from mandant.tenants.models import PATH_STEP_WIDTH, Tenant

ONE_MICROSECOND = timedelta(microseconds=1)

# Units: the label on the invoice (customer's language) and the UN/ECE Rec. 20 code of the
# e-invoice XML (``unit_code``).
UNITS = {
    "MON": gettext_lazy("month"),
    "C62": gettext_lazy("one-off"),
    "T3": gettext_lazy("1,000 mails"),
}
INVOICE_LANGUAGES = ("en", "de")


@dataclass(frozen=True)
class UsagePricing:
    product_key: str
    per_units: int  # the unit price is per this many (mails: per 1,000)
    limit_key: str  # the quota in the feature registry
    unit_code: str


USAGE_PRICING = {
    UsageMetric.MAILS.value: UsagePricing("extra_mails", 1000, "mails_per_month", "T3"),
}

# Order of the lines of one tenant.
KIND_ORDER = {"edition": 0, "per_tenant": 1, "monthly": 2, "setup": 3, "usage": 4}


def unit_code(label: str) -> str:
    """The UN/ECE Rec. 20 code of a unit label in either invoice language ("C62" if unknown)."""
    for code, text in UNITS.items():
        for language in INVOICE_LANGUAGES:
            with translation.override(language):
                if str(text) == label:
                    return code
    return "C62"


@dataclass(frozen=True)
class MonthBounds:
    year: int
    month: int
    days: int
    first: date
    last: date
    start: datetime  # first moment of the month, TIME_ZONE
    end: datetime  # first moment of the next month

    @property
    def key(self) -> str:
        return calc.month_key(self.year, self.month)

    def day(self, number: int) -> date:
        return date(self.year, self.month, number)

    def days_between(self, start: datetime, end: datetime | None) -> range:
        """Days of the month (1-based) touched by the interval ``[start, end)``."""
        low = max(start, self.start)
        high = self.end if end is None else min(end, self.end)
        if low >= high:
            return range(0)
        zone = self.start.tzinfo
        first = timezone.localtime(low, zone).day
        last = timezone.localtime(high - ONE_MICROSECOND, zone).day
        return range(first, last + 1)


def month_bounds(year: int, month: int) -> MonthBounds:
    zone = timezone.get_default_timezone()
    first, last = calc.month_bounds(year, month)
    next_year, next_month = calc.next_month(year, month)
    return MonthBounds(
        year=year,
        month=month,
        days=last.day,
        first=first,
        last=last,
        start=datetime(year, month, 1, tzinfo=zone),
        end=datetime(next_year, next_month, 1, tzinfo=zone),
    )


@dataclass(frozen=True)
class TenantInfo:
    id: int
    path: str
    depth: int
    name: str
    version: str
    first_day: int  # the first day of the month it existed


@dataclass(frozen=True)
class Charge:
    """Something billable before it is rendered into a line in the customer's language."""

    kind: str  # edition, per_tenant, monthly, setup, usage
    tenant: TenantInfo
    product: Product
    price: ProductPrice
    first_day: int
    last_day: int
    edition: Product | None = None  # per_tenant: the sub-tenant's edition
    used: int = 0
    included: int = 0
    extra: int = 0


@dataclass(frozen=True)
class LineDraft:
    tenant_id: int
    tenant_name: str
    product_key: str
    description: str
    service_start: date
    service_end: date
    quantity: Decimal
    unit: str
    unit_price: Decimal
    net_amount: Decimal
    vat_rate: Decimal


@dataclass
class InvoiceDraft:
    account: BillingAccount
    language: str
    reverse_charge: bool
    lines: list[LineDraft] = field(default_factory=list)

    def totals(self) -> calc.Totals:
        return calc.invoice_totals(
            ((line.vat_rate, line.net_amount) for line in self.lines),
            reverse_charge=self.reverse_charge,
        )


@dataclass
class MonthBilling:
    bounds: MonthBounds
    drafts: list[InvoiceDraft]
    # Tenants with something billable but no billing account anywhere above them.
    unbilled_tenant_ids: set[int]
    queries_note: str = ""


class PriceBook:
    """Every product's price on every day of the month, from one query."""

    def __init__(self, bounds: MonthBounds) -> None:
        self.bounds = bounds
        self._rows: dict[int, list[ProductPrice]] = defaultdict(list)
        for row in ProductPrice.objects.filter(valid_from__lte=bounds.last).order_by(
            "product_id", "valid_from"
        ):
            self._rows[row.product_id].append(row)
        self._starts = {pid: [r.valid_from for r in rows] for pid, rows in self._rows.items()}
        self._by_day: dict[int, list[ProductPrice | None]] = {}

    def on(self, product_id: int, day: int) -> ProductPrice | None:
        table = self._by_day.get(product_id)
        if table is None:
            rows, starts = self._rows.get(product_id, []), self._starts.get(product_id, [])
            table = [None]
            for number in range(1, self.bounds.days + 1):
                index = bisect_right(starts, self.bounds.day(number))
                table.append(rows[index - 1] if index else None)
            self._by_day[product_id] = table
        return table[day]


def _tenants(bounds: MonthBounds) -> dict[int, TenantInfo]:
    rows = Tenant.objects.filter(created_at__lt=bounds.end).values_list(
        "id", "path", "depth", "name", "version", "created_at"
    )
    tenants = {}
    for tenant_id, path, depth, name, version, created_at in rows:
        first_day = 1
        if created_at >= bounds.start:
            first_day = timezone.localtime(created_at, bounds.start.tzinfo).day
        tenants[tenant_id] = TenantInfo(tenant_id, path, depth, name, version, first_day)
    return tenants


def _activations(bounds: MonthBounds) -> list[tuple[Any, ...]]:
    """Every activation in force at some moment of the month (platform-wide)."""
    overlaps = (
        Q(ended_at__gt=bounds.start)
        | Q(ended_at__isnull=True, ends_at__isnull=True)
        | Q(ended_at__isnull=True, ends_at__gt=bounds.start)
    )
    with scopes_disabled():
        return list(
            Activation.objects.filter(overlaps, started_at__lt=bounds.end).values_list(
                "tenant_id",
                "product_id",
                "trial",
                "started_at",
                "ended_at",
                "ends_at",
                "charge_setup_fee",
            )
        )


def _usage(bounds: MonthBounds) -> list[tuple[int, str, int]]:
    with scopes_disabled():
        rows = (
            UsageRecord.objects.filter(day__gte=bounds.first, day__lte=bounds.last)
            .values("tenant_id", "metric")
            .annotate(total=Sum("quantity"))
            .values_list("tenant_id", "metric", "total")
        )
        return [(tenant_id, metric, int(total or 0)) for tenant_id, metric, total in rows]


def _quota(
    tenant: TenantInfo, products_in_force: frozenset[str], limit_key: str, at: datetime
) -> int | None:
    """``feature_limit`` of the tenant at the month's end, from the activations read already
    (the registry's memo is filled, so it asks no query)."""
    subject = Tenant(pk=tenant.id, version=tenant.version, tenant_management_active=False)
    subject.__dict__[MEMO_ATTRIBUTE] = UpgradeState(
        at=at, products=products_in_force, lapsed=frozenset()
    )
    return feature_limit(subject, limit_key)


class _Collector:
    """Charges per billing account."""

    def __init__(self, tenants: dict[int, TenantInfo], accounts: Sequence[BillingAccount]) -> None:
        self.by_path = {t.path: t for t in tenants.values()}
        self.account_by_path = {a.tenant_path: a for a in accounts}  # type: ignore[attr-defined]
        self._memo: dict[str, BillingAccount | None] = {}
        self.charges: dict[int, list[Charge]] = defaultdict(list)
        self.accounts: dict[int, BillingAccount] = {}
        self.unbilled: set[int] = set()

    def account_for(self, path: str) -> BillingAccount | None:
        """The nearest account upwards, the tenant itself included (``billing_account_for``)."""
        if path not in self._memo:
            account = self.account_by_path.get(path)
            if account is None and len(path) > PATH_STEP_WIDTH:
                account = self.account_for(path[:-PATH_STEP_WIDTH])
            self._memo[path] = account
        return self._memo[path]

    def add(self, account: BillingAccount | None, charge: Charge) -> None:
        if account is None:
            self.unbilled.add(charge.tenant.id)
            return
        self.accounts[account.pk] = account
        self.charges[account.pk].append(charge)


def month_billing(
    year: int, month: int, *, skip_accounts: Collection[int] = frozenset()
) -> MonthBilling:
    """The invoice drafts of the month, one per billing account with anything billable
    (accounts in ``skip_accounts`` — invoiced already — are left out)."""
    bounds = month_bounds(year, month)
    tenants = _tenants(bounds)
    accounts = list(BillingAccount.objects.annotate(tenant_path=F("tenant__path")))
    products = {p.pk: p for p in Product.objects.all()}
    prices = PriceBook(bounds)
    collector = _Collector(tenants, accounts)

    editions: dict[str, Product] = {}
    for product in products.values():
        if product.kind == ProductKind.EDITION:
            for edition in product.editions:
                editions.setdefault(edition, product)
    management = next((p for p in products.values() if p.key == TENANT_MANAGEMENT), None)

    def monthly(
        account: BillingAccount | None,
        kind: str,
        tenant: TenantInfo,
        product: Product,
        priced_by: Product,
        days: Collection[int],
    ) -> None:
        for first, last, price in calc.day_runs(days, lambda d: prices.on(priced_by.pk, d)):
            if price is not None and price.monthly_fee > 0:
                charge = Charge(
                    kind=kind,
                    tenant=tenant,
                    product=product,
                    price=price,
                    first_day=first,
                    last_day=last,
                    edition=priced_by if kind == "per_tenant" else None,
                )
                collector.add(account, charge)

    # Activations: paid days per tenant and product; what is in force at the month's end.
    last_moment = bounds.end - ONE_MICROSECOND
    paid_days: dict[tuple[int, int], set[int]] = defaultdict(set)
    management_days: dict[int, set[int]] = defaultdict(set)
    in_force_at_end: dict[int, set[str]] = defaultdict(set)
    for tenant_id, product_id, trial, started, ended, ends, setup in _activations(bounds):
        tenant = tenants.get(tenant_id)
        if tenant is None or tenant.depth == 0:
            continue  # the platform root pays nothing
        product = products[product_id]
        end = ended or ends
        if started <= last_moment and (end is None or last_moment < end):
            in_force_at_end[tenant_id].add(product.key)
        if trial:
            continue
        days = bounds.days_between(started, end)
        if not days:
            continue
        paid_days[(tenant_id, product_id)].update(days)
        if product.key == TENANT_MANAGEMENT:
            management_days[tenant_id].update(days)
        if setup and bounds.start <= started < bounds.end:
            day = timezone.localtime(started, bounds.start.tzinfo).day
            price = prices.on(product_id, day)
            if price is not None and price.setup_fee > 0:
                charge = Charge("setup", tenant, product, price, day, day)
                collector.add(collector.account_for(tenant.path), charge)

    # Editions and per-tenant fees: each day of each tenant once.
    for tenant in tenants.values():
        edition = editions.get(tenant.version)
        if tenant.depth == 0 or edition is None:
            continue
        remaining = set(range(tenant.first_day, bounds.days + 1))
        # Masters from the nearest upwards, never the root (depth 0).
        for end in range(len(tenant.path) - PATH_STEP_WIDTH, PATH_STEP_WIDTH, -PATH_STEP_WIDTH):
            if not remaining:
                break
            master = collector.by_path.get(tenant.path[:end])
            covered = remaining & management_days.get(master.id, set()) if master else set()
            if covered and master is not None and management is not None:
                monthly(
                    collector.account_for(master.path),
                    "per_tenant",
                    tenant,
                    management,
                    edition,
                    covered,
                )
                remaining -= covered
        if remaining:
            account = collector.account_for(tenant.path)
            monthly(account, "edition", tenant, edition, edition, remaining)

    # Add-ons and other monthly fees.
    for (tenant_id, product_id), paid in paid_days.items():
        addon = products[product_id]
        if addon.kind in (ProductKind.EDITION, ProductKind.USAGE):
            continue
        owner = tenants[tenant_id]
        monthly(collector.account_for(owner.path), "monthly", owner, addon, addon, paid)

    # Usage above the quota.
    by_key = {p.key: p for p in products.values()}
    for tenant_id, metric, used in _usage(bounds):
        user = tenants.get(tenant_id)
        pricing = USAGE_PRICING.get(metric)
        usage_product = by_key.get(pricing.product_key) if pricing else None
        if user is None or user.depth == 0 or pricing is None or usage_product is None:
            continue
        quota = _quota(
            user, frozenset(in_force_at_end.get(tenant_id, ())), pricing.limit_key, last_moment
        )
        extra = used - quota if quota is not None else 0
        unit_price = prices.on(usage_product.pk, bounds.days)
        if extra <= 0 or unit_price is None or unit_price.unit_price <= 0:
            continue
        charge = Charge(
            "usage",
            user,
            usage_product,
            unit_price,
            user.first_day,
            bounds.days,
            used=used,
            included=quota or 0,
            extra=extra,
        )
        collector.add(collector.account_for(user.path), charge)

    drafts = []
    supplier_country = settings.INVOICE_SUPPLIER_COUNTRY
    for account_id in sorted(collector.charges, key=lambda pk: collector.accounts[pk].tenant_id):
        if account_id in skip_accounts:
            continue
        account = collector.accounts[account_id]
        draft = InvoiceDraft(
            account=account,
            language=calc.customer_language(account.country),
            reverse_charge=calc.reverse_charge_applies(
                account.country, account.vat_id, supplier_country=supplier_country
            ),
        )
        charges = sorted(
            collector.charges[account_id],
            key=lambda c: (
                c.tenant.path,
                KIND_ORDER[c.kind],
                c.product.sort_order,
                c.product.key,
                c.first_day,
            ),
        )
        with translation.override(draft.language):
            for charge in charges:
                line = render_line(charge, bounds, reverse_charge=draft.reverse_charge)
                if line.net_amount != 0:
                    draft.lines.append(line)
        if draft.lines:
            drafts.append(draft)
    return MonthBilling(bounds=bounds, drafts=drafts, unbilled_tenant_ids=collector.unbilled)


def render_line(charge: Charge, bounds: MonthBounds, *, reverse_charge: bool) -> LineDraft:
    """One invoice line in the active language (the customer's)."""
    tenant, product, price = charge.tenant, charge.product, charge.price
    names = {"product": product.name, "tenant": tenant.name}
    if charge.kind == "setup":
        description = _("One-time set-up fee: %(product)s, tenant %(tenant)s") % names
        quantity, unit = Decimal("1.0000"), str(UNITS["C62"])
        unit_price, net = price.setup_fee, calc.money(price.setup_fee)
    elif charge.kind == "usage":
        pricing = next(p for p in USAGE_PRICING.values() if p.product_key == product.key)
        description = _(
            "%(product)s, tenant %(tenant)s: %(used)s mails sent, %(included)s included"
        ) % {
            **names,
            "used": number_format(charge.used, force_grouping=True),
            "included": number_format(charge.included, force_grouping=True),
        }
        quantity = (Decimal(charge.extra) / pricing.per_units).quantize(calc.QUANTITY_STEP)
        unit, unit_price = str(UNITS[pricing.unit_code]), price.unit_price
        net = calc.line_net(quantity, unit_price)
    else:
        days = charge.last_day - charge.first_day + 1
        if charge.kind == "per_tenant":
            assert charge.edition is not None
            description = _("Tenant management: sub-tenant %(tenant)s, %(edition)s") % {
                "tenant": tenant.name,
                "edition": charge.edition.name,
            }
        else:
            description = _("%(product)s, tenant %(tenant)s") % names
        if days < bounds.days:
            description = _("%(item)s (%(days)s of %(month_days)s days)") % {
                "item": description,
                "days": days,
                "month_days": bounds.days,
            }
        quantity = calc.month_fraction(days, bounds.days)
        unit, unit_price = str(UNITS["MON"]), price.monthly_fee
        net = calc.prorated_net(price.monthly_fee, days, bounds.days)
    return LineDraft(
        tenant_id=tenant.id,
        tenant_name=tenant.name,
        product_key=product.key,
        description=description[:300],
        service_start=bounds.day(charge.first_day),
        service_end=bounds.day(charge.last_day),
        quantity=quantity,
        unit=unit,
        unit_price=unit_price,
        net_amount=net,
        vat_rate=Decimal("0.00") if reverse_charge else price.vat_rate,
    )
