"""Writes about campaigns: create, update, delete (drafts only), start from a campaign draft,
and the test send.

Every function takes the acting user and the tenant explicitly, checks the role, runs in one
transaction and writes one audit row.
"""

import contextlib
import smtplib
import uuid
from datetime import datetime, timedelta
from typing import Any

from django.core.exceptions import ValidationError
from django.core.mail import get_connection
from django.core.mail.backends.smtp import EmailBackend as SMTPBackend
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from django_scopes import scopes_disabled
from email_validator import EmailNotValidError, validate_email

from mandant.accounts.roles import Action
from mandant.audit.models import AuditEntry
from mandant.audit.services import audit_record
from mandant.billing.features import require_feature
from mandant.campaigns.message import TRACKING_FEATURE
from mandant.campaigns.models import Campaign, CampaignStatus
from mandant.campaigns.selectors import campaign_grant
from mandant.contacts.models import Contact, ContactList, Segment
from mandant.content.models import ContentItem, ContentKind
from mandant.core.actor import Actor
from mandant.sending.models import SenderIdentity
from mandant.tenants.models import Tenant

# Fields a caller may set; foreign keys are given as objects or ids of the same tenant.
EDITABLE = (
    "name",
    "subject",
    "preheader",
    "sender_identity",
    "sender_alias",
    "reply_to",
    "template",
    "block_keys",
    "contact_list",
    "segment",
    "tracking",
)
TEST_SENDS_PER_HOUR = 10


# Also keeps the time within what the databases can store once converted to UTC.
SCHEDULE_AHEAD_MAX = timedelta(days=366)


def _row_of(model: Any, tenant: Tenant, value: Any, field: str, message: str) -> Any:
    """The tenant's row for an object or id (None stays None); another tenant's is refused."""
    if value in (None, "", 0):
        return None
    pk = value.pk if hasattr(value, "pk") else value
    try:
        pk = int(pk)
    except (TypeError, ValueError):
        raise ValidationError({field: ValidationError(message, code="invalid")}) from None
    row = model.objects.filter(tenant=tenant, pk=pk).first()
    if row is None:
        raise ValidationError({field: ValidationError(message, code="invalid")})
    return row


def _clean_email(value: str, field: str) -> str:
    value = (value or "").strip()
    if not value:
        return ""
    try:
        return str(validate_email(value, check_deliverability=False).normalized)
    except EmailNotValidError:
        raise ValidationError(
            {field: ValidationError(_("Enter a valid e-mail address."), code="invalid")}
        ) from None


def _clean_block_keys(tenant: Tenant, value: Any) -> list[str]:
    if value in (None, ""):
        return []
    if not isinstance(value, list | tuple):
        raise ValidationError({"block_keys": _("Choose text blocks from the library.")})
    keys: list[str] = []
    for raw in value:
        try:
            key = str(uuid.UUID(str(raw)))
        except ValueError:
            raise ValidationError(
                {"block_keys": _("“%(key)s” is not a text block of this tenant.") % {"key": raw}}
            ) from None
        if key not in keys:
            keys.append(key)
    found = {
        str(k)
        for k in ContentItem.objects.filter(
            tenant=tenant, kind=ContentKind.TEXT_BLOCK, key__in=keys, deleted_at__isnull=True
        ).values_list("key", flat=True)
    }
    missing = [k for k in keys if k not in found]
    if missing:
        raise ValidationError(
            {"block_keys": _("“%(key)s” is not a text block of this tenant.") % {"key": missing[0]}}
        )
    return keys


