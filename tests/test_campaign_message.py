"""The campaign message: charset, headers, unsubscribe, Message-IDs, DKIM, personalisation, speed.

Mail goes through a real SMTP server on loopback (the ``smtp`` fixture) where it matters.
"""

import html
import re
import time
from email.message import EmailMessage

import dkim
from django.test import Client
from django.utils import translation
from django.utils.translation import pgettext
from django_scopes import scope

from campaign_support import parse, ready_campaign, ready_tenant
from mandant.campaigns import message as message_module
from mandant.campaigns import services
from mandant.campaigns.checklist import campaign_checklist
from mandant.campaigns.message import (
    build_campaign_message,
    encode_header_value,
    personal_values,
    personalise,
)
from mandant.contacts.models import Contact, ContactStatus
from mandant.content.models import ContentItem
from mandant.content.standard import standard_content_provision, standard_key
from mandant.sending.selectors import domain_records


def parts_of(message: EmailMessage) -> dict[str, str]:
    return {
        part.get_content_type(): part.get_content()
        for part in message.walk()
        if not part.is_multipart()
    }


def test_iso_8859_1_tenant_sends_gruesse_correctly_encoded(world, monkeypatch, smtp):
    ready = ready_tenant(world, monkeypatch, charset="ISO-8859-1")
    campaign = ready_campaign(ready)
    with scope(tenant=ready.tenant.pk):
        services.campaign_test_send(
            actor=ready.actor, tenant=ready.tenant, campaign=campaign, to_email="anna@example.org"
        )
    [received] = smtp.handler.to("anna@example.org")
    raw = received.data
    # Headers RFC 2047 in the tenant's charset, bodies quoted-printable in it: no 8-bit bytes.
    assert all(b < 128 for b in raw)
    assert b"=?iso-8859-1?Q?=5BTest=5D_Gr=FC=DFe_zum_Fr=FChling?=" in raw
    message = parse(raw)
    assert message["Subject"] == "[Test] Grüße zum Frühling"
    assert received.mail_from == "news@news.kunde-drei.example"
    for part in message.walk():
        if not part.is_multipart():
            assert part.get_content_charset() == "iso-8859-1"
            assert part["Content-Transfer-Encoding"] == "quoted-printable"
    parts = parts_of(message)
    assert "Viele Grüße aus Berlin" in parts["text/plain"]
    assert "Viele Grüße aus Berlin" in parts["text/html"]
    assert "Hauptstraße 1" in parts["text/plain"]  # the imprint footer
    assert str(message["From"]) == "Kunde Drei <news@news.kunde-drei.example>"
    assert str(message["Reply-To"]) == "antwort@kunde-drei.example"
    assert message["Date"]


def test_utf8_tenant_encodes_in_utf8(world, monkeypatch):
    ready = ready_tenant(world, monkeypatch, charset="UTF-8")
    campaign = ready_campaign(ready, subject="Grüße ✓")
    with scope(tenant=ready.tenant.pk):
        assert all(c.ok for c in campaign_checklist(campaign) if c.key == "charset")
        message = parse(personalise(build_campaign_message(campaign), ready.anna))
    assert message["Subject"] == "Grüße ✓"
    assert message.get_body(("plain",)).get_content_charset() == "utf-8"  # type: ignore[union-attr]


def test_a_character_outside_the_charset_is_named_by_the_checklist(world, monkeypatch):
    ready = ready_tenant(world, monkeypatch, charset="ISO-8859-1")
    campaign = ready_campaign(ready, subject="Nur 5 € heute")
    with scope(tenant=ready.tenant.pk):
        check = {c.key: c for c in campaign_checklist(campaign)}["charset"]
    assert not check.ok
    assert "“€”" in check.hint and "U+20AC" in check.hint and "subject" in check.hint
    assert check.fix_url.endswith(f"/campaigns/{campaign.pk}/#id_subject")
    # In a text block: named as in the text/HTML part, linked to the template's content page.
    with scope(tenant=ready.tenant.pk):
        from mandant.content.services import item_update

        item_update(
            actor=ready.actor,
            tenant=ready.tenant,
            item=ready.block,
            html="<p>Erledigt ✓</p>",
            text="Erledigt ✓",
        )
        campaign.subject = "Grüße"
        campaign.save()
        check = {c.key: c for c in campaign_checklist(campaign)}["charset"]
    assert not check.ok and "“✓”" in check.hint and "HTML part" in check.hint


