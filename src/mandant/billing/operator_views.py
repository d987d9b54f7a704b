"""Operator pages: the price list (products, prices with their history, conditions)."""

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.utils import formats, timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods

from mandant.billing import services
from mandant.billing.forms import ConditionsForm, PriceForm, ProductSettingsForm
from mandant.billing.models import Product
from mandant.billing.selectors import (
    conditions_history,
    current_conditions,
    price_history,
    price_list,
    price_on,
    product_by_key,
)
from mandant.core.errors import PermissionDenied
from mandant.core.web import OperatorRequest, apply_service_errors, operator_view


@operator_view
def products(request: OperatorRequest) -> HttpResponse:
    """The price list: every product with today's prices and its current conditions."""
    return render(request, "billing/operator_price_list.html", {"rows": price_list()})


def _forms(product: Product) -> dict[str, object]:
    current = price_on(product, timezone.localdate())
    conditions = current_conditions(product)
    return {
        "settings_form": ProductSettingsForm(
            initial={name: getattr(product, name) for name in services.PRODUCT_SETTINGS}
        ),
        "price_form": PriceForm(
            initial={
                "valid_from": timezone.localdate(),
                "monthly_fee": current.monthly_fee if current else 0,
                "setup_fee": current.setup_fee if current else 0,
                "unit_price": current.unit_price if current else 0,
                "unit_en": current.unit_en if current else "",
                "unit_de": current.unit_de if current else "",
                "vat_rate": current.vat_rate if current else 19,
            }
        ),
        "conditions_form": ConditionsForm(
            initial={
                "text_en": conditions.text_en if conditions else "",
                "text_de": conditions.text_de if conditions else "",
            }
        ),
    }


@operator_view
@require_http_methods(["GET", "POST"])
def product_detail(request: OperatorRequest, key: str) -> HttpResponse:
    """One product: its settings, a price change from a date, a new conditions version."""
    product = product_by_key(key)
    if product is None:
        raise Http404
    forms = _forms(product)
    status = 200
    which = request.POST.get("form", "")
    if request.method == "POST":
        form_class = {
            "settings": ProductSettingsForm,
            "price": PriceForm,
            "conditions": ConditionsForm,
        }.get(which)
        if form_class is None:
            raise Http404
        form = form_class(request.POST)
        forms[f"{which}_form"] = form
        if form.is_valid():
            data = form.cleaned_data
            try:
                if which == "settings":
                    services.product_update(actor=request.actor, product=product, **data)
                    messages.success(request, _("The product has been saved."))
                elif which == "price":
                    price = services.price_add(actor=request.actor, product=product, **data)
                    messages.success(
                        request,
                        _("The new prices apply from %(date)s.")
                        % {"date": formats.date_format(price.valid_from)},
                    )
                else:
                    version = services.conditions_publish(
                        actor=request.actor, product=product, **data
                    )
                    messages.success(
                        request,
                        _("Version %(version)s of the conditions is published.")
                        % {"version": version.version},
                    )
            except ValidationError as exc:
                apply_service_errors(form, exc)
            except PermissionDenied as exc:
                form.add_error(None, exc.message)
            else:
                return redirect("billing_operator:product", product.key)
        status = 422
    return render(
        request,
        "billing/operator_product.html",
        {
            "product": product,
            "prices": price_history(product),
            "conditions": conditions_history(product),
            "today": timezone.localdate(),
            **forms,
        },
        status=status,
    )