def _clean(tenant: Tenant, values: dict[str, Any]) -> dict[str, Any]:
    unknown = set(values) - set(EDITABLE)
    if unknown:
        raise ValidationError(_("Unknown field: %(name)s.") % {"name": ", ".join(sorted(unknown))})
    clean: dict[str, Any] = {}
    for field in ("name", "subject", "preheader", "sender_alias"):
        if field in values:
            clean[field] = " ".join(str(values[field] or "").split())
    if "name" in clean and not clean["name"]:
        raise ValidationError({"name": ValidationError(_("Please enter a name."), "required")})
    limits = {"name": 200, "subject": 255, "preheader": 255, "sender_alias": 100}
    for field, limit in limits.items():
        if len(clean.get(field, "")) > limit:
            raise ValidationError(
                {field: _("At most %(limit)d characters, please.") % {"limit": limit}}
            )
    if "reply_to" in values:
        clean["reply_to"] = _clean_email(values["reply_to"], "reply_to")
    if "sender_identity" in values:
        clean["sender_identity"] = _row_of(
            SenderIdentity,
            tenant,
            values["sender_identity"],
            "sender_identity",
            _("Choose a sender of this tenant."),
        )
    if "template" in values:
        template = _row_of(
            ContentItem, tenant, values["template"], "template", _("Choose a template.")
        )
        if template is not None and (
            template.kind != ContentKind.TEMPLATE or template.deleted_at is not None
        ):
            raise ValidationError({"template": _("Choose a template.")})
        clean["template"] = template
    if "block_keys" in values:
        clean["block_keys"] = _clean_block_keys(tenant, values["block_keys"])
    if "contact_list" in values:
        clean["contact_list"] = _row_of(
            ContactList, tenant, values["contact_list"], "contact_list", _("Choose a list.")
        )
    if "segment" in values:
        clean["segment"] = _row_of(
            Segment, tenant, values["segment"], "segment", _("Choose a segment.")
        )
    if "tracking" in values:
        clean["tracking"] = bool(values["tracking"])
        if clean["tracking"]:
            # Opens and clicks tracking is a product (included from PROFESSIONAL): a 403 that
            # names it when the tenant has it not.
            require_feature(tenant, TRACKING_FEATURE)
    return clean


def _apply_defaults(campaign: Campaign, clean: dict[str, Any]) -> None:
    identity = clean.get("sender_identity")
    # A newly chosen sender brings its alias and reply-to unless they were given too.
    if identity is not None:
        if not clean.get("sender_alias") and not campaign.sender_alias:
            campaign.sender_alias = identity.alias
        if not clean.get("reply_to") and not campaign.reply_to:
            campaign.reply_to = identity.reply_to or identity.from_address


def _check_audience(campaign: Campaign) -> None:
    if campaign.contact_list_id is not None and campaign.segment_id is not None:
        raise ValidationError(
            {"segment": ValidationError(_("Choose a list or a segment, not both."), "invalid")}
        )


def _snapshot(campaign: Campaign) -> dict[str, Any]:
    return {
        "name": campaign.name,
        "subject": campaign.subject,
        "sender_alias": campaign.sender_alias,
        "reply_to": campaign.reply_to,
        "template_id": campaign.template_id,
        "block_keys": list(campaign.block_keys or []),
        "list_id": campaign.contact_list_id,
        "segment_id": campaign.segment_id,
        "tracking": campaign.tracking,
    }


def campaign_create(*, actor: Actor, tenant: Tenant, **values: Any) -> Campaign:
    grant = campaign_grant(actor, tenant, Action.CAMPAIGN_EDIT)
    values.setdefault("name", "")
    clean = _clean(tenant, values)
    campaign = Campaign(tenant=tenant, created_by=actor.user, updated_by=actor.user)
    for field, value in clean.items():
        setattr(campaign, field, value)
    _apply_defaults(campaign, clean)
    _check_audience(campaign)
    with transaction.atomic():
        campaign.save()
        audit_record(
            actor=actor,
            action="campaign.create",
            tenant=tenant,
            grant=grant,
            obj=campaign,
            changes=_snapshot(campaign),
        )
    return campaign


def _require_draft(campaign: Campaign, tenant: Tenant) -> None:
    if campaign.tenant_id != tenant.pk:
        raise ValidationError(_("This campaign belongs to another tenant."))
    if campaign.status != CampaignStatus.DRAFT:
        raise ValidationError(
            _("Only drafts can be changed; this campaign is %(status)s.")
            % {"status": campaign.get_status_display()},
            code="not_draft",
        )


def campaign_update(*, actor: Actor, tenant: Tenant, campaign: Campaign, **values: Any) -> Campaign:
    grant = campaign_grant(actor, tenant, Action.CAMPAIGN_EDIT)
    _require_draft(campaign, tenant)
    clean = _clean(tenant, values)
    before = _snapshot(campaign)
    # Choosing a list clears the segment and the other way round, unless both were given.
    if clean.get("contact_list") is not None and "segment" not in clean:
        clean["segment"] = None
    if clean.get("segment") is not None and "contact_list" not in clean:
        clean["contact_list"] = None
    for field, value in clean.items():
        setattr(campaign, field, value)
    _apply_defaults(campaign, clean)
    _check_audience(campaign)
    campaign.updated_by = actor.user
    after = _snapshot(campaign)
    with transaction.atomic():
        campaign.save()
        audit_record(
            actor=actor,
            action="campaign.update",
            tenant=tenant,
            grant=grant,
            obj=campaign,
            changes={k: [before[k], after[k]] for k in after if before[k] != after[k]},
        )
    return campaign


