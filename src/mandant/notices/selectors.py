"""Reads of the notices app: outbound messages, notices, undeliverable addresses."""

from dataclasses import dataclass
from datetime import datetime
from email import message_from_bytes, policy
from email.message import EmailMessage

from django.db.models import Count, Q, QuerySet
from django.utils import timezone

from mandant.accounts.models import Membership
from mandant.accounts.roles import Role
from mandant.notices.models import (
    DONE_STATUSES,
    PENDING_STATUSES,
    MessageStatus,
    Notice,
    OutboundMessage,
    OutboxMessage,
)
from mandant.tenants.models import Tenant
from mandant.tenants.selectors import subtree_q

# --------------------------------------------------------------------------------------
# Outbound messages (operator pages)


def outbound_messages(*, status: str = "", limit: int = 200) -> QuerySet[OutboundMessage]:
    qs = OutboundMessage.objects.select_related("tenant").defer(
        "text_body", "html_body", "tenant__logo_png"
    )
    if status:
        qs = qs.filter(status=status)
    return qs.order_by("-created_at", "-pk")[:limit]


def outbound_message(message_id: int) -> OutboundMessage | None:
    return (
        OutboundMessage.objects.select_related("tenant", "notice")
        .defer("tenant__logo_png")
        .filter(pk=message_id)
        .first()
    )


def overdue_message_ids(
    *, retry_before: datetime, queued_before: datetime, limit: int = 100_000
) -> list[int]:
    """Pending messages whose delivery task is evidently missing (for ``mail_retry``)."""
    return list(
        OutboundMessage.objects.filter(
            Q(status=MessageStatus.RETRYING, next_attempt_at__lt=retry_before)
            | Q(status=MessageStatus.QUEUED, created_at__lt=queued_before)
        )
        .order_by("pk")
        .values_list("pk", flat=True)[:limit]
    )


@dataclass(frozen=True)
class KeptPage:
    """One page of the campaign mail the outbox transport kept, newest first."""

    messages: list[OutboxMessage]
    older: int | None  # ``before`` of the next (older) page; None on the last page


def kept_campaign_mail(*, before: int | None = None, limit: int = 50) -> KeptPage:
    """Messages the ``outbox://`` transport kept that are no recorded system mail (campaign
    mail and test sends, every tenant's), by id descending; keyset paging by ``before`` (an id),
    so a page costs the same however many millions are kept. The raw bytes are not loaded."""
    qs = OutboxMessage.objects.filter(outbound_id__isnull=True).defer("raw", "body")
    if before is not None:
        qs = qs.filter(pk__lt=before)
    rows = list(qs.order_by("-pk")[: limit + 1])
    older = rows[limit - 1].pk if len(rows) > limit else None
    return KeptPage(messages=rows[:limit], older=older)


def kept_campaign_message(message_id: int) -> OutboxMessage | None:
    return OutboxMessage.objects.filter(pk=message_id, outbound_id__isnull=True).first()


def outbox_copy(message: OutboundMessage) -> OutboxMessage | None:
    """The copy the ``outbox://`` transport kept of this message (the MIME as sent)."""
    return OutboxMessage.objects.filter(outbound_id=message.pk).order_by("-pk").first()


@dataclass(frozen=True)
class MailParts:
    """What a MIME message shows: its text part, its HTML part and its inline images."""

    text: str
    html: str
    images: dict[str, tuple[str, bytes]]  # Content-ID -> (content type, data)
    content_types: list[str]


def mail_parts(raw: bytes) -> MailParts:
    parsed = message_from_bytes(raw, policy=policy.default)
    assert isinstance(parsed, EmailMessage)
    text = html = ""
    images: dict[str, tuple[str, bytes]] = {}
    types = []
    for part in parsed.walk():
        ctype = part.get_content_type()
        types.append(ctype)
        if part.is_multipart():
            continue
        if ctype == "text/plain" and not text:
            text = str(part.get_content())
        elif ctype == "text/html" and not html:
            html = str(part.get_content())
        elif ctype.startswith("image/") and part.get("Content-ID"):
            payload = part.get_payload(decode=True)
            if isinstance(payload, bytes):
                images[str(part["Content-ID"]).strip("<>")] = (ctype, payload)
    return MailParts(text=text, html=html, images=images, content_types=types)


# --------------------------------------------------------------------------------------
# Notices


