"""Writes about sending: domains and their DNS check, sender identities, the postal address.

Every function takes the acting user and the tenant explicitly, checks the role, runs in one
transaction and writes one audit row.
"""

import re

import idna
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, models, transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from email_validator import EmailNotValidError, validate_email

from mandant.accounts.emails import clean_email_address
from mandant.accounts.roles import Action, role_allows
from mandant.audit.services import audit_record
from mandant.core.actor import Actor, RoleGrant
from mandant.core.errors import NotFound, PermissionDenied
from mandant.sending.dkim_keys import generate_key_pair
from mandant.sending.dns_checks import (
    TxtResolver,
    all_ok,
    check_domain_records,
    dnspython_txt_resolver,
)
from mandant.sending.models import (
    DomainStatus,
    SenderIdentity,
    SenderPostalAddress,
    SendingDomain,
)
from mandant.tenants.models import Tenant
from mandant.tenants.selectors import effective_grant

LABEL_RE = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")
COUNTRY_RE = re.compile(r"^[A-Z]{2}$")


def _require(actor: Actor, tenant: Tenant, action: Action) -> RoleGrant:
    grant = effective_grant(actor, tenant)
    if grant is None:
        raise NotFound
    if not role_allows(grant.role, action):
        if action is Action.SENDING_VERIFY_WITHOUT_DNS:
            raise PermissionDenied(
                _("Only our service staff may mark a domain verified without DNS.")
            )
        raise PermissionDenied(_("Changing the sending settings needs the role Administrator."))
    return grant


def normalise_domain(raw: str) -> str:
    """The lower-case IDNA (A-label) form of a domain name, or ValidationError."""
    value = (raw or "").strip().rstrip(".").lower()
    if not value:
        raise ValidationError({"domain": [_("Please enter a domain.")]}, code="required")
    invalid = ValidationError(
        {"domain": [_("“%(domain)s” is not a valid domain name.") % {"domain": raw.strip()}]},
        code="invalid",
    )
    if "@" in value or "/" in value or " " in value:
        raise invalid
    try:
        ascii_domain = idna.encode(value, uts46=True).decode("ascii")
    except (idna.IDNAError, UnicodeError):
        raise invalid from None
    labels = ascii_domain.split(".")
    if len(labels) < 2 or len(ascii_domain) > 253 or not all(LABEL_RE.match(x) for x in labels):
        raise invalid
    if labels[-1].isdigit():
        raise invalid
    return ascii_domain


def dkim_selector_for_now() -> str:
    return f"{settings.SENDING_DKIM_SELECTOR_PREFIX}{timezone.now().year}"


def domain_add(*, actor: Actor, tenant: Tenant, domain: str) -> SendingDomain:
    """Add a sending domain with a new DKIM key pair; it stays pending until checked."""
    grant = _require(actor, tenant, Action.SENDING_MANAGE)
    name = normalise_domain(domain)
    taken = ValidationError(
        {
            "domain": [
                _("%(domain)s is already a sending domain of this tenant.") % {"domain": name}
            ]
        },
        code="duplicate",
    )
    if SendingDomain.objects.filter(tenant=tenant, domain=name).exists():
        raise taken
    # Outside the transaction: key generation takes about a second.
    keys = generate_key_pair()
    try:
        with transaction.atomic():
            row = SendingDomain.objects.create(
                tenant=tenant,
                domain=name,
                dkim_selector=dkim_selector_for_now(),
                dkim_private_key_pem=keys.private_key_pem,
                dkim_public_key=keys.public_key_b64,
            )
            audit_record(
                actor=actor,
                action="sending.domain_add",
                tenant=tenant,
                grant=grant,
                obj=row,
                changes={"domain": [None, name], "dkim_selector": [None, row.dkim_selector]},
            )
    except IntegrityError:
        raise taken from None
    return row


def domain_check(
    *,
    actor: Actor,
    tenant: Tenant,
    sending_domain: SendingDomain,
    resolve: TxtResolver | None = None,
) -> SendingDomain:
    """Look up SPF, DKIM and DMARC and record the outcome per record.

    The domain is verified while all three are right; a domain an operator verified without
    DNS stays verified (test systems have no public DNS).
    """
    grant = _require(actor, tenant, Action.SENDING_MANAGE)
    _same_tenant(sending_domain, tenant)
    # The lookups run before the transaction: they may take up to the DNS timeout each.
    results = check_domain_records(
        sending_domain.domain,
        sending_domain.dkim_selector,
        sending_domain.dkim_public_key,
        resolve or dnspython_txt_resolver(),
    )
    with transaction.atomic():
        row = SendingDomain.objects.select_for_update().get(pk=sending_domain.pk, tenant=tenant)
        before = row.status
        now = timezone.now()
        row.checked_at = now
        row.check_results = results
        if all_ok(results):
            if row.status != DomainStatus.VERIFIED or row.verified_without_dns:
                row.verified_at = now
                row.verified_by = actor.user
            row.status = DomainStatus.VERIFIED
            row.verified_without_dns = False
        elif not row.verified_without_dns:
            row.status = DomainStatus.PENDING
            row.verified_at = None
            row.verified_by = None
        row.save()
        audit_record(
            actor=actor,
            action="sending.domain_check",
            tenant=tenant,
            grant=grant,
            obj=row,
            changes={
                "status": [before, row.status],
                "records": {key: entry["status"] for key, entry in results.items()},
            },
        )
    return row


