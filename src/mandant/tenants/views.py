"""Tenant pages under ``/t/<slug>/``: parse, call a service or selector, render."""

import base64
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.core import signing
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_http_methods, require_POST

from mandant.accounts.roles import Action, role_allows
from mandant.core.errors import NotFound, PermissionDenied
from mandant.core.web import TenantRequest, apply_service_errors, request_may, tenant_view
from mandant.sending.readiness import is_ready, no_administrator_hint, tenant_readiness
from mandant.tenants import services
from mandant.tenants.forms import TenantCreateForm, TenantEditForm, TenantFilterForm, TenantLogoForm
from mandant.tenants.logo import logo_limits_text, process_logo
from mandant.tenants.models import Tenant, TenantStatus
from mandant.tenants.selectors import (
    handover_conditions,
    master_choices,
    tenant_list,
    tenant_management_active_for,
)

LOGO_KEPT_SALT = "mandant.tenants.logo-kept"


HANDOVER_HINTS = {
    "configured": gettext_lazy(
        "Waiting for our service staff: the tenant is on their list of CUSTOM tenants awaiting "
        "configuration."
    ),
    "administrator": gettext_lazy("No administrator yet: create administrator."),
    "administrator_ready": gettext_lazy(
        "Waiting for the administrator to accept the invitation or to confirm their e-mail "
        "address: see Setup → Users."
    ),
    "not_suspended": gettext_lazy(
        "A suspended tenant cannot be handed over. Please contact our service team."
    ),
}


def _home_page(request: TenantRequest, *, status: int = 200) -> HttpResponse:
    tenant: Tenant = request.tenant
    conditions = handover_conditions(tenant)
    # A role that may not create an administrator here gets no link to the page that would
    # refuse it (a partner in its own tenant, editors, viewers), but who can.
    may_create_administrator = request_may(request, Action.USER_CREATE_ADMINISTRATOR)
    facts = [
        {
            "key": condition.key,
            "label": condition.label,
            "ok": condition.ok,
            "hint": HANDOVER_HINTS.get(condition.key, ""),
            "url": condition.fix_url,
        }
        if condition.key != "administrator" or may_create_administrator
        else {
            "key": condition.key,
            "label": condition.label,
            "ok": condition.ok,
            "hint": no_administrator_hint(),
            "url": "",
        }
        for condition in conditions
    ]
    may_hand_over = request_may(request, Action.TENANT_HAND_OVER)
    has_administrator = next(fact["ok"] for fact in facts if fact["key"] == "administrator")
    send_checks = tenant_readiness(
        tenant, handover=conditions, may_create_administrator=may_create_administrator
    )
    return render(
        request,
        "tenants/home.html",
        {
            "facts": facts,
            "ready": all(fact["ok"] for fact in facts),
            # *Versendefähig*: the sending checklist (mandant.sending.readiness).
            "send_checks": send_checks,
            "ready_to_send": is_ready(send_checks),
            "may_hand_over": may_hand_over and tenant.status != TenantStatus.HANDED_OVER,
            # *Administrator anlegen*, offered while the tenant has none.
            "offer_create_administrator": not has_administrator and may_create_administrator,
        },
        status=status,
    )


@tenant_view()
def tenant_home(request: TenantRequest) -> HttpResponse:
    return _home_page(request)


@tenant_view(Action.TENANT_HAND_OVER)
@require_POST
def tenant_handover(request: TenantRequest) -> HttpResponse:
    """*An Kunden übergeben*: refused, with the unmet conditions, until the tenant is ready."""
    tenant: Tenant = request.tenant
    try:
        services.tenant_hand_over(actor=request.actor, tenant=tenant)
    except PermissionDenied as exc:
        messages.error(request, exc.message)
        return _home_page(request, status=403)
    except ValidationError as exc:
        messages.error(request, _("The tenant cannot be handed over yet."))
        for text in exc.messages:
            messages.error(request, text)
        return _home_page(request, status=409)
    messages.success(
        request, _("%(tenant)s has been handed over to the customer.") % {"tenant": tenant.name}
    )
    return redirect("tenants:home", tenant.slug)


