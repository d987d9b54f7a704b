"""Writes for accounts: users, memberships, invitations, language, API keys."""

import hashlib
import hmac
import secrets
from dataclasses import dataclass, field
from datetime import timedelta

from django.conf import settings
from django.contrib.auth.hashers import check_password
from django.core.exceptions import ValidationError
from django.db import IntegrityError, models, transaction
from django.db.models import QuerySet
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from mandant.accounts.emails import clean_email_address
from mandant.accounts.models import ApiKey, Invitation, Membership, User, normalize_email_address
from mandant.accounts.passwords import validate_password
from mandant.accounts.roles import MEMBERSHIP_ROLE_CHOICES, Action, Role, grant_allows, role_allows
from mandant.accounts.selectors import invitation_for_token, invitation_token_hash
from mandant.accounts.verification import EMAIL_VERIFY_MAX_AGE, email_verification_url
from mandant.audit.services import audit_record
from mandant.core.actor import Actor, RoleGrant
from mandant.core.errors import NotFound, PermissionDenied
from mandant.notices.services import mail_queue
from mandant.tenants.models import Tenant, TenantStatus
from mandant.tenants.selectors import effective_grant

API_KEY_PREFIX = "mk_"


def hash_api_key(raw_key: str) -> str:
    # Keys carry 256 bits of randomness, so a fast hash is enough (no brute force possible).
    return hashlib.sha256(raw_key.encode()).hexdigest()


def user_set_language(*, user: User, language: str) -> None:
    if language in dict(settings.LANGUAGES) and user.language != language:
        user.language = language
        user.save(update_fields=["language"])


def membership_set(*, actor: Actor | None, tenant: Tenant, user: User, role: int) -> Membership:
    """Give ``user`` a role in ``tenant`` (bootstrap and operator use; audited)."""
    with transaction.atomic():
        membership, _created = Membership.objects.update_or_create(
            tenant=tenant, user=user, defaults={"role": role}
        )
        audit_record(
            actor=actor,
            action="membership.set",
            tenant=tenant,
            obj=membership,
            changes={"user": user.email, "role": role},
        )
    return membership


def _new_raw_key(*, seed: str | None = None) -> str:
    secret = (
        hmac.new(settings.SECRET_KEY.encode(), seed.encode(), hashlib.sha256).hexdigest()
        if seed is not None
        else secrets.token_hex(32)
    )
    return f"{API_KEY_PREFIX}{secret}"


def demo_raw_key(seed: str) -> str:
    """The demo's key is derived from the secret key, so ``mandant demo`` can print it again."""
    return _new_raw_key(seed=seed)


def apikey_create(
    *, actor: Actor, tenant: Tenant, name: str, deterministic_seed: str | None = None
) -> tuple[ApiKey, str]:
    """Create an API key for ``tenant``; returns the key object and the raw key (shown once).

    ``deterministic_seed`` is only for the demo data, whose key must be printable again.
    """
    grant = effective_grant(actor, tenant)
    if grant is None:
        raise NotFound
    if not role_allows(grant.role, Action.APIKEY_MANAGE) or actor.api_key is not None:
        raise PermissionDenied(
            _("API keys can be created by an Administrator or Customer Service of the tenant.")
        )
    raw = _new_raw_key(seed=deterministic_seed)
    with transaction.atomic():
        key = ApiKey.objects.create(
            tenant=tenant,
            created_by=actor.user,
            name=(name or "").strip()[:100] or _("API key"),
            prefix=raw[: len(API_KEY_PREFIX) + 8],
            key_hash=hash_api_key(raw),
        )
        audit_record(
            actor=actor,
            action="apikey.create",
            tenant=tenant,
            grant=grant,
            obj=key,
            changes={"name": key.name, "prefix": key.prefix},
        )
    return key, raw


def apikey_revoke(*, actor: Actor, key: ApiKey) -> ApiKey:
    grant = effective_grant(actor, key.tenant)
    if grant is None:
        raise NotFound
    if not role_allows(grant.role, Action.APIKEY_MANAGE) or actor.api_key is not None:
        raise PermissionDenied(_("Your role does not allow revoking API keys."))
    with transaction.atomic():
        if key.revoked_at is None:
            key.revoked_at = timezone.now()
            key.save(update_fields=["revoked_at"])
            audit_record(
                actor=actor, action="apikey.revoke", tenant=key.tenant, grant=grant, obj=key
            )
    return key


