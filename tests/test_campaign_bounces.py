"""Campaign mail with the outbox transport, DSNs about campaign deliveries, and statistics."""

from __future__ import annotations

import pytest
from django.test import Client
from django_scopes import scope, scopes_disabled

from campaign_support import ready_campaign, ready_tenant
from mandant.audit.models import AuditEntry
from mandant.campaigns import pipeline, send_loop, services
from mandant.campaigns.models import Campaign, CampaignStatus, Delivery, DeliveryStatus
from mandant.campaigns.statistics import TRACKING_KEYS, campaign_statistics
from mandant.contacts.models import Contact, ContactStatus
from mandant.contacts.services import contact_unsubscribe
from mandant.notices.bounces import bounce_process
from mandant.notices.models import OutboxMessage
from test_bounces import SECRET, dsn
from user_support import Api
from worker import IMMEDIATE_TASKS

OUTBOX = "mandant.notices.backends.OutboxBackend"


@pytest.fixture
def ready(world, monkeypatch, settings):  # type: ignore[no-untyped-def]
    settings.TASKS = IMMEDIATE_TASKS
    settings.EMAIL_BACKEND = OUTBOX
    settings.BOUNCE_WEBHOOK_SECRET = SECRET
    return ready_tenant(world, monkeypatch)


def sent_campaign(ready) -> Campaign:  # type: ignore[no-untyped-def]
    campaign = ready_campaign(ready)
    with scope(tenant=ready.tenant.pk):
        services.campaign_send(actor=ready.actor, tenant=ready.tenant, campaign=campaign)
    with scopes_disabled():
        return Campaign.objects.get(pk=campaign.pk)


def delivery_of(campaign: Campaign, contact: Contact) -> Delivery:
    with scopes_disabled():
        return Delivery.objects.get(campaign=campaign, contact_id=contact.pk)


def kept_message(contact: Contact) -> bytes:
    return bytes(OutboxMessage.objects.get(to=contact.email).raw)


def contact_status(contact: Contact) -> str:
    with scopes_disabled():
        return Contact.objects.get(pk=contact.pk).status


# --- the outbox transport ----------------------------------------------------------------


def test_the_operators_outbox_shows_kept_campaign_mail_paged(world, ready, monkeypatch):
    from mandant.tenants import operator_views

    campaign = sent_campaign(ready)
    system = OutboxMessage.objects.create(
        from_email="noreply@mandant.example",
        to="olga@mandant.example",
        subject="Systemmail",
        body="…",
        raw=b"",
        outbound_id=12345,  # recorded system mail: listed with its OutboundMessage above
    )
    olga = world.client_for(world.olga)
    page = olga.get("/operator/outbox/").content.decode()
    section = page[page.index('data-testid="outbox-campaign-mail"') :]
    anna = OutboxMessage.objects.get(to=ready.anna.email)
    assert ready.anna.email in section and ready.bert.email in section
    assert "Grüße zum Frühling" in section and f"/operator/outbox/kept/{anna.pk}/" in section
    assert "Systemmail" not in section
    detail = olga.get(f"/operator/outbox/kept/{anna.pk}/")
    assert detail.status_code == 200
    body = detail.content.decode()
    assert 'sandbox=""' in body and "Viele Grüße aus Berlin" in body and "Hello Anna" in body
    assert olga.get(f"/operator/outbox/kept/{system.pk}/").status_code == 404
    # Staff only.
    assert world.client_for(ready.admin).get(f"/operator/outbox/kept/{anna.pk}/").status_code == 404
    # Paged by id: one per page here.
    real = operator_views.kept_campaign_mail
    monkeypatch.setattr(
        operator_views, "kept_campaign_mail", lambda before=None: real(before=before, limit=1)
    )
    first = olga.get("/operator/outbox/").content.decode()
    newest = max(OutboxMessage.objects.filter(outbound_id__isnull=True), key=lambda m: m.pk)
    oldest = min(OutboxMessage.objects.filter(outbound_id__isnull=True), key=lambda m: m.pk)
    assert newest.to in first and oldest.to not in first
    assert f"before={newest.pk}#campaign-mail" in first
    second = olga.get("/operator/outbox/", {"before": newest.pk}).content.decode()
    assert oldest.to in second.split('data-testid="outbox-campaign-mail"')[1]
    assert 'data-testid="outbox-older"' not in second
    assert campaign.status == CampaignStatus.SENT