@tenant_view()
def tenant_enter(request: TenantRequest) -> HttpResponse:
    services.tenant_enter(actor=request.actor, tenant=request.tenant)
    return redirect("tenants:home", request.tenant.slug)


@tenant_view()
def tenant_logo(request: TenantRequest) -> HttpResponse:
    tenant: Tenant = request.tenant
    if not tenant.has_logo:
        raise Http404
    response = HttpResponse(bytes(tenant.logo_png or b""), content_type="image/png")
    # The URL carries the logo version, so the image never changes under one URL.
    response["Cache-Control"] = "private, max-age=31536000, immutable"
    return response


@tenant_view()
def setup(request: TenantRequest) -> HttpResponse:
    return redirect("tenants:setup_users", request.tenant.slug)


@tenant_view(Action.UPGRADE_VIEW)
def setup_upgrades(request: TenantRequest) -> HttpResponse:
    """Setup → Upgrades: products, prices, what is active (billing); Tenant management is a
    tab of it."""
    from mandant.billing.views import upgrades_page

    return upgrades_page(request)


def _kept_logo(token: str) -> services.LogoUpload | None:
    if not token:
        return None
    try:
        payload = signing.loads(token, salt=LOGO_KEPT_SALT, max_age=3600)
    except signing.BadSignature:
        return None
    return services.LogoUpload(data=base64.b64decode(payload["data"]), filename=payload["name"])


def _keep_logo(upload: services.LogoUpload) -> str:
    payload = {"data": base64.b64encode(upload.data).decode(), "name": upload.filename}
    return signing.dumps(payload, salt=LOGO_KEPT_SALT, compress=True)


def _posted_logo(request: HttpRequest) -> services.LogoUpload | None:
    """The logo of this submission: a new upload, else the one kept from an earlier try."""
    file = request.FILES.get("logo")
    if file is not None:
        return services.LogoUpload.from_file(file)
    return _kept_logo(request.POST.get("logo_kept", ""))


def _keep_valid_logo(form: TenantCreateForm, upload: services.LogoUpload | None) -> str:
    """Keep a valid logo across an error page, so the user need not upload it again.

    Returns the preview (base64 PNG) for the page, or "" when there is nothing to keep.
    """
    if upload is None:
        return ""
    try:
        processed = process_logo(upload.data, upload.filename, upload.size)
    except ValidationError as exc:
        if "logo" not in form.errors:
            form.add_error("logo", exc)
        return ""
    data = form.data.copy()  # type: ignore[attr-defined]
    data["logo_kept"] = _keep_logo(upload)
    form.data = data
    return base64.b64encode(processed.png).decode()


@tenant_view()
@require_http_methods(["GET", "POST"])
def tenant_management(request: TenantRequest) -> HttpResponse:
    """Setup → Upgrades → Mandantenverwaltung: the creation form and the subtree list."""
    tenant: Tenant = request.tenant
    actor, grant = request.actor, request.grant
    may_create = role_allows(grant.role, Action.TENANT_CREATE_SUBTENANT)
    product_active = tenant_management_active_for(actor, grant)
    may_list = role_allows(grant.role, Action.TENANT_LIST_SUBTREE)
    form = None
    kept_logo_preview = ""
    if may_create and product_active:
        masters = master_choices(actor, tenant)
        if request.method == "POST":
            form = TenantCreateForm(request.POST, request.FILES, masters=masters)
            upload = _posted_logo(request)
            if not form.is_valid():
                kept_logo_preview = _keep_valid_logo(form, upload)
            else:
                data = form.cleaned_data
                master = next((m for m in masters if m.pk == data["master"]), None)
                try:
                    if master is None:
                        raise NotFound
                    new = services.tenant_create(
                        actor=actor,
                        name=data["name"],
                        type=data["type"],
                        version=data["version"],
                        master=master,
                        charset=data["charset"] or None,
                        logo=upload,
                    )
                except ValidationError as exc:
                    apply_service_errors(form, exc)
                    if "logo" not in getattr(exc, "error_dict", {}):
                        kept_logo_preview = _keep_valid_logo(form, upload)
                except PermissionDenied as exc:
                    form.add_error(None, exc.message)
                except NotFound:
                    form.add_error("master", _("Choose a master tenant from the list."))
                else:
                    return redirect("tenants:tenant_created", tenant.slug, new.slug)
        else:
            form = TenantCreateForm(masters=masters, initial={"master": tenant.pk})
    page = None
    # Its own ids: the create form on the same page has fields of the same names.
    filter_form = TenantFilterForm(request.GET or None, auto_id="filter_%s")
    if may_list:
        filters: dict[str, Any] = {}
        if filter_form.is_valid():
            filters = {k: v for k, v in filter_form.cleaned_data.items() if v}
        page = tenant_list(
            root=tenant,
            page=_page_number(request.GET.get("page")),
            page_size=settings.TENANT_LIST_PAGE_SIZE,
            **filters,
        )
    status = 422 if form is not None and form.errors else 200
    return render(
        request,
        "tenants/management.html",
        {
            "form": form,
            "may_create": may_create,
            "product_active": product_active,
            "page": page,
            "filter_form": filter_form,
            "logo_limits": logo_limits_text(),
            "kept_logo_preview": kept_logo_preview,
            "query_without_page": _query_without_page(request),
        },
        status=status,
    )


