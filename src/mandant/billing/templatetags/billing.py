"""Money in templates: EUR amounts and VAT rates, formatted for the active language."""

from decimal import Decimal

from django import template
from django.utils.formats import number_format

register = template.Library()


@register.filter
def eur(value: Decimal | int | None) -> str:
    """``29.00 €`` / ``29,00 €``; a price per unit keeps up to four decimal places."""
    if value is None:
        return "—"
    amount = Decimal(value)
    places = 2 if amount == amount.quantize(Decimal("0.01")) else 4
    return f"{number_format(amount, places, use_l10n=True, force_grouping=True)}\u00a0€"


@register.filter
def percent(value: Decimal | int | None) -> str:
    """``19 %`` / ``7,5 %``."""
    if value is None:
        return "—"
    amount = Decimal(value).normalize()
    places = max(0, -amount.as_tuple().exponent)  # type: ignore[operator]
    return f"{number_format(amount, places, use_l10n=True)}\u00a0%"


@register.filter
def per_unit(price: object) -> str:
    """``1.50 € / 1,000 mails``; only the unit's text when there is no price per unit (e.g.
    "per sub-tenant: the monthly fee of its edition")."""
    unit = getattr(price, "unit", "")
    amount = getattr(price, "unit_price", None)
    if amount:
        return f"{eur(amount)} / {unit}" if unit else eur(amount)
    return str(unit)
