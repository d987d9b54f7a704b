"""Campaigns: services, each checklist item, the test send over real SMTP, permissions, pages."""

import pytest
from django.core.exceptions import ValidationError
from django_scopes import scope

from campaign_support import ready_campaign, ready_tenant
from mandant.accounts.roles import Role
from mandant.accounts.services import membership_set, user_create
from mandant.audit.models import AuditEntry
from mandant.campaigns import services
from mandant.campaigns.checklist import campaign_checklist
from mandant.campaigns.models import Campaign, CampaignStatus
from mandant.contacts import services as contacts
from mandant.contacts.models import Contact, ContactStatus
from mandant.content import services as content
from mandant.content.models import ContentKind
from mandant.core.actor import Actor
from mandant.core.errors import NotFound, PermissionDenied
from mandant.sending.models import SendingDomain

PASSWORD = "correct-horse-battery-staple-7"


@pytest.fixture
def ready(world, monkeypatch):  # type: ignore[no-untyped-def]
    return ready_tenant(world, monkeypatch)


def checks(campaign: Campaign) -> dict[str, bool]:
    with scope(tenant=campaign.tenant_id):
        return {c.key: c.ok for c in campaign_checklist(campaign)}


def member(world, tenant, email: str, role: Role):  # type: ignore[no-untyped-def]
    user = user_create(email=email, password=PASSWORD, first_name="Vera")
    membership_set(actor=Actor(user=world.olga), tenant=tenant, user=user, role=role)
    return user


# --- services --------------------------------------------------------------------------------


def test_create_takes_alias_and_reply_to_from_the_sender_and_is_audited(ready):
    campaign = ready_campaign(ready)
    assert campaign.status == CampaignStatus.DRAFT
    assert campaign.sender_alias == "Kunde Drei"
    assert campaign.reply_to == "antwort@kunde-drei.example"
    assert campaign.created_by == ready.admin
    entry = AuditEntry.objects.get(action="campaign.create")
    assert entry.tenant_id == ready.tenant.pk and entry.object_id == str(campaign.pk)


def test_a_list_and_a_segment_together_are_refused(ready):
    with scope(tenant=ready.tenant.pk):
        segment = contacts.segment_create(
            actor=None, tenant=ready.tenant, name="Alle", rules={"conditions": []}
        )
    with pytest.raises(ValidationError) as caught:
        ready_campaign(ready, segment=segment)
    assert "segment" in caught.value.message_dict
    assert not Campaign.objects.exists()
    # On update, choosing a segment replaces the list.
    campaign = ready_campaign(ready)
    with scope(tenant=ready.tenant.pk):
        services.campaign_update(
            actor=ready.actor, tenant=ready.tenant, campaign=campaign, segment=segment.pk
        )
    assert campaign.contact_list_id is None and campaign.segment_id == segment.pk


def test_foreign_rows_and_bad_values_are_refused(world, ready):
    with scope(tenant=world.kunde1.pk):
        foreign_list = contacts.list_create(actor=None, tenant=world.kunde1, name="Fremd")
    for bad in (
        {"contact_list": foreign_list.pk},
        {"template": ready.block.pk},  # a text block is not a template
        {"block_keys": ["not-a-uuid"]},
        {"reply_to": "not an address"},
        {"name": "   "},
    ):
        with pytest.raises(ValidationError):
            ready_campaign(ready, **bad)
    assert not Campaign.objects.exists()


def test_update_and_delete_drafts_only(ready):
    campaign = ready_campaign(ready)
    with scope(tenant=ready.tenant.pk):
        services.campaign_update(
            actor=ready.actor, tenant=ready.tenant, campaign=campaign, subject="Neu"
        )
        assert Campaign.objects.get(pk=campaign.pk).subject == "Neu"
        entry = AuditEntry.objects.get(action="campaign.update")
        assert entry.changes == {"subject": ["Grüße zum Frühling", "Neu"]}
        Campaign.objects.filter(pk=campaign.pk).update(status=CampaignStatus.SENT)
        campaign.refresh_from_db()
        with pytest.raises(ValidationError):
            services.campaign_update(
                actor=ready.actor, tenant=ready.tenant, campaign=campaign, subject="X"
            )
        with pytest.raises(ValidationError):
            services.campaign_delete(actor=ready.actor, tenant=ready.tenant, campaign=campaign)
        Campaign.objects.filter(pk=campaign.pk).update(status=CampaignStatus.DRAFT)
        campaign.refresh_from_db()
        services.campaign_delete(actor=ready.actor, tenant=ready.tenant, campaign=campaign)
        assert not Campaign.objects.filter(pk=campaign.pk).exists()