def test_the_test_send_is_refused_while_a_character_cannot_be_encoded(world, monkeypatch, smtp):
    ready = ready_tenant(world, monkeypatch, charset="ISO-8859-1")
    campaign = ready_campaign(ready, sender_alias="Kunde ✓ Drei")
    with scope(tenant=ready.tenant.pk):
        try:
            services.campaign_test_send(
                actor=ready.actor, tenant=ready.tenant, campaign=campaign, to_email="x@example.org"
            )
        except Exception as exc:  # noqa: BLE001 — the message is what is asserted
            error = exc
    assert "checklist" in str(error).lower()
    assert smtp.handler.received == []


def test_list_unsubscribe_headers_and_the_link_unsubscribes_without_login(world, monkeypatch):
    ready = ready_tenant(world, monkeypatch)
    campaign = ready_campaign(ready)
    with scope(tenant=ready.tenant.pk):
        message = parse(personalise(build_campaign_message(campaign), ready.anna))
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    header = str(message["List-Unsubscribe"])
    assert header.startswith("<http") and header.endswith(">")
    url = header[1:-1]
    assert url in parts_of(message)["text/plain"].replace("=\n", "")
    assert f'href="{url}"' in parts_of(message)["text/html"]
    path = "/" + url.split("/", 3)[3]
    response = Client(enforce_csrf_checks=True).post(
        path, "List-Unsubscribe=One-Click", content_type="application/x-www-form-urlencoded"
    )
    assert response.status_code == 200
    with scope(tenant=ready.tenant.pk):
        assert Contact.objects.get(pk=ready.anna.pk).status == ContactStatus.UNSUBSCRIBED
        assert Contact.objects.get(pk=ready.bert.pk).status == ContactStatus.ACTIVE


def test_every_delivery_has_its_own_message_id_on_the_sending_domain(world, monkeypatch):
    ready = ready_tenant(world, monkeypatch)
    campaign = ready_campaign(ready)
    with scope(tenant=ready.tenant.pk):
        skeleton = build_campaign_message(campaign)
    ids = {
        str(parse(personalise(skeleton, contact, sign=False))["Message-ID"])
        for contact in (ready.anna, ready.bert, ready.anna)
    }
    assert len(ids) == 3
    assert all(i.startswith("<") and i.endswith("@news.kunde-drei.example>") for i in ids)


def test_the_dkim_signature_verifies_against_the_published_record(world, monkeypatch):
    ready = ready_tenant(world, monkeypatch)
    campaign = ready_campaign(ready)
    record = {r.key: r for r in domain_records(ready.domain)}["dkim"]

    def dnsfunc(name: bytes, timeout: int = 5) -> bytes:
        assert name.decode().rstrip(".") == record.name
        return record.value.encode()

    with scope(tenant=ready.tenant.pk):
        signed = personalise(build_campaign_message(campaign), ready.anna)
    assert signed.startswith(b"DKIM-Signature:")
    assert dkim.verify(signed, dnsfunc=dnsfunc)
    head = signed.split(b"\r\n\r\n")[0].lower()
    assert b"list-unsubscribe" in head.split(b"dkim-signature")[1].split(b"from: ")[0]
    tampered = signed.replace(b"Gr=FC=DFe aus", b"Gr=FC=DFe von")
    assert tampered != signed and not dkim.verify(tampered, dnsfunc=dnsfunc)


def test_no_signature_without_a_verified_domain(world, monkeypatch):
    ready = ready_tenant(world, monkeypatch)
    campaign = ready_campaign(ready)
    with scope(tenant=ready.tenant.pk):
        type(ready.domain).objects.filter(pk=ready.domain.pk).update(status="pending")
        data = personalise(build_campaign_message(campaign), ready.anna)
    assert not data.startswith(b"DKIM-Signature:")


def test_personalisation_fills_names_escaped_in_html(world, monkeypatch):
    ready = ready_tenant(world, monkeypatch)
    campaign = ready_campaign(
        ready, subject="Hallo {{ contact.first_name }} {{ contact.last_name }}"
    )
    with scope(tenant=ready.tenant.pk):
        skeleton = build_campaign_message(campaign)
    anna = parse(personalise(skeleton, ready.anna))
    assert anna["Subject"] == "Hallo Anna Ärger"
    # The test template writes the salutation without a comma; the salutation has none.
    assert parts_of(anna)["text/plain"].startswith("Hello Anna\r\n")
    bert = parse(personalise(skeleton, ready.bert))
    assert bert["Subject"] == "Hallo Bert "
    mallory = Contact(
        tenant=ready.tenant, pk=99, email="m@example.org", first_name="<b>Mallory</b>"
    )
    html = parts_of(parse(personalise(skeleton, mallory)))["text/html"]
    assert "&lt;b&gt;Mallory&lt;/b&gt;" in html and "<b>Mallory" not in html
    assert "{{" not in html


