"""Open and click tracking, the public image route and the web version: signed tokens, the
tracked links of a campaign and the events recipients cause.

Tokens are short, URL-safe and signed with a keyed BLAKE2b MAC (a key derived from
``SECRET_KEY`` and a salt per purpose; ``SECRET_KEY_FALLBACKS`` still verify):

* a *recipient token* ``<tenant>.<campaign>.<contact>.<mac>`` (ids in hex) names one delivery
  (unique per campaign and contact). The open pixel ``/o/<token>.gif``, the click redirects
  ``/c/<token>/<link>/`` and the web version ``/w/<token>/`` all use it, so personalising a
  message computes one MAC, however many links it has (about 1 µs). The link id in a click URL
  is outside the MAC on purpose: it only chooses among the links *stored for that campaign*
  (a link of another campaign or an unknown id is a 404), so changing it can neither redirect
  anywhere else nor touch another recipient's figures;
* an *image token* ``<tenant>.<asset key>.<sha256>.<mac>`` names one image of one tenant in one
  version (its blob), so its URL never changes content and may be cached for a year.

The models live here rather than in ``models.py``; ``apps.CampaignsConfig.ready`` imports this
module so Django registers them.
"""

import hashlib
import uuid

from django.db import IntegrityError, models, transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django_scopes import ScopedManager, scope

from mandant.campaigns.models import Campaign
from mandant.core import tokens
from mandant.tenants.models import Tenant

RECIPIENT_SALT = "mandant.campaigns.tracking.recipient"
IMAGE_SALT = "mandant.campaigns.tracking.image"


class TrackingLink(models.Model):
    """A target of a tracked campaign: a link (``url``) or, with an empty URL, the open pixel.

    Written by the message builder (idempotent: unique per campaign and URL), read by the click
    redirect, which sends the recipient only to a URL stored here. A campaign with a row here
    was tracked when it was sent (statistics show opens and clicks only then).
    """

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+", db_index=False)
    campaign = models.ForeignKey(
        Campaign, on_delete=models.CASCADE, related_name="+", db_index=False
    )
    url = models.TextField(blank=True)
    url_hash = models.CharField(max_length=64)  # sha256 of the URL (TEXT is not indexable)

    objects: models.Manager["TrackingLink"] = ScopedManager(tenant="tenant")

    class Meta:
        app_label = "campaigns"
        verbose_name = _("tracked link")
        verbose_name_plural = _("tracked links")
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "campaign", "url_hash"], name="tracking_link_once"
            )
        ]

    def __str__(self) -> str:
        return self.url or "(open pixel)"


class EventKind(models.TextChoices):
    OPEN = "open", _("open")
    CLICK = "click", _("click")


class TrackingEvent(models.Model):
    """One open (the pixel was fetched) or click of one recipient. Written with one INSERT and
    nothing else; unique opens and clicks are counted at read time (distinct contacts)."""

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+", db_index=False)
    campaign = models.ForeignKey(
        Campaign, on_delete=models.CASCADE, related_name="+", db_index=False
    )
    # No foreign key, as on Delivery: deleting a contact keeps the campaign's history.
    contact_id = models.BigIntegerField()
    kind = models.CharField(max_length=5, choices=EventKind.choices)
    link_id = models.BigIntegerField(null=True, blank=True)  # TrackingLink of a click
    at = models.DateTimeField(default=timezone.now)

    objects: models.Manager["TrackingEvent"] = ScopedManager(tenant="tenant")

    class Meta:
        app_label = "campaigns"
        verbose_name = _("tracking event")
        verbose_name_plural = _("tracking events")
        indexes = [
            models.Index(
                fields=["tenant", "campaign", "kind", "contact_id"], name="tracking_event_count"
            )
        ]

    def __str__(self) -> str:
        return f"{self.campaign_id}:{self.contact_id}:{self.kind}"


# --- signing ----------------------------------------------------------------------------------


# Tokens are short keyed MACs (mandant.core.tokens): a URL in every mail, made per recipient.