def apikey_authenticate(raw_key: str) -> ApiKey | None:
    """The active key for a raw bearer token, or None."""
    if not raw_key.startswith(API_KEY_PREFIX):
        return None
    key = (
        ApiKey.objects.select_related("tenant", "created_by")
        .defer("tenant__logo_png")
        .filter(key_hash=hash_api_key(raw_key), revoked_at__isnull=True)
        .first()
    )
    if key is None or not key.created_by.is_active:
        return None
    now = timezone.now()
    if key.last_used_at is None or (now - key.last_used_at).total_seconds() > 60:
        ApiKey.objects.filter(pk=key.pk).update(last_used_at=now)
    return key


def user_create(
    *,
    email: str,
    password: str | None,
    first_name: str = "",
    last_name: str = "",
    language: str = "en",
    is_staff: bool = False,
) -> User:
    """Create a user (bootstrap: demo data and operator CLI). The admin flow is issue 3."""
    return User.objects.create_user(
        email=normalize_email_address(email),
        password=password,
        first_name=first_name,
        last_name=last_name,
        language=language,
        is_staff=is_staff,
        is_superuser=is_staff,
    )


# --- the users of a tenant: invitations, initial passwords, memberships ---------------------
#
# Administrators manage the users of their tenant; Customer Service manages the users of the
# tenants below its own (``roles.BELOW_OWN_TENANT_ONLY``). A new person gets either an
# invitation (a single-use link, valid 72 hours, to set their own password) or an initial
# password set by the partner (to be changed at first login, plus a link proving the address).
# A person who already has a user on the platform is only given the new membership.

INVITATION_VALID_HOURS = 72
# The seed: keep administrators few. More than this many active ones gives a warning.
ADMINISTRATORS_RECOMMENDED_MAX = 3
NAME_MAX_LENGTH = 150


class HandOverMethod(models.TextChoices):
    INVITATION = "invitation", gettext_lazy("Invitation (recommended)")
    INITIAL_PASSWORD = "initial_password", gettext_lazy("Initial password set by me")


class AddOutcome(models.TextChoices):
    INVITED = "invited", gettext_lazy("invited")
    INITIAL_PASSWORD = "initial_password", gettext_lazy("initial password set")
    ADDED_EXISTING = "added_existing", gettext_lazy("existing user added")


@dataclass(frozen=True)
class UserAddResult:
    user: User
    membership: Membership
    outcome: str
    warnings: list[str] = field(default_factory=list)


def _require_user_manage(
    actor: Actor, tenant: Tenant, action: Action = Action.USER_MANAGE
) -> RoleGrant:
    grant = effective_grant(actor, tenant)
    if grant is None:
        raise NotFound
    if not grant_allows(grant.role, action, inherited=grant.inherited_for(tenant)):
        if role_allows(grant.role, action):
            raise PermissionDenied(
                _(
                    "In its own tenant, Customer Service cannot manage users. Users of this "
                    "tenant are managed by its Administrators; Customer Service manages the "
                    "users of the tenants below."
                )
            )
        raise PermissionDenied(
            _(
                "Managing users needs the role Administrator, or Customer Service in a master "
                "tenant."
            )
        )
    return grant


def _clean_name(
    value: str | None, field_name: str, errors: dict[str, list[ValidationError]]
) -> str:
    value = " ".join((value or "").split())
    if len(value) > NAME_MAX_LENGTH:
        errors.setdefault(field_name, []).append(
            ValidationError(
                _("At most %(max)d characters, please.") % {"max": NAME_MAX_LENGTH},
                code="max_length",
            )
        )
    return value


def _check_role(role: object, errors: dict[str, list[ValidationError]]) -> int:
    valid = dict(MEMBERSHIP_ROLE_CHOICES)
    try:
        value = int(role)  # type: ignore[call-overload]
    except (TypeError, ValueError):
        value = 0
    if value not in valid:
        errors.setdefault("role", []).append(
            ValidationError(
                _("Choose one of the roles: %(roles)s.")
                % {"roles": ", ".join(f"{key} ({label})" for key, label in valid.items())},
                code="invalid_choice",
            )
        )
    return value


