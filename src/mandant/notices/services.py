"""The one outbound mail service: every mail of the product is recorded here, then sent by a
background task through the transport chosen by ``EMAIL_URL``. Also: operator notices."""

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.template import Context
from django.template.loader import get_template, render_to_string
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from mandant.accounts.models import User
from mandant.audit.services import audit_record
from mandant.core.actor import Actor
from mandant.core.errors import PermissionDenied
from mandant.notices import delivery
from mandant.notices.models import (
    MessageStatus,
    Notice,
    NoticeKind,
    NoticeSeverity,
    OutboundMessage,
)
from mandant.notices.selectors import Recipient, notice_recipients
from mandant.tenants.models import Tenant

NOTICE_KIND = "notice"
TITLE_MAX = 200
BODY_MAX = 10_000


@dataclass(frozen=True)
class MailAttachment:
    filename: str
    content_type: str
    data: bytes


@dataclass(frozen=True)
class MailContent:
    subject: str
    text: str
    html: str


def supported_language(language: str | None) -> str:
    codes = {code for code, _label in settings.LANGUAGES}
    language = (language or "").lower()
    if language in codes:
        return language
    base = language.split("-")[0]
    return base if base in codes else settings.LANGUAGE_CODE


def logo_cid_for(tenant: Tenant | None) -> str:
    """The Content-ID of the tenant's logo in a mail ("" without a logo)."""
    if tenant is None or not tenant.has_logo:
        return ""
    return f"logo-{tenant.pk}-{tenant.logo_version}@mandant"


def _render_plain(name: str, context: dict[str, Any]) -> str:
    """A text template without HTML escaping ("Müller & Söhne" stays as it is)."""
    return get_template(name).template.render(Context(context, autoescape=False))  # type: ignore[attr-defined]


def mail_render(*, template: str, context: dict[str, Any], language: str) -> MailContent:
    """Render ``mail/<template>.subject.txt``, ``.txt`` and ``.html`` in ``language``.

    Subject and text part are rendered without HTML escaping, the HTML part with it.
    """
    with translation.override(language):
        full = {"language": language, "site_url": settings.SITE_URL, **context}
        subject = " ".join(_render_plain(f"mail/{template}.subject.txt", full).split())
        text = _render_plain(f"mail/{template}.txt", full)
        html = render_to_string(f"mail/{template}.html", full)
    return MailContent(subject=subject, text=text, html=html)


def mail_queue(
    *,
    kind: str,
    template: str,
    context: dict[str, Any],
    to_email: str | None = None,
    to_user: User | None = None,
    language: str | None = None,
    tenant: Tenant | None = None,
    attachment: MailAttachment | None = None,
) -> OutboundMessage:
    """Record a mail in the recipient's language and send it after the transaction commits.

    The mail is multipart (text + HTML, both from ``mail/<template>.*``). With a ``tenant``
    it carries the tenant's logo (inline, ``cid:``) or, without a logo, its name. An
    ``attachment`` is stored with the message and attached when it is sent.
    """
    if to_user is not None:
        to_email = to_email or to_user.email
        language = language or to_user.language
    if not to_email:
        raise ValueError("mail_queue needs to_email or to_user")
    language = supported_language(language)
    logo_cid = logo_cid_for(tenant)
    content = mail_render(
        template=template,
        context={"tenant": tenant, "logo_cid": logo_cid, **context},
        language=language,
    )
    message = OutboundMessage.objects.create(
        tenant=tenant,
        to_user=to_user,
        to_email=to_email,
        kind=kind,
        language=language,
        subject=content.subject,
        text_body=content.text,
        html_body=content.html,
        logo_cid=logo_cid,
        attachment_name=attachment.filename if attachment else "",
        attachment_type=attachment.content_type if attachment else "",
        attachment_data=attachment.data if attachment else None,
    )
    transaction.on_commit(lambda: delivery.schedule_delivery([message.pk]))
    return message


def address_mark_undeliverable(
    *,
    actor: Actor | None,
    user_id: int,
    address: str,
    reason: str,
    tenant_id: int | None = None,
) -> bool:
    """Mark the user's address undeliverable (the SMTP server refused it permanently).

    Only while the user still has that address, and only once; True when it was marked.
    ``actor`` is None when the delivery task does it.
    """
    with transaction.atomic():
        user = (
            User.objects.select_for_update()
            .filter(pk=user_id, email__iexact=address, email_undeliverable_at__isnull=True)
            .first()
        )
        if user is None:
            return False
        user.email_undeliverable_at = timezone.now()
        user.email_undeliverable_reason = reason
        user.save(update_fields=["email_undeliverable_at", "email_undeliverable_reason"])
        audit_record(
            actor=actor,
            action="user.email_undeliverable",
            tenant=Tenant(pk=tenant_id) if tenant_id else None,
            obj=user,
            changes={"email": address, "reason": reason},
        )
    return True