def _page_number(raw: str | None) -> int:
    """A bad page number shows the first page; it must not drop the search and filters."""
    try:
        return max(1, min(int(raw or 1), 10**7))
    except ValueError:
        return 1


def _query_without_page(request: HttpRequest) -> str:
    query = request.GET.copy()
    query.pop("page", None)
    return query.urlencode()


@tenant_view(Action.TENANT_CREATE_SUBTENANT)
def tenant_created(request: TenantRequest, new_slug: str) -> HttpResponse:
    from mandant.tenants.selectors import tenant_get_for_actor

    try:
        new, grant = tenant_get_for_actor(request.actor, slug=new_slug)
    except NotFound:
        raise Http404 from None
    return render(request, "tenants/created.html", {"new": new, "new_grant": grant})


@tenant_view(Action.TENANT_EDIT)
@require_http_methods(["GET", "POST"])
def tenant_settings(request: TenantRequest) -> HttpResponse:
    """Setup → Tenant: name, version, charset and logo of the current tenant."""
    tenant: Tenant = request.tenant
    actor = request.actor
    edit_form = TenantEditForm(
        initial={"name": tenant.name, "version": tenant.version, "charset": tenant.charset}
    )
    logo_form = TenantLogoForm()
    status = 200
    if request.method == "POST" and request.POST.get("form") == "details":
        edit_form = TenantEditForm(request.POST)
        if edit_form.is_valid():
            try:
                services.tenant_update(
                    actor=actor,
                    tenant=tenant,
                    name=edit_form.cleaned_data["name"],
                    version=edit_form.cleaned_data["version"],
                    charset=edit_form.cleaned_data["charset"] or None,
                )
            except ValidationError as exc:
                apply_service_errors(edit_form, exc)
            else:
                messages.success(request, _("The tenant has been saved."))
                return redirect("tenants:settings", tenant.slug)
        status = 422
    elif request.method == "POST" and request.POST.get("form") == "logo":
        logo_form = TenantLogoForm(request.POST, request.FILES)
        if logo_form.is_valid():
            try:
                if logo_form.cleaned_data["remove"]:
                    services.tenant_remove_logo(actor=actor, tenant=tenant)
                    messages.success(request, _("The logo has been removed."))
                    return redirect("tenants:settings", tenant.slug)
                upload = logo_form.cleaned_data["logo"]
                if upload is None:
                    logo_form.add_error("logo", _("Choose an image file to upload."))
                else:
                    services.tenant_set_logo(
                        actor=actor, tenant=tenant, logo=services.LogoUpload.from_file(upload)
                    )
                    messages.success(request, _("The logo has been saved."))
                    return redirect("tenants:settings", tenant.slug)
            except ValidationError as exc:
                apply_service_errors(logo_form, exc)
        status = 422
    return render(
        request,
        "tenants/settings.html",
        {"edit_form": edit_form, "logo_form": logo_form, "logo_limits": logo_limits_text()},
        status=status,
    )
