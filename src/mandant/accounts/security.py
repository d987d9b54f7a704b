"""The signed-in user's own security: password change and reset, e-mail address change and
verification, profile, and the optional second factor (TOTP plus recovery codes).

Every write takes the user explicitly (keyword-only), runs in one transaction and writes one
audit row. Mails go through ``notices.services.mail_queue`` and leave after the commit.
"""

from __future__ import annotations

import contextlib
import re
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth.tokens import default_token_generator
from django.core import signing
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.http import HttpRequest
from django.urls import NoReverseMatch, reverse
from django.utils import timezone
from django.utils.encoding import force_bytes, force_str
from django.utils.http import urlsafe_base64_decode, urlsafe_base64_encode
from django.utils.translation import gettext as _
from django_otp.models import Device
from django_otp.oath import TOTP
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from mandant.accounts import throttle
from mandant.accounts.emails import clean_email_address
from mandant.accounts.models import (
    LoginFailure,
    Membership,
    SecuritySettings,
    User,
    normalize_email_address,
)
from mandant.accounts.passwords import validate_password
from mandant.accounts.roles import Role
from mandant.audit.models import AuditEntry
from mandant.audit.services import audit_record
from mandant.core.actor import Actor
from mandant.core.errors import NotFound
from mandant.notices.services import mail_queue
from mandant.tenants.models import Tenant

# Session keys.
SETUP_REQUIRED_SESSION_KEY = "mandant.second_factor_setup_required"

EMAIL_CHANGE_SALT = "mandant.email-change"
EMAIL_CHANGE_MAX_AGE = 7 * 24 * 3600
RECOVERY_CODE_COUNT = 10
# Password-reset mails: at most this many per account per hour (more requests get the same
# answer but no mail), and at most this many requests per client address per hour (429).
RESET_MAILS_PER_ACCOUNT_PER_HOUR = 3
RESET_REQUESTS_PER_CLIENT_PER_HOUR = 20
# "Send the verification link again": at most this many per account per hour.
VERIFICATION_MAILS_PER_HOUR = 5

MANAGER_ROLES = (Role.ADMINISTRATOR, Role.CUSTOMER_SERVICE)


class TooManyAttempts(Exception):
    """Too many failures (or requests) from this client: refused until ``until``."""

    def __init__(self, until: datetime) -> None:
        super().__init__(str(until))
        self.until = until


def _actor(user: User) -> Actor:
    return Actor(user=user)


def _site_url(path: str) -> str:
    return f"{settings.SITE_URL}{path}"


def _field_error(field: str, message: str, code: str) -> ValidationError:
    # The code on the inner error, where views can read it (error_dict[field][0].code).
    return ValidationError({field: ValidationError(message, code=code)})


# --- password policy inputs -----------------------------------------------------------------


def password_user_inputs(user: User | None, *extra: str | None) -> list[str]:
    """What an attacker targeting this person tries first: their names and address, and the
    names of their tenants and of those tenants' masters (the partner)."""
    inputs: list[str | None] = list(extra)
    if user is None:
        return [value for value in inputs if value]
    inputs += [user.email, user.first_name, user.last_name]
    if user.pk is not None:
        paths: set[str] = set()
        tenants = Tenant.objects.filter(
            memberships__user=user, memberships__deactivated_at__isnull=True
        ).only("path")
        for tenant in tenants:
            paths.update(tenant.ancestor_paths())
        if user.initial_password_by_id is not None:
            paths.update(
                Tenant.objects.only("path").get(pk=user.initial_password_by_id).ancestor_paths()
            )
        inputs += list(Tenant.objects.filter(path__in=paths).values_list("name", flat=True))
    return [value for value in inputs if value]


def _validate_new_password(user: User, password: str, field: str = "new_password") -> None:
    try:
        validate_password(password, user_inputs=password_user_inputs(user))
    except ValidationError as exc:
        raise ValidationError({field: exc.error_list}) from exc


def _require_current_password(
    *, user: User, password: str, client: str, field: str = "current_password"
) -> None:
    """Check the current password again; failures count in the login throttle."""
    until = throttle.blocked_until(email=user.email, client=client)
    if until is not None:
        raise TooManyAttempts(until)
    if not password or not user.check_password(password):
        until = throttle.record_failure(email=user.email, client=client)
        if until is not None:
            raise TooManyAttempts(until)
        raise _field_error(field, _("Your current password is not correct."), "wrong_password")


# --- password change ------------------------------------------------------------------------


