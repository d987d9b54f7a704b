"""Setup → Upgrades inside a tenant: parse, call a service or selector, render.

The overview itself is ``upgrades_page``, rendered by ``tenants.views.setup_upgrades`` (the
URL ``/t/<slug>/setup/upgrades/`` belongs to the tenants app, with Tenant management as a tab).
"""

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import formats, timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods

from mandant.accounts.roles import Action
from mandant.billing import services
from mandant.billing.features import EDITION_LIMITS, LIMITS, feature_limit
from mandant.billing.forms import ActivationForm
from mandant.billing.models import Product
from mandant.billing.selectors import (
    activation_history,
    activation_in_force,
    activation_refusal,
    activation_role_text,
    current_conditions,
    last_day_in_force,
    may_activate,
    may_see_history,
    never_had,
    period_end,
    price_on,
    product_by_key,
    tenant_upgrades,
)
from mandant.core.errors import PermissionDenied, is_conflict
from mandant.core.web import TenantRequest, tenant_view
from mandant.tenants.models import Tenant

SECTION = {"section": "upgrades"}


def client_ip(request: HttpRequest) -> str | None:
    # Behind a proxy, configure it to set REMOTE_ADDR (as for the login throttle).
    return request.META.get("REMOTE_ADDR") or None


def upgrades_page(request: TenantRequest) -> HttpResponse:
    tenant: Tenant = request.tenant
    grant = request.grant
    limits = [
        {"label": label, "value": feature_limit(tenant, key)}
        for key, label in LIMITS.items()
        if key in EDITION_LIMITS.get(tenant.version, {})
    ]
    history = activation_history(tenant) if may_see_history(grant, tenant) else None
    return render(
        request,
        "billing/upgrades.html",
        {
            **SECTION,
            "upgrades": tenant_upgrades(tenant, grant),
            "limits": limits,
            "history": history,
        },
    )


def _activatable_product(key: str) -> Product:
    product = product_by_key(key)
    if product is None or not product.activatable:
        raise Http404
    return product


def _activation_page(
    request: TenantRequest,
    product: Product,
    form: ActivationForm | None,
    *,
    status: int = 200,
    refusal: str = "",
    warning: str = "",
) -> HttpResponse:
    tenant: Tenant = request.tenant
    conditions = current_conditions(product)
    current = activation_in_force(tenant, product)
    reason = refusal or activation_refusal(request.grant, tenant, product)
    if form is None and conditions is not None:
        form = ActivationForm(initial={"conditions_version": conditions.version})
    return render(
        request,
        "billing/activate.html",
        {
            **SECTION,
            "product": product,
            "price": price_on(product, timezone.localdate()),
            "conditions": conditions,
            "conditions_text": conditions.text_for(request.LANGUAGE_CODE) if conditions else "",
            "form": None if reason else form,
            "reason": reason,
            "warning": warning,
            "current": current,
            "trial": product.trial_days > 0 and current is None and never_had(tenant, product),
            "resume": current is not None and not current.trial and current.ends_at is not None,
            "convert": current is not None and current.trial,
            "deactivation_end": last_day_in_force(period_end(timezone.now())),
        },
        status=status,
    )


@tenant_view(Action.UPGRADE_VIEW)
@require_http_methods(["GET", "POST"])
def upgrade_activate(request: TenantRequest, product: str) -> HttpResponse:
    """The confirmation step: conditions and prices, explicit acceptance, then activation."""
    item = _activatable_product(product)
    if request.method == "GET":
        return _activation_page(request, item, None)
    form = ActivationForm(request.POST)
    if not form.is_valid():
        return _activation_page(request, item, form, status=422)
    try:
        outcome = services.product_activate(
            actor=request.actor,
            tenant=request.tenant,
            product_key=item.key,
            accepted_conditions_version=form.cleaned_data["conditions_version"],
            client_ip=client_ip(request),
        )
    except PermissionDenied as exc:
        return _activation_page(request, item, form, status=403, refusal=exc.message)
    except ValidationError as exc:
        if is_conflict(exc):
            return _activation_page(request, item, form, status=409, refusal=" ".join(exc.messages))
        # The conditions changed since the page was shown (or the product cannot be
        # activated): show the current ones, to be read and accepted anew.
        return _activation_page(request, item, None, status=422, warning=" ".join(exc.messages))
    activation = outcome.activation
    if activation.trial and activation.ends_at is not None:
        messages.success(
            request,
            _(
                "“%(product)s” is active: your free trial runs until %(date)s. The conditions "
                "are on their way to you by e-mail."
            )
            % {
                "product": item.name,
                "date": formats.date_format(last_day_in_force(activation.ends_at)),
            },
        )
    else:
        messages.success(
            request,
            _("“%(product)s” is active. The conditions are on their way to you by e-mail.")
            % {"product": item.name},
        )
    return redirect("tenants:setup_upgrades", request.tenant.slug)


@tenant_view(Action.UPGRADE_VIEW)
@require_http_methods(["GET", "POST"])
def upgrade_deactivate(request: TenantRequest, product: str) -> HttpResponse:
    item = _activatable_product(product)
    tenant: Tenant = request.tenant
    current = activation_in_force(tenant, item)
    status = 200
    refusal = ""
    if request.method == "POST":
        try:
            activation = services.product_deactivate(
                actor=request.actor, tenant=tenant, product_key=item.key
            )
        except PermissionDenied as exc:
            refusal, status = exc.message, 403
        except ValidationError as exc:
            refusal, status = " ".join(exc.messages), 409
        else:
            if activation.ended_at is not None:
                messages.success(
                    request, _("“%(product)s” is deactivated.") % {"product": item.name}
                )
            else:
                assert activation.ends_at is not None
                messages.success(
                    request,
                    _("“%(product)s” stays active until %(date)s and ends then.")
                    % {
                        "product": item.name,
                        "date": formats.date_format(last_day_in_force(activation.ends_at)),
                    },
                )
            return redirect("tenants:setup_upgrades", tenant.slug)
    elif not may_activate(request.grant, tenant, item):
        refusal = _("Deactivating “%(product)s” needs the role %(role)s.") % {
            "product": item.name,
            "role": activation_role_text(item),
        }
    elif current is None:
        refusal = _("“%(product)s” is not active in this tenant.") % {"product": item.name}
    immediate = current is not None and (current.trial or item.deactivation_mode == "immediate")
    return render(
        request,
        "billing/deactivate.html",
        {
            **SECTION,
            "product": item,
            "current": current,
            "refusal": refusal,
            "immediate": immediate,
            "pending": current is not None and not current.trial and current.ends_at is not None,
            "ends_on": last_day_in_force(
                current.ends_at
                if current is not None and current.ends_at
                else period_end(timezone.now())
            ),
        },
        status=status,
    )