def _tagged_salutations(monkeypatch) -> list[str]:  # type: ignore[no-untyped-def]
    """The salutation patterns tagged with the language active when they were translated (so
    the test does not depend on the catalogue); returns the languages switched to."""
    switched: list[str] = []
    real_override = message_module.translation.override

    def override(language, deactivate=False):  # type: ignore[no-untyped-def]
        switched.append(language)
        return real_override(language, deactivate)

    monkeypatch.setattr(message_module.translation, "override", override)
    monkeypatch.setattr(
        message_module,
        "pgettext",
        lambda context, text: f"[{translation.get_language()}] {text}",
    )
    return switched


def test_the_salutation_is_in_the_contacts_language_and_translated_once(world, monkeypatch):
    switched = _tagged_salutations(monkeypatch)
    ready = ready_tenant(world, monkeypatch)
    campaign = ready_campaign(ready)
    with scope(tenant=ready.tenant.pk):
        skeleton = build_campaign_message(campaign)
    assert skeleton.language == "en"  # the template and the block name no language
    translated = len(switched)
    assert translated == len(skeleton.salutations) == 2

    def salutation_of(language: str, first_name: str = "Erika", **fields: str) -> str:
        contact = Contact(
            tenant_id=ready.tenant.pk,
            pk=1,
            email="e@example.org",
            first_name=first_name,
            language=language,
            fields=fields,
        )
        return personal_values(skeleton, contact)["contact.salutation"]

    assert salutation_of("de") == "[de] Hello Erika"
    assert salutation_of("de-AT") == "[de] Hello Erika"
    assert salutation_of("DE_ch") == "[de] Hello Erika"
    assert salutation_of("en") == "[en] Hello Erika"
    assert salutation_of("de", first_name="") == "[de] Hello"
    assert salutation_of("") == "[en] Hello Erika"
    assert salutation_of("fr") == "[en] Hello Erika"
    # A salutation of the contact's own: as it is, a trailing comma dropped (content adds it).
    assert salutation_of("de", salutation="Liebe Erika, ") == "Liebe Erika"
    # Personalising never switched the language.
    assert len(switched) == translated


def test_without_a_contact_language_the_campaigns_content_language_is_used(world, monkeypatch):
    _tagged_salutations(monkeypatch)
    ready = ready_tenant(world, monkeypatch)
    with scope(tenant=ready.tenant.pk):
        ContentItem.objects.filter(pk=ready.block.pk).update(language="de")
        campaign = ready_campaign(ready)
        skeleton = build_campaign_message(campaign)
        assert skeleton.language == "de"  # the template has none: its first block's
        ContentItem.objects.filter(pk=ready.template.pk).update(language="en")
        campaign.refresh_from_db()
        assert build_campaign_message(campaign).language == "en"  # the template's first
    text = parts_of(parse(personalise(skeleton, ready.bert)))["text/plain"]
    assert text.startswith("[de] Hello Bert\r\n")


def test_a_german_standard_greeting_has_one_comma_in_german(world, monkeypatch):
    """The German standard block "Begrüßung" writes "{{ contact.salutation }},": the mail,
    the preview and the web version read "Hallo Erika," (one comma, in German)."""
    ready = ready_tenant(world, monkeypatch)
    with scope(tenant=ready.tenant.pk):
        standard_content_provision(tenants=[ready.tenant])
        template = ContentItem.objects.get(
            tenant=ready.tenant, key=standard_key("de/template/welcome")
        )
        greeting = ContentItem.objects.get(
            tenant=ready.tenant, key=standard_key("de/block/greeting")
        )
        erika = Contact.objects.create(
            tenant=ready.tenant, email="erika@example.org", first_name="Erika", language="de"
        )
    campaign = ready_campaign(ready, template=template, block_keys=[str(greeting.key)])
    with translation.override("de"):
        hallo = pgettext("salutation in a mail", "Hello %(name)s") % {"name": "Erika"}
    with scope(tenant=ready.tenant.pk):
        skeleton = build_campaign_message(campaign)
    parts = parts_of(parse(personalise(skeleton, erika)))
    for part in (parts["text/plain"], parts["text/html"]):
        assert f"{hallo}," in part
        assert ",," not in part
    # English is active (a worker, a request in English): the contact's German wins.
    assert translation.get_language() == "en"
    # The web version, through the link in the mail.
    webversion = re.findall(r'href="[^"]*(/w/[^"/]+/)"', parts["text/html"])[0]
    page = Client().get(webversion)
    assert page.status_code == 200
    body = html.unescape(page.content.decode())
    assert f"{hallo}," in body and ",," not in body
    # The preview (the user's name, no contact language: the campaign's German).
    client = world.client_for(ready.admin)
    world.carl.first_name = "Erika"
    world.carl.save()
    base = f"/t/{ready.tenant.slug}/campaigns/{campaign.pk}/"
    for page in (client.get(base + "preview/"), client.get(base + "render/")):
        body = html.unescape(page.content.decode())
        assert f"{hallo}," in body and ",," not in body