def password_change(*, user: User, current_password: str, new_password: str, client: str) -> None:
    """The user changes their own password (also the forced change of an initial password)."""
    _require_current_password(user=user, password=current_password, client=client)
    if new_password == current_password:
        raise _field_error(
            "new_password",
            _("The new password must be different from the current one."),
            "unchanged",
        )
    _validate_new_password(user, new_password)
    was_forced = user.must_change_password
    with transaction.atomic():
        user.set_password(new_password)
        user.must_change_password = False
        user.initial_password_by = None
        user.save(update_fields=["password", "must_change_password", "initial_password_by"])
        audit_record(
            actor=_actor(user),
            action="user.password_change",
            tenant=None,
            obj=user,
            changes={"initial_password_replaced": was_forced},
        )
    throttle.record_success(email=user.email, client=client)


# --- password reset by e-mail link -----------------------------------------------------------

RESET_AUDIT_ACTION = "user.password_reset_request"


def password_reset_request(*, email: str, client: str) -> None:
    """Mail a reset link if an active account has this address; the same outcome otherwise.

    Raises ``TooManyAttempts`` when this client asked too often (regardless of the address).
    """
    now = timezone.now()
    window = now - timedelta(hours=1)
    from_client = AuditEntry.objects.filter(
        action=RESET_AUDIT_ACTION, created_at__gte=window, changes__client=client
    )
    if from_client.count() >= RESET_REQUESTS_PER_CLIENT_PER_HOUR:
        oldest = from_client.order_by("created_at").values_list("created_at", flat=True).first()
        raise TooManyAttempts((oldest or now) + timedelta(hours=1))
    keys = {normalize_email_address(email)}
    with contextlib.suppress(ValidationError):
        keys.add(clean_email_address(email))
    query = Q()
    for key in keys:
        query |= Q(email__iexact=key)
    user = User.objects.filter(query, is_active=True).first()
    send = user is not None and user.has_usable_password()
    if user is not None and send:
        recent = AuditEntry.objects.filter(
            action=RESET_AUDIT_ACTION,
            created_at__gte=window,
            object_type="accounts.user",
            object_id=str(user.pk),
            changes__sent=True,
        ).count()
        send = recent < RESET_MAILS_PER_ACCOUNT_PER_HOUR
    with transaction.atomic():
        if user is not None and send:
            uidb64 = urlsafe_base64_encode(force_bytes(user.pk))
            token = default_token_generator.make_token(user)
            mail_queue(
                kind="password_reset",
                template="password_reset",
                context={
                    "user": user,
                    "reset_url": _site_url(
                        reverse("security:password_reset_confirm", args=[uidb64, token])
                    ),
                    "valid_hours": max(1, settings.PASSWORD_RESET_TIMEOUT // 3600),
                },
                to_user=user,
            )
        audit_record(
            actor=None,
            action=RESET_AUDIT_ACTION,
            tenant=None,
            obj=user,
            changes={"client": client, "sent": send},
        )


def password_reset_user(*, uidb64: str, token: str) -> User | None:
    """The user a reset link is for, if the link is valid, unused and not expired."""
    try:
        pk = int(force_str(urlsafe_base64_decode(uidb64)))
    except (TypeError, ValueError, OverflowError, UnicodeDecodeError):
        return None
    user = User.objects.filter(pk=pk, is_active=True).first()
    if user is None or not default_token_generator.check_token(user, token):
        return None
    return user


def password_reset_complete(*, uidb64: str, token: str, new_password: str) -> User:
    """Set a new password through a reset link. Raises NotFound for a bad or used link."""
    user = password_reset_user(uidb64=uidb64, token=token)
    if user is None:
        raise NotFound
    _validate_new_password(user, new_password)
    with transaction.atomic():
        user.set_password(new_password)
        user.must_change_password = False
        user.initial_password_by = None
        fields = ["password", "must_change_password", "initial_password_by"]
        # Following a link sent to the address proves it (Django's token covers the address).
        if user.email_verified_at is None:
            user.email_verified_at = timezone.now()
            fields.append("email_verified_at")
        user.save(update_fields=fields)
        # The blocked message promises that a reset lets the owner in again.
        LoginFailure.objects.filter(email_key=normalize_email_address(user.email)).delete()
        audit_record(actor=_actor(user), action="user.password_reset", tenant=None, obj=user)
    return user


# --- profile and e-mail address ------------------------------------------------------------


def profile_update(*, user: User, first_name: str, last_name: str, language: str) -> User:
    first_name, last_name = (first_name or "").strip()[:150], (last_name or "").strip()[:150]
    if language not in dict(settings.LANGUAGES):
        raise _field_error("language", _("Choose English or German."), "invalid")
    changes: dict[str, Any] = {}
    for field, value in (
        ("first_name", first_name),
        ("last_name", last_name),
        ("language", language),
    ):
        if getattr(user, field) != value:
            changes[field] = [getattr(user, field), value]
            setattr(user, field, value)
    if changes:
        with transaction.atomic():
            user.save(update_fields=list(changes))
            audit_record(
                actor=_actor(user),
                action="user.profile_update",
                tenant=None,
                obj=user,
                changes=changes,
            )
    return user


def email_change_request(*, user: User, new_email: str, current_password: str, client: str) -> str:
    """Send a confirmation link to the new address and a notice to the current one.

    Nothing changes on the user row: the pending address travels in the signed link.
    """
    _require_current_password(user=user, password=current_password, client=client)
    try:
        address = clean_email_address(new_email)
    except ValidationError as exc:
        raise ValidationError({"new_email": exc.error_list}) from exc
    if address == user.email.lower():
        raise _field_error("new_email", _("This is already your e-mail address."), "unchanged")
    if User.objects.filter(email__iexact=address).exclude(pk=user.pk).exists():
        raise _field_error(
            "new_email", _("This address is already used by another account."), "taken"
        )
    token = signing.dumps({"u": user.pk, "e": address, "o": user.email}, salt=EMAIL_CHANGE_SALT)
    valid_days = EMAIL_CHANGE_MAX_AGE // (24 * 3600)
    with transaction.atomic():
        # To the new address only (not "to_user"): a bounce there says nothing about the
        # address the account has now.
        mail_queue(
            kind="email_change_verify",
            template="email_change_verify",
            context={
                "user": user,
                "change": True,
                "new_email": address,
                "confirm_url": _site_url(reverse("security:email_change_confirm", args=[token])),
                "valid_days": valid_days,
            },
            to_email=address,
            language=user.language,
        )
        mail_queue(
            kind="email_change_notice",
            template="email_changed_notice",
            context={
                "user": user,
                "new_email": address,
                "valid_days": valid_days,
                "reset_url": _site_url(reverse("security:password_reset")),
            },
            to_user=user,
        )
        audit_record(
            actor=_actor(user),
            action="user.email_change_request",
            tenant=None,
            obj=user,
            changes={"from": user.email, "to": address},
        )
    return address


def email_change_pending(*, token: str) -> tuple[User, str] | None:
    """The user and the new address of a valid, unused confirmation link."""
    try:
        data = signing.loads(token, salt=EMAIL_CHANGE_SALT, max_age=EMAIL_CHANGE_MAX_AGE)
        pk, address, old = int(data["u"]), str(data["e"]), str(data["o"])
    except (signing.BadSignature, KeyError, TypeError, ValueError):
        return None
    user = User.objects.filter(pk=pk, is_active=True).first()
    # Once the address has changed, the link no longer matches: single use.
    if user is None or user.email != old:
        return None
    return user, address


def email_change_confirm(*, token: str) -> User:
    """Apply a confirmed address change. NotFound for a bad, expired or used link."""
    pending = email_change_pending(token=token)
    if pending is None:
        raise NotFound
    user, address = pending
    taken = ValidationError(
        _(
            "The address %(address)s has meanwhile been taken by another account; your address "
            "was not changed."
        )
        % {"address": address},
        code="taken",
    )
    if User.objects.filter(email__iexact=address).exclude(pk=user.pk).exists():
        raise taken
    old = user.email
    try:
        with transaction.atomic():
            user.email = address
            user.email_verified_at = timezone.now()
            user.email_undeliverable_at = None
            user.email_undeliverable_reason = ""
            user.save(
                update_fields=[
                    "email",
                    "email_verified_at",
                    "email_undeliverable_at",
                    "email_undeliverable_reason",
                ]
            )
            audit_record(
                actor=_actor(user),
                action="user.email_change",
                tenant=None,
                obj=user,
                changes={"from": old, "to": address},
            )
    except IntegrityError:
        raise taken from None
    return user


def _verification_url(user: User) -> str:
    from mandant.accounts.verification import make_email_verification_token

    token = make_email_verification_token(user)
    try:
        path = reverse("accounts:verify_email", args=[token])
    except NoReverseMatch:
        path = f"/verify-email/{token}/"
    return _site_url(path)


def email_verification_send(*, user: User) -> bool:
    """Send a link that proves the current address. False when sent too often already."""
    if user.email_verified_at is not None:
        return True
    window = timezone.now() - timedelta(hours=1)
    recent = AuditEntry.objects.filter(
        action="user.email_verification_send",
        created_at__gte=window,
        object_type="accounts.user",
        object_id=str(user.pk),
    ).count()
    if recent >= VERIFICATION_MAILS_PER_HOUR:
        return False
    with transaction.atomic():
        mail_queue(
            kind="email_verify",
            template="email_change_verify",
            context={
                "user": user,
                "change": False,
                "new_email": user.email,
                "confirm_url": _verification_url(user),
                "valid_days": 7,
            },
            to_user=user,
        )
        audit_record(
            actor=_actor(user),
            action="user.email_verification_send",
            tenant=None,
            obj=user,
            changes={"to": user.email},
        )
    return True


# --- second factor -------------------------------------------------------------------------


def user_has_second_factor(user: User) -> bool:
    return TOTPDevice.objects.filter(user=user, confirmed=True).exists()


def second_factor_required(user: User) -> bool:
    """The operators' setting: Administrators and Customer Service must use a second factor."""
    if not SecuritySettings.current().require_second_factor_for_managers:
        return False
    return Membership.objects.filter(
        user=user, deactivated_at__isnull=True, role__in=[role.value for role in MANAGER_ROLES]
    ).exists()


def recovery_codes_left(user: User) -> int:
    return StaticToken.objects.filter(device__user=user, device__confirmed=True).count()


def on_user_logged_in(sender: Any, request: HttpRequest | None, user: User, **kwargs: Any) -> None:
    """Every way in (login form, invitation, …): flag a session that must set up a factor."""
    session = getattr(request, "session", None)
    if session is None:
        return
    if second_factor_required(user) and not user_has_second_factor(user):
        session[SETUP_REQUIRED_SESSION_KEY] = True
    else:
        session.pop(SETUP_REQUIRED_SESSION_KEY, None)


def totp_device_for_setup(*, user: User) -> TOTPDevice:
    """The not yet confirmed authenticator of this user (created on first use)."""
    device = TOTPDevice.objects.filter(user=user, confirmed=False).order_by("-pk").first()
    if device is None:
        device = TOTPDevice.objects.create(user=user, name="Authenticator app", confirmed=False)
    return device


def format_recovery_code(code: str) -> str:
    return f"{code[:4]}-{code[4:]}"


def _normalise_code(code: str) -> str:
    return re.sub(r"[\s\-]", "", code or "").lower()


def _new_recovery_codes(user: User) -> list[str]:
    StaticDevice.objects.filter(user=user).delete()
    device = StaticDevice.objects.create(user=user, name="Recovery codes", confirmed=True)
    codes: set[str] = set()
    while len(codes) < RECOVERY_CODE_COUNT:
        codes.add(StaticToken.random_token())
    StaticToken.objects.bulk_create(StaticToken(device=device, token=code) for code in codes)
    return sorted(format_recovery_code(code) for code in codes)


def _wait_error() -> ValidationError:
    return _field_error(
        "code",
        _("Too many wrong codes in a short time. Please wait a few seconds and try again."),
        "wait",
    )


def _wrong_code_error(*, recovery_allowed: bool = True) -> ValidationError:
    if recovery_allowed:
        message = _(
            "This code is not correct. Enter the current 6-digit code from your "
            "authenticator app, or one of your recovery codes."
        )
    else:
        message = _(
            "This code is not correct. Enter the current 6-digit code from your "
            "authenticator app; check that the time on your phone is set "
            "automatically."
        )
    return _field_error("code", message, "wrong_code")


def totp_setup_confirm(*, user: User, code: str) -> tuple[TOTPDevice, list[str]]:
    """Activate the pending authenticator with a code from it; returns it and new recovery
    codes (shown once)."""
    if user_has_second_factor(user):
        raise _field_error(
            "code", _("A second factor is already active for your account."), "active"
        )
    with transaction.atomic():
        device = (
            TOTPDevice.objects.select_for_update()
            .filter(user=user, confirmed=False)
            .order_by("-pk")
            .first()
        )
        if device is None:
            raise _field_error(
                "code", _("Please reload the page and scan the new QR code."), "gone"
            )
        allowed, _info = device.verify_is_allowed()
        if not allowed:
            raise _wait_error()
        codes: list[str] = []
        if device.verify_token(_normalise_code(code)):
            device.confirmed = True
            device.save(update_fields=["confirmed"])
            TOTPDevice.objects.filter(user=user, confirmed=False).delete()
            codes = _new_recovery_codes(user)
            audit_record(
                actor=_actor(user),
                action="user.second_factor_enable",
                tenant=None,
                obj=user,
                changes={"device": device.persistent_id},
            )
    # Raised after the block, so the failed attempt's back-off counter is kept.
    if not codes:
        raise _wrong_code_error(recovery_allowed=False)
    return device, codes


@dataclass(frozen=True)
class CodeCheck:
    device: Device | None
    # Set when the device's own back-off (django-otp) refused to check the code at all.
    retry_at: datetime | None = None
    # The code was right but has been used already (at the set-up or a sign-in moments ago).
    used_already: bool = False


def _used_already(device: TOTPDevice, code: str) -> bool:
    """A right code of a time step that has been used: django-otp refuses it (no replay),
    like a wrong one. Telling them apart lets the user wait for the next code instead of
    using up attempts on one that cannot work again."""
    totp = TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift)
    totp.time = time.time()
    return (
        device.last_t >= 0
        and bool(totp.verify(int(code), device.tolerance))
        and not (totp.verify(int(code), device.tolerance, device.last_t + 1))
    )


