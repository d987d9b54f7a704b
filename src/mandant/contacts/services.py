"""Every write to contacts, lists and segments: keyword-only, explicit actor and tenant, one
transaction, one audit row."""

from collections.abc import Iterable
from typing import Any

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils.translation import gettext as _

from mandant.audit.services import audit_record
from mandant.contacts.models import (
    ConsentRecord,
    ConsentSource,
    Contact,
    ContactList,
    ContactStatus,
    ListMembership,
    Segment,
)
from mandant.contacts.normalize import normalize_email
from mandant.contacts.segments import clean_rules
from mandant.core.actor import Actor
from mandant.tenants.models import Tenant

LANGUAGE_MAX = 8


def _clean_fields(fields: Any) -> dict[str, str]:
    if fields is None:
        return {}
    if not isinstance(fields, dict):
        raise ValidationError({"fields": _("Custom fields are a mapping of names to texts.")})
    return {
        str(k).strip(): "" if v is None else str(v) for k, v in fields.items() if str(k).strip()
    }


def _clean_language(language: str) -> str:
    language = (language or "").strip().lower()
    if len(language) > LANGUAGE_MAX:
        raise ValidationError({"language": _("Enter a language code such as de or en.")})
    return language


def contact_create(
    *,
    actor: Actor | None,
    tenant: Tenant,
    email: str,
    first_name: str = "",
    last_name: str = "",
    language: str = "",
    fields: dict[str, Any] | None = None,
    consent_source: str = ConsentSource.MANUAL,
    consent_ip: str | None = None,
    consent_text: str = "",
) -> Contact:
    try:
        normalized = normalize_email(email)
    except ValidationError as exc:
        raise ValidationError({"email": exc.messages}) from None
    clean = {
        "first_name": first_name.strip()[:150],
        "last_name": last_name.strip()[:150],
        "language": _clean_language(language),
        "fields": _clean_fields(fields),
    }
    if Contact.objects.filter(tenant=tenant, email=normalized).exists():
        raise ValidationError(
            {
                "email": ValidationError(
                    _("This address is a contact of this tenant already."), code="name_taken"
                )
            }
        )
    try:
        with transaction.atomic():
            contact = Contact.objects.create(tenant=tenant, email=normalized, **clean)
            ConsentRecord.objects.create(
                tenant=tenant,
                contact=contact,
                source=consent_source,
                ip=consent_ip,
                text=consent_text,
            )
            audit_record(
                actor=actor,
                action="contact.create",
                tenant=tenant,
                obj=contact,
                changes={"email": normalized},
            )
    except IntegrityError:
        raise ValidationError(
            {
                "email": ValidationError(
                    _("This address is a contact of this tenant already."), code="name_taken"
                )
            }
        ) from None
    return contact


def contact_update(
    *, actor: Actor | None, tenant: Tenant, contact: Contact, **changes: Any
) -> Contact:
    if contact.tenant_id != tenant.pk:
        raise ValidationError(_("This contact belongs to another tenant."))
    before = {k: getattr(contact, k) for k in changes}
    if "email" in changes:
        try:
            changes["email"] = normalize_email(changes["email"])
        except ValidationError as exc:
            raise ValidationError({"email": exc.messages}) from None
        if (
            Contact.objects.filter(tenant=tenant, email=changes["email"])
            .exclude(pk=contact.pk)
            .exists()
        ):
            raise ValidationError(
                {
                    "email": ValidationError(
                        _("This address is a contact of this tenant already."), code="name_taken"
                    )
                }
            )
    if "language" in changes:
        changes["language"] = _clean_language(changes["language"])
    if "fields" in changes:
        changes["fields"] = _clean_fields(changes["fields"])
    if "status" in changes and changes["status"] not in ContactStatus.values:
        raise ValidationError({"status": _("Unknown status.")})
    for key in ("first_name", "last_name"):
        if key in changes:
            changes[key] = str(changes[key]).strip()[:150]
    allowed = {"email", "first_name", "last_name", "language", "fields", "status"}
    if unknown := set(changes) - allowed:
        raise ValidationError(_("Unknown fields: %(f)s.") % {"f": ", ".join(sorted(unknown))})
    with transaction.atomic():
        for key, value in changes.items():
            setattr(contact, key, value)
        contact.save()
        audit_record(
            actor=actor,
            action="contact.update",
            tenant=tenant,
            obj=contact,
            changes={"before": before, "after": changes},
        )
    return contact


def contact_delete(*, actor: Actor | None, tenant: Tenant, contact: Contact) -> None:
    with transaction.atomic():
        audit_record(
            actor=actor,
            action="contact.delete",
            tenant=tenant,
            obj=contact,
            changes={"email": contact.email},
        )
        Contact.objects.filter(tenant=tenant, pk=contact.pk).delete()


def contact_unsubscribe(
    *, tenant: Tenant, contact: Contact, source: str, actor: Actor | None = None
) -> Contact:
    """Unsubscribe from the whole tenant (every list, every segment). Idempotent; a bounced,
    complained or blocked contact keeps that status (it is not sendable either way)."""
    with transaction.atomic():
        updated = Contact.objects.filter(
            tenant=tenant, pk=contact.pk, status=ContactStatus.ACTIVE
        ).update(status=ContactStatus.UNSUBSCRIBED)
        if updated:
            audit_record(
                actor=actor,
                action="contact.unsubscribe",
                tenant=tenant,
                obj=contact,
                changes={"source": source},
            )
    contact.refresh_from_db()
    return contact


