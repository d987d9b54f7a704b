"""Send-rate limits shared by every worker on every machine: per tenant (its edition and
upgrades, ``send_rate_per_hour``) and per relay (``SENDING_RELAY_RATE_PER_HOUR``).

A limit is a fixed window in the database (``RateWindow``): a lane reserves the messages of its
next chunk before it claims them. One short locked update per chunk of up to
``CLAIM_SIZE`` messages, not one per message, so the limit costs nothing measurable at full
speed. Windows are one second long for limits of at least 36,000 an hour and one minute below
(a second would allow less than ten messages).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from django.conf import settings
from django.db import transaction

from mandant.billing.features import feature_limit
from mandant.campaigns.models import RateWindow
from mandant.tenants.models import Tenant


@dataclass(frozen=True)
class Limit:
    key: str
    per_hour: int

    @property
    def window_seconds(self) -> int:
        return 1 if self.per_hour >= 36_000 else 60

    @property
    def per_window(self) -> int:
        return max(1, self.per_hour * self.window_seconds // 3600)


def limits_for(tenant: Tenant, relay: str) -> list[Limit]:
    limits = []
    tenant_rate = feature_limit(tenant, "send_rate_per_hour")
    if tenant_rate is not None:
        limits.append(Limit(f"tenant:{tenant.pk}", tenant_rate))
    relay_rate = getattr(settings, "SENDING_RELAY_RATE_PER_HOUR", None)
    if relay_rate:
        limits.append(Limit(f"relay:{relay}", int(relay_rate)))
    return limits


def _reserve_one(limit: Limit, wanted: int) -> tuple[int, float]:
    """Up to ``wanted`` messages of the current window: (granted, seconds to the next window)."""
    now = time.time()
    window = int(now) // limit.window_seconds
    wait = (window + 1) * limit.window_seconds - now
    RateWindow.objects.bulk_create([RateWindow(key=limit.key)], ignore_conflicts=True)
    with transaction.atomic():
        row = RateWindow.objects.select_for_update().get(key=limit.key)
        used = row.used if row.window == window else 0
        granted = max(0, min(wanted, limit.per_window - used))
        if granted or row.window != window:
            RateWindow.objects.filter(key=limit.key).update(window=window, used=used + granted)
    return granted, wait


def reserve(limits: list[Limit], wanted: int) -> tuple[int, float]:
    """How many messages may go out now (at most ``wanted``), and when to ask again if none.
    Every limit is charged the smallest grant; a larger grant of an earlier limit is given
    back only by its window ending (it errs on the slow side)."""
    granted = wanted
    wait = 0.0
    for limit in limits:
        got, until_next = _reserve_one(limit, granted)
        granted = min(granted, got)
        if not granted:
            return 0, until_next
        wait = max(wait, until_next)
    return granted, wait


def chunk_size(limits: list[Limit], default: int) -> int:
    """A chunk never asks for more than one window of the strictest limit allows."""
    return min([default, *[limit.per_window for limit in limits]])
