"""Invoices in templates: quantities, dates and countries on the documents; whether the Setup
menu offers Billing."""

from datetime import date
from decimal import Decimal
from typing import Any

from django import template
from django.utils import dateformat, translation
from django.utils.formats import number_format
from django.utils.translation import gettext_lazy as _

from mandant.invoicing import selectors

register = template.Library()

# Countries of customers, for the last line of an address abroad.
COUNTRY_NAMES = {
    "AT": _("Austria"),
    "BE": _("Belgium"),
    "BG": _("Bulgaria"),
    "CH": _("Switzerland"),
    "CY": _("Cyprus"),
    "CZ": _("Czechia"),
    "DE": _("Germany"),
    "DK": _("Denmark"),
    "EE": _("Estonia"),
    "ES": _("Spain"),
    "FI": _("Finland"),
    "FR": _("France"),
    "GB": _("United Kingdom"),
    "GR": _("Greece"),
    "HR": _("Croatia"),
    "HU": _("Hungary"),
    "IE": _("Ireland"),
    "IS": _("Iceland"),
    "IT": _("Italy"),
    "LI": _("Liechtenstein"),
    "LT": _("Lithuania"),
    "LU": _("Luxembourg"),
    "LV": _("Latvia"),
    "MT": _("Malta"),
    "NL": _("Netherlands"),
    "NO": _("Norway"),
    "PL": _("Poland"),
    "PT": _("Portugal"),
    "RO": _("Romania"),
    "SE": _("Sweden"),
    "SI": _("Slovenia"),
    "SK": _("Slovakia"),
    "US": _("United States"),
}


@register.filter
def country_name(code: str) -> str:
    return str(COUNTRY_NAMES.get(code.upper(), code.upper()))


@register.filter
def quantity(value: Decimal | int | None) -> str:
    """``1``, ``0.5161`` / ``0,5161``: up to four places, without trailing zeros."""
    if value is None:
        return ""
    amount = Decimal(value).quantize(Decimal("0.0001")).normalize()
    places = max(0, -amount.as_tuple().exponent)  # type: ignore[operator]
    return number_format(amount, places, use_l10n=True, force_grouping=True)


@register.filter
def doc_date(value: date | None) -> str:
    """A date on an invoice: ``31.01.2026`` in German, ``31 Jan 2026`` in English."""
    if value is None:
        return ""
    language = translation.get_language() or "en"
    return dateformat.format(value, "d.m.Y" if language.startswith("de") else "j M Y")


@register.simple_tag(takes_context=True)
def may_view_invoices(context: dict[str, Any]) -> bool:
    """Whether the acting role may open Setup → Billing in the current tenant."""
    grant, tenant = context.get("grant"), context.get("tenant")
    return tenant is not None and selectors.may_view_invoices(grant, tenant)