def contact_mark_bounced(
    *, tenant: Tenant, contact_id: int, reason: str, actor: Actor | None = None
) -> bool:
    """A hard bounce: the address is not sent to again, in any list of the tenant. Only an
    active contact changes (an unsubscribed one stays unsubscribed, sendable neither way).
    Returns whether it changed now."""
    with transaction.atomic():
        contact = Contact.objects.filter(
            tenant=tenant, pk=contact_id, status=ContactStatus.ACTIVE
        ).first()
        if contact is None:
            return False
        Contact.objects.filter(pk=contact.pk, status=ContactStatus.ACTIVE).update(
            status=ContactStatus.BOUNCED
        )
        audit_record(
            actor=actor,
            action="contact.bounce",
            tenant=tenant,
            obj=contact,
            changes={"status": [ContactStatus.ACTIVE, ContactStatus.BOUNCED], "reason": reason},
        )
    return True


def list_create(*, actor: Actor | None, tenant: Tenant, name: str) -> ContactList:
    name = name.strip()
    if not name:
        raise ValidationError({"name": _("This field is required.")})
    if ContactList.objects.filter(tenant=tenant, name__iexact=name).exists():
        raise ValidationError(
            {"name": ValidationError(_("A list with this name exists already."), code="name_taken")}
        )
    with transaction.atomic():
        contact_list = ContactList.objects.create(tenant=tenant, name=name)
        audit_record(actor=actor, action="contact_list.create", tenant=tenant, obj=contact_list)
    return contact_list


def list_rename(
    *, actor: Actor | None, tenant: Tenant, contact_list: ContactList, name: str
) -> ContactList:
    name = name.strip()
    if not name:
        raise ValidationError({"name": _("This field is required.")})
    if (
        ContactList.objects.filter(tenant=tenant, name__iexact=name)
        .exclude(pk=contact_list.pk)
        .exists()
    ):
        raise ValidationError(
            {"name": ValidationError(_("A list with this name exists already."), code="name_taken")}
        )
    with transaction.atomic():
        contact_list.name = name
        contact_list.save(update_fields=["name"])
        audit_record(actor=actor, action="contact_list.rename", tenant=tenant, obj=contact_list)
    return contact_list


def list_delete(*, actor: Actor | None, tenant: Tenant, contact_list: ContactList) -> None:
    """Deletes the list, never its contacts."""
    with transaction.atomic():
        audit_record(actor=actor, action="contact_list.delete", tenant=tenant, obj=contact_list)
        ContactList.objects.filter(tenant=tenant, pk=contact_list.pk).delete()


def list_add_members(
    *, actor: Actor | None, tenant: Tenant, contact_list: ContactList, contact_ids: Iterable[int]
) -> int:
    """Add contacts of the tenant (ids of other tenants are ignored); returns how many were new."""
    ids = set(
        Contact.objects.filter(tenant=tenant, pk__in=list(contact_ids)).values_list("pk", flat=True)
    )
    present = set(
        ListMembership.objects.filter(
            tenant=tenant, contact_list=contact_list, contact_id__in=ids
        ).values_list("contact_id", flat=True)
    )
    new = sorted(ids - present)
    with transaction.atomic():
        ListMembership.objects.bulk_create(
            [ListMembership(tenant=tenant, contact_list=contact_list, contact_id=pk) for pk in new],
            ignore_conflicts=True,
        )
        audit_record(
            actor=actor,
            action="contact_list.add",
            tenant=tenant,
            obj=contact_list,
            changes={"contact_ids": new},
        )
    return len(new)


def list_remove_members(
    *, actor: Actor | None, tenant: Tenant, contact_list: ContactList, contact_ids: Iterable[int]
) -> int:
    ids = list(contact_ids)
    with transaction.atomic():
        removed, _detail = ListMembership.objects.filter(
            tenant=tenant, contact_list=contact_list, contact_id__in=ids
        ).delete()
        audit_record(
            actor=actor,
            action="contact_list.remove",
            tenant=tenant,
            obj=contact_list,
            changes={"contact_ids": ids},
        )
    return removed


def segment_create(*, actor: Actor | None, tenant: Tenant, name: str, rules: Any) -> Segment:
    name = name.strip()
    if not name:
        raise ValidationError({"name": _("This field is required.")})
    cleaned = clean_rules(tenant, rules)
    if Segment.objects.filter(tenant=tenant, name__iexact=name).exists():
        raise ValidationError(
            {
                "name": ValidationError(
                    _("A segment with this name exists already."), code="name_taken"
                )
            }
        )
    with transaction.atomic():
        segment = Segment.objects.create(tenant=tenant, name=name, rules=cleaned)
        audit_record(
            actor=actor,
            action="segment.create",
            tenant=tenant,
            obj=segment,
            changes={"rules": cleaned},
        )
    return segment


def segment_update(
    *, actor: Actor | None, tenant: Tenant, segment: Segment, name: str, rules: Any
) -> Segment:
    name = name.strip()
    if not name:
        raise ValidationError({"name": _("This field is required.")})
    cleaned = clean_rules(tenant, rules)
    if Segment.objects.filter(tenant=tenant, name__iexact=name).exclude(pk=segment.pk).exists():
        raise ValidationError(
            {
                "name": ValidationError(
                    _("A segment with this name exists already."), code="name_taken"
                )
            }
        )
    with transaction.atomic():
        segment.name, segment.rules = name, cleaned
        segment.save(update_fields=["name", "rules"])
        audit_record(
            actor=actor,
            action="segment.update",
            tenant=tenant,
            obj=segment,
            changes={"rules": cleaned},
        )
    return segment


def segment_delete(*, actor: Actor | None, tenant: Tenant, segment: Segment) -> None:
    with transaction.atomic():
        audit_record(actor=actor, action="segment.delete", tenant=tenant, obj=segment)
        Segment.objects.filter(tenant=tenant, pk=segment.pk).delete()
