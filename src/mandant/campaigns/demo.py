"""A tenant made ready to send for the demo and the sending benchmark (idempotent).

What "ready" takes (sending.readiness): a verified sending domain (here verified by the operator
without DNS, which is audited), the sender's postal address, a sender identity; then a list of
contacts and a draft campaign from the tenant's standard content.
"""

from __future__ import annotations

from django.utils.translation import gettext
from django_scopes import scope

from mandant.campaigns import services as campaigns
from mandant.campaigns.models import Campaign
from mandant.contacts import services as contacts
from mandant.contacts.models import ConsentRecord, ConsentSource, Contact, ContactList
from mandant.content.models import ContentItem, ContentKind
from mandant.content.standard import standard_key
from mandant.core.actor import Actor
from mandant.sending import services as sending
from mandant.sending.models import SenderIdentity, SendingDomain
from mandant.sending.selectors import postal_address_get
from mandant.tenants.models import Tenant

DEMO_FIRST_NAMES = ["Anna", "Bernd", "Clara", "Deniz", "Emil", "Frieda", "Gül", "Hannes"]
# The demo campaign is German (subject, contacts): the German standard newsletter with its
# greeting and an article, by their standard keys (the same in every tenant).
DEMO_TEMPLATE = "de/template/newsletter"
DEMO_BLOCKS = ("de/block/greeting", "de/block/article")
DEMO_LANGUAGE = "de"


def _demo_content(tenant: Tenant) -> tuple[ContentItem | None, list[ContentItem]]:
    """The template and text blocks of the demo campaign: the German standard ones; where the
    library lacks them (edited away), its first German template and blocks."""
    live = ContentItem.objects.filter(tenant=tenant, deleted_at__isnull=True)
    template = live.filter(kind=ContentKind.TEMPLATE, key=standard_key(DEMO_TEMPLATE)).first()
    if template is None:
        template = (
            live.filter(kind=ContentKind.TEMPLATE, language=DEMO_LANGUAGE).order_by("pk").first()
        )
    by_key = {
        str(b.key): b
        for b in live.filter(
            kind=ContentKind.TEXT_BLOCK, key__in=[standard_key(i) for i in DEMO_BLOCKS]
        )
    }
    blocks = [by_key[str(standard_key(i))] for i in DEMO_BLOCKS if str(standard_key(i)) in by_key]
    if not blocks:
        blocks = list(
            live.filter(kind=ContentKind.TEXT_BLOCK, language=DEMO_LANGUAGE).order_by("pk")[:2]
        )
    return template, blocks


def demo_ready_to_send(
    *, operator: Actor, admin: Actor, tenant: Tenant, domain: str, contacts_count: int = 25
) -> Campaign:
    """``tenant`` ready to send, with ``contacts_count`` contacts on the list "Newsletter" and
    a draft campaign "Willkommen" (returned)."""
    with scope(tenant=tenant.pk):
        row = SendingDomain.objects.filter(tenant=tenant, domain=domain).first()
        if row is None:
            row = sending.domain_add(actor=admin, tenant=tenant, domain=domain)
        if row.verified_at is None:
            sending.domain_verify_without_dns(actor=operator, tenant=tenant, sending_domain=row)
        if postal_address_get(tenant) is None:
            sending.postal_address_save(
                actor=admin,
                tenant=tenant,
                company_name=tenant.name,
                street="Hafenstraße 7",
                postal_code="20457",
                city="Hamburg",
                country="DE",
            )
        identity = SenderIdentity.objects.filter(tenant=tenant).first()
        if identity is None:
            identity = sending.sender_identity_create(
                actor=admin,
                tenant=tenant,
                from_address=f"news@{domain}",
                alias=tenant.name,
                reply_to=f"service@{domain}",
            )
        contact_list = ContactList.objects.filter(tenant=tenant, name="Newsletter").first()
        if contact_list is None:
            contact_list = contacts.list_create(actor=admin, tenant=tenant, name="Newsletter")
        existing = Contact.objects.filter(tenant=tenant).count()
        new = [
            Contact(
                tenant=tenant,
                email=f"kunde{i:07d}@example.net",
                first_name=DEMO_FIRST_NAMES[i % len(DEMO_FIRST_NAMES)],
                last_name=f"Muster{i}",
                language="de",
            )
            for i in range(existing, contacts_count)
        ]
        for start in range(0, len(new), 5000):
            Contact.objects.bulk_create(new[start : start + 5000], ignore_conflicts=True)
        if not new:
            ids = []
        else:
            ids = list(Contact.objects.filter(tenant=tenant).values_list("pk", flat=True))
            # Every contact has a consent record; the demo's say where they came from.
            recorded = ConsentRecord.objects.filter(tenant=tenant).values("contact_id")
            unrecorded = Contact.objects.filter(tenant=tenant).exclude(pk__in=recorded)
            consent_text = gettext("Demo contact, created with the demo data.")
            records = [
                ConsentRecord(
                    tenant=tenant, contact_id=pk, source=ConsentSource.IMPORT, text=consent_text
                )
                for pk in unrecorded.values_list("pk", flat=True)
            ]
            ConsentRecord.objects.bulk_create(records, batch_size=5000)
        for start in range(0, len(ids), 5000):
            contacts.list_add_members(
                actor=admin,
                tenant=tenant,
                contact_list=contact_list,
                contact_ids=ids[start : start + 5000],
            )
        campaign = Campaign.objects.filter(tenant=tenant, name="Willkommen").first()
        if campaign is not None:
            return campaign
        template, blocks = _demo_content(tenant)
        return campaigns.campaign_create(
            actor=admin,
            tenant=tenant,
            name="Willkommen",
            subject="Willkommen bei {{ tenant.name }}",
            sender_identity=identity.pk,
            template=template.pk if template else None,
            block_keys=[str(b.key) for b in blocks],
            contact_list=contact_list.pk,
        )