def notice_list(limit: int = 100) -> list[Notice]:
    """Notices, newest first, each with its delivery counts: ``messages_total``,
    ``messages_done`` (sent or kept), ``messages_failed``, ``messages_pending``.

    Two queries: the page of notices, then the counts of only those notices, grouped by
    notice and status (the ``(notice, status)`` index).
    """
    notices = list(
        Notice.objects.select_related("scope", "created_by")
        .defer("scope__logo_png")
        .order_by("-created_at", "-pk")[:limit]
    )
    counts: dict[int, dict[str, int]] = {n.pk: {} for n in notices}
    rows = (
        OutboundMessage.objects.filter(notice_id__in=list(counts))
        .values_list("notice_id", "status")
        .annotate(n=Count("id"))
        .order_by()
    )
    for notice_id, status, number in rows:
        counts[notice_id][status] = number
    for notice in notices:
        by_status = counts[notice.pk]
        notice.messages_total = sum(by_status.values())  # type: ignore[attr-defined]
        notice.messages_done = sum(by_status.get(s, 0) for s in DONE_STATUSES)  # type: ignore[attr-defined]
        notice.messages_failed = by_status.get(MessageStatus.FAILED, 0)  # type: ignore[attr-defined]
        notice.messages_pending = sum(by_status.get(s, 0) for s in PENDING_STATUSES)  # type: ignore[attr-defined]
    return notices


def active_notices(tenant: Tenant) -> list[Notice]:
    """Notices shown in ``tenant`` now: for every tenant, or for a subtree containing it.

    One query: the scope's path must be one of the tenant's ancestor paths (no recursion).
    """
    now = timezone.now()
    return list(
        Notice.objects.filter(
            Q(scope__isnull=True) | Q(scope__path__in=tenant.ancestor_paths()),
            starts_at__lte=now,
            ends_at__gt=now,
        )
        .only(
            "id",
            "kind",
            "severity",
            "title_en",
            "title_de",
            "body_en",
            "body_de",
            "starts_at",
            "ends_at",
        )
        .order_by("starts_at", "pk")[:10]
    )


def tenant_by_slug_or_id(value: str) -> Tenant | None:
    """For the operator's notice form (operators reach every tenant)."""
    value = value.strip()
    if value.isdigit():
        if len(value) > 18:  # beyond a 64-bit id
            return None
        return Tenant.objects.defer("logo_png").filter(pk=int(value)).first()
    return Tenant.objects.defer("logo_png").filter(slug=value.lower()).first()


@dataclass(frozen=True)
class Recipient:
    user_id: int
    email: str
    language: str
    tenant_id: int


def notice_recipients(notice: Notice) -> list[Recipient]:
    """The verified, deliverable, active administrators of the tenants in the notice's scope,
    each person once (with the first of their tenants in tree order)."""
    qs = Membership.objects.filter(
        role=Role.ADMINISTRATOR,
        deactivated_at__isnull=True,
        user__is_active=True,
        user__email_verified_at__isnull=False,
        user__email_undeliverable_at__isnull=True,
    )
    if notice.scope_id is not None:
        assert notice.scope is not None
        qs = qs.filter(subtree_q(notice.scope, "tenant__"))
    rows = qs.order_by("tenant__path", "user_id").values_list(
        "user_id", "user__email", "user__language", "tenant_id"
    )
    seen: set[int] = set()
    recipients = []
    for user_id, email, language, tenant_id in rows:
        if user_id in seen:
            continue
        seen.add(user_id)
        recipients.append(Recipient(user_id, email, language, tenant_id))
    return recipients


# --------------------------------------------------------------------------------------
# Undeliverable addresses (warning for a tenant's administrators and its partner)

UNDELIVERABLE_LIMIT = 50


def undeliverable_addresses(tenant: Tenant, limit: int = UNDELIVERABLE_LIMIT) -> list[Membership]:
    """Active memberships in the tenant and its subtree whose user's address was refused
    (one row per user and tenant, tree order), with user and tenant loaded."""
    return list(
        Membership.objects.filter(
            subtree_q(tenant, "tenant__"),
            deactivated_at__isnull=True,
            user__email_undeliverable_at__isnull=False,
        )
        .select_related("user", "tenant")
        .only(
            "id",
            "role",
            "user__id",
            "user__email",
            "user__first_name",
            "user__last_name",
            "user__email_undeliverable_at",
            "user__email_undeliverable_reason",
            "tenant__id",
            "tenant__name",
            "tenant__slug",
            "tenant__path",
        )
        .order_by("tenant__path", "user__email")[:limit]
    )
