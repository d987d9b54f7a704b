"""The account pages under ``/account/``: profile, password, e-mail address, second factor,
password reset and the second step of signing in. They act only on the signed-in user (or on
the user a signed link or the pending sign-in names), never on an id from the request."""

import time
from base64 import b32encode
from datetime import datetime
from typing import Any

import segno
from django.conf import settings
from django.contrib import messages
from django.contrib.auth import login, update_session_auth_hash
from django.contrib.auth.decorators import login_required
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import formats, timezone, translation
from django.utils.crypto import constant_time_compare
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods, require_POST
from django_otp import login as otp_login
from django_otp.models import Device
from django_otp.plugins.otp_static.models import StaticDevice

from mandant.accounts import security, throttle
from mandant.accounts.models import User
from mandant.accounts.security import SETUP_REQUIRED_SESSION_KEY, TooManyAttempts
from mandant.accounts.security_forms import (
    CodeForm,
    EmailChangeForm,
    LoginCodeForm,
    PasswordChangeForm,
    PasswordResetRequestForm,
    ProfileForm,
    SetPasswordForm,
    TwoFactorDisableForm,
)
from mandant.accounts.selectors import active_user_by_id
from mandant.core.errors import NotFound
from mandant.core.web import apply_service_errors

PENDING_SESSION_KEY = "mandant.pending_second_factor"
# The second step of signing in must follow the first within this many seconds.
PENDING_MAX_AGE = 10 * 60


def _user(request: HttpRequest) -> User:
    return request.user  # type: ignore[return-value]


def _time(until: datetime) -> str:
    return formats.time_format(timezone.localtime(until), "TIME_FORMAT")


def blocked_message(until: datetime) -> str:
    return _(
        "Too many failed attempts. For your security, signing in to this account from your "
        "network is blocked until %(time)s. You can still sign in from another network, "
        "or reset your password."
    ) % {"time": _time(until)}


def _attempts_message(until: datetime) -> str:
    return _(
        "Too many failed attempts. For your security, this is blocked for your account from "
        "your network until %(time)s."
    ) % {"time": _time(until)}


def set_language_cookie(response: HttpResponse, language: str) -> None:
    """Remember the language for the browser (also before and after a session)."""
    response.set_cookie(
        settings.LANGUAGE_COOKIE_NAME,
        language,
        max_age=settings.LANGUAGE_COOKIE_AGE,
        samesite="Lax",
        secure=getattr(settings, "LANGUAGE_COOKIE_SECURE", False),
    )


# --- signing in: the steps after the password ----------------------------------------------


def finish_login(
    request: HttpRequest, user: User, *, next_url: str, device: Device | None = None
) -> HttpResponse:
    """Log the user in (verified by ``device`` when given) and send them on."""
    request.session.pop(PENDING_SESSION_KEY, None)
    if device is not None:
        # django-otp's user_logged_in handler stores the device in the session.
        user.otp_device = device  # type: ignore[attr-defined]
    login(
        request, user, backend=getattr(user, "backend", None) or settings.AUTHENTICATION_BACKENDS[0]
    )
    if user.must_change_password:
        target = reverse("security:password_change")
    elif request.session.get(SETUP_REQUIRED_SESSION_KEY):
        target = reverse("security:two_factor")
    else:
        target = next_url
    response = HttpResponseRedirect(target)
    set_language_cookie(response, user.language)
    return response


def start_second_factor(request: HttpRequest, user: User, *, next_url: str) -> HttpResponse:
    """The password was right and the user has a second factor: ask for a code next.

    The user is *not* logged in until the code is right; only their id waits in the session.
    """
    request.session.cycle_key()
    request.session[PENDING_SESSION_KEY] = {
        "user": user.pk,
        "hash": user.get_session_auth_hash(),
        "next": next_url,
        "since": int(time.time()),
    }
    return redirect("security:login_code")


def _pending(request: HttpRequest) -> tuple[User, str] | None:
    data = request.session.get(PENDING_SESSION_KEY)
    if not isinstance(data, dict):
        return None
    if time.time() - float(data.get("since", 0)) > PENDING_MAX_AGE:
        request.session.pop(PENDING_SESSION_KEY, None)
        return None
    user_id = data.get("user")
    if not isinstance(user_id, int):
        return None
    user = active_user_by_id(user_id)
    if user is None or not constant_time_compare(
        str(data.get("hash", "")), user.get_session_auth_hash()
    ):
        request.session.pop(PENDING_SESSION_KEY, None)
        return None
    return user, str(data.get("next") or "/")