def campaign_delete(*, actor: Actor, tenant: Tenant, campaign: Campaign) -> None:
    grant = campaign_grant(actor, tenant, Action.CAMPAIGN_EDIT)
    _require_draft(campaign, tenant)
    with transaction.atomic():
        audit_record(
            actor=actor,
            action="campaign.delete",
            tenant=tenant,
            grant=grant,
            obj=campaign,
            changes={"name": campaign.name},
        )
        campaign.delete()


def campaign_from_draft(
    *, actor: Actor, tenant: Tenant, draft: ContentItem, name: str = ""
) -> Campaign:
    """A new campaign with the subject, preheader, alias, reply-to, template and text blocks of
    a campaign draft of the library (the template and blocks found by lineage key)."""
    if (
        draft.tenant_id != tenant.pk
        or draft.kind != ContentKind.CAMPAIGN_DRAFT
        or draft.deleted_at is not None
    ):
        raise ValidationError({"draft": _("Choose a campaign draft of this tenant.")})
    template = None
    if draft.template_key:
        template = ContentItem.objects.filter(
            tenant=tenant,
            kind=ContentKind.TEMPLATE,
            key=draft.template_key,
            deleted_at__isnull=True,
        ).first()
    live_blocks = {
        str(k)
        for k in ContentItem.objects.filter(
            tenant=tenant,
            kind=ContentKind.TEXT_BLOCK,
            key__in=draft.block_keys or [],
            deleted_at__isnull=True,
        ).values_list("key", flat=True)
    }
    return campaign_create(
        actor=actor,
        tenant=tenant,
        name=name or draft.name,
        subject=draft.subject,
        preheader=draft.preheader,
        sender_alias=draft.sender_alias,
        reply_to=draft.reply_to,
        template=template,
        block_keys=[k for k in draft.block_keys or [] if k in live_blocks],
    )


# --- test send -------------------------------------------------------------------------------


def _sample_contact(actor: Actor, tenant: Tenant, to_email: str) -> Contact:
    """The recipient of a test send: the actor's name at the given address. When the address is
    a contact of the tenant, its row (so the unsubscribe link in the test mail works too)."""
    existing = Contact.objects.filter(tenant=tenant, email=to_email).first()
    sample = Contact(
        tenant=tenant,
        email=to_email,
        first_name=actor.user.first_name,
        last_name=actor.user.last_name,
    )
    if existing is not None:
        sample.pk = existing.pk
        sample.language = existing.language
        sample.fields = existing.fields
    return sample


def campaign_test_send(*, actor: Actor, tenant: Tenant, campaign: Campaign, to_email: str) -> str:
    """Send the campaign to ``to_email`` now, through the mail transport every campaign uses:
    over SMTP, or kept in the outbox with ``EMAIL_URL=outbox://``. Returns the Message-ID.

    Only when every checklist item but the recipients passes; at most TEST_SENDS_PER_HOUR per
    campaign and hour.
    """
    from mandant.campaigns.checklist import campaign_checklist
    from mandant.campaigns.message import build_campaign_message, personalise

    grant = campaign_grant(actor, tenant, Action.CAMPAIGN_EDIT)
    if campaign.tenant_id != tenant.pk:
        raise ValidationError(_("This campaign belongs to another tenant."))
    to_email = _clean_email(to_email, "to_email")
    if not to_email:
        raise ValidationError({"to_email": ValidationError(_("Enter an e-mail address."))})
    unmet = [c for c in campaign_checklist(campaign) if not c.ok and c.key != "recipients"]
    if unmet:
        raise ValidationError(
            _("The checklist is not complete: %(items)s")
            % {"items": "; ".join(c.label for c in unmet)},
            code="checklist_unmet",
        )
    since = timezone.now() - timedelta(hours=1)
    recent = AuditEntry.objects.filter(
        tenant_id=tenant.pk,
        action="campaign.test_send",
        object_id=str(campaign.pk),
        created_at__gte=since,
    ).count()
    if recent >= TEST_SENDS_PER_HOUR:
        raise ValidationError(
            _("At most %(count)d test sends per campaign and hour. Please try again later.")
            % {"count": TEST_SENDS_PER_HOUR},
            code="rate_limited",
        )
    skeleton = build_campaign_message(campaign, test=True)
    data = personalise(skeleton, _sample_contact(actor, tenant, to_email))
    _deliver(skeleton.envelope_from, to_email, data)
    message_id = data.split(b"Message-ID: <", 1)[1].split(b">", 1)[0].decode("ascii")
    with transaction.atomic():
        audit_record(
            actor=actor,
            action="campaign.test_send",
            tenant=tenant,
            grant=grant,
            obj=campaign,
            changes={"to": to_email, "message_id": message_id},
        )
    return message_id


