"""Signed one-click unsubscribe links (RFC 8058): the token names the tenant and the contact."""

from django.conf import settings
from django.core import signing
from django.urls import reverse

from mandant.contacts.models import Contact

SALT = "mandant.contacts.unsubscribe"


def unsubscribe_token(contact: Contact) -> str:
    # No expiry: a link in a mail years old must still unsubscribe.
    return signing.Signer(salt=SALT).sign_object([contact.tenant_id, contact.pk])


def read_token(token: str) -> tuple[int, int] | None:
    """(tenant id, contact id), or None for a tampered or malformed token."""
    try:
        value = signing.Signer(salt=SALT).unsign_object(token)
    except (signing.BadSignature, ValueError, TypeError):
        return None
    if not isinstance(value, list) or len(value) != 2 or not all(isinstance(v, int) for v in value):
        return None
    return value[0], value[1]


def unsubscribe_url(contact: Contact) -> str:
    """The absolute URL for ``List-Unsubscribe`` and the footer link."""
    path = reverse("unsubscribe", kwargs={"token": unsubscribe_token(contact)})
    return getattr(settings, "SITE_URL", "").rstrip("/") + path
