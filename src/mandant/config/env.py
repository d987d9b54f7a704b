"""Reading configuration from environment variables (12-factor)."""

import os
from urllib.parse import parse_qs, unquote, urlparse

from django.core.exceptions import ImproperlyConfigured

TRUE_WORDS = {"1", "true", "yes", "on"}


def env_str(name: str, default: str | None = None) -> str | None:
    value = os.environ.get(name)
    return value if value not in (None, "") else default


def env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    return value.strip().lower() in TRUE_WORDS


def env_int(name: str, default: int) -> int:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    try:
        return int(value)
    except ValueError as exc:
        raise ImproperlyConfigured(f"{name} must be a whole number, got {value!r}") from exc


def env_list(name: str, default: list[str]) -> list[str]:
    value = os.environ.get(name)
    if value is None or value.strip() == "":
        return default
    return [part.strip() for part in value.split(",") if part.strip()]


def email_settings(url: str) -> dict[str, object]:
    """Translate ``EMAIL_URL`` into Django's e-mail settings.

    ``outbox://`` keeps every message in the database (shown on the operator page);
    ``smtp://user:pass@host:port?tls=1`` (or ``ssl=1``) talks to a real relay.
    """
    parsed = urlparse(url)
    if parsed.scheme == "outbox":
        return {"EMAIL_BACKEND": "mandant.notices.backends.OutboxBackend"}
    if parsed.scheme in ("smtp", "smtps"):
        query = parse_qs(parsed.query)
        return {
            "EMAIL_BACKEND": "django.core.mail.backends.smtp.EmailBackend",
            "EMAIL_HOST": parsed.hostname or "localhost",
            "EMAIL_PORT": parsed.port or (465 if parsed.scheme == "smtps" else 25),
            "EMAIL_HOST_USER": unquote(parsed.username or ""),
            "EMAIL_HOST_PASSWORD": unquote(parsed.password or ""),
            "EMAIL_USE_TLS": query.get("tls", ["0"])[0] in TRUE_WORDS,
            "EMAIL_USE_SSL": parsed.scheme == "smtps" or query.get("ssl", ["0"])[0] in TRUE_WORDS,
            "EMAIL_TIMEOUT": 10,
        }
    raise ImproperlyConfigured(f"EMAIL_URL scheme {parsed.scheme!r} is not supported")