def domain_verify_without_dns(
    *, actor: Actor, tenant: Tenant, sending_domain: SendingDomain
) -> SendingDomain:
    """Operators only, for test systems: mark the domain verified although DNS says nothing."""
    grant = _require(actor, tenant, Action.SENDING_VERIFY_WITHOUT_DNS)
    _same_tenant(sending_domain, tenant)
    with transaction.atomic():
        row = SendingDomain.objects.select_for_update().get(pk=sending_domain.pk, tenant=tenant)
        if row.is_verified:
            return row
        before = row.status
        row.status = DomainStatus.VERIFIED
        row.verified_without_dns = True
        row.verified_at = timezone.now()
        row.verified_by = actor.user
        row.save()
        audit_record(
            actor=actor,
            action="sending.domain_verify_without_dns",
            tenant=tenant,
            grant=grant,
            obj=row,
            changes={"status": [before, row.status], "verified_without_dns": [False, True]},
        )
    return row


def domain_remove(*, actor: Actor, tenant: Tenant, sending_domain: SendingDomain) -> None:
    grant = _require(actor, tenant, Action.SENDING_MANAGE)
    _same_tenant(sending_domain, tenant)
    with transaction.atomic():
        if SenderIdentity.objects.filter(tenant=tenant, domain=sending_domain).exists():
            raise ValidationError(
                _("%(domain)s is used by sender identities. Remove or change them first.")
                % {"domain": sending_domain.domain},
                code="domain_in_use",
            )
        audit_record(
            actor=actor,
            action="sending.domain_remove",
            tenant=tenant,
            grant=grant,
            obj=sending_domain,
            changes={"domain": [sending_domain.domain, None]},
        )
        SendingDomain.objects.filter(pk=sending_domain.pk, tenant=tenant).delete()


def _same_tenant(row: models.Model, tenant: Tenant) -> None:
    if getattr(row, "tenant_id", None) != tenant.pk:
        raise NotFound


def _identity_fields(
    tenant: Tenant, from_address: str, alias: str, reply_to: str
) -> tuple[dict[str, object], dict[str, list[str]]]:
    errors: dict[str, list[str]] = {}
    values: dict[str, object] = {}
    raw = (from_address or "").strip()
    if not raw:
        errors["from_address"] = [_("Please enter an e-mail address.")]
    else:
        try:
            info = validate_email(raw, check_deliverability=False, allow_smtputf8=False)
        except EmailNotValidError:
            errors["from_address"] = [
                _("“%(address)s” is not a valid e-mail address.") % {"address": raw}
            ]
        else:
            domain = SendingDomain.objects.filter(
                tenant=tenant, domain=info.ascii_domain.lower()
            ).first()
            if domain is None:
                errors["from_address"] = [
                    _(
                        "The from address must be on one of this tenant's sending domains. "
                        "Add %(domain)s as a sending domain first."
                    )
                    % {"domain": info.ascii_domain.lower()}
                ]
            else:
                local = info.local_part
                # Lower-cased: one identity per mailbox, however it was typed.
                values["from_address"] = f"{local.lower()}@{domain.domain}"
                values["domain"] = domain
    values["alias"] = (alias or "").strip() or tenant.name
    if len(str(values["alias"])) > 100:
        errors["alias"] = [_("At most 100 characters.")]
    elif any(ch in str(values["alias"]) for ch in "\r\n"):
        errors["alias"] = [_("The alias must be on one line.")]
    reply = (reply_to or "").strip()
    if reply:
        try:
            values["reply_to"] = clean_email_address(reply)
        except ValidationError as exc:
            errors["reply_to"] = list(exc.messages)
    else:
        values["reply_to"] = ""
    return values, errors