def _check_language(language: str | None, errors: dict[str, list[ValidationError]]) -> str:
    languages = dict(settings.LANGUAGES)
    value = (language or "").strip().lower()
    if value not in languages:
        errors.setdefault("language", []).append(
            ValidationError(
                _("Choose one of the languages: %(languages)s.")
                % {"languages": ", ".join(languages)},
                code="invalid_choice",
            )
        )
    return value


def initial_password_partner(grant: RoleGrant, tenant: Tenant) -> Tenant:
    """The tenant in whose name an initial password is set: the actor's role source.

    Operators have no role source: their initial passwords count for the partner whose tree
    the tenant is in (the ancestor directly below the platform root).
    """
    if grant.source is not None:
        return grant.source
    paths = tenant.ancestor_paths()
    partner_path = paths[1] if len(paths) > 1 else paths[0]
    if partner_path == tenant.path:
        return tenant
    return Tenant.objects.defer("logo_png").get(path=partner_path)


def _password_inputs(*values: str | None) -> list[str]:
    return [value for value in values if value]


def _initial_password_missing() -> ValidationError:
    return ValidationError(
        _("Enter the initial password, or choose the invitation instead."), code="required"
    )


def _check_initial_password(
    *,
    password: str,
    email: str,
    first_name: str,
    last_name: str,
    tenant: Tenant,
    partner: Tenant,
) -> None:
    """The one policy, plus: not the same as another pending initial password of the partner.

    Only salted hashes exist; the candidate is checked against the hashes of the partner's
    users who have not changed their initial password yet (``check_password`` per hash).
    """
    master_name = tenant.parent.name if tenant.parent is not None else None
    try:
        validate_password(
            password,
            user_inputs=_password_inputs(
                email, first_name, last_name, tenant.name, master_name, partner.name
            ),
        )
    except ValidationError as exc:
        raise ValidationError({"password": exc.error_list}) from exc
    pending = User.objects.filter(initial_password_by=partner, must_change_password=True).only(
        "pk", "password"
    )
    for other in pending:
        if check_password(password, other.password):
            raise ValidationError(
                {
                    "password": ValidationError(
                        _(
                            "You have already given this initial password to another user who "
                            "has not changed it yet. Repeated password patterns across tenants "
                            "are easy to guess: choose a different password for every user."
                        ),
                        code="password_reused",
                    )
                }
            )


def _active_administrators(tenant: Tenant) -> QuerySet[Membership]:
    return Membership.objects.filter(
        tenant=tenant, role=Role.ADMINISTRATOR, deactivated_at__isnull=True, user__is_active=True
    )


def _administrator_warnings(tenant: Tenant) -> list[str]:
    count = _active_administrators(tenant).count()
    if count <= ADMINISTRATORS_RECOMMENDED_MAX:
        return []
    return [
        _(
            "%(tenant)s now has %(count)d administrators. We recommend keeping the number of "
            "administrators as small as possible: give other users a weaker role unless it is "
            "unavoidable."
        )
        % {"tenant": tenant.name, "count": count}
    ]


def _lock_tenant(tenant: Tenant) -> Tenant:
    """Lock the tenant row: changes to its administrators are serialised per tenant."""
    return (
        Tenant.objects.select_for_update(of=("self",))
        .select_related("parent")
        .defer("logo_png", "parent__logo_png")
        .get(pk=tenant.pk)
    )


def _inviter_name(actor: Actor) -> str:
    return actor.user.get_full_name()


def _invitation_create(*, actor: Actor, tenant: Tenant, user: User, role: int) -> str:
    """A new single-use invitation (older pending ones of the user here are revoked)."""
    now = timezone.now()
    Invitation.objects.filter(
        tenant=tenant, user=user, used_at__isnull=True, revoked_at__isnull=True
    ).update(revoked_at=now)
    raw = secrets.token_urlsafe(32)
    Invitation.objects.create(
        tenant=tenant,
        user=user,
        role=role,
        created_by=actor.user,
        token_hash=invitation_token_hash(raw),
        expires_at=now + timedelta(hours=INVITATION_VALID_HOURS),
    )
    return raw