def test_create_from_a_campaign_draft_copies_its_fields(ready):
    with scope(tenant=ready.tenant.pk):
        draft = content.item_create(
            actor=ready.actor,
            tenant=ready.tenant,
            kind=ContentKind.CAMPAIGN_DRAFT,
            name="Sommerentwurf",
            subject="Sommer",
            preheader="Heiß",
            sender_alias="Sommerteam",
            reply_to="sommer@kunde-drei.example",
            template=ready.template,
            blocks=[ready.block],
        )
        campaign = services.campaign_from_draft(actor=ready.actor, tenant=ready.tenant, draft=draft)
        with pytest.raises(ValidationError):
            services.campaign_from_draft(
                actor=ready.actor, tenant=ready.tenant, draft=ready.template
            )
    assert (campaign.name, campaign.subject, campaign.preheader) == (
        "Sommerentwurf",
        "Sommer",
        "Heiß",
    )
    assert (campaign.sender_alias, campaign.reply_to) == ("Sommerteam", "sommer@kunde-drei.example")
    assert campaign.template_id == ready.template.pk
    assert campaign.block_keys == [str(ready.block.key)]


# --- checklist -------------------------------------------------------------------------------


def test_a_complete_campaign_passes_every_item(ready):
    assert checks(ready_campaign(ready)) == {
        "subject": True,
        "sender": True,
        "recipients": True,
        "content": True,
        "placeholders": True,
        "unsubscribe": True,
        "charset": True,
        "readiness": True,
    }


def test_each_item_fails_on_its_own(ready):
    assert not checks(ready_campaign(ready, subject=""))["subject"]
    with scope(tenant=ready.tenant.pk):
        no_sender = services.campaign_create(
            actor=ready.actor, tenant=ready.tenant, name="x", subject="x", template=ready.template
        )
    assert not checks(no_sender)["sender"]
    assert not checks(ready_campaign(ready, contact_list=None))["recipients"]
    assert not checks(ready_campaign(ready, template=None, block_keys=[]))["content"]
    assert not checks(ready_campaign(ready, preheader="{{ contact.shoe_size }}"))["placeholders"]
    assert not checks(ready_campaign(ready, subject="Nur 5 €"))["charset"]
    # Every recipient unsubscribed: no active recipient left.
    campaign = ready_campaign(ready)
    with scope(tenant=ready.tenant.pk):
        Contact.objects.filter(tenant=ready.tenant).update(status=ContactStatus.UNSUBSCRIBED)
    assert not checks(campaign)["recipients"]


def test_the_unsubscribe_item_names_the_part_without_the_link(ready):
    campaign = ready_campaign(ready)
    with scope(tenant=ready.tenant.pk):
        content.item_update(
            actor=ready.actor,
            tenant=ready.tenant,
            item=ready.template,
            html="<p>{{ content }}</p>",
            text="{{ content }}\n{{ unsubscribe_url }}",
        )
        campaign.refresh_from_db()
        item = {c.key: c for c in campaign_checklist(campaign)}["unsubscribe"]
    assert not item.ok and "HTML part" in item.hint and "text part" not in item.hint
    assert item.fix_url.endswith(f"/content/{ready.template.pk}/")


def test_the_readiness_item_follows_the_tenant(ready):
    campaign = ready_campaign(ready)
    with scope(tenant=ready.tenant.pk):
        SendingDomain.objects.filter(pk=ready.domain.pk).update(status="pending")
        item = {c.key: c for c in campaign_checklist(campaign)}["readiness"]
    assert not item.ok and item.hint and "/setup/sending/" in item.fix_url


def test_a_template_in_the_bin_counts_as_no_content(ready):
    campaign = ready_campaign(ready, block_keys=[])
    with scope(tenant=ready.tenant.pk):
        content.item_delete(actor=ready.actor, tenant=ready.tenant, item=ready.template)
        campaign.refresh_from_db()
    assert not checks(campaign)["content"]