# --------------------------------------------------------------------------------------
# Operator notices


def _required_text(value: str, field: str, limit: int, errors: dict[str, ValidationError]) -> str:
    value = (value or "").strip()
    if not value:
        errors[field] = ValidationError(_("This field is required."), code="required")
    elif len(value) > limit:
        errors[field] = ValidationError(
            _("Please shorten this to at most %(limit)s characters (it has %(count)s).")
            % {"limit": limit, "count": len(value)},
            code="too_long",
        )
    return value


def notice_window_error(starts_at: datetime, ends_at: datetime) -> ValidationError | None:
    """What is wrong with a notice's time window (on ``ends_at``), or None. The form asks too
    when another field is refused, so every problem shows in one round."""
    if ends_at <= starts_at:
        return ValidationError(
            _("The end of the time window must lie after its start."), code="window"
        )
    if ends_at <= timezone.now():
        return ValidationError(
            _("The end of the time window lies in the past: nobody would see the notice."),
            code="window_past",
        )
    return None


def notice_create(
    *,
    actor: Actor,
    kind: str,
    severity: str,
    title_en: str,
    title_de: str,
    body_en: str,
    body_de: str,
    scope: Tenant | None,
    starts_at: datetime,
    ends_at: datetime,
) -> Notice:
    """An operator's system message to the administrators of all tenants or of a subtree.

    Returns at once: the mails are created and sent by background tasks
    (``notice_fan_out``, then batches of ``deliver_messages``).
    """
    if not actor.is_operator:
        raise PermissionDenied(_("Only operators may send system messages."))
    errors: dict[str, ValidationError] = {}
    if kind not in NoticeKind.values:
        errors["kind"] = ValidationError(_("Choose a kind of notice."), code="invalid_choice")
    if severity not in NoticeSeverity.values:
        errors["severity"] = ValidationError(_("Choose a severity."), code="invalid_choice")
    title_en = _required_text(title_en, "title_en", TITLE_MAX, errors)
    title_de = _required_text(title_de, "title_de", TITLE_MAX, errors)
    body_en = _required_text(body_en, "body_en", BODY_MAX, errors)
    body_de = _required_text(body_de, "body_de", BODY_MAX, errors)
    if window_error := notice_window_error(starts_at, ends_at):
        errors["ends_at"] = window_error
    if errors:
        raise ValidationError(errors)
    with transaction.atomic():
        notice = Notice.objects.create(
            kind=kind,
            severity=severity,
            title_en=title_en,
            title_de=title_de,
            body_en=body_en,
            body_de=body_de,
            scope=scope,
            starts_at=starts_at,
            ends_at=ends_at,
            created_by=actor.user,
        )
        audit_record(
            actor=actor,
            action="notice.create",
            tenant=scope,
            obj=notice,
            changes={
                "kind": kind,
                "severity": severity,
                "title_en": title_en,
                "scope": scope.slug if scope is not None else None,
                "starts_at": starts_at.isoformat(),
                "ends_at": ends_at.isoformat(),
            },
        )
        transaction.on_commit(lambda: _enqueue_fan_out(notice.pk))
    return notice


def _enqueue_fan_out(notice_id: int) -> None:
    from mandant.notices.tasks import notice_fan_out as fan_out_task

    fan_out_task.enqueue(notice_id)


