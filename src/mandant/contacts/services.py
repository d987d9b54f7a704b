"""Every write to contacts, lists, segments and sign-up forms: keyword-only, explicit actor and
tenant, one transaction, one audit row."""

from collections.abc import Iterable
from typing import Any

from django.core.exceptions import ValidationError
from django.core.validators import URLValidator
from django.db import IntegrityError, transaction
from django.utils import timezone
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
    SignupForm,
)
from mandant.contacts.normalize import normalize_email
from mandant.contacts.segments import clean_rules
from mandant.contacts.signup import CONFIRM_DAYS, confirm_url, form_languages, language_codes
from mandant.core.actor import Actor
from mandant.core.errors import NotFound
from mandant.notices.services import mail_queue
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


# --- sign-up forms (double opt-in) ------------------------------------------------------------

CONFIRM_MAIL_KIND = "contact_confirm"
# A sign-up or its confirmation makes these contacts active; blocked (the tenant's decision)
# and complained (a spam report) stay as they are, and get no confirmation mail either.
CONFIRMABLE = (
    ContactStatus.UNCONFIRMED,
    ContactStatus.UNSUBSCRIBED,
    ContactStatus.BOUNCED,
    ContactStatus.ACTIVE,
)
SIGNUP_FIELDS = (
    "name",
    "contact_list",
    "consent_text",
    "ask_first_name",
    "ask_last_name",
    "languages",
    "success_url",
    "confirmed_url",
    "active",
)


def _clean_signup_form(
    tenant: Tenant, data: dict[str, Any], *, exclude_pk: int | None = None
) -> dict[str, Any]:
    errors: dict[str, list[ValidationError | str]] = {}
    name = str(data.get("name") or "").strip()
    if not name:
        errors.setdefault("name", []).append(_("This field is required."))
    elif len(name) > 200:
        errors.setdefault("name", []).append(_("At most 200 characters."))
    elif (
        SignupForm.objects.filter(tenant=tenant, name__iexact=name)
        .exclude(pk=exclude_pk or 0)
        .exists()
    ):
        errors.setdefault("name", []).append(
            ValidationError(_("A sign-up form with this name exists already."), code="name_taken")
        )
    contact_list = data.get("contact_list")
    if isinstance(contact_list, ContactList):
        contact_list = contact_list.pk
    try:
        list_pk = int(contact_list) if contact_list not in (None, "") else 0
    except (TypeError, ValueError):
        list_pk = 0
    found_list = ContactList.objects.filter(tenant=tenant, pk=list_pk).first() if list_pk else None
    if found_list is None:
        errors.setdefault("contact_list", []).append(_("Choose a list of this tenant."))
    consent_text = str(data.get("consent_text") or "").strip()
    if not consent_text:
        errors.setdefault("consent_text", []).append(
            _("Enter the consent text the form shows (it is kept as proof with each sign-up).")
        )
    elif len(consent_text) > 5000:
        errors.setdefault("consent_text", []).append(_("At most 5,000 characters."))
    languages = data.get("languages") or []
    if isinstance(languages, str):
        languages = [languages]
    known = language_codes()
    cleaned_languages: list[str] = []
    for code in languages:
        code = str(code).strip().lower()
        if code not in known:
            errors.setdefault("languages", []).append(
                _("Unknown language: %(code)s.") % {"code": code}
            )
        elif code not in cleaned_languages:
            cleaned_languages.append(code)
    if not cleaned_languages and "languages" not in errors:
        errors.setdefault("languages", []).append(_("Choose at least one language."))
    urls: dict[str, str] = {}
    for key in ("success_url", "confirmed_url"):
        url = str(data.get(key) or "").strip()
        if url:
            try:
                URLValidator(schemes=["http", "https"])(url)
            except ValidationError:
                errors.setdefault(key, []).append(
                    _("Enter a full web address starting with https:// or http://.")
                )
            if len(url) > 500:
                errors.setdefault(key, []).append(_("At most 500 characters."))
        urls[key] = url
    if errors:
        raise ValidationError(errors)
    return {
        "name": name,
        "contact_list": found_list,
        "consent_text": consent_text,
        "ask_first_name": bool(data.get("ask_first_name")),
        "ask_last_name": bool(data.get("ask_last_name")),
        "languages": cleaned_languages,
        "active": bool(data.get("active", True)),
        **urls,
    }


def signup_form_create(*, actor: Actor | None, tenant: Tenant, **data: Any) -> SignupForm:
    """Fields: ``SIGNUP_FIELDS`` (``contact_list`` a list or its id, ``languages`` codes)."""
    if unknown := set(data) - set(SIGNUP_FIELDS):
        raise ValidationError(_("Unknown fields: %(f)s.") % {"f": ", ".join(sorted(unknown))})
    cleaned = _clean_signup_form(tenant, data)
    with transaction.atomic():
        form = SignupForm.objects.create(tenant=tenant, **cleaned)
        audit_record(
            actor=actor,
            action="signup_form.create",
            tenant=tenant,
            obj=form,
            changes={"name": form.name, "list": cleaned["contact_list"].pk},
        )
    return form