# --- test send ------------------------------------------------------------------------------


def test_test_send_arrives_over_smtp_with_the_actors_name_and_is_audited(ready, smtp):
    campaign = ready_campaign(ready, contact_list=None)  # recipients are not needed for a test
    with scope(tenant=ready.tenant.pk):
        message_id = services.campaign_test_send(
            actor=ready.actor,
            tenant=ready.tenant,
            campaign=campaign,
            to_email="Pruefer@Example.org",
        )
    [received] = smtp.handler.received
    assert received.rcpt_tos == ["Pruefer@example.org"]
    message = received.message
    assert message["Message-ID"] == f"<{message_id}>"
    assert str(message["Subject"]) == "[Test] " + campaign.subject  # never taken for the real one
    assert "Hello Carl\r\n" in message.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    entry = AuditEntry.objects.get(action="campaign.test_send")
    assert entry.changes["to"] == "Pruefer@example.org"


def test_test_send_needs_the_checklist_and_is_rate_limited(ready, smtp):
    incomplete = ready_campaign(ready, subject="")
    with scope(tenant=ready.tenant.pk), pytest.raises(ValidationError) as caught:
        services.campaign_test_send(
            actor=ready.actor, tenant=ready.tenant, campaign=incomplete, to_email="t@example.org"
        )
    assert "subject" in str(caught.value)
    campaign = ready_campaign(ready)
    with scope(tenant=ready.tenant.pk):
        for _ in range(services.TEST_SENDS_PER_HOUR):
            services.campaign_test_send(
                actor=ready.actor, tenant=ready.tenant, campaign=campaign, to_email="t@example.org"
            )
        with pytest.raises(ValidationError) as caught:
            services.campaign_test_send(
                actor=ready.actor, tenant=ready.tenant, campaign=campaign, to_email="t@example.org"
            )
    assert caught.value.code == "rate_limited"
    assert len(smtp.handler.received) == services.TEST_SENDS_PER_HOUR


def test_a_refused_recipient_is_reported_not_audited(ready, smtp):
    smtp.handler.refuse.add("nobody@example.org")
    campaign = ready_campaign(ready)
    with scope(tenant=ready.tenant.pk), pytest.raises(ValidationError) as caught:
        services.campaign_test_send(
            actor=ready.actor, tenant=ready.tenant, campaign=campaign, to_email="nobody@example.org"
        )
    assert caught.value.code == "smtp_failed" and "550" in str(caught.value)
    assert not AuditEntry.objects.filter(action="campaign.test_send").exists()


def test_with_the_outbox_transport_the_test_send_is_kept_in_the_outbox(world, ready, settings):
    """As "Send now" does: the test lands in the outbox, and the page says where it goes."""
    from mandant.notices.models import OutboxMessage

    settings.EMAIL_BACKEND = "mandant.notices.backends.OutboxBackend"
    campaign = ready_campaign(ready)
    client = world.client_for(ready.admin)
    url = f"/t/{ready.tenant.slug}/campaigns/{campaign.pk}/"
    page = client.get(url + "checklist/").content.decode()
    assert 'data-testid="test-send-kept"' in page
    response = client.post(url + "test-send/", {"to_email": "pruefer@example.org"}, follow=True)
    assert response.status_code == 200
    assert "was kept in the outbox" in response.content.decode()
    [kept] = OutboxMessage.objects.all()
    assert kept.to == "pruefer@example.org" and kept.subject == "[Test] Grüße zum Frühling"
    assert kept.from_email == "news@news.kunde-drei.example"
    assert "Viele Grüße aus Berlin" in kept.body and b"DKIM-Signature:" in bytes(kept.raw)
    entry = AuditEntry.objects.get(action="campaign.test_send")
    assert entry.changes["to"] == "pruefer@example.org"


