"""DKIM private keys encrypted at rest.

The private key PEM is stored as ``enc1:<Fernet token>``. The Fernet key is derived from
``settings.SECRET_KEY`` with HKDF-SHA256 and a purpose label, so it is never the secret key
itself and no other use of the secret key can produce it. Decryption also tries every key in
``settings.SECRET_KEY_FALLBACKS``, so rotating the secret key keeps the DKIM keys readable;
``mandant dkim_reencrypt_keys`` then re-encrypts every row with the current key (the rotation
rule is in docs/deployment.md).

``SealedTextField`` encrypts on save: whatever is assigned in plain text is replaced by its
token before it reaches the database (and on the instance), so the model attribute only ever
holds plain text between assignment and save.
"""

import base64
import functools
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from django.conf import settings
from django.db import models
from django.views.decorators.debug import sensitive_variables

PREFIX = "enc1:"
# The HKDF "info": a key derived for this purpose is useless for anything else.
PURPOSE = b"mandant.sending.dkim-private-key.v1"
_SALT = b"mandant-key-sealing"


class KeyUnavailable(Exception):
    """The sealed value cannot be decrypted with SECRET_KEY or any of SECRET_KEY_FALLBACKS."""


def _derive(secret: str | bytes) -> Fernet:
    raw = secret.encode("utf-8") if isinstance(secret, str) else secret
    key = HKDF(algorithm=hashes.SHA256(), length=32, salt=_SALT, info=PURPOSE).derive(raw)
    return Fernet(base64.urlsafe_b64encode(key))


@functools.lru_cache(maxsize=8)
def _fernet_for(secrets: tuple[str | bytes, ...]) -> MultiFernet:
    return MultiFernet([_derive(secret) for secret in secrets])


def _fernet() -> MultiFernet:
    # Looked up per call (cached per value) so a changed setting takes effect at once.
    fallbacks = tuple(getattr(settings, "SECRET_KEY_FALLBACKS", ()) or ())
    return _fernet_for((settings.SECRET_KEY, *fallbacks))


def is_sealed(value: str | None) -> bool:
    return bool(value) and str(value).startswith(PREFIX)


@sensitive_variables("plaintext")
def seal(plaintext: str) -> str:
    """The encrypted form of ``plaintext`` (with the current SECRET_KEY)."""
    return PREFIX + _fernet().encrypt(plaintext.encode("utf-8")).decode("ascii")


@sensitive_variables()
def unseal(value: str) -> str:
    """The plain text of a sealed value; KeyUnavailable if no configured key opens it."""
    if not is_sealed(value):
        raise KeyUnavailable("the value is not encrypted (run the migrations)")
    try:
        return _fernet().decrypt(value[len(PREFIX) :].encode("ascii")).decode("utf-8")
    except (InvalidToken, UnicodeError, ValueError):
        raise KeyUnavailable(
            "the key cannot be decrypted with SECRET_KEY or SECRET_KEY_FALLBACKS"
        ) from None


def reseal(value: str) -> str:
    """The value encrypted with the current SECRET_KEY (from any of the fallbacks)."""
    if not is_sealed(value):
        return seal(value)
    try:
        return PREFIX + _fernet().rotate(value[len(PREFIX) :].encode("ascii")).decode("ascii")
    except (InvalidToken, ValueError):
        raise KeyUnavailable(
            "the key cannot be decrypted with SECRET_KEY or SECRET_KEY_FALLBACKS"
        ) from None


class SealedTextField(models.TextField):
    """A text column stored encrypted (``enc1:<token>``); reads return the token, never the
    plain text: call ``unseal`` where the secret is needed."""

    def pre_save(self, model_instance: models.Model, add: bool) -> Any:
        value = super().pre_save(model_instance, add)
        if value and not is_sealed(value):
            value = seal(value)
            setattr(model_instance, self.attname, value)
        return value

    def get_prep_value(self, value: Any) -> Any:
        # Also for QuerySet.update() and bulk_create(), which skip pre_save.
        value = super().get_prep_value(value)
        if value and not is_sealed(value):
            return seal(value)
        return value