def signup_form_update(
    *, actor: Actor | None, tenant: Tenant, form: SignupForm, **data: Any
) -> SignupForm:
    """Change some fields; the others keep their value."""
    if form.tenant_id != tenant.pk:
        raise NotFound
    if unknown := set(data) - set(SIGNUP_FIELDS):
        raise ValidationError(_("Unknown fields: %(f)s.") % {"f": ", ".join(sorted(unknown))})
    current = {key: getattr(form, key) for key in SIGNUP_FIELDS}
    cleaned = _clean_signup_form(tenant, {**current, **data}, exclude_pk=form.pk)
    changed = {
        key: value
        for key, value in cleaned.items()
        if value != current[key] and key != "contact_list"
    }
    if cleaned["contact_list"] != current["contact_list"]:
        changed["contact_list"] = cleaned["contact_list"].pk
    with transaction.atomic():
        for key, value in cleaned.items():
            setattr(form, key, value)
        form.save()
        audit_record(
            actor=actor, action="signup_form.update", tenant=tenant, obj=form, changes=changed
        )
    return form


def signup_form_delete(*, actor: Actor | None, tenant: Tenant, form: SignupForm) -> None:
    """Deletes the form; its consent records stay (with ``source`` naming it)."""
    with transaction.atomic():
        audit_record(
            actor=actor,
            action="signup_form.delete",
            tenant=tenant,
            obj=form,
            changes={"name": form.name},
        )
        SignupForm.objects.filter(tenant=tenant, pk=form.pk).delete()


def signup_submit(
    *,
    form: SignupForm,
    email: str,
    first_name: str = "",
    last_name: str = "",
    language: str = "",
    ip: str | None = None,
) -> ConsentRecord | None:
    """A sign-up through a form (no actor: the public). A new address becomes an *unconfirmed*
    contact; every sign-up keeps a pending consent record (source ``form:<name>``, time, IP, the
    exact consent text) and mails the confirmation link in the contact's language. Existing
    contacts are not changed before confirmation (an active one stays active). Blocked and
    complained contacts get nothing. The caller answers the same in every case, so nobody learns
    whether an address is known. Returns the pending record (None when nothing was sent)."""
    tenant = form.tenant
    if not form.active or form.contact_list_id is None:
        raise NotFound
    try:
        normalized = normalize_email(email)
    except ValidationError as exc:
        raise ValidationError({"email": exc.messages}) from None
    offered = form_languages(form)
    language = language if language in offered else offered[0]
    data = {
        "first_name": first_name.strip()[:150] if form.ask_first_name else "",
        "last_name": last_name.strip()[:150] if form.ask_last_name else "",
        "language": language,
    }
    with transaction.atomic():
        created = False
        contact = (
            Contact.objects.select_for_update().filter(tenant=tenant, email=normalized).first()
        )
        if contact is None:
            try:
                with transaction.atomic():
                    contact = Contact.objects.create(
                        tenant=tenant,
                        email=normalized,
                        status=ContactStatus.UNCONFIRMED,
                        **data,
                    )
                    created = True
            except IntegrityError:  # signed up at the same moment in another request
                contact = Contact.objects.select_for_update().get(tenant=tenant, email=normalized)
        if contact.status not in CONFIRMABLE:
            return None
        consent = ConsentRecord.objects.create(
            tenant=tenant,
            contact=contact,
            source=f"{ConsentSource.FORM}:{form.name}"[:220],
            ip=ip,
            text=form.consent_text,
            form=form,
            double_opt_in=True,
            data=data,
        )
        mail_queue(
            kind=CONFIRM_MAIL_KIND,
            template="contact_confirm",
            context={
                "email": contact.email,
                "confirm_url": confirm_url(consent),
                "valid_days": CONFIRM_DAYS,
                "form_name": form.name,
            },
            to_email=contact.email,
            language=contact.language or language,
            tenant=tenant,
        )
        audit_record(
            actor=None,
            action="contact.signup",
            tenant=tenant,
            obj=contact,
            changes={"form": form.pk, "consent": consent.pk, "new": created},
        )
    return consent


def signup_confirm(
    *, tenant: Tenant, contact_id: int, consent_id: int, ip: str | None = None
) -> ConsentRecord:
    """The contact confirms a sign-up (double opt-in): its consent record gets the time and IP
    of the confirmation, the contact becomes active (unless blocked or complained meanwhile),
    takes the names and language given on the form, and joins the form's list. Confirming again
    changes nothing."""
    with transaction.atomic():
        consent = (
            ConsentRecord.objects.select_for_update()
            .filter(tenant=tenant, pk=consent_id, contact_id=contact_id, double_opt_in=True)
            .first()
        )
        if consent is None:
            raise NotFound
        if consent.confirmed_at is not None:
            return consent
        contact = Contact.objects.select_for_update().get(tenant=tenant, pk=contact_id)
        before = contact.status
        consent.confirmed_at = timezone.now()
        consent.confirmed_ip = ip
        consent.save(update_fields=["confirmed_at", "confirmed_ip"])
        if contact.status in CONFIRMABLE:
            contact.status = ContactStatus.ACTIVE
            for key in ("first_name", "last_name", "language"):
                value = str(consent.data.get(key) or "")
                if value:
                    setattr(contact, key, value)
            contact.save()
            form = (
                SignupForm.objects.filter(tenant=tenant, pk=consent.form_id).first()
                if consent.form_id
                else None
            )
            if form is not None and form.contact_list_id is not None:
                ListMembership.objects.bulk_create(
                    [
                        ListMembership(
                            tenant=tenant, contact_list_id=form.contact_list_id, contact=contact
                        )
                    ],
                    ignore_conflicts=True,
                )
        audit_record(
            actor=None,
            action="contact.signup_confirm",
            tenant=tenant,
            obj=contact,
            changes={"consent": consent.pk, "status": [before, contact.status]},
        )
    return consent
