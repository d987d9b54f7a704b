"""A tenant that is ready to send a campaign, for the campaign tests.

``Kunde Drei``: CUSTOM, ISO-8859-1, configured by the operator, carl its verified Administrator,
a sending domain with a real DKIM key (verified without DNS), the postal address, a sender
identity, a template with the unsubscribe link, a list with two active contacts.
"""

from dataclasses import dataclass
from email import message_from_bytes, policy
from email.message import EmailMessage

from django.utils import timezone
from django_scopes import scope

from mandant.accounts.models import User
from mandant.accounts.roles import Role
from mandant.accounts.services import membership_set
from mandant.campaigns import services as campaigns
from mandant.campaigns.models import Campaign
from mandant.contacts import services as contacts
from mandant.contacts.models import Contact, ContactList
from mandant.content import services as content
from mandant.content.models import ContentItem, ContentKind
from mandant.core.actor import Actor
from mandant.sending import services as sending
from mandant.sending.dkim_keys import DkimKeyPair, generate_key_pair
from mandant.sending.models import SenderIdentity, SendingDomain
from mandant.tenants.models import Tenant
from mandant.tenants.services import tenant_create, tenant_mark_configured

TEMPLATE_HTML = (
    "<p>{{ contact.salutation }}</p>{{ content }}"
    '<p><a href="{{ unsubscribe_url }}">Abmelden</a> · {{ tenant.name }}</p>'
)
TEMPLATE_TEXT = "{{ contact.salutation }}\n\n{{ content }}\n\nAbmelden: {{ unsubscribe_url }}"

_KEYS: list[DkimKeyPair] = []


def key_pair() -> DkimKeyPair:
    """One real key pair for the whole test run (generating one takes about a second)."""
    if not _KEYS:
        _KEYS.append(generate_key_pair())
    return _KEYS[0]


@dataclass
class Ready:
    tenant: Tenant
    admin: User
    domain: SendingDomain
    identity: SenderIdentity
    template: ContentItem
    block: ContentItem
    contact_list: ContactList
    anna: Contact
    bert: Contact

    @property
    def actor(self) -> Actor:
        return Actor(user=self.admin)


def ready_tenant(world, monkeypatch, *, charset: str = "ISO-8859-1") -> Ready:  # type: ignore[no-untyped-def]
    monkeypatch.setattr(sending, "generate_key_pair", key_pair)
    olga = Actor(user=world.olga)
    tenant = tenant_create(
        actor=Actor(user=world.paula),
        name="Kunde Drei",
        type="CUSTOM",
        version="ENTERPRISE",
        master=world.alpha,
        charset=charset,
    )
    tenant_mark_configured(actor=olga, tenant=tenant)
    tenant.refresh_from_db()
    membership_set(actor=olga, tenant=tenant, user=world.carl, role=Role.ADMINISTRATOR)
    User.objects.filter(pk=world.carl.pk).update(email_verified_at=timezone.now())
    world.carl.refresh_from_db()
    admin = Actor(user=world.carl)
    with scope(tenant=tenant.pk):
        domain = sending.domain_add(actor=admin, tenant=tenant, domain="news.kunde-drei.example")
        domain = sending.domain_verify_without_dns(actor=olga, tenant=tenant, sending_domain=domain)
        sending.postal_address_save(
            actor=admin,
            tenant=tenant,
            company_name="Kunde Drei GmbH",
            street="Hauptstraße 1",
            postal_code="10115",
            city="Berlin",
            country="DE",
        )
        identity = sending.sender_identity_create(
            actor=admin,
            tenant=tenant,
            from_address="news@news.kunde-drei.example",
            alias="Kunde Drei",
            reply_to="antwort@kunde-drei.example",
        )
        template = content.item_create(
            actor=admin,
            tenant=tenant,
            kind=ContentKind.TEMPLATE,
            name="Hausvorlage",
            html=TEMPLATE_HTML,
            text=TEMPLATE_TEXT,
        )
        block = content.item_create(
            actor=admin,
            tenant=tenant,
            kind=ContentKind.TEXT_BLOCK,
            name="Gruß",
            html="<p>Viele Grüße aus Berlin</p>",
            text="Viele Grüße aus Berlin",
        )
        anna = contacts.contact_create(
            actor=None,
            tenant=tenant,
            email="anna@example.org",
            first_name="Anna",
            last_name="Ärger",
        )
        bert = contacts.contact_create(
            actor=None, tenant=tenant, email="bert@example.org", first_name="Bert"
        )
        contact_list = contacts.list_create(actor=None, tenant=tenant, name="Newsletter")
        contacts.list_add_members(
            actor=None, tenant=tenant, contact_list=contact_list, contact_ids=[anna.pk, bert.pk]
        )
    return Ready(tenant, world.carl, domain, identity, template, block, contact_list, anna, bert)


def ready_campaign(ready: Ready, **overrides: object) -> Campaign:
    values: dict[str, object] = {
        "name": "Frühling",
        "subject": "Grüße zum Frühling",
        "preheader": "Neues für {{ tenant.name }}",
        "sender_identity": ready.identity,
        "template": ready.template,
        "block_keys": [str(ready.block.key)],
        "contact_list": ready.contact_list,
    }
    values.update(overrides)
    with scope(tenant=ready.tenant.pk):
        return campaigns.campaign_create(actor=ready.actor, tenant=ready.tenant, **values)


def parse(data: bytes) -> EmailMessage:
    """A received message, read back with the ``email`` package."""
    message = message_from_bytes(data, policy=policy.default)
    assert isinstance(message, EmailMessage)
    return message