def test_with_the_outbox_transport_a_campaign_is_kept_and_reaches_100_percent(world, ready):
    campaign = sent_campaign(ready)
    assert campaign.status == CampaignStatus.SENT
    assert pipeline.delivery_counts(campaign) == {
        "sent": 2,
        "failed": 0,
        "remaining": 0,
        "total": 2,
    }
    kept = OutboxMessage.objects.order_by("to")
    assert [m.to for m in kept] == [ready.anna.email, ready.bert.email]
    for contact in (ready.anna, ready.bert):
        delivery = delivery_of(campaign, contact)
        assert delivery.status == DeliveryStatus.SENT
        assert delivery.smtp_response == send_loop.OUTBOX_RESPONSE
        raw = kept_message(contact)
        assert f"Message-ID: <{delivery.message_id}>".encode() in raw
    anna = OutboxMessage.objects.get(to=ready.anna.email)
    assert anna.subject == "Grüße zum Frühling"
    assert "Anna" in anna.body
    # The page's progress says 100 %.
    client = world.client_for(ready.admin)
    progress = client.get(f"/t/{ready.tenant.slug}/campaigns/{campaign.pk}/progress/").json()
    assert (progress["percent"], progress["status"]) == (100, "done")
    # Run again: nothing is kept twice.
    pipeline.prepare(campaign.pk)
    assert OutboxMessage.objects.count() == 2


# --- bounces -------------------------------------------------------------------------------


def test_a_hard_bounce_marks_delivery_and_contact_bounced_and_stops_sending(world, ready):
    campaign = sent_campaign(ready)
    outcome = bounce_process(raw=dsn(kept_message(ready.anna), recipient=ready.anna.email))
    assert (outcome.outcome, outcome.reason, outcome.marked) == ("hard", "bounced", True)
    assert outcome.details["campaign_id"] == campaign.pk
    delivery = delivery_of(campaign, ready.anna)
    assert delivery.status == DeliveryStatus.BOUNCED
    assert delivery.smtp_response.startswith("DSN failed: 550 5.1.1")
    assert contact_status(ready.anna) == ContactStatus.BOUNCED
    assert contact_status(ready.bert) == ContactStatus.ACTIVE
    entry = AuditEntry.objects.get(action="contact.bounce")
    assert entry.object_id == str(ready.anna.pk) and entry.tenant_id == ready.tenant.pk
    # The same DSN again: recorded once, the contact was bounced already.
    again = bounce_process(raw=dsn(kept_message(ready.anna), recipient=ready.anna.email))
    assert (again.outcome, again.marked) == ("hard", False)
    assert AuditEntry.objects.filter(action="contact.bounce").count() == 1
    # Progress still counts it as sent; the statistics as bounced.
    assert pipeline.delivery_counts(campaign)["sent"] == 2
    stats = campaign_statistics(campaign)
    assert (stats["delivered"], stats["bounced"], stats["sent"]) == (1, 1, 2)
    # The next campaign leaves the bounced contact out.
    OutboxMessage.objects.all().delete()
    sent_campaign(ready)
    assert list(OutboxMessage.objects.values_list("to", flat=True)) == [ready.bert.email]


def test_the_inbound_endpoint_takes_a_dsn_with_only_the_original_headers(world, ready):
    campaign = sent_campaign(ready)
    raw = dsn(kept_message(ready.bert), recipient=ready.bert.email, headers_only=True)
    response = Client().post(
        "/inbound/bounces/",
        data=raw,
        content_type="message/rfc822",
        headers={"Authorization": f"Bearer {SECRET}"},
    )
    assert response.status_code < 300, response.content
    assert delivery_of(campaign, ready.bert).status == DeliveryStatus.BOUNCED
    assert contact_status(ready.bert) == ContactStatus.BOUNCED


