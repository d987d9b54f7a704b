"""Proving an e-mail address: a signed, expiring token sent to the address.

The token is signed with Django's signing framework under its own salt, so it can serve
nothing else (not a password reset, not an invitation), and it names the address it was made
for: after an address change, older tokens no longer confirm anything. Nothing is stored.

Used by the administrator hand-over (initial password set by a partner) and, for changed
addresses, by the account-security pages.
"""

from django.conf import settings
from django.core import signing
from django.core.exceptions import ValidationError
from django.db import transaction
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from mandant.accounts.models import User, normalize_email_address
from mandant.audit.services import audit_record
from mandant.core.actor import Actor

EMAIL_VERIFY_SALT = "mandant.email-verify"
# Long enough for a customer who reads the mail after a weekend; short enough to go stale.
EMAIL_VERIFY_MAX_AGE = 7 * 24 * 3600


def make_email_verification_token(user: User) -> str:
    """A token that proves ``user.email`` once its owner follows the link."""
    return signing.dumps(
        {"u": user.pk, "e": normalize_email_address(user.email)}, salt=EMAIL_VERIFY_SALT
    )


def email_verification_url(user: User) -> str:
    token = make_email_verification_token(user)
    return settings.SITE_URL + reverse("accounts:verify_email", args=[token])


def _invalid() -> ValidationError:
    return ValidationError(
        _(
            "This confirmation link is not valid. Please use the complete link from the most "
            "recent e-mail."
        ),
        code="invalid",
    )


def email_verification_user(token: str) -> User:
    """The user the token was made for, without changing anything (for the confirm page).

    Raises ValidationError with code ``expired`` or ``invalid``.
    """
    try:
        payload = signing.loads(token, salt=EMAIL_VERIFY_SALT, max_age=EMAIL_VERIFY_MAX_AGE)
    except signing.SignatureExpired:
        raise ValidationError(
            _("This confirmation link has expired. Please ask for a new one."), code="expired"
        ) from None
    except signing.BadSignature:
        raise _invalid() from None
    user_id = payload.get("u") if isinstance(payload, dict) else None
    if not isinstance(user_id, int):
        raise _invalid()
    user = User.objects.filter(pk=user_id, is_active=True).first()
    if user is None or normalize_email_address(user.email) != payload.get("e"):
        raise _invalid()
    return user


def email_verification_confirm(token: str) -> User:
    """Mark the token's address as verified (idempotent); return the user.

    Raises ValidationError with code ``expired`` or ``invalid``.
    """
    user = email_verification_user(token)
    with transaction.atomic():
        locked = User.objects.select_for_update().get(pk=user.pk)
        if locked.email_verified_at is None:
            locked.email_verified_at = timezone.now()
            locked.save(update_fields=["email_verified_at"])
            audit_record(
                actor=Actor(user=locked),
                action="user.email_verified",
                tenant=None,
                obj=locked,
                changes={"email": locked.email},
            )
    return locked
