from collections.abc import Callable

from django import forms
from django.conf import settings
from django.contrib import messages
from django.contrib.auth import authenticate, logout
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import translation
from django.utils.cache import add_never_cache_headers
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_http_methods, require_POST

from mandant.accounts import security, security_views, services, throttle
from mandant.accounts.forms import (
    AdministratorCreateForm,
    ApiKeyCreateForm,
    InvitationAcceptForm,
    LoginForm,
    RoleChangeForm,
    UserInviteForm,
)
from mandant.accounts.models import Invitation, User
from mandant.accounts.roles import MEMBERSHIP_ROLE_CHOICES, Action, Role
from mandant.accounts.selectors import (
    InvitationProblem,
    invitation_for_token,
    tenant_active_administrator_count,
    tenant_api_key,
    tenant_api_keys,
    tenant_inherited_user_rows,
    tenant_member,
    tenant_user_row,
    tenant_user_rows,
)
from mandant.accounts.verification import email_verification_confirm, email_verification_user
from mandant.core.errors import NotFound, PermissionDenied, is_conflict
from mandant.core.web import TenantRequest, actor_for, apply_service_errors, tenant_view
from mandant.tenants.models import Tenant
from mandant.tenants.selectors import actor_home_tenants


def _safe_next(request: HttpRequest, fallback: str) -> str:
    target = request.POST.get("next") or request.GET.get("next") or ""
    if url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return target
    return fallback


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
                form.add_error(None, security_views.blocked_message(until))
                status = 429
            else:
                user = authenticate(request, username=email, password=form.cleaned_data["password"])
                if user is None:
                    until = throttle.record_failure(email=email, client=client)
                    if until is not None:
                        form.add_error(None, security_views.blocked_message(until))
                        status = 429
                    else:
                        form.add_error(
                            None,
                            _(
                                "The e-mail address or the password is not correct. "
                                "After 3 failed attempts in a row, sign-in is blocked "
                                "for 30 minutes."
                            ),
                        )
                        status = 401
                elif security.user_has_second_factor(user):
                    # Not logged in yet: the failure count stays until the code is right too.
                    return security_views.start_second_factor(
                        request, user, next_url=_safe_next(request, "/")
                    )
                else:
                    throttle.record_success(email=email, client=client)
                    # Sends a user who must change the password or set up a second factor
                    # straight there.
                    return security_views.finish_login(
                        request, user, next_url=_safe_next(request, "/")
                    )
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
        services.user_set_language(user=request.user, language=language)
    translation.activate(language)
    response = HttpResponseRedirect(_safe_next(request, "/"))
    security_views.set_language_cookie(response, language)
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