def test_without_a_transport_the_test_send_is_refused(ready, settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    campaign = ready_campaign(ready)
    with scope(tenant=ready.tenant.pk), pytest.raises(ValidationError) as caught:
        services.campaign_test_send(
            actor=ready.actor, tenant=ready.tenant, campaign=campaign, to_email="t@example.org"
        )
    assert caught.value.code == "no_transport"
    assert not AuditEntry.objects.filter(action="campaign.test_send").exists()


# --- permissions ------------------------------------------------------------------------------


def test_viewers_see_editors_change_outsiders_get_not_found(world, ready):
    viewer = Actor(user=member(world, ready.tenant, "viewer@kunde-drei.example", Role.VIEWER))
    editor = Actor(user=member(world, ready.tenant, "editor@kunde-drei.example", Role.EDITOR))
    with scope(tenant=ready.tenant.pk):
        with pytest.raises(PermissionDenied):
            services.campaign_create(actor=viewer, tenant=ready.tenant, name="x")
        campaign = services.campaign_create(actor=editor, tenant=ready.tenant, name="x")
        with pytest.raises(PermissionDenied):
            services.campaign_delete(actor=viewer, tenant=ready.tenant, campaign=campaign)
        with pytest.raises(NotFound):
            services.campaign_create(actor=Actor(user=world.eve), tenant=ready.tenant, name="x")


# --- pages ------------------------------------------------------------------------------------


def test_pages_create_edit_check_preview_and_test_send(world, ready, smtp):
    client = world.client_for(ready.admin)
    base = f"/t/{ready.tenant.slug}/campaigns/"
    page = client.get(base).content.decode()
    assert 'data-testid="campaign-new"' in page and 'data-testid="campaigns-link"' in page
    assert client.get(base + "new/").status_code == 200
    bad = client.post(base + "new/", {"start": "blank", "name": "", "subject": "Grüße"})
    assert bad.status_code == 422 and 'value="Grüße"' in bad.content.decode()
    response = client.post(
        base + "new/",
        {
            "start": "blank",
            "name": "Herbst",
            "subject": "Herbstgrüße",
            "sender_identity": ready.identity.pk,
            "template": ready.template.pk,
            "block_keys": [str(ready.block.key)],
            "contact_list": ready.contact_list.pk,
        },
    )
    assert response.status_code == 302
    with scope(tenant=ready.tenant.pk):
        campaign = Campaign.objects.get(name="Herbst")
    url = f"{base}{campaign.pk}/"
    assert response["Location"] == url
    page = client.get(url + "checklist/").content.decode()
    assert page.count('data-ok="1"') == 8
    # No send button or route before the pipeline exists: only the test send.
    assert "/send/" not in page and 'action="' + url + 'test-send/"' in page
    preview = client.get(url + "preview/").content.decode()
    assert "Herbstgrüße" in preview and "Viele Grüße aus Berlin" in preview
    rendered = client.get(url + "render/")
    assert "sandbox" in rendered["Content-Security-Policy"]
    assert "<p>Hello Carl</p>" in rendered.content.decode()
    sent = client.post(url + "test-send/", {"to_email": "pruefer@example.org"})
    assert sent.status_code == 302
    assert smtp.handler.to("pruefer@example.org")
    edited = client.post(url, {"name": "Herbst 2", "subject": "", "contact_list": ""})
    assert edited.status_code == 302
    campaign.refresh_from_db()
    assert campaign.name == "Herbst 2" and campaign.contact_list_id is None
    page = client.get(url + "checklist/").content.decode()
    assert 'data-key="subject" data-ok="0"' in page and "#id_subject" in page
    failed = client.post(url + "test-send/", {"to_email": "pruefer@example.org"})
    assert failed.status_code == 422
    assert client.post(url + "delete/").status_code == 302
    with scope(tenant=ready.tenant.pk):
        assert not Campaign.objects.filter(pk=campaign.pk).exists()


def test_the_list_shows_subjects_with_the_placeholders_filled(world, ready, monkeypatch):
    from mandant.campaigns import message, views

    ready_campaign(ready, name="Willkommen", subject="Willkommen bei {{ tenant.name }}")
    ready_campaign(ready, name="Persönlich", subject="{{ contact.first_name }}, für Dich")
    ready_campaign(ready, name="Impressum", subject="Aus {{sender.postal_address}}")

    def no_messages(*args, **kwargs):  # type: ignore[no-untyped-def]
        raise AssertionError("the list must not build messages")

    monkeypatch.setattr(message, "build_campaign_message", no_messages)
    monkeypatch.setattr(views, "build_campaign_message", no_messages)
    monkeypatch.setattr(message, "render_parts", no_messages)
    page = world.client_for(ready.admin).get(f"/t/{ready.tenant.slug}/campaigns/")
    assert page.status_code == 200
    subjects = page.content.decode().split('data-testid="campaign-subject">')[1:]
    cells = [cell.split("</td>")[0] for cell in subjects]
    assert "Willkommen bei Kunde Drei" in cells
    assert "Carl, für Dich" in cells
    assert "Aus Kunde Drei GmbH, Hauptstraße 1, 10115 Berlin, DE" in cells
    assert not any("{{" in cell for cell in cells)


def test_the_page_keeps_the_order_of_the_text_blocks(world, ready):
    """One select per position (no JavaScript needed): the blocks go in in the user's order,
    not by name, and the page shows them back in that order."""
    with scope(tenant=ready.tenant.pk):
        zebra = content.item_create(
            actor=ready.actor,
            tenant=ready.tenant,
            kind=ContentKind.TEXT_BLOCK,
            name="A Zuerst",  # sorts before "Gruß", but is chosen second
            html="<p>Zweiter Block</p>",
            text="Zweiter Block",
        )
    client = world.client_for(ready.admin)
    base = f"/t/{ready.tenant.slug}/campaigns/"
    page = client.get(base + "new/").content.decode()
    assert 'name="block_keys" id="id_block_keys_1"' in page and "<select multiple" not in page
    response = client.post(
        base + "new/",
        {
            "start": "blank",
            "name": "Reihenfolge",
            "subject": "Reihenfolge",
            "sender_identity": ready.identity.pk,
            "template": ready.template.pk,
            "block_keys": [str(ready.block.key), "", str(zebra.key)],
            "contact_list": ready.contact_list.pk,
        },
    )
    assert response.status_code == 302
    with scope(tenant=ready.tenant.pk):
        campaign = Campaign.objects.get(name="Reihenfolge")
    assert campaign.block_keys == [str(ready.block.key), str(zebra.key)]
    page = client.get(f"{base}{campaign.pk}/").content.decode()
    first = page[page.index('id="id_block_keys_1"') : page.index('id="id_block_keys_2"')]
    second = page[page.index('id="id_block_keys_2"') : page.index('id="id_block_keys_3"')]
    assert f'value="{ready.block.key}" selected' in first
    assert f'value="{zebra.key}" selected' in second
    text = client.get(f"{base}{campaign.pk}/preview/").content.decode()
    assert text.index("Viele Grüße aus Berlin") < text.index("Zweiter Block")
    # Reordered on the edit page.
    client.post(
        f"{base}{campaign.pk}/",
        {
            "name": "Reihenfolge",
            "subject": "Reihenfolge",
            "block_keys": [str(zebra.key), str(ready.block.key)],
        },
    )
    campaign.refresh_from_db()
    assert campaign.block_keys == [str(zebra.key), str(ready.block.key)]


def test_viewer_pages_are_read_only(world, ready):
    campaign = ready_campaign(ready)
    viewer = member(world, ready.tenant, "viewer@kunde-drei.example", Role.VIEWER)
    client = world.client_for(viewer)
    url = f"/t/{ready.tenant.slug}/campaigns/{campaign.pk}/"
    page = client.get(url).content.decode()
    assert 'data-testid="campaign-save"' not in page and "disabled" in page
    assert client.post(url, {"name": "x"}).status_code == 403
    assert client.get(f"/t/{ready.tenant.slug}/campaigns/new/").status_code == 403
    assert client.post(url + "test-send/", {"to_email": "a@example.org"}).status_code == 403
    assert 'data-testid="test-send"' not in client.get(url + "checklist/").content.decode()


def test_create_from_draft_page(world, ready):
    with scope(tenant=ready.tenant.pk):
        draft = content.item_create(
            actor=ready.actor,
            tenant=ready.tenant,
            kind=ContentKind.CAMPAIGN_DRAFT,
            name="Entwurf",
            subject="Aus dem Entwurf",
            template=ready.template,
        )
    client = world.client_for(ready.admin)
    base = f"/t/{ready.tenant.slug}/campaigns/"
    assert 'data-testid="from-draft"' in client.get(base + "new/").content.decode()
    response = client.post(base + "new/", {"start": "draft", "draft": draft.pk, "name": ""})
    assert response.status_code == 302
    with scope(tenant=ready.tenant.pk):
        assert Campaign.objects.get().subject == "Aus dem Entwurf"
