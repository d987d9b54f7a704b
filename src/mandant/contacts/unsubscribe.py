"""Signed one-click unsubscribe links (RFC 8058): the token names the tenant and the contact.

Tokens are ``<tenant hex>.<contact hex>.<MAC>`` (mandant.core.tokens; one is made for every
message of a campaign). Links of the earlier format (``django.core.signing``) still work.
"""

from django.conf import settings
from django.core import signing
from django.urls import reverse

from mandant.contacts.models import Contact
from mandant.core import tokens

SALT = "mandant.contacts.unsubscribe"


def unsubscribe_token(contact: Contact) -> str:
    return token_for(contact.tenant_id, contact.pk)


def token_for(tenant_id: int | None, contact_id: int | None) -> str:
    # No expiry: a link in a mail years old must still unsubscribe.
    # A test send goes to an address that is no contact (pk None): its link finds nobody.
    payload = f"{tenant_id or 0:x}.{contact_id or 0:x}"
    return f"{payload}.{tokens.mac(tokens.mac_key(SALT), payload)}"


def read_token(token: str) -> tuple[int, int] | None:
    """(tenant id, contact id), or None for a tampered or malformed token."""
    parts = token.split(".")
    if len(parts) == 3:
        ids = tokens.hex_ids(parts[:2])
        if ids is not None and tokens.verify(SALT, ".".join(parts[:2]), parts[2]):
            return ids[0], ids[1]
        return None
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