def _mail_invitation(*, actor: Actor, tenant: Tenant, user: User, role: int, raw: str) -> None:
    mail_queue(
        kind="user.invitation",
        template="user_invitation",
        context={
            "user": user,
            "inviter": _inviter_name(actor),
            "role_label": Role(role).label,
            "accept_url": settings.SITE_URL + reverse("accounts:invitation", args=[raw]),
            "valid_hours": INVITATION_VALID_HOURS,
        },
        to_user=user,
        tenant=tenant,
    )


def _mail_added(*, actor: Actor, tenant: Tenant, user: User, role: int) -> None:
    mail_queue(
        kind="user.added",
        template="user_added",
        context={
            "user": user,
            "inviter": _inviter_name(actor),
            "role_label": Role(role).label,
            "tenant_url": settings.SITE_URL + reverse("tenants:home", args=[tenant.slug]),
        },
        to_user=user,
        tenant=tenant,
    )


def _mail_verification(*, tenant: Tenant, user: User, role: int) -> None:
    mail_queue(
        kind="user.verify_email",
        template="user_verify_email",
        context={
            "user": user,
            "role_label": Role(role).label,
            "confirm_url": email_verification_url(user),
            "valid_days": EMAIL_VERIFY_MAX_AGE // (24 * 3600),
        },
        to_user=user,
        tenant=tenant,
    )


def user_add(
    *,
    actor: Actor,
    tenant: Tenant,
    email: str,
    role: int,
    first_name: str = "",
    last_name: str = "",
    language: str = "en",
    method: str = HandOverMethod.INVITATION,
    password: str | None = None,
) -> UserAddResult:
    """Give a person a role in ``tenant``: invite them, set an initial password, or, when they
    already have a user on the platform, add the membership and tell them by mail.

    Raises NotFound, PermissionDenied, or ValidationError with per-field messages.
    """
    errors: dict[str, list[ValidationError]] = {}
    role_value = _check_role(role, errors)
    action = (
        Action.USER_CREATE_ADMINISTRATOR if role_value == Role.ADMINISTRATOR else Action.USER_MANAGE
    )
    grant = _require_user_manage(actor, tenant, action)
    try:
        clean_email = clean_email_address(email)
    except ValidationError as exc:
        errors.setdefault("email", []).extend(exc.error_list)
        clean_email = ""
    first = _clean_name(first_name, "first_name", errors)
    last = _clean_name(last_name, "last_name", errors)
    clean_language = _check_language(language, errors)
    if method not in HandOverMethod.values:
        errors.setdefault("method", []).append(
            ValidationError(
                _("Choose one of the hand-over methods: %(methods)s.")
                % {"methods": ", ".join(HandOverMethod.values)},
                code="invalid_choice",
            )
        )
    if method == HandOverMethod.INVITATION and password:
        errors.setdefault("password", []).append(
            ValidationError(
                _(
                    "A password is only given with the method “initial_password”. With an "
                    "invitation, the person sets their own password."
                ),
                code="unexpected",
            )
        )
    if errors and method == HandOverMethod.INITIAL_PASSWORD and "password" not in errors:
        # All problems in one round: the form is refused anyway, so judge the password too.
        try:
            if not password:
                raise ValidationError({"password": _initial_password_missing()})
            _check_initial_password(
                password=password,
                email=clean_email or email,
                first_name=first,
                last_name=last,
                tenant=tenant,
                partner=initial_password_partner(grant, tenant),
            )
        except ValidationError as exc:
            errors.setdefault("password", []).extend(exc.error_dict["password"])
    if errors:
        raise ValidationError(errors)
    try:
        with transaction.atomic():
            locked = _lock_tenant(tenant)
            existing = User.objects.filter(email__iexact=clean_email).first()
            if existing is not None:
                result = _add_existing(
                    actor=actor,
                    grant=grant,
                    tenant=locked,
                    user=existing,
                    role=role_value,
                    method=method,
                )
            else:
                result = _add_new(
                    actor=actor,
                    grant=grant,
                    tenant=locked,
                    email=clean_email,
                    first_name=first,
                    last_name=last,
                    language=clean_language,
                    role=role_value,
                    method=method,
                    password=password or "",
                )
    except IntegrityError as exc:
        # Lost a race: the same address was added at the same moment.
        raise ValidationError(
            {
                "email": ValidationError(
                    _(
                        "This address was added at the same moment by someone else. Please "
                        "check the list of users."
                    ),
                    code="already_member",
                )
            }
        ) from exc
    return result