def _deliver(envelope_from: str, to_email: str, data: bytes) -> None:
    """Hand the finished bytes to the transport of the EMAIL settings: the SMTP server (as
    notices/delivery), or the outbox as a campaign's send keeps them (``outbox://``)."""
    from mandant.campaigns.send_loop import keep_in_outbox
    from mandant.notices.backends import OutboxBackend
    from mandant.notices.delivery import Wire

    connection = get_connection(fail_silently=False)
    if isinstance(connection, OutboxBackend):
        keep_in_outbox(Wire(envelope_from, [to_email], data))
        return
    if not isinstance(connection, SMTPBackend):
        raise ValidationError(
            _("No mail transport is configured (EMAIL_URL): the test cannot be sent."),
            code="no_transport",
        )
    try:
        connection.open()
        assert connection.connection is not None
        refused = connection.connection.sendmail(envelope_from, [to_email], data)
    except (smtplib.SMTPException, OSError) as exc:
        raise ValidationError(
            _("The mail server did not accept the test mail: %(reply)s") % {"reply": str(exc)},
            code="smtp_failed",
        ) from None
    finally:
        # Closing a broken connection must not hide the result.
        with contextlib.suppress(smtplib.SMTPException, OSError):
            connection.close()
    if refused:
        raise ValidationError(
            _("The mail server did not accept the test mail: %(reply)s") % {"reply": str(refused)},
            code="smtp_failed",
        )


# --- sending ---------------------------------------------------------------------------------


def _require_status(campaign: Campaign, tenant: Tenant, allowed: tuple[str, ...]) -> None:
    if campaign.tenant_id != tenant.pk:
        raise ValidationError(_("This campaign belongs to another tenant."))
    if campaign.status not in allowed:
        raise ValidationError(
            _("This is not possible while the campaign is %(status)s.")
            % {"status": campaign.get_status_display()},
            code="wrong_status",
        )


def _set_status(
    *, actor: Actor, tenant: Tenant, campaign: Campaign, status: str, action: str, **extra: Any
) -> Campaign:
    grant = campaign_grant(actor, tenant, Action.CAMPAIGN_EDIT)
    before = campaign.status
    campaign.status = status
    campaign.updated_by = actor.user
    for field, value in extra.items():
        setattr(campaign, field, value)
    with transaction.atomic():
        campaign.save(update_fields=["status", "updated_by", "updated_at", *extra])
        audit_record(
            actor=actor,
            action=action,
            tenant=tenant,
            grant=grant,
            obj=campaign,
            changes={"status": [before, status]},
        )
        if status == CampaignStatus.SENDING or status == CampaignStatus.SCHEDULED:
            _enqueue_prepare(campaign)
    return campaign


def _enqueue_prepare(campaign: Campaign) -> None:
    from mandant.campaigns import pipeline, tasks

    # Enqueued in the status change's transaction: with the database task backend the task row
    # commits (or not) together with the status.
    if campaign.status == CampaignStatus.SCHEDULED and campaign.send_at is not None:
        # The task names the time it was scheduled for: when it comes due it starts the send
        # only if the campaign is still scheduled for exactly that time, so unscheduling or a
        # new time leaves the old task nothing to do (campaign_start_scheduled).
        tasks.start_scheduled_campaign.using(run_after=campaign.send_at).enqueue(
            campaign.pk, campaign.send_at.isoformat()
        )
        return
    tasks.prepare_campaign.enqueue(campaign.pk, pipeline.batch_size())


def campaign_send(*, actor: Actor, tenant: Tenant, campaign: Campaign, at: Any = None) -> Campaign:
    """Send the draft now, or schedule it for ``at`` (a time in the future; a past one is a
    ValidationError on ``at``). A scheduled campaign can be sent now or scheduled for another
    time the same way. The checklist must pass; otherwise a ValidationError (code
    ``checklist_unmet``) whose messages are the unmet items."""
    from mandant.campaigns.checklist import campaign_checklist

    campaign_grant(actor, tenant, Action.CAMPAIGN_EDIT)
    _require_status(campaign, tenant, (CampaignStatus.DRAFT, CampaignStatus.SCHEDULED))
    now = timezone.now()
    if at is not None and timezone.is_naive(at):
        at = timezone.make_aware(at)
    if at is not None and at <= now:
        raise ValidationError(
            {"at": ValidationError(_("Choose a time in the future."), code="past")}
        )
    if at is not None and at - now > SCHEDULE_AHEAD_MAX:
        raise ValidationError(
            {
                "at": ValidationError(
                    _("A send can be scheduled at most a year ahead."), code="too_far"
                )
            }
        )
    unmet = [c for c in campaign_checklist(campaign) if not c.ok]
    if unmet:
        raise ValidationError(
            {"checklist": [ValidationError(c.label, code="checklist_unmet") for c in unmet]}
        )
    scheduled = at is not None
    if scheduled:
        from mandant.campaigns import tasks

        if not tasks.start_scheduled_campaign.get_backend().supports_defer:
            raise ValidationError(
                {"at": ValidationError(_("Scheduling needs the task worker."), code="invalid")}
            )
    return _set_status(
        actor=actor,
        tenant=tenant,
        campaign=campaign,
        status=CampaignStatus.SCHEDULED if scheduled else CampaignStatus.SENDING,
        action="campaign.send",
        send_at=at if scheduled else now,
    )