@tenant_view(Action.APIKEY_MANAGE)
@require_http_methods(["GET", "POST"])
def setup_api_keys(request: TenantRequest) -> HttpResponse:
    tenant = request.tenant
    form = ApiKeyCreateForm(request.POST or None)
    new_key = ""
    status = 200
    if request.method == "POST":
        if form.is_valid():
            try:
                _key, new_key = services.apikey_create(
                    actor=request.actor,
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
def revoke_api_key(request: TenantRequest, key_id: int) -> HttpResponse:
    tenant = request.tenant
    key = tenant_api_key(tenant=tenant, key_id=key_id)
    if key is None:
        raise Http404
    services.apikey_revoke(actor=request.actor, key=key)
    messages.success(request, _("The API key “%(name)s” has been revoked.") % {"name": key.name})
    return redirect("accounts:setup_api_keys", tenant.slug)


# --- Setup → Users: the tenant's users and their management --------------------------------


def _error_status(error: ValidationError) -> int:
    return 409 if is_conflict(error) else 422


def _users_page(request: TenantRequest, *, status: int = 200) -> HttpResponse:
    tenant = request.tenant
    rows = tenant_user_rows(tenant=tenant)
    return render(
        request,
        "accounts/setup_users.html",
        {
            "section": "users",
            "rows": rows,
            "inherited_rows": tenant_inherited_user_rows(tenant=tenant),
            "has_administrator": any(
                r.is_administrator and r.status != "deactivated" for r in rows
            ),
            "role_choices": MEMBERSHIP_ROLE_CHOICES,
            "administrators_max": services.ADMINISTRATORS_RECOMMENDED_MAX,
        },
        status=status,
    )


@tenant_view(Action.USER_LIST)
def setup_users(request: TenantRequest) -> HttpResponse:
    """Setup → Users (*Benutzer*): open by default when entering Setup."""
    return _users_page(request)


def _user_form_page(
    request: TenantRequest, *, form_class: type[forms.Form], role: int | None, template: str
) -> HttpResponse:
    tenant = request.tenant
    initial = {"language": translation.get_language() or settings.LANGUAGE_CODE}
    form = form_class(request.POST or None, initial=initial)
    status = 200
    if request.method == "POST":
        status = 422
        if form.is_valid():
            data = form.cleaned_data
            try:
                result = services.user_add(
                    actor=request.actor,
                    tenant=tenant,
                    email=data["email"],
                    first_name=data["first_name"],
                    last_name=data["last_name"],
                    language=data["language"],
                    role=role if role is not None else data["role"],
                    method=data.get("method") or services.HandOverMethod.INVITATION,
                    password=data.get("password") or None,
                )
            except ValidationError as exc:
                apply_service_errors(form, exc)
                status = _error_status(exc)
                if "password" in form.errors:
                    # A refused password is not kept: it must not be used.
                    data = request.POST.copy()
                    data["password"] = ""
                    form.data = data
            except PermissionDenied as exc:
                form.add_error(None, exc.message)
                status = 403
            else:
                for warning in result.warnings:
                    messages.warning(request, warning)
                url = reverse("tenants:user_added", args=[tenant.slug, result.user.pk])
                return redirect(f"{url}?outcome={result.outcome}")
    return render(
        request,
        template,
        {
            "section": "users",
            "form": form,
            "administrators": tenant_active_administrator_count(tenant=tenant),
            "administrators_max": services.ADMINISTRATORS_RECOMMENDED_MAX,
        },
        status=status,
    )


@tenant_view(Action.USER_MANAGE)
@require_http_methods(["GET", "POST"])
def user_invite(request: TenantRequest) -> HttpResponse:
    return _user_form_page(
        request, form_class=UserInviteForm, role=None, template="accounts/user_invite.html"
    )


@tenant_view(Action.USER_CREATE_ADMINISTRATOR)
@require_http_methods(["GET", "POST"])
def create_administrator(request: TenantRequest) -> HttpResponse:
    """*Administrator anlegen*: the customer's responsible user, by invitation or password."""
    return _user_form_page(
        request,
        form_class=AdministratorCreateForm,
        role=Role.ADMINISTRATOR,
        template="accounts/create_administrator.html",
    )


@tenant_view(Action.USER_MANAGE)
def user_added(request: TenantRequest, user_id: int) -> HttpResponse:
    """After adding a user: what happened and, for an initial password, how to pass it on."""
    tenant = request.tenant
    row = tenant_user_row(tenant=tenant, user_id=user_id)
    if row is None:
        raise Http404
    outcome = request.GET.get("outcome", "")
    if outcome not in services.AddOutcome.values:
        outcome = ""
    return render(
        request,
        "accounts/user_added.html",
        {
            "section": "users",
            "row": row,
            "outcome": outcome,
            "valid_hours": services.INVITATION_VALID_HOURS,
        },
    )


def _user_action(request: TenantRequest, user_id: int, call: Callable[[], str]) -> HttpResponse:
    """Run a user action; errors re-render the list with the message and a 4xx status."""
    tenant = request.tenant
    if tenant_member(tenant=tenant, user_id=user_id) is None:
        raise Http404
    try:
        message = call()
    except NotFound:
        raise Http404 from None
    except PermissionDenied as exc:
        messages.error(request, exc.message)
        return _users_page(request, status=403)
    except ValidationError as exc:
        for text in exc.messages:
            messages.error(request, text)
        return _users_page(request, status=_error_status(exc))
    messages.success(request, message)
    return redirect("tenants:setup_users", tenant.slug)


@tenant_view(Action.USER_MANAGE)
@require_POST
def user_role(request: TenantRequest, user_id: int) -> HttpResponse:
    form = RoleChangeForm(request.POST)

    def call() -> str:
        if not form.is_valid():
            raise ValidationError(
                _("Choose one of the roles: %(roles)s.")
                % {"roles": ", ".join(str(label) for _value, label in MEMBERSHIP_ROLE_CHOICES)},
                code="invalid_choice",
            )
        membership, warnings = services.membership_change_role(
            actor=request.actor,
            tenant=request.tenant,
            user_id=user_id,
            role=form.cleaned_data["role"],
        )
        for warning in warnings:
            messages.warning(request, warning)
        return _("%(user)s now has the role %(role)s.") % {
            "user": membership.user.get_full_name(),
            "role": Role(membership.role).label,
        }

    return _user_action(request, user_id, call)


@tenant_view(Action.USER_MANAGE)
@require_POST
def user_deactivate(request: TenantRequest, user_id: int) -> HttpResponse:
    def call() -> str:
        membership = services.membership_deactivate(
            actor=request.actor,
            tenant=request.tenant,
            user_id=user_id,
        )
        return _("%(user)s has been deactivated: the role grants nothing until reactivated.") % {
            "user": membership.user.get_full_name()
        }

    return _user_action(request, user_id, call)


@tenant_view(Action.USER_MANAGE)
@require_POST
def user_reactivate(request: TenantRequest, user_id: int) -> HttpResponse:
    def call() -> str:
        membership, warnings = services.membership_reactivate(
            actor=request.actor,
            tenant=request.tenant,
            user_id=user_id,
        )
        for warning in warnings:
            messages.warning(request, warning)
        return _("%(user)s has been reactivated.") % {"user": membership.user.get_full_name()}

    return _user_action(request, user_id, call)


@tenant_view(Action.USER_MANAGE)
@require_POST
def user_resend(request: TenantRequest, user_id: int) -> HttpResponse:
    def call() -> str:
        sent = services.user_resend(
            actor=request.actor,
            tenant=request.tenant,
            user_id=user_id,
        )
        if sent == "invitation":
            return _("A new invitation has been sent; earlier links no longer work.")
        return _("The link to confirm the e-mail address has been sent again.")

    return _user_action(request, user_id, call)


@tenant_view(Action.USER_MANAGE)
@require_POST
def user_remove(request: TenantRequest, user_id: int) -> HttpResponse:
    def call() -> str:
        user = services.membership_remove(
            actor=request.actor,
            tenant=request.tenant,
            user_id=user_id,
        )
        return _("%(user)s has been removed from this tenant.") % {"user": user.get_full_name()}

    return _user_action(request, user_id, call)


# --- invitation links and address confirmation (no sign-in needed) --------------------------


INVITATION_PROBLEMS = {
    # code: (HTTP status, heading, explanation)
    "unknown": (
        404,
        gettext_lazy("Invitation not found"),
        gettext_lazy(
            "This invitation link is not valid. Please use the complete link from "
            "the most recent invitation e-mail."
        ),
    ),
    "expired": (
        410,
        gettext_lazy("Invitation expired"),
        gettext_lazy(
            "This invitation has expired: invitations are valid for 72 hours. Please "
            "ask the person who invited you to send a new one."
        ),
    ),
    "used": (
        410,
        gettext_lazy("Invitation already used"),
        gettext_lazy(
            "This invitation has already been used. Sign in with your e-mail address "
            "and your password."
        ),
    ),
    "revoked": (
        410,
        gettext_lazy("Invitation no longer valid"),
        gettext_lazy(
            "This invitation has been replaced by a newer one or withdrawn. Please use "
            "the most recent invitation e-mail, or ask the person who invited you."
        ),
    ),
}


def _no_referrer(response: HttpResponse) -> HttpResponse:
    # The token is in the URL: keep it out of caches and of Referer headers to other sites.
    # ("no-referrer" would make browsers send "Origin: null" with the form, which Django's
    # CSRF check rightly refuses.)
    response["Referrer-Policy"] = "same-origin"
    add_never_cache_headers(response)
    return response


def _invitation_problem(request: HttpRequest, code: str) -> HttpResponse:
    status, heading, text = INVITATION_PROBLEMS[code]
    return _no_referrer(
        render(
            request,
            "accounts/invitation_invalid.html",
            {"heading": heading, "text": text, "code": code},
            status=status,
        )
    )


def _invitation_language(request: HttpRequest, invitation: Invitation) -> str:
    """Before the person ever chose a language here, speak the one they were invited in."""
    if request.user.is_authenticated or request.COOKIES.get(settings.LANGUAGE_COOKIE_NAME):
        return translation.get_language() or settings.LANGUAGE_CODE
    return invitation.user.language


@require_http_methods(["GET", "POST"])
def invitation_accept(request: HttpRequest, token: str) -> HttpResponse:
    """The link from the invitation mail: set a password, then straight into the tenant.

    GET only shows the form (mail scanners that open links use nothing up); POST uses the
    invitation once.
    """
    try:
        invitation = invitation_for_token(token)
    except InvitationProblem as exc:
        return _invitation_problem(request, exc.code)
    with translation.override(_invitation_language(request, invitation)):
        form = InvitationAcceptForm(request.POST or None)
        status = 200
        if request.method == "POST":
            status = 422
            if form.is_valid():
                try:
                    user, tenant = services.invitation_accept(
                        token=token, password=form.cleaned_data["password"]
                    )
                except InvitationProblem as exc:
                    return _invitation_problem(request, exc.code)
                except ValidationError as exc:
                    apply_service_errors(form, exc)
                else:
                    return _signed_in_after_invitation(request, user, tenant)
        response = render(
            request,
            "accounts/invitation_accept.html",
            {
                "form": form,
                "invitation": invitation,
                "invited_tenant": invitation.tenant,
                "signed_in_as": request.user if request.user.is_authenticated else None,
            },
            status=status,
        )
    return _no_referrer(response)


def _signed_in_after_invitation(request: HttpRequest, user: User, tenant: Tenant) -> HttpResponse:
    with translation.override(user.language):
        messages.success(request, _("Welcome! Your password is set and you are signed in."))
    # The one way to finish a sign-in: a required second factor is set up first.
    response = security_views.finish_login(
        request, user, next_url=reverse("tenants:home", args=[tenant.slug])
    )
    return _no_referrer(response)


@require_http_methods(["GET", "POST"])
def verify_email(request: HttpRequest, token: str) -> HttpResponse:
    """The link that proves an address. GET asks, POST confirms: mail scanners only GET."""
    try:
        user = email_verification_user(token)
    except ValidationError as exc:
        status = 410 if exc.code == "expired" else 404
        return _no_referrer(
            render(
                request, "accounts/verify_email.html", {"problem": exc.messages[0]}, status=status
            )
        )
    if request.method == "POST":
        try:
            user = email_verification_confirm(token)
        except ValidationError as exc:
            status = 410 if exc.code == "expired" else 404
            return _no_referrer(
                render(
                    request,
                    "accounts/verify_email.html",
                    {"problem": exc.messages[0]},
                    status=status,
                )
            )
        return _no_referrer(
            render(
                request, "accounts/verify_email.html", {"confirmed": True, "address": user.email}
            )
        )
    return _no_referrer(
        render(
            request,
            "accounts/verify_email.html",
            {"address": user.email, "already": user.email_verified_at is not None},
        )
    )