def _already_member_error(tenant: Tenant) -> ValidationError:
    return ValidationError(
        {
            "email": ValidationError(
                _(
                    "This person is already a user of %(tenant)s. Change their role in the list of "
                    "users instead."
                )
                % {"tenant": tenant.name},
                code="already_member",
            )
        }
    )


def _add_existing(
    *, actor: Actor, grant: RoleGrant, tenant: Tenant, user: User, role: int, method: str
) -> UserAddResult:
    if Membership.objects.filter(tenant=tenant, user=user).exists():
        raise _already_member_error(tenant)
    membership = Membership.objects.create(
        tenant=tenant, user=user, role=role, created_by=actor.user
    )
    if user.has_usable_password():
        outcome = AddOutcome.ADDED_EXISTING
        _mail_added(actor=actor, tenant=tenant, user=user, role=role)
    else:
        # They never set a password (an open invitation elsewhere): invite them here, too.
        outcome = AddOutcome.INVITED
        raw = _invitation_create(actor=actor, tenant=tenant, user=user, role=role)
        _mail_invitation(actor=actor, tenant=tenant, user=user, role=role, raw=raw)
    audit_record(
        actor=actor,
        action="user.add",
        tenant=tenant,
        grant=grant,
        obj=membership,
        changes={
            "email": user.email,
            "role": role,
            "outcome": str(outcome),
            "existing_user": True,
            "method_requested": method,
        },
    )
    warnings = _administrator_warnings(tenant) if role == Role.ADMINISTRATOR else []
    return UserAddResult(user=user, membership=membership, outcome=outcome, warnings=warnings)


def _add_new(
    *,
    actor: Actor,
    grant: RoleGrant,
    tenant: Tenant,
    email: str,
    first_name: str,
    last_name: str,
    language: str,
    role: int,
    method: str,
    password: str,
) -> UserAddResult:
    user = User(email=email, first_name=first_name, last_name=last_name, language=language)
    if method == HandOverMethod.INITIAL_PASSWORD:
        if not password:
            raise ValidationError({"password": _initial_password_missing()})
        partner = initial_password_partner(grant, tenant)
        _check_initial_password(
            password=password,
            email=email,
            first_name=first_name,
            last_name=last_name,
            tenant=tenant,
            partner=partner,
        )
        user.set_password(password)
        user.must_change_password = True
        user.initial_password_by = partner
        outcome = AddOutcome.INITIAL_PASSWORD
    else:
        user.set_unusable_password()
        outcome = AddOutcome.INVITED
    user.save(force_insert=True)
    membership = Membership.objects.create(
        tenant=tenant, user=user, role=role, created_by=actor.user
    )
    if outcome == AddOutcome.INVITED:
        raw = _invitation_create(actor=actor, tenant=tenant, user=user, role=role)
        _mail_invitation(actor=actor, tenant=tenant, user=user, role=role, raw=raw)
    else:
        _mail_verification(tenant=tenant, user=user, role=role)
    audit_record(
        actor=actor,
        action="user.add",
        tenant=tenant,
        grant=grant,
        obj=membership,
        changes={"email": email, "role": role, "outcome": str(outcome), "existing_user": False},
    )
    warnings = _administrator_warnings(tenant) if role == Role.ADMINISTRATOR else []
    return UserAddResult(user=user, membership=membership, outcome=outcome, warnings=warnings)


def _membership_for_update(tenant: Tenant, user_id: int) -> Membership:
    membership = (
        Membership.objects.select_for_update(of=("self",))
        .select_related("user")
        .filter(tenant=tenant, user_id=user_id)
        .first()
    )
    if membership is None:
        raise NotFound
    return membership


