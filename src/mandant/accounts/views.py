from django.conf import settings
from django.contrib import messages
from django.contrib.auth import authenticate, login, logout
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import redirect, render
from django.utils import formats, timezone, translation
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST

from mandant.accounts import services, throttle
from mandant.accounts.forms import ApiKeyCreateForm, LoginForm
from mandant.accounts.roles import Action, Role
from mandant.accounts.selectors import (
    tenant_api_key,
    tenant_api_keys,
    tenant_inherited_members,
    tenant_members,
)
from mandant.core.errors import PermissionDenied
from mandant.core.web import actor_for, tenant_view
from mandant.tenants.selectors import actor_home_tenants


def _safe_next(request: HttpRequest, fallback: str) -> str:
    target = request.POST.get("next") or request.GET.get("next") or ""
    if url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return target
    return fallback


def _blocked_message(until: timezone.datetime) -> str:
    return _(
        "Too many failed attempts. For your security, signing in to this account from your "
        "network is blocked until %(time)s. You can still sign in from another network, "
        "or reset your password."
    ) % {"time": formats.time_format(timezone.localtime(until), "TIME_FORMAT")}


@require_http_methods(["GET", "POST"])
def login_view(request: HttpRequest) -> HttpResponse:
    if request.user.is_authenticated and request.method == "GET":
        return redirect("accounts:start")
    form = LoginForm(request.POST or None)
    status = 200
    if request.method == "POST":
        status = 400
        if form.is_valid():
            email = form.cleaned_data["email"]
            client = throttle.client_address(request)
            until = throttle.blocked_until(email=email, client=client)
            if until is not None:
                form.add_error(None, _blocked_message(until))
                status = 429
            else:
                user = authenticate(request, username=email, password=form.cleaned_data["password"])
                if user is None:
                    until = throttle.record_failure(email=email, client=client)
                    if until is not None:
                        form.add_error(None, _blocked_message(until))
                        status = 429
                    else:
                        form.add_error(
                            None,
                            _("The e-mail address or the password is not correct. "
                              "After 3 failed attempts in a row, sign-in is blocked "
                              "for 30 minutes."),
                        )
                        status = 401
                else:
                    throttle.record_success(email=email, client=client)
                    login(request, user)
                    response = HttpResponseRedirect(_safe_next(request, "/"))
                    response.set_cookie(
                        settings.LANGUAGE_COOKIE_NAME,
                        user.language,  # type: ignore[attr-defined]
                        max_age=settings.LANGUAGE_COOKIE_AGE,
                        samesite="Lax",
                        secure=getattr(settings, "LANGUAGE_COOKIE_SECURE", False),
                    )
                    return response
    return render(request, "accounts/login.html", {"form": form}, status=status)


@require_POST
def logout_view(request: HttpRequest) -> HttpResponse:
    logout(request)
    messages.info(request, _("You have been signed out."))
    return redirect("accounts:login")


@require_POST
def language_switch(request: HttpRequest) -> HttpResponse:
    language = request.POST.get("language", "")
    if language not in dict(settings.LANGUAGES):
        return HttpResponse(_("Unknown language."), status=400)
    if request.user.is_authenticated:
        services.user_set_language(user=request.user, language=language)  # type: ignore[arg-type]
    translation.activate(language)
    response = HttpResponseRedirect(_safe_next(request, "/"))
    response.set_cookie(
        settings.LANGUAGE_COOKIE_NAME,
        language,
        max_age=settings.LANGUAGE_COOKIE_AGE,
        samesite="Lax",
        secure=getattr(settings, "LANGUAGE_COOKIE_SECURE", False),
    )
    return response


def start(request: HttpRequest) -> HttpResponse:
    """After login: straight into the user's own tenant, or a choice when there are several."""
    if not request.user.is_authenticated:
        return redirect("accounts:login")
    homes = actor_home_tenants(actor_for(request))
    if len(homes) == 1:
        return redirect("tenants:home", homes[0][0].slug)
    if not homes and request.user.is_staff:
        return redirect("operator:dashboard")
    return redirect("accounts:my_tenants")


def my_tenants(request: HttpRequest) -> HttpResponse:
    if not request.user.is_authenticated:
        return redirect("accounts:login")
    homes = [(tenant, Role(role).label) for tenant, role in actor_home_tenants(actor_for(request))]
    return render(request, "accounts/my_tenants.html", {"homes": homes})


@tenant_view(Action.USER_LIST)
def setup_users(request: HttpRequest) -> HttpResponse:
    """Setup → Users (*Benutzer*): open by default when entering Setup."""
    tenant = request.tenant  # type: ignore[attr-defined]
    members = [(m, Role(m.role).label) for m in tenant_members(tenant=tenant)]
    inherited = [(m, Role(m.role).label) for m in tenant_inherited_members(tenant=tenant)]
    return render(request, "accounts/setup_users.html",
                  {"members": members, "inherited": inherited})


@tenant_view(Action.APIKEY_MANAGE)
@require_http_methods(["GET", "POST"])
def setup_api_keys(request: HttpRequest) -> HttpResponse:
    tenant = request.tenant  # type: ignore[attr-defined]
    form = ApiKeyCreateForm(request.POST or None)
    new_key = ""
    status = 200
    if request.method == "POST":
        if form.is_valid():
            try:
                _key, new_key = services.apikey_create(
                    actor=request.actor,  # type: ignore[attr-defined]
                    tenant=tenant,
                    name=form.cleaned_data["name"],
                )
                form = ApiKeyCreateForm()
            except PermissionDenied as exc:
                form.add_error(None, exc.message)
                status = 403
        else:
            status = 422
    return render(
        request,
        "accounts/setup_api_keys.html",
        {"form": form, "keys": tenant_api_keys(tenant=tenant), "new_key": new_key},
        status=status,
    )


@tenant_view(Action.APIKEY_MANAGE)
@require_POST
def revoke_api_key(request: HttpRequest, key_id: int) -> HttpResponse:
    tenant = request.tenant  # type: ignore[attr-defined]
    key = tenant_api_key(tenant=tenant, key_id=key_id)
    if key is None:
        raise Http404
    services.apikey_revoke(actor=request.actor, key=key)  # type: ignore[attr-defined]
    messages.success(request, _("The API key “%(name)s” has been revoked.") % {"name": key.name})
    return redirect("accounts:setup_api_keys", tenant.slug)