@never_cache
@require_http_methods(["GET", "POST"])
def login_code(request: HttpRequest) -> HttpResponse:
    if request.user.is_authenticated:
        return redirect("accounts:start")
    pending = _pending(request)
    if pending is None:
        messages.info(request, _("Please sign in again: the sign-in was not completed in time."))
        return redirect("accounts:login")
    user, next_url = pending
    form = LoginCodeForm(request.POST or None)
    status = 200
    if request.method == "POST":
        status = 400
        if form.is_valid():
            client = throttle.client_address(request)
            try:
                device = security.second_factor_login(
                    user=user, code=form.cleaned_data["code"], client=client
                )
            except TooManyAttempts as exc:
                request.session.pop(PENDING_SESSION_KEY, None)
                form.add_error(None, blocked_message(exc.until))
                status = 429
            except ValidationError as exc:
                apply_service_errors(form, exc)
                status = 429 if exc.error_dict["code"][0].code == "wait" else 401
            else:
                response = finish_login(request, user, next_url=next_url, device=device)
                if isinstance(device, StaticDevice):
                    left = device.token_set.count()
                    messages.warning(
                        request,
                        _(
                            "You signed in with a recovery code; %(left)d of them are left. "
                            "Create new ones under Account → Two-factor authentication."
                        )
                        % {"left": left},
                    )
                return response
    return render(request, "accounts/security/login_code.html", {"form": form}, status=status)