def test_an_html_only_block_is_in_the_text_part_too(world, monkeypatch):
    from mandant.content import services as content
    from mandant.content.html import render_preview
    from mandant.content.models import ContentKind

    ready = ready_tenant(world, monkeypatch)
    with scope(tenant=ready.tenant.pk):
        html_only = content.item_create(
            actor=ready.actor,
            tenant=ready.tenant,
            kind=ContentKind.TEXT_BLOCK,
            name="Nur HTML",
            html='<h2>Angebot</h2><p>Nur heute: <a href="https://shop.example/a">Zum Shop</a></p>',
            text="",
        )
        draft = content.item_create(
            actor=ready.actor,
            tenant=ready.tenant,
            kind=ContentKind.CAMPAIGN_DRAFT,
            name="Entwurf",
            template=ready.template,
            blocks=[ready.block, html_only],
        )
    campaign = ready_campaign(ready, block_keys=[str(ready.block.key), str(html_only.key)])
    with scope(tenant=ready.tenant.pk):
        text = parts_of(parse(personalise(build_campaign_message(campaign), ready.anna)))[
            "text/plain"
        ]
        _document, preview_text = render_preview(tenant=ready.tenant, item=draft)
    assert (
        "Viele Grüße aus Berlin\r\n\r\nAngebot\r\nNur heute: Zum Shop (https://shop.example/a)"
        in (text)
    )
    assert "Abmelden: http" in text  # the template's own text part around it
    assert "Nur heute: Zum Shop (https://shop.example/a)" in preview_text


def test_long_non_ascii_headers_are_split_into_encoded_words():
    value = "Grüße " * 30
    encoded = encode_header_value(value, "ISO-8859-1")
    assert all(len(word) <= 76 for word in encoded.split("\r\n"))
    message = parse(f"Subject: {encoded}\r\n\r\n".encode("ascii"))
    assert message["Subject"] == value.strip() or message["Subject"] == value


def test_personalise_is_fast(world, monkeypatch):
    """Built once, per recipient only the personal fields: well under 0.3 ms (unsigned; the
    RSA signature is measured separately in the report)."""
    ready = ready_tenant(world, monkeypatch)
    campaign = ready_campaign(ready, subject="Hallo {{ contact.first_name }}")
    with scope(tenant=ready.tenant.pk):
        skeleton = build_campaign_message(campaign)
    contacts = [
        Contact(tenant_id=ready.tenant.pk, pk=i, email=f"u{i}@example.org", first_name="Jörg")
        for i in range(1, 2001)
    ]
    started = time.perf_counter()
    for contact in contacts:
        personalise(skeleton, contact, sign=False)
    per_message = (time.perf_counter() - started) / len(contacts)
    assert per_message < 0.0003, f"{per_message * 1e6:.0f} µs per message"


def test_tracked_personalise_is_fast_and_fills_one_token(world, monkeypatch):
    """Links are rewritten once in the skeleton; per recipient only the token is filled in."""
    from mandant.campaigns.models import Campaign, CampaignStatus
    from mandant.content import services as content
    from mandant.content.models import ContentKind

    ready = ready_tenant(world, monkeypatch)
    with scope(tenant=ready.tenant.pk):
        block = content.item_create(
            actor=ready.actor,
            tenant=ready.tenant,
            kind=ContentKind.TEXT_BLOCK,
            name="Links",
            html="".join(
                f'<p><a href="https://shop.example/{i}">Link {i}</a></p>' for i in range(10)
            ),
            text="Links",
        )
    campaign = ready_campaign(ready, block_keys=[str(block.key)], tracking=True)
    with scope(tenant=ready.tenant.pk):
        Campaign.objects.filter(pk=campaign.pk).update(status=CampaignStatus.SENDING)
        campaign.refresh_from_db()
        skeleton = build_campaign_message(campaign)
    assert skeleton.tracked
    contacts = [
        Contact(tenant_id=ready.tenant.pk, pk=i, email=f"u{i}@example.org", first_name="Jörg")
        for i in range(1, 2001)
    ]
    started = time.perf_counter()
    for contact in contacts:
        personalise(skeleton, contact, sign=False)
    per_message = (time.perf_counter() - started) / len(contacts)
    assert per_message < 0.0003, f"{per_message * 1e6:.0f} µs per message"
    html = parts_of(parse(personalise(skeleton, contacts[0], sign=False)))["text/html"]
    tokens = set(re.findall(r"/c/([^/]+)/\d+/", html))
    assert len(tokens) == 1 and len(re.findall(r"/c/[^/]+/\d+/", html)) == 10
    assert f"/o/{tokens.pop()}.gif" in html
