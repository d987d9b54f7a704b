"""The arithmetic of invoices: pure functions on ``Decimal`` (no database, no clock).

Rounding — the rules the invoices follow (docs/invoices.md):

1. **Proration to the day.** A monthly fee in force on ``d`` of the ``D`` days of a month costs
   ``fee × d / D``, computed exactly (integer arithmetic on the fraction) and rounded half-up
   to cents once: that is the line's net amount. The quantity shown is ``d / D`` months,
   rounded half-up to four places (a whole month is exactly 1); the description names
   "d of D days", so the customer can recompute the amount exactly.
2. **Other lines** (set-up fees, usage): net = quantity × unit price, rounded half-up to cents.
3. **VAT per rate, not per line** (EN 16931 BT-116/BT-117, BR-CO-17): for each rate, the sum
   of the line nets of that rate × rate / 100, rounded half-up to cents.
4. **Totals:** net = Σ line nets (BT-106), VAT = Σ VAT per rate (BT-110), gross = net + VAT
   (BT-112). Nothing is rounded twice.

"Half-up" is ``ROUND_HALF_UP``: ties away from zero, so a cancellation invoice (every amount
negated) has exactly the negated totals of the original.
"""

from __future__ import annotations

import calendar
import re
from collections.abc import Callable, Hashable, Iterable
from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from fractions import Fraction
from typing import TypeVar

CENT = Decimal("0.01")
QUANTITY_STEP = Decimal("0.0001")
HUNDRED = Decimal(100)
ZERO = Decimal("0.00")

MONTH_PATTERN = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")


# --------------------------------------------------------------------------------------
# Months


def parse_month(text: str) -> tuple[int, int]:
    """``"2026-03"`` -> ``(2026, 3)``; ValueError for anything else."""
    match = MONTH_PATTERN.match(text.strip()) if isinstance(text, str) else None
    if match is None:
        raise ValueError(f"not a month (YYYY-MM): {text!r}")
    year, month = int(match.group(1)), int(match.group(2))
    if year < 2000:
        raise ValueError(f"not a billing month: {text!r}")
    return year, month


def month_key(year: int, month: int) -> str:
    return f"{year:04d}-{month:02d}"


def days_in_month(year: int, month: int) -> int:
    return calendar.monthrange(year, month)[1]


def month_bounds(year: int, month: int) -> tuple[date, date]:
    """The first and the last day of the month."""
    return date(year, month, 1), date(year, month, days_in_month(year, month))


def next_month(year: int, month: int) -> tuple[int, int]:
    return (year + 1, 1) if month == 12 else (year, month + 1)


def previous_month(day: date) -> str:
    """The month before the one containing ``day``: what a run on the 1st bills."""
    year, month = (day.year - 1, 12) if day.month == 1 else (day.year, day.month - 1)
    return month_key(year, month)


# --------------------------------------------------------------------------------------
# Rounding


def money(value: Decimal) -> Decimal:
    """Rounded half-up (away from zero) to cents."""
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


def round_fraction(value: Fraction, step: Decimal) -> Decimal:
    """An exact fraction rounded half-up (away from zero) to ``step`` (e.g. 0.01)."""
    places = -int(step.as_tuple().exponent)
    scaled = abs(value) * 10**places
    whole = int(scaled)  # floor, as scaled >= 0
    if scaled - whole >= Fraction(1, 2):
        whole += 1
    result = Decimal(whole).scaleb(-places)
    return -result if value < 0 else result


def prorated_net(monthly_fee: Decimal, days: int, month_days: int) -> Decimal:
    """``monthly_fee × days / month_days``, exact, rounded half-up to cents once."""
    if not 0 < days <= month_days:
        raise ValueError(f"days {days} outside 1..{month_days}")
    if days == month_days:
        return money(monthly_fee)
    return round_fraction(Fraction(monthly_fee) * days / month_days, CENT)


def month_fraction(days: int, month_days: int) -> Decimal:
    """The quantity shown for ``days`` of a month: 1 for the whole month, else four places."""
    if days == month_days:
        return Decimal("1.0000")
    return round_fraction(Fraction(days, month_days), QUANTITY_STEP)


def line_net(quantity: Decimal, unit_price: Decimal) -> Decimal:
    """Net amount of a line that is not prorated: quantity × unit price, to cents."""
    return money(quantity * unit_price)


# --------------------------------------------------------------------------------------
# VAT


# VAT category codes (UNTDID 5305) as EN 16931 uses them.
CATEGORY_STANDARD = "S"
CATEGORY_ZERO = "Z"
CATEGORY_REVERSE_CHARGE = "AE"
REVERSE_CHARGE_REASON_CODE = "VATEX-EU-AE"