def _refuse_last_administrator(tenant: Tenant, membership: Membership) -> None:
    """A handed-over tenant keeps at least one active administrator (the customer's)."""
    if tenant.status != TenantStatus.HANDED_OVER:
        return
    if (
        membership.role != Role.ADMINISTRATOR
        or membership.deactivated_at is not None
        or not membership.user.is_active
    ):
        return
    if _active_administrators(tenant).exclude(pk=membership.pk).exists():
        return
    raise ValidationError(
        _(
            "%(user)s is the last active administrator of %(tenant)s, which has been handed over "
            "to the customer. A handed-over tenant needs at least one administrator: create or "
            "reactivate another administrator first."
        )
        % {"user": membership.user.get_full_name(), "tenant": tenant.name},
        code="last_administrator",
    )


def _revoke_pending_invitations(tenant: Tenant, user: User) -> int:
    return Invitation.objects.filter(
        tenant=tenant, user=user, used_at__isnull=True, revoked_at__isnull=True
    ).update(revoked_at=timezone.now())


def membership_change_role(
    *, actor: Actor, tenant: Tenant, user_id: int, role: int
) -> tuple[Membership, list[str]]:
    """Change a user's role in ``tenant``; returns the membership and warnings."""
    errors: dict[str, list[ValidationError]] = {}
    role_value = _check_role(role, errors)
    action = (
        Action.USER_CREATE_ADMINISTRATOR if role_value == Role.ADMINISTRATOR else Action.USER_MANAGE
    )
    grant = _require_user_manage(actor, tenant, action)
    if errors:
        raise ValidationError(errors)
    with transaction.atomic():
        locked = _lock_tenant(tenant)
        membership = _membership_for_update(locked, user_id)
        before = membership.role
        if before == role_value:
            return membership, []
        if before == Role.ADMINISTRATOR:
            _refuse_last_administrator(locked, membership)
        membership.role = role_value
        membership.save(update_fields=["role"])
        Invitation.objects.filter(
            tenant=locked, user_id=user_id, used_at__isnull=True, revoked_at__isnull=True
        ).update(role=role_value)
        audit_record(
            actor=actor,
            action="membership.role",
            tenant=locked,
            grant=grant,
            obj=membership,
            changes={"user": membership.user.email, "role": [before, role_value]},
        )
        warnings = _administrator_warnings(locked) if role_value == Role.ADMINISTRATOR else []
    return membership, warnings


def membership_deactivate(*, actor: Actor, tenant: Tenant, user_id: int) -> Membership:
    """The membership stays (audit trail) but grants nothing; open invitations are revoked."""
    grant = _require_user_manage(actor, tenant)
    with transaction.atomic():
        locked = _lock_tenant(tenant)
        membership = _membership_for_update(locked, user_id)
        if membership.deactivated_at is not None:
            return membership
        _refuse_last_administrator(locked, membership)
        membership.deactivated_at = timezone.now()
        membership.save(update_fields=["deactivated_at"])
        revoked = _revoke_pending_invitations(locked, membership.user)
        audit_record(
            actor=actor,
            action="membership.deactivate",
            tenant=locked,
            grant=grant,
            obj=membership,
            changes={"user": membership.user.email, "invitations_revoked": revoked},
        )
    return membership


def membership_reactivate(
    *, actor: Actor, tenant: Tenant, user_id: int
) -> tuple[Membership, list[str]]:
    grant = _require_user_manage(actor, tenant)
    with transaction.atomic():
        locked = _lock_tenant(tenant)
        membership = _membership_for_update(locked, user_id)
        if membership.deactivated_at is None:
            return membership, []
        if membership.role == Role.ADMINISTRATOR:
            # Reactivating an administrator gives the role back: the same right as granting it.
            _require_user_manage(actor, tenant, Action.USER_CREATE_ADMINISTRATOR)
        membership.deactivated_at = None
        membership.save(update_fields=["deactivated_at"])
        audit_record(
            actor=actor,
            action="membership.reactivate",
            tenant=locked,
            grant=grant,
            obj=membership,
            changes={"user": membership.user.email},
        )
        warnings = _administrator_warnings(locked) if membership.role == Role.ADMINISTRATOR else []
    return membership, warnings


