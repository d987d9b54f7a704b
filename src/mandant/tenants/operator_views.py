"""Operator pages (service staff): CUSTOM tenants awaiting configuration, products, outbox."""

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from mandant.core.web import operator_view
from mandant.notices.selectors import outbox_message, outbox_messages
from mandant.tenants import services
from mandant.tenants.models import Tenant
from mandant.tenants.selectors import (
    partner_tenants,
    tenant_by_id,
    tenants_awaiting_configuration,
)


def _tenant_or_404(tenant_id: int) -> Tenant:
    tenant = tenant_by_id(tenant_id)
    if tenant is None:
        raise Http404
    return tenant


@operator_view
def dashboard(request: HttpRequest) -> HttpResponse:
    return render(
        request,
        "operator/dashboard.html",
        {"awaiting": tenants_awaiting_configuration(), "partners": partner_tenants()},
    )


@operator_view
@require_POST
def mark_configured(request: HttpRequest, tenant_id: int) -> HttpResponse:
    tenant = _tenant_or_404(tenant_id)
    services.tenant_mark_configured(actor=request.actor, tenant=tenant)  # type: ignore[attr-defined]
    messages.success(request, _("“%(name)s” is marked as configured.") % {"name": tenant.name})
    return redirect("operator:dashboard")


@operator_view
@require_POST
def set_management(request: HttpRequest, tenant_id: int) -> HttpResponse:
    tenant = _tenant_or_404(tenant_id)
    active = request.POST.get("active") == "1"
    services.tenant_set_management_active(
        actor=request.actor, tenant=tenant, active=active  # type: ignore[attr-defined]
    )
    messages.success(request, _("Tenant management for “%(name)s” is now %(state)s.") % {
        "name": tenant.name, "state": _("active") if active else _("inactive")})
    return redirect("operator:dashboard")


@operator_view
def outbox(request: HttpRequest) -> HttpResponse:
    return render(request, "operator/outbox.html", {"messages_list": outbox_messages()})


@operator_view
def outbox_detail(request: HttpRequest, message_id: int) -> HttpResponse:
    message = outbox_message(message_id)
    if message is None:
        raise Http404
    return render(request, "operator/outbox_detail.html", {"message": message})
