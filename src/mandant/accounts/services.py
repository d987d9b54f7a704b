"""Writes for accounts: users, memberships, language, API keys."""

import hashlib
import hmac
import secrets

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from mandant.accounts.models import ApiKey, Membership, User, normalize_email_address
from mandant.accounts.roles import Action, role_allows
from mandant.audit.services import audit_record
from mandant.core.actor import Actor
from mandant.core.errors import NotFound, PermissionDenied
from mandant.tenants.models import Tenant
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
        audit_record(actor=actor, action="membership.set", tenant=tenant, obj=membership,
                     changes={"user": user.email, "role": role})
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
        audit_record(actor=actor, action="apikey.create", tenant=tenant, grant=grant, obj=key,
                     changes={"name": key.name, "prefix": key.prefix})
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
            audit_record(actor=actor, action="apikey.revoke", tenant=key.tenant, grant=grant,
                         obj=key)
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
    *, email: str, password: str | None, first_name: str = "", last_name: str = "",
    language: str = "en", is_staff: bool = False,
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