def membership_update(
    *,
    actor: Actor,
    tenant: Tenant,
    user_id: int,
    role: int | None = None,
    active: bool | None = None,
) -> list[str]:
    """Role and/or active state in one go (the API's PATCH): all or nothing. Returns warnings."""
    warnings: list[str] = []
    with transaction.atomic():
        if role is not None:
            _membership, more = membership_change_role(
                actor=actor, tenant=tenant, user_id=user_id, role=role
            )
            warnings += more
        if active is False:
            membership_deactivate(actor=actor, tenant=tenant, user_id=user_id)
        elif active is True:
            _membership, more = membership_reactivate(actor=actor, tenant=tenant, user_id=user_id)
            warnings += more
    if role is None and active is None:
        _require_user_manage(actor, tenant)
    return warnings


def membership_remove(*, actor: Actor, tenant: Tenant, user_id: int) -> User:
    """Delete the membership (the user keeps their other tenants); returns the user."""
    grant = _require_user_manage(actor, tenant)
    with transaction.atomic():
        locked = _lock_tenant(tenant)
        membership = _membership_for_update(locked, user_id)
        _refuse_last_administrator(locked, membership)
        user = membership.user
        revoked = _revoke_pending_invitations(locked, user)
        audit_record(
            actor=actor,
            action="membership.remove",
            tenant=locked,
            grant=grant,
            obj=membership,
            changes={"user": user.email, "role": membership.role, "invitations_revoked": revoked},
        )
        membership.delete()
    return user


def user_resend(*, actor: Actor, tenant: Tenant, user_id: int) -> str:
    """Send the invitation again (older links stop working) or, for a user with an initial
    password whose address is not proven yet, the confirmation link. Returns what was sent:
    ``"invitation"`` or ``"verification"``."""
    grant = _require_user_manage(actor, tenant)
    with transaction.atomic():
        locked = _lock_tenant(tenant)
        membership = _membership_for_update(locked, user_id)
        user = membership.user
        if membership.deactivated_at is not None or not user.is_active:
            raise ValidationError(
                _("%(user)s is deactivated. Reactivate them first.")
                % {"user": user.get_full_name()},
                code="user_deactivated",
            )
        if not user.has_usable_password():
            raw = _invitation_create(actor=actor, tenant=locked, user=user, role=membership.role)
            _mail_invitation(actor=actor, tenant=locked, user=user, role=membership.role, raw=raw)
            sent = "invitation"
        elif user.email_verified_at is None:
            _mail_verification(tenant=locked, user=user, role=membership.role)
            sent = "verification"
        else:
            raise ValidationError(
                _(
                    "%(user)s has already set a password and confirmed their e-mail address: "
                    "there is nothing to send again."
                )
                % {"user": user.get_full_name()},
                code="nothing_to_resend",
            )
        audit_record(
            actor=actor,
            action="user.resend",
            tenant=locked,
            grant=grant,
            obj=membership,
            changes={"user": user.email, "sent": sent},
        )
    return sent


def invitation_accept(*, token: str, password: str) -> tuple[User, Tenant]:
    """Set the invited person's password; the link is used up. Raises InvitationProblem or
    ValidationError (field ``password``)."""
    with transaction.atomic():
        invitation = invitation_for_token(token, for_update=True)
        user = User.objects.select_for_update().get(pk=invitation.user_id)
        tenant = invitation.tenant
        try:
            validate_password(
                password,
                user_inputs=_password_inputs(
                    user.email,
                    user.first_name,
                    user.last_name,
                    tenant.name,
                    tenant.parent.name if tenant.parent is not None else None,
                ),
            )
        except ValidationError as exc:
            raise ValidationError({"password": exc.error_list}) from exc
        now = timezone.now()
        user.set_password(password)
        user.must_change_password = False
        user.initial_password_by = None
        if user.email_verified_at is None:
            user.email_verified_at = now
        user.save(
            update_fields=[
                "password",
                "must_change_password",
                "initial_password_by",
                "email_verified_at",
            ]
        )
        invitation.used_at = now
        invitation.save(update_fields=["used_at"])
        # Open invitations to other tenants are fulfilled too: the person has a password now.
        Invitation.objects.filter(user=user, used_at__isnull=True, revoked_at__isnull=True).update(
            used_at=now
        )
        audit_record(
            actor=Actor(user=user),
            action="invitation.accept",
            tenant=tenant,
            obj=invitation,
            changes={"user": user.email},
        )
    return user, tenant
