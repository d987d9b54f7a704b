"""Setup → Sending: parse, call a service or selector, render."""

from typing import Any

from django import forms
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from mandant.accounts.roles import Action
from mandant.core.errors import NotFound, PermissionDenied
from mandant.core.web import TenantRequest, apply_service_errors, tenant_view
from mandant.sending import selectors, services
from mandant.sending.forms import DomainAddForm, PostalAddressForm, SenderIdentityForm
from mandant.sending.models import SenderIdentity, SendingDomain

RECORD_LABELS = {"spf": "SPF", "dkim": "DKIM", "dmarc": "DMARC"}


def _page(
    request: TenantRequest,
    *,
    status: int = 200,
    **forms_override: forms.Form,
) -> HttpResponse:
    tenant = request.tenant
    address = selectors.postal_address_get(tenant)
    domains = [
        {
            "domain": domain,
            "rows": [
                {
                    "record": record,
                    "label": RECORD_LABELS[record.key],
                    "result": domain.check_results.get(record.key),
                }
                for record in selectors.domain_records(domain)
            ],
        }
        for domain in selectors.domain_list(tenant)
    ]
    context: dict[str, Any] = {
        "section": "sending",
        "domains": domains,
        "identities": list(selectors.identity_list(tenant).select_related("domain")),
        "postal_address": address,
        "domain_form": forms_override.get("domain_form") or DomainAddForm(),
        "identity_form": forms_override.get("identity_form")
        or SenderIdentityForm(initial={"alias": tenant.name}),
        "address_form": forms_override.get("address_form")
        or PostalAddressForm(
            initial={
                "company_name": address.company_name,
                "street": address.street,
                "postal_code": address.postal_code,
                "city": address.city,
                "country": address.country,
            }
            if address
            else {"company_name": tenant.name, "country": "DE"}
        ),
    }
    return render(request, "sending/setup.html", context, status=status)


def _domain(request: TenantRequest, domain_id: int) -> SendingDomain:
    try:
        return selectors.domain_get(request.tenant, domain_id)
    except NotFound:
        raise Http404 from None


def _identity(request: TenantRequest, identity_id: int) -> SenderIdentity:
    try:
        return selectors.identity_get(request.tenant, identity_id)
    except NotFound:
        raise Http404 from None


@tenant_view(Action.SENDING_VIEW)
@require_GET
def sending_setup(request: TenantRequest) -> HttpResponse:
    return _page(request)


@tenant_view(Action.SENDING_MANAGE)
@require_POST
def domain_add(request: TenantRequest) -> HttpResponse:
    form = DomainAddForm(request.POST)
    if form.is_valid():
        try:
            row = services.domain_add(
                actor=request.actor, tenant=request.tenant, domain=form.cleaned_data["domain"]
            )
        except ValidationError as exc:
            apply_service_errors(form, exc)
        else:
            messages.success(
                request,
                _("%(domain)s was added. Publish the DNS records below, then check them.")
                % {"domain": row.domain},
            )
            return redirect(_setup_url(request) + f"#domain-{row.pk}")
    return _page(request, status=422, domain_form=form)


@tenant_view(Action.SENDING_MANAGE)
@require_POST
def domain_check(request: TenantRequest, domain_id: int) -> HttpResponse:
    row = services.domain_check(
        actor=request.actor, tenant=request.tenant, sending_domain=_domain(request, domain_id)
    )
    if row.is_verified:
        messages.success(request, _("%(domain)s is verified.") % {"domain": row.domain})
    else:
        messages.warning(
            request,
            _("%(domain)s is not verified yet: see the records marked below.")
            % {"domain": row.domain},
        )
    return redirect(_setup_url(request) + f"#domain-{row.pk}")


@tenant_view(Action.SENDING_VERIFY_WITHOUT_DNS)
@require_POST
def domain_verify_without_dns(request: TenantRequest, domain_id: int) -> HttpResponse:
    row = _domain(request, domain_id)
    try:
        row = services.domain_verify_without_dns(
            actor=request.actor, tenant=request.tenant, sending_domain=row
        )
    except PermissionDenied as exc:
        messages.error(request, exc.message)
        return _page(request, status=403)
    messages.success(
        request, _("%(domain)s was marked verified without DNS.") % {"domain": row.domain}
    )
    return redirect(_setup_url(request) + f"#domain-{row.pk}")


@tenant_view(Action.SENDING_MANAGE)
@require_POST
def domain_remove(request: TenantRequest, domain_id: int) -> HttpResponse:
    row = _domain(request, domain_id)
    try:
        services.domain_remove(actor=request.actor, tenant=request.tenant, sending_domain=row)
    except ValidationError as exc:
        for text in exc.messages:
            messages.error(request, text)
        return _page(request, status=409)
    messages.success(request, _("%(domain)s was removed.") % {"domain": row.domain})
    return redirect(_setup_url(request))


@tenant_view(Action.SENDING_MANAGE)
@require_POST
def identity_create(request: TenantRequest) -> HttpResponse:
    form = SenderIdentityForm(request.POST)
    if form.is_valid():
        try:
            services.sender_identity_create(
                actor=request.actor, tenant=request.tenant, **form.cleaned_data
            )
        except ValidationError as exc:
            apply_service_errors(form, exc)
        else:
            messages.success(request, _("The sender identity was saved."))
            return redirect(_setup_url(request) + "#identities")
    return _page(request, status=422, identity_form=form)


@tenant_view(Action.SENDING_MANAGE)
@require_http_methods(["GET", "POST"])
def identity_edit(request: TenantRequest, identity_id: int) -> HttpResponse:
    identity = _identity(request, identity_id)
    status = 200
    if request.method == "POST":
        form = SenderIdentityForm(request.POST)
        if form.is_valid():
            try:
                services.sender_identity_update(
                    actor=request.actor,
                    tenant=request.tenant,
                    identity=identity,
                    **form.cleaned_data,
                )
            except ValidationError as exc:
                apply_service_errors(form, exc)
            else:
                messages.success(request, _("The sender identity was saved."))
                return redirect(_setup_url(request) + "#identities")
        status = 422
    else:
        form = SenderIdentityForm(
            initial={
                "from_address": identity.from_address,
                "alias": identity.alias,
                "reply_to": identity.reply_to,
            }
        )
    return render(
        request,
        "sending/identity_edit.html",
        {"section": "sending", "identity": identity, "form": form},
        status=status,
    )


@tenant_view(Action.SENDING_MANAGE)
@require_POST
def identity_delete(request: TenantRequest, identity_id: int) -> HttpResponse:
    identity = _identity(request, identity_id)
    services.sender_identity_delete(actor=request.actor, tenant=request.tenant, identity=identity)
    messages.success(request, _("%(address)s was removed.") % {"address": identity.from_address})
    return redirect(_setup_url(request) + "#identities")


@tenant_view(Action.SENDING_MANAGE)
@require_POST
def postal_address(request: TenantRequest) -> HttpResponse:
    form = PostalAddressForm(request.POST)
    if form.is_valid():
        try:
            services.postal_address_save(
                actor=request.actor, tenant=request.tenant, **form.cleaned_data
            )
        except ValidationError as exc:
            apply_service_errors(form, exc)
        else:
            messages.success(request, _("The postal address was saved."))
            return redirect(_setup_url(request) + "#postal-address")
    return _page(request, status=422, address_form=form)


def _setup_url(request: TenantRequest) -> str:
    return reverse("sending:setup", args=[request.tenant.slug])