def recipient_prefix(tenant_id: int, campaign_id: int) -> str:
    """The part of every recipient token of a campaign before the contact id."""
    return f"{tenant_id:x}.{campaign_id:x}."


def recipient_token(tenant_id: int, campaign_id: int, contact_id: int) -> str:
    payload = f"{recipient_prefix(tenant_id, campaign_id)}{contact_id:x}"
    return f"{payload}.{tokens.mac(tokens.mac_key(RECIPIENT_SALT), payload)}"


def read_recipient_token(token: str) -> tuple[int, int, int] | None:
    """(tenant id, campaign id, contact id), or None for a tampered or malformed token. Contact
    id 0: a test send to an address that is no contact."""
    parts = token.split(".")
    if len(parts) != 4:
        return None
    ids = tokens.hex_ids(parts[:3])
    if ids is None or not tokens.verify(RECIPIENT_SALT, ".".join(parts[:3]), parts[3]):
        return None
    return ids[0], ids[1], ids[2]


def image_token(tenant_id: int, key: str, sha256: str) -> str:
    payload = f"{tenant_id:x}.{uuid.UUID(key).hex}.{sha256}"
    return f"{payload}.{tokens.mac(tokens.mac_key(IMAGE_SALT), payload)}"


def read_image_token(token: str) -> tuple[int, uuid.UUID, str] | None:
    """(tenant id, asset key, blob sha256), or None for a tampered or malformed token."""
    parts = token.split(".")
    if len(parts) != 4 or len(parts[1]) != 32 or len(parts[2]) != 64:
        return None
    ids = tokens.hex_ids(parts[:1])
    if ids is None or parts[1].strip("0123456789abcdef") or parts[2].strip("0123456789abcdef"):
        return None
    if not tokens.verify(IMAGE_SALT, ".".join(parts[:3]), parts[3]):
        return None
    return ids[0], uuid.UUID(parts[1]), parts[2]


# --- links and events -------------------------------------------------------------------------


def _url_hash(url: str) -> str:
    return hashlib.sha256(url.encode("utf-8")).hexdigest()


def register_links(campaign: Campaign, urls: list[str]) -> dict[str, int]:
    """The id of each tracked URL of the campaign (and of the open pixel, URL ""), stored on
    first use. Safe when several batches build the same campaign at once: two queries."""
    wanted = {_url_hash(url): url for url in ["", *urls]}
    with scope(tenant=campaign.tenant_id):
        TrackingLink.objects.bulk_create(
            [
                TrackingLink(tenant_id=campaign.tenant_id, campaign=campaign, url=url, url_hash=h)
                for h, url in wanted.items()
            ],
            ignore_conflicts=True,
        )
        rows = TrackingLink.objects.filter(
            tenant_id=campaign.tenant_id, campaign_id=campaign.pk, url_hash__in=list(wanted)
        ).values_list("url_hash", "pk")
        return {wanted[h]: pk for h, pk in rows}


def link_url(tenant_id: int, campaign_id: int, link_id: int) -> str | None:
    """The stored URL of a tracked link of that campaign, or None."""
    with scope(tenant=tenant_id):
        url = (
            TrackingLink.objects.filter(tenant_id=tenant_id, campaign_id=campaign_id, pk=link_id)
            .exclude(url="")
            .values_list("url", flat=True)
            .first()
        )
    return url


def event_record(
    *, tenant_id: int, campaign_id: int, contact_id: int, kind: str, link_id: int | None = None
) -> bool:
    """Record an open or a click: one INSERT. False when the campaign is gone (or the contact
    id is 0, a test send's sample recipient)."""
    if not contact_id:
        return False
    try:
        with transaction.atomic(), scope(tenant=tenant_id):
            TrackingEvent.objects.create(
                tenant_id=tenant_id,
                campaign_id=campaign_id,
                contact_id=contact_id,
                kind=kind,
                link_id=link_id,
            )
    except IntegrityError:
        return False
    return True