@dataclass(frozen=True)
class TaxGroup:
    """One VAT rate of an invoice: the sum of its line nets and the tax on it."""

    rate: Decimal
    category: str
    net: Decimal
    tax: Decimal

    def as_json(self) -> dict[str, str]:
        data = {
            "rate": str(self.rate.quantize(CENT)),
            "category": self.category,
            "net": str(self.net),
            "tax": str(self.tax),
        }
        if self.category == CATEGORY_REVERSE_CHARGE:
            data["exemption_reason_code"] = REVERSE_CHARGE_REASON_CODE
            data["exemption_reason"] = "Reverse charge"
        return data


@dataclass(frozen=True)
class Totals:
    groups: tuple[TaxGroup, ...]
    net: Decimal
    tax: Decimal
    gross: Decimal

    def breakdown(self) -> list[dict[str, str]]:
        return [group.as_json() for group in self.groups]


def tax_on(net: Decimal, rate: Decimal) -> Decimal:
    return money(net * rate / HUNDRED)


def invoice_totals(lines: Iterable[tuple[Decimal, Decimal]], *, reverse_charge: bool) -> Totals:
    """Totals of ``(vat_rate, net_amount)`` lines: VAT per rate on the sum of that rate's line
    nets (rates in descending order). Under reverse charge every line has rate 0 and the
    category AE (no German VAT; the recipient accounts for it)."""
    by_rate: dict[Decimal, Decimal] = {}
    for rate, net in lines:
        key = Decimal(0) if reverse_charge else Decimal(rate)
        by_rate[key] = by_rate.get(key, ZERO) + Decimal(net)
    groups = []
    for rate in sorted(by_rate, reverse=True):
        net = money(by_rate[rate])
        if reverse_charge:
            category = CATEGORY_REVERSE_CHARGE
        else:
            category = CATEGORY_STANDARD if rate > 0 else CATEGORY_ZERO
        groups.append(TaxGroup(rate=rate, category=category, net=net, tax=tax_on(net, rate)))
    net_total = money(sum((g.net for g in groups), ZERO))
    tax_total = money(sum((g.tax for g in groups), ZERO))
    return Totals(groups=tuple(groups), net=net_total, tax=tax_total, gross=net_total + tax_total)


# --------------------------------------------------------------------------------------
# Who the customer is


# Member states of the EU (ISO 3166-1 alpha-2; Greece is "GR" here, "EL" in VAT IDs).
EU_COUNTRIES = frozenset(
    {
        *("AT", "BE", "BG", "CY", "CZ", "DE", "DK", "EE", "ES", "FI", "FR", "GR", "HR", "HU"),
        *("IE", "IT", "LT", "LU", "LV", "MT", "NL", "PL", "PT", "RO", "SE", "SI", "SK"),
    }
)
# Customers in these countries get their invoice texts in German, everyone else in English.
GERMAN_SPEAKING = frozenset({"DE", "AT", "CH", "LI"})

REVERSE_CHARGE_NOTE = (
    "Steuerschuldnerschaft des Leistungsempfängers (Reverse Charge) – "
    "Reverse charge: VAT to be accounted for by the recipient of the service "
    "(Art. 196 Council Directive 2006/112/EC)."
)


def reverse_charge_applies(country: str, vat_id: str, *, supplier_country: str = "DE") -> bool:
    """A business customer in another EU member state (it has a VAT ID) owes the VAT itself
    (§ 13b UStG, Art. 196 VAT Directive): the invoice carries 0 % and the note."""
    country = (country or "").strip().upper()
    return (
        country in EU_COUNTRIES
        and country != supplier_country.strip().upper()
        and bool((vat_id or "").strip())
    )


def customer_language(country: str) -> str:
    """The language of the invoice texts: German for DE/AT/CH/LI, English otherwise."""
    return "de" if (country or "").strip().upper() in GERMAN_SPEAKING else "en"


def address_lines(text: str) -> list[str]:
    """An address as lines; "\\n" written literally (environment variables) splits too."""
    return [line.strip() for line in (text or "").replace("\\n", "\n").splitlines() if line.strip()]


# --------------------------------------------------------------------------------------
# Days


K = TypeVar("K", bound=Hashable)


def day_runs(days: Iterable[int], key: Callable[[int], K]) -> list[tuple[int, int, K]]:
    """Maximal runs of consecutive days with the same ``key`` (e.g. the price valid on the
    day): ``[(first, last, key), ...]`` in order. A gap or a new key starts a new run."""
    runs: list[tuple[int, int, K]] = []
    for day in sorted(set(days)):
        value = key(day)
        if runs and runs[-1][1] == day - 1 and runs[-1][2] == value:
            first, _last, _value = runs[-1]
            runs[-1] = (first, day, value)
        else:
            runs.append((day, day, value))
    return runs