def sender_identity_create(
    *, actor: Actor, tenant: Tenant, from_address: str, alias: str = "", reply_to: str = ""
) -> SenderIdentity:
    """A from address on one of the tenant's domains; alias defaults to the tenant's name."""
    grant = _require(actor, tenant, Action.SENDING_MANAGE)
    values, errors = _identity_fields(tenant, from_address, alias, reply_to)
    if errors:
        raise ValidationError(errors)
    duplicate = ValidationError(
        {"from_address": [_("This from address exists already.")]}, code="duplicate"
    )
    if SenderIdentity.objects.filter(tenant=tenant, from_address=values["from_address"]).exists():
        raise duplicate
    try:
        with transaction.atomic():
            identity = SenderIdentity.objects.create(tenant=tenant, **values)
            audit_record(
                actor=actor,
                action="sending.identity_create",
                tenant=tenant,
                grant=grant,
                obj=identity,
                changes={
                    "from_address": [None, identity.from_address],
                    "alias": [None, identity.alias],
                    "reply_to": [None, identity.reply_to],
                },
            )
    except IntegrityError:
        raise duplicate from None
    return identity


def sender_identity_update(
    *,
    actor: Actor,
    tenant: Tenant,
    identity: SenderIdentity,
    from_address: str,
    alias: str = "",
    reply_to: str = "",
) -> SenderIdentity:
    grant = _require(actor, tenant, Action.SENDING_MANAGE)
    _same_tenant(identity, tenant)
    values, errors = _identity_fields(tenant, from_address, alias, reply_to)
    if errors:
        raise ValidationError(errors)
    duplicate = ValidationError(
        {"from_address": [_("This from address exists already.")]}, code="duplicate"
    )
    if (
        SenderIdentity.objects.filter(tenant=tenant, from_address=values["from_address"])
        .exclude(pk=identity.pk)
        .exists()
    ):
        raise duplicate
    try:
        with transaction.atomic():
            row = SenderIdentity.objects.select_for_update().get(pk=identity.pk, tenant=tenant)
            changes: dict[str, list[object]] = {}
            for field, value in values.items():
                old = getattr(row, field)
                if old != value:
                    changes[field] = [str(old), str(value)]
                    setattr(row, field, value)
            row.save()
            audit_record(
                actor=actor,
                action="sending.identity_update",
                tenant=tenant,
                grant=grant,
                obj=row,
                changes=changes,
            )
    except IntegrityError:
        raise duplicate from None
    return row


def sender_identity_delete(*, actor: Actor, tenant: Tenant, identity: SenderIdentity) -> None:
    grant = _require(actor, tenant, Action.SENDING_MANAGE)
    _same_tenant(identity, tenant)
    with transaction.atomic():
        audit_record(
            actor=actor,
            action="sending.identity_delete",
            tenant=tenant,
            grant=grant,
            obj=identity,
            changes={"from_address": [identity.from_address, None]},
        )
        SenderIdentity.objects.filter(pk=identity.pk, tenant=tenant).delete()


POSTAL_FIELDS = ("company_name", "street", "postal_code", "city", "country")
POSTAL_MAX = {"company_name": 200, "street": 200, "postal_code": 20, "city": 100, "country": 2}


def postal_address_save(
    *,
    actor: Actor,
    tenant: Tenant,
    company_name: str,
    street: str,
    postal_code: str,
    city: str,
    country: str = "DE",
) -> SenderPostalAddress:
    """Create or replace the sender's postal address shown in the footer of every mail."""
    grant = _require(actor, tenant, Action.SENDING_MANAGE)
    given = {
        "company_name": company_name,
        "street": street,
        "postal_code": postal_code,
        "city": city,
        "country": (country or "").upper(),
    }
    values = {key: " ".join((value or "").split()) for key, value in given.items()}
    errors: dict[str, list[str]] = {}
    for key, value in values.items():
        if not value:
            errors[key] = [_("This field is required.")]
        elif len(value) > POSTAL_MAX[key]:
            errors[key] = [_("At most %(limit)s characters.") % {"limit": POSTAL_MAX[key]}]
    if "country" not in errors and not COUNTRY_RE.match(values["country"]):
        errors["country"] = [_("Enter the two-letter country code, e.g. DE.")]
    if errors:
        raise ValidationError(errors)
    with transaction.atomic():
        row = SenderPostalAddress.objects.select_for_update().filter(tenant=tenant).first()
        before = {key: getattr(row, key) for key in POSTAL_FIELDS} if row else {}
        if row is None:
            row = SenderPostalAddress(tenant=tenant)
        for key, value in values.items():
            setattr(row, key, value)
        row.save()
        audit_record(
            actor=actor,
            action="sending.postal_address_save",
            tenant=tenant,
            grant=grant,
            obj=row,
            changes={
                key: [before.get(key), values[key]]
                for key in POSTAL_FIELDS
                if before.get(key) != values[key]
            },
        )
    return row