def second_factor_check(*, user: User, code: str) -> CodeCheck:
    """Check a TOTP code (6 digits) or a recovery code (used up when it matches)."""
    code = _normalise_code(code)
    model: type[Device] = TOTPDevice if re.fullmatch(r"\d{6}", code) else StaticDevice
    retry_at = None
    with transaction.atomic():
        for device in (
            model.objects.select_for_update().filter(user=user, confirmed=True).order_by("pk")
        ):
            allowed, info = device.verify_is_allowed()
            if not allowed:
                retry_at = (info or {}).get("locked_until") or timezone.now()
                continue
            if isinstance(device, TOTPDevice) and _used_already(device, code):
                return CodeCheck(device=None, used_already=True)
            if device.verify_token(code):
                if isinstance(device, StaticDevice):
                    audit_record(
                        actor=_actor(user),
                        action="user.recovery_code_use",
                        tenant=None,
                        obj=user,
                        changes={"left": device.token_set.count()},
                    )
                return CodeCheck(device=device)
    return CodeCheck(device=None, retry_at=retry_at)


def _require_code(*, user: User, code: str, client: str) -> Device:
    """A code from one of the user's devices; wrong codes count in the login throttle."""
    check = second_factor_check(user=user, code=code)
    if check.device is None:
        if check.used_already:
            raise _field_error(
                "code",
                _(
                    "This code has been used already. Wait for the next code in your "
                    "authenticator app (a new one appears every 30 seconds)."
                ),
                "used",
            )
        if check.retry_at is not None:
            raise _wait_error()
        until = throttle.record_failure(email=user.email, client=client)
        if until is not None:
            raise TooManyAttempts(until)
        raise _wrong_code_error()
    return check.device