def admin_login(request: HttpRequest, extra_context: Any = None) -> HttpResponse:
    """The admin signs in through the product's sign-in (password *and* second factor)."""
    next_url = request.GET.get("next") or ""
    if not url_has_allowed_host_and_scheme(
        next_url, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        next_url = reverse("admin:index")
    if request.user.is_authenticated and request.user.is_staff:
        return redirect(next_url)
    return redirect_to_login(next_url)


# --- profile --------------------------------------------------------------------------------


def _profile_context(request: HttpRequest, form: ProfileForm) -> dict[str, Any]:
    user = _user(request)
    return {
        "form": form,
        "has_second_factor": security.user_has_second_factor(user),
        "second_factor_required": security.second_factor_required(user),
    }


@login_required
@require_http_methods(["GET", "POST"])
def profile(request: HttpRequest) -> HttpResponse:
    user = _user(request)
    initial = {
        "first_name": user.first_name,
        "last_name": user.last_name,
        "language": user.language,
    }
    form = ProfileForm(request.POST or None, initial=initial)
    status = 200
    if request.method == "POST":
        status = 422
        if form.is_valid():
            try:
                security.profile_update(user=user, **form.cleaned_data)
            except ValidationError as exc:
                apply_service_errors(form, exc)
            else:
                translation.activate(user.language)
                messages.success(request, _("Your profile has been saved."))
                response = redirect("security:profile")
                set_language_cookie(response, user.language)
                return response
    return render(
        request, "accounts/security/profile.html", _profile_context(request, form), status=status
    )


@login_required
@require_POST
def email_verify_send(request: HttpRequest) -> HttpResponse:
    user = _user(request)
    if user.email_verified_at is not None:
        messages.info(request, _("Your e-mail address is already verified."))
    elif security.email_verification_send(user=user):
        messages.success(
            request,
            _("We have sent a link to %(email)s. Follow it to confirm that the address is yours.")
            % {"email": user.email},
        )
    else:
        messages.error(
            request,
            _(
                "We have already sent several links in the last hour. Please check your inbox "
                "and spam folder, or try again later."
            ),
        )
    return redirect("security:profile")


# --- e-mail address change -----------------------------------------------------------------


@login_required
@require_http_methods(["GET", "POST"])
def email_change(request: HttpRequest) -> HttpResponse:
    user = _user(request)
    form = EmailChangeForm(request.POST or None)
    status = 200
    if request.method == "POST":
        status = 422
        if form.is_valid():
            try:
                address = security.email_change_request(
                    user=user,
                    new_email=form.cleaned_data["new_email"],
                    current_password=form.cleaned_data["current_password"],
                    client=throttle.client_address(request),
                )
            except TooManyAttempts as exc:
                form.add_error(None, _attempts_message(exc.until))
                status = 429
            except ValidationError as exc:
                apply_service_errors(form, exc)
            else:
                messages.success(
                    request,
                    _(
                        "We have sent a link to %(new)s. Your address changes when you follow "
                        "it; until then you keep signing in with %(old)s."
                    )
                    % {"new": address, "old": user.email},
                )
                return redirect("security:profile")
    return render(request, "accounts/security/email_change.html", {"form": form}, status=status)


def _link_invalid(request: HttpRequest, kind: str) -> HttpResponse:
    return render(request, "accounts/security/link_invalid.html", {"kind": kind}, status=404)


@never_cache
@require_http_methods(["GET", "POST"])
def email_change_confirm(request: HttpRequest, token: str) -> HttpResponse:
    pending = security.email_change_pending(token=token)
    if pending is None:
        return _link_invalid(request, "email")
    user, address = pending
    error = ""
    status = 200
    if request.method == "POST":
        try:
            security.email_change_confirm(token=token)
        except NotFound:
            return _link_invalid(request, "email")
        except ValidationError as exc:
            error, status = exc.messages[0], 409
        else:
            messages.success(
                request,
                _("Your e-mail address is now %(email)s. Use it to sign in from now on.")
                % {"email": address},
            )
            if request.user.is_authenticated and request.user.pk == user.pk:
                return redirect("security:profile")
            return redirect("accounts:login")
    return render(
        request,
        "accounts/security/email_change_confirm.html",
        {"address": address, "old": user.email, "error": error},
        status=status,
    )


# --- password -------------------------------------------------------------------------------


@login_required
@require_http_methods(["GET", "POST"])
def password_change(request: HttpRequest) -> HttpResponse:
    user = _user(request)
    form = PasswordChangeForm(request.POST or None)
    status = 200
    if request.method == "POST":
        status = 422
        if form.is_valid():
            try:
                security.password_change(
                    user=user,
                    current_password=form.cleaned_data["current_password"],
                    new_password=form.cleaned_data["new_password"],
                    client=throttle.client_address(request),
                )
            except TooManyAttempts as exc:
                form.add_error(None, _attempts_message(exc.until))
                status = 429
            except ValidationError as exc:
                apply_service_errors(form, exc)
            else:
                # Other sessions end (their hash no longer matches); this one stays.
                update_session_auth_hash(request, user)
                messages.success(request, _("Your password has been changed."))
                if request.session.get(SETUP_REQUIRED_SESSION_KEY):
                    return redirect("security:two_factor")
                return redirect("accounts:start")
    return render(
        request,
        "accounts/security/password_change.html",
        {"form": form, "forced": user.must_change_password},
        status=status,
    )


@never_cache
@require_http_methods(["GET", "POST"])
def password_reset(request: HttpRequest) -> HttpResponse:
    form = PasswordResetRequestForm(request.POST or None)
    status = 200
    if request.method == "POST":
        status = 422
        if form.is_valid():
            email = form.cleaned_data["email"]
            try:
                security.password_reset_request(
                    email=email, client=throttle.client_address(request)
                )
            except TooManyAttempts as exc:
                form.add_error(
                    None,
                    _("Too many requests from your network. Please try again after %(time)s.")
                    % {"time": _time(exc.until)},
                )
                status = 429
            else:
                return render(
                    request, "accounts/security/password_reset_sent.html", {"email": email.strip()}
                )
    return render(request, "accounts/security/password_reset.html", {"form": form}, status=status)


@never_cache
@require_http_methods(["GET", "POST"])
def password_reset_confirm(request: HttpRequest, uidb64: str, token: str) -> HttpResponse:
    user = security.password_reset_user(uidb64=uidb64, token=token)
    if user is None:
        return _link_invalid(request, "password")
    form = SetPasswordForm(request.POST or None)
    status = 200
    if request.method == "POST":
        status = 422
        if form.is_valid():
            try:
                security.password_reset_complete(
                    uidb64=uidb64, token=token, new_password=form.cleaned_data["new_password"]
                )
            except NotFound:
                return _link_invalid(request, "password")
            except ValidationError as exc:
                apply_service_errors(form, exc)
            else:
                messages.success(request, _("Your new password is set. Please sign in with it."))
                return redirect("accounts:login")
    return render(
        request,
        "accounts/security/password_reset_confirm.html",
        {"form": form, "reset_user": user},
        status=status,
    )


# --- second factor --------------------------------------------------------------------------


def _secret_text(key: bytes) -> str:
    secret = b32encode(key).decode()
    return " ".join(secret[i : i + 4] for i in range(0, len(secret), 4))


def _two_factor_page(request: HttpRequest, *, status: int = 200, **forms: Any) -> HttpResponse:
    user = _user(request)
    context: dict[str, Any] = {
        "required": security.second_factor_required(user),
        "has_second_factor": security.user_has_second_factor(user),
    }
    if context["has_second_factor"]:
        context["codes_left"] = security.recovery_codes_left(user)
        context["regenerate_form"] = forms.get("regenerate_form") or CodeForm(auto_id="id_regen_%s")
        context["disable_form"] = forms.get("disable_form") or TwoFactorDisableForm(
            auto_id="id_disable_%s"
        )
    else:
        device = security.totp_device_for_setup(user=user)
        qr = segno.make(device.config_url, error="m")
        context.update(
            qr_svg=qr.svg_inline(scale=5, title=_("QR code for your authenticator app")),
            secret=_secret_text(device.bin_key),
            form=forms.get("form") or CodeForm(),
        )
    return render(request, "accounts/security/two_factor.html", context, status=status)


def _show_codes(request: HttpRequest, codes: list[str], *, first: bool) -> HttpResponse:
    response = render(
        request, "accounts/security/recovery_codes.html", {"codes": codes, "first": first}
    )
    response["Cache-Control"] = "no-store"
    return response


@never_cache
@login_required
@require_http_methods(["GET", "POST"])
def two_factor(request: HttpRequest) -> HttpResponse:
    """Status; when there is no factor yet, set it up (QR code, then a code to confirm)."""
    if request.method == "GET":
        return _two_factor_page(request)
    user = _user(request)
    form = CodeForm(request.POST)
    if not form.is_valid():
        return _two_factor_page(request, status=422, form=form)
    try:
        device, codes = security.totp_setup_confirm(user=user, code=form.cleaned_data["code"])
    except ValidationError as exc:
        apply_service_errors(form, exc)
        status = 429 if exc.error_dict["code"][0].code == "wait" else 422
        return _two_factor_page(request, status=status, form=form)
    request.session.pop(SETUP_REQUIRED_SESSION_KEY, None)
    otp_login(request, device)
    messages.success(request, _("Two-factor authentication is on."))
    return _show_codes(request, codes, first=True)


@never_cache
@login_required
@require_POST
def recovery_codes(request: HttpRequest) -> HttpResponse:
    user = _user(request)
    form = CodeForm(request.POST, auto_id="id_regen_%s")
    if not form.is_valid():
        return _two_factor_page(request, status=422, regenerate_form=form)
    try:
        codes = security.recovery_codes_regenerate(
            user=user, code=form.cleaned_data["code"], client=throttle.client_address(request)
        )
    except NotFound:
        return redirect("security:two_factor")
    except TooManyAttempts as exc:
        form.add_error(None, _attempts_message(exc.until))
        return _two_factor_page(request, status=429, regenerate_form=form)
    except ValidationError as exc:
        apply_service_errors(form, exc)
        return _two_factor_page(request, status=422, regenerate_form=form)
    return _show_codes(request, codes, first=False)


@login_required
@require_POST
def two_factor_disable(request: HttpRequest) -> HttpResponse:
    user = _user(request)
    form = TwoFactorDisableForm(request.POST, auto_id="id_disable_%s")
    if not form.is_valid():
        return _two_factor_page(request, status=422, disable_form=form)
    try:
        security.second_factor_disable(
            user=user,
            current_password=form.cleaned_data["current_password"],
            code=form.cleaned_data["code"],
            client=throttle.client_address(request),
        )
    except NotFound:
        return redirect("security:two_factor")
    except TooManyAttempts as exc:
        form.add_error(None, _attempts_message(exc.until))
        return _two_factor_page(request, status=429, disable_form=form)
    except ValidationError as exc:
        apply_service_errors(form, exc)
        return _two_factor_page(request, status=422, disable_form=form)
    if security.second_factor_required(user):
        request.session[SETUP_REQUIRED_SESSION_KEY] = True
        messages.warning(
            request,
            _(
                "Two-factor authentication is off. Your role requires it: please set it up again "
                "now, for example with your new phone."
            ),
        )
    else:
        messages.success(request, _("Two-factor authentication is off."))
    return redirect("security:two_factor")