def campaign_unschedule(*, actor: Actor, tenant: Tenant, campaign: Campaign) -> Campaign:
    """A scheduled campaign back to a draft; its task finds it so and does nothing."""
    grant = campaign_grant(actor, tenant, Action.CAMPAIGN_EDIT)
    _require_status(campaign, tenant, (CampaignStatus.SCHEDULED,))
    with transaction.atomic():
        # Only while still scheduled: the worker may have started the send a moment ago.
        changed = Campaign.objects.filter(
            tenant=tenant, pk=campaign.pk, status=CampaignStatus.SCHEDULED
        ).update(
            status=CampaignStatus.DRAFT,
            send_at=None,
            updated_by=actor.user,
            updated_at=timezone.now(),
        )
        if not changed:
            raise ValidationError(
                _("The campaign is being sent already; pause or cancel it instead."),
                code="wrong_status",
            )
        audit_record(
            actor=actor,
            action="campaign.unschedule",
            tenant=tenant,
            grant=grant,
            obj=campaign,
            changes={
                "status": [CampaignStatus.SCHEDULED, CampaignStatus.DRAFT],
                "send_at": [campaign.send_at.isoformat() if campaign.send_at else None, None],
            },
        )
    campaign.refresh_from_db()
    return campaign


def campaign_start_scheduled(*, campaign_id: int, send_at: datetime) -> bool:
    """The task of a scheduled send came due: scheduled → sending, but only while the campaign
    is still scheduled for exactly ``send_at``. True when the send may start now."""
    # The worker's task has only the campaign id; one conditional update on that row.
    with scopes_disabled():
        return bool(
            Campaign.objects.filter(
                pk=campaign_id, status=CampaignStatus.SCHEDULED, send_at=send_at
            ).update(status=CampaignStatus.SENDING)
        )


def campaign_pause(*, actor: Actor, tenant: Tenant, campaign: Campaign) -> Campaign:
    """Hold a send between two messages. A scheduled campaign is not paused (resuming it would
    send at once, not at its time): it is unscheduled or cancelled instead."""
    _require_status(campaign, tenant, (CampaignStatus.SENDING,))
    return _set_status(
        actor=actor,
        tenant=tenant,
        campaign=campaign,
        status=CampaignStatus.PAUSED,
        action="campaign.pause",
    )


def campaign_resume(*, actor: Actor, tenant: Tenant, campaign: Campaign) -> Campaign:
    """Sending again; the open deliveries are batched anew (rows already sent are skipped).
    A campaign paused before its time came (paused while scheduled, as older versions
    allowed) waits for that time again instead of sending at once."""
    _require_status(campaign, tenant, (CampaignStatus.PAUSED, CampaignStatus.SENDING))
    if (
        campaign.status == CampaignStatus.PAUSED
        and campaign.prepared_at is None
        and campaign.send_at is not None
        and campaign.send_at > timezone.now()
    ):
        # Its scheduled task has not run yet (it is due at send_at) and finds it scheduled.
        return _set_status(
            actor=actor,
            tenant=tenant,
            campaign=campaign,
            status=CampaignStatus.SCHEDULED,
            action="campaign.resume",
        )
    return _set_status(
        actor=actor,
        tenant=tenant,
        campaign=campaign,
        status=CampaignStatus.SENDING,
        action="campaign.resume",
    )


def campaign_cancel(*, actor: Actor, tenant: Tenant, campaign: Campaign) -> Campaign:
    _require_status(
        campaign, tenant, (CampaignStatus.SCHEDULED, CampaignStatus.SENDING, CampaignStatus.PAUSED)
    )
    return _set_status(
        actor=actor,
        tenant=tenant,
        campaign=campaign,
        status=CampaignStatus.CANCELLED,
        action="campaign.cancel",
        finished_at=timezone.now(),
    )
