"""Login throttling per (account, client): 3 failures in a row block that pair for 30 minutes.

Keyed by both, so an attacker's failures from one address never lock out the real user
logging in from elsewhere.
"""

from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.http import HttpRequest
from django.utils import timezone

from mandant.accounts.models import LoginFailure, normalize_email_address


def client_address(request: HttpRequest) -> str:
    # Behind a proxy, configure it to set REMOTE_ADDR (e.g. gunicorn --forwarded-allow-ips).
    return str(request.META.get("REMOTE_ADDR") or "unknown")[:64]


def blocked_until(*, email: str, client: str) -> datetime | None:
    row = LoginFailure.objects.filter(
        email_key=normalize_email_address(email), client=client
    ).first()
    if row is None or row.blocked_until is None or row.blocked_until <= timezone.now():
        return None
    return row.blocked_until


def record_failure(*, email: str, client: str) -> datetime | None:
    """Count a failure; return the block end when this failure triggers a block."""
    now = timezone.now()
    with transaction.atomic():
        row, _created = LoginFailure.objects.select_for_update().get_or_create(
            email_key=normalize_email_address(email)[:254],
            client=client,
            defaults={"failures": 0, "last_failure_at": now},
        )
        if row.blocked_until is not None and row.blocked_until <= now:
            row.failures, row.blocked_until = 0, None
        row.failures += 1
        row.last_failure_at = now
        if row.failures >= settings.LOGIN_FAILURE_LIMIT:
            row.blocked_until = now + timedelta(minutes=settings.LOGIN_BLOCK_MINUTES)
        row.save()
        return row.blocked_until


def record_success(*, email: str, client: str) -> None:
    LoginFailure.objects.filter(email_key=normalize_email_address(email), client=client).delete()