def _insert_notice_messages(notice: Notice, rows: list[dict[str, Any]]) -> None:
    """INSERT the messages of a notice: COPY on PostgreSQL, ``executemany`` on SQLite.

    ``bulk_create`` spent 3.3 of its 4.3 s for 10,000 messages compiling SQL in Python (and
    SQLite allows only ~60 rows of 16 columns per statement); the ids are read afterwards.
    """
    meta = OutboundMessage._meta
    quote = connection.ops.quote_name
    column_of = {field.name: str(field.column) for field in meta.concrete_fields}
    now = connection.ops.adapt_datetimefield_value(timezone.now())
    fixed = {
        "notice": notice.pk,
        "kind": NOTICE_KIND,
        "status": MessageStatus.QUEUED.value,
        "attempts": 0,
        "smtp_response": "",
        "logo_cid": "",
        "created_at": now,
    }
    names = [
        "tenant",
        "to_user",
        "to_email",
        "language",
        "subject",
        "text_body",
        "html_body",
        *fixed,
    ]
    sql = "INSERT INTO {} ({}) VALUES ({})".format(  # noqa: S608 - names from the model
        quote(meta.db_table),
        ", ".join(quote(column_of[name]) for name in names),
        ", ".join(["%s"] * len(names)),
    )
    constant = tuple(fixed.values())
    params = [
        (
            row["tenant_id"],
            row["to_user_id"],
            row["to_email"],
            row["language"],
            row["subject"],
            row["text_body"],
            row["html_body"],
            *constant,
        )
        for row in rows
    ]
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            # COPY: the fastest way into PostgreSQL (a third of executemany's time).
            copy_sql = "COPY {} ({}) FROM STDIN".format(
                quote(meta.db_table), ", ".join(quote(column_of[name]) for name in names)
            )
            with cursor.cursor.copy(copy_sql) as copy:
                for row in params:
                    copy.write_row(row)
            return
        for start in range(0, len(params), 2000):
            cursor.executemany(sql, params[start : start + 2000])


FAN_OUT_CHUNK = 1000


def notice_fan_out(*, notice_id: int) -> int:
    """Create one mail per recipient of the notice and enqueue their delivery in batches.

    Recipients: the verified, deliverable, active administrators of every tenant in scope,
    each person once, in their language. Each language is rendered once. The messages are
    inserted in chunks of ``FAN_OUT_CHUNK``, each committed with the delivery of its batches
    enqueued, so that other workers start sending while the fan-out goes on. Safe to run again
    (after a crash, or twice): a person who already has the notice's mail gets none. Returns
    the number of messages created.
    """
    notice = (
        Notice.objects.select_related("scope").defer("scope__logo_png").filter(pk=notice_id).first()
    )
    if notice is None or notice.fanned_out_at is not None:
        return 0
    recipients = notice_recipients(notice)
    contents = {
        language: mail_render(
            template="notice", context={"notice": notice, "tenant": None}, language=language
        )
        for language in sorted({supported_language(r.language) for r in recipients})
    }
    created = 0
    for start in range(0, len(recipients), FAN_OUT_CHUNK):
        created += _fan_out_chunk(notice, recipients[start : start + FAN_OUT_CHUNK], contents)
    with transaction.atomic():
        locked = Notice.objects.select_for_update().filter(pk=notice.pk).first()
        if locked is None or locked.fanned_out_at is not None:
            return created
        locked.recipients_total = OutboundMessage.objects.filter(notice=locked).count()
        locked.fanned_out_at = timezone.now()
        locked.save(update_fields=["recipients_total", "fanned_out_at"])
        audit_record(
            actor=None,
            action="notice.fan_out",
            tenant=notice.scope,
            obj=locked,
            changes={"recipients": locked.recipients_total, "languages": sorted(contents)},
        )
    return created


def _fan_out_chunk(notice: Notice, chunk: list[Recipient], contents: dict[str, MailContent]) -> int:
    with transaction.atomic():
        # Serialises concurrent runs for this notice (SQLite: the IMMEDIATE transaction).
        list(Notice.objects.select_for_update().filter(pk=notice.pk).values_list("pk"))
        user_ids = [recipient.user_id for recipient in chunk]
        done = set(
            OutboundMessage.objects.filter(notice=notice, to_user_id__in=user_ids).values_list(
                "to_user_id", flat=True
            )
        )
        rows = []
        for recipient in chunk:
            if recipient.user_id in done:
                continue
            language = supported_language(recipient.language)
            content = contents[language]
            rows.append(
                {
                    "tenant_id": recipient.tenant_id,
                    "to_user_id": recipient.user_id,
                    "to_email": recipient.email,
                    "language": language,
                    "subject": content.subject,
                    "text_body": content.text,
                    "html_body": content.html,
                }
            )
        if not rows:
            return 0
        _insert_notice_messages(notice, rows)
        ids = list(
            OutboundMessage.objects.filter(
                notice=notice, to_user_id__in=[row["to_user_id"] for row in rows]
            )
            .order_by("pk")
            .values_list("pk", flat=True)
        )
        transaction.on_commit(lambda: delivery.schedule_delivery(ids))
    return len(ids)