def test_a_soft_bounce_is_only_recorded(world, ready):
    campaign = sent_campaign(ready)
    raw = dsn(
        kept_message(ready.anna),
        recipient=ready.anna.email,
        action="delayed",
        status="4.2.2",
        diagnostic="smtp; 452 4.2.2 Mailbox full",
    )
    outcome = bounce_process(raw=raw)
    assert (outcome.outcome, outcome.reason) == ("soft", "recorded")
    delivery = delivery_of(campaign, ready.anna)
    assert delivery.status == DeliveryStatus.SENT
    assert delivery.smtp_response == "DSN delayed: 452 4.2.2 Mailbox full"
    assert contact_status(ready.anna) == ContactStatus.ACTIVE
    assert campaign_statistics(campaign)["bounced"] == 0


def test_forged_or_unknown_campaign_dsns_are_ignored(world, ready):
    campaign = sent_campaign(ready)
    anna_raw = kept_message(ready.anna)
    # A DSN naming another address than the delivery's recipient.
    outcome = bounce_process(raw=dsn(anna_raw, recipient=ready.bert.email))
    assert (outcome.outcome, outcome.reason) == ("ignored", "recipient_mismatch")
    # A Message-ID no delivery has.
    delivery = delivery_of(campaign, ready.anna)
    unknown = anna_raw.replace(delivery.message_id.encode(), b"0000@unknown.example")
    outcome = bounce_process(raw=dsn(unknown, recipient=ready.anna.email))
    assert (outcome.outcome, outcome.reason) == ("ignored", "unknown_message")
    assert delivery_of(campaign, ready.anna).status == DeliveryStatus.SENT
    assert contact_status(ready.anna) == ContactStatus.ACTIVE


# --- statistics ----------------------------------------------------------------------------


def test_statistics_on_the_page_and_in_the_api(world, ready):
    campaign = sent_campaign(ready)
    bounce_process(raw=dsn(kept_message(ready.anna), recipient=ready.anna.email))
    with scope(tenant=ready.tenant.pk):
        contact_unsubscribe(tenant=ready.tenant, contact=ready.bert, source="link")
    stats = campaign_statistics(campaign)
    # Not tracked: no open and click figures (None, not zeros).
    assert stats == {"sent": 2, "delivered": 1, "bounced": 1, "failed": 0, "unsubscribed": 1} | {
        key: None for key in TRACKING_KEYS
    }
    api = Api(world.api_key(ready.admin, ready.tenant))
    body = api.get(f"/tenants/{ready.tenant.pk}/campaigns/{campaign.pk}").json()
    assert body["statistics"] == stats
    page = world.client_for(ready.admin).get(f"/t/{ready.tenant.slug}/campaigns/{campaign.pk}/")
    html = page.content.decode()
    assert 'data-testid="campaign-statistics"' in html
    assert 'data-testid="stat-bounced">1<' in html
    assert 'data-testid="stat-unsubscribed">1<' in html
    assert 'width="30%" height="16" fill="#2e7d32" data-testid="bar-delivered"' in html


def test_an_unsubscribe_before_the_send_does_not_count_for_the_campaign(world, ready):
    with scope(tenant=ready.tenant.pk):
        contact_unsubscribe(tenant=ready.tenant, contact=ready.bert, source="link")
    campaign = sent_campaign(ready)
    # Bert got nothing; he is no unsubscribe of this campaign.
    assert campaign_statistics(campaign) == {
        "sent": 1,
        "delivered": 1,
        "bounced": 0,
        "failed": 0,
        "unsubscribed": 0,
    } | {key: None for key in TRACKING_KEYS}


def test_a_draft_has_no_statistics_section_and_zero_statistics_in_the_api(world, ready):
    campaign = ready_campaign(ready)
    page = world.client_for(ready.admin).get(f"/t/{ready.tenant.slug}/campaigns/{campaign.pk}/")
    assert 'data-testid="campaign-statistics"' not in page.content.decode()
    api = Api(world.api_key(ready.admin, ready.tenant))
    body = api.get(f"/tenants/{ready.tenant.pk}/campaigns/{campaign.pk}").json()
    assert body["statistics"]["sent"] == 0