def second_factor_login(*, user: User, code: str, client: str) -> Device:
    """The second step of signing in. Only a right code resets the failure count (a right
    password alone does not)."""
    until = throttle.blocked_until(email=user.email, client=client)
    if until is not None:
        raise TooManyAttempts(until)
    device = _require_code(user=user, code=code, client=client)
    throttle.record_success(email=user.email, client=client)
    return device


def recovery_codes_regenerate(*, user: User, code: str, client: str) -> list[str]:
    """New recovery codes (the old ones stop working); needs a current code."""
    if not user_has_second_factor(user):
        raise NotFound
    until = throttle.blocked_until(email=user.email, client=client)
    if until is not None:
        raise TooManyAttempts(until)
    _require_code(user=user, code=code, client=client)
    with transaction.atomic():
        codes = _new_recovery_codes(user)
        audit_record(
            actor=_actor(user), action="user.recovery_codes_regenerate", tenant=None, obj=user
        )
    return codes


def second_factor_disable(*, user: User, current_password: str, code: str, client: str) -> None:
    """Switch the second factor off: needs the password and a code."""
    if not user_has_second_factor(user):
        raise NotFound
    _require_current_password(user=user, password=current_password, client=client)
    _require_code(user=user, code=code, client=client)
    with transaction.atomic():
        TOTPDevice.objects.filter(user=user).delete()
        StaticDevice.objects.filter(user=user).delete()
        audit_record(actor=_actor(user), action="user.second_factor_disable", tenant=None, obj=user)
