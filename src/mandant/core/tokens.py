"""Short keyed MACs for tokens in URLs that are made per recipient (tracking, unsubscribe).

BLAKE2b with a key derived from ``SECRET_KEY`` and a purpose (the salt), cut to 96 bits: about
2 µs per token where ``django.core.signing`` takes about 50 µs, which counts once per message
of a campaign. Tokens made with an earlier key in ``SECRET_KEY_FALLBACKS`` stay valid.
"""

import base64
import hashlib
import hmac
from functools import lru_cache

from django.conf import settings

MAC_BYTES = 12  # 96 bits: 16 characters of URL-safe base64
MAX_ID_HEX = 16  # a 64-bit id at most


@lru_cache(maxsize=16)
def _derived_key(salt: str, secret: str) -> bytes:
    return hashlib.sha256(f"{salt}\x00{secret}".encode()).digest()


def mac_key(salt: str) -> bytes:
    """The MAC key of a purpose for the current ``SECRET_KEY``."""
    return _derived_key(salt, str(settings.SECRET_KEY))


def _fallback_keys(salt: str) -> list[bytes]:
    return [_derived_key(salt, str(s)) for s in getattr(settings, "SECRET_KEY_FALLBACKS", [])]


def mac(key: bytes, payload: str) -> str:
    digest = hashlib.blake2b(payload.encode("ascii"), key=key, digest_size=MAC_BYTES).digest()
    return base64.urlsafe_b64encode(digest).decode("ascii")


def verify(salt: str, payload: str, signature: str) -> bool:
    try:
        payload.encode("ascii")
    except UnicodeEncodeError:
        return False
    for key in (mac_key(salt), *_fallback_keys(salt)):
        if hmac.compare_digest(mac(key, payload), signature):
            return True
    return False


def hex_ids(parts: list[str]) -> list[int] | None:
    """Lower-case hex ids, or None when one is malformed."""
    ids: list[int] = []
    for part in parts:
        if not part or len(part) > MAX_ID_HEX or part.strip("0123456789abcdef"):
            return None
        ids.append(int(part, 16))
    return ids
