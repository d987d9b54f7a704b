"""Open and click tracking, the public image route and the web version of campaign mail.

A tracked campaign goes through the real pipeline to the real SMTP sink; the received HTML is
parsed and its pixel and links are fetched with the Django test client like a mail program
would.
"""

import io
import re
from html import unescape

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django_scopes import scope, scopes_disabled
from PIL import Image

from campaign_support import parse, ready_campaign, ready_tenant
from mandant.campaigns import services
from mandant.campaigns.checklist import campaign_checklist
from mandant.campaigns.message import build_campaign_message, personalise
from mandant.campaigns.models import Campaign, CampaignStatus
from mandant.campaigns.statistics import campaign_statistics
from mandant.campaigns.tracking import (
    EventKind,
    TrackingEvent,
    image_token,
    read_recipient_token,
    recipient_token,
)
from mandant.content import services as content
from mandant.content.assets import AssetUpload
from mandant.content.models import ContentItem, ContentKind
from mandant.tenants.models import Tenant
from user_support import Api
from worker import IMMEDIATE_TASKS

LINKS_HTML = (
    '<p><a href="https://shop.example/angebot?a=1&amp;b=2">Zum Angebot</a> '
    '<a href="mailto:info@kunde-drei.example">Schreib uns</a> '
    '<a href="#oben">Nach oben</a> '
    '<a href="https://blog.example/">Blog</a> '
    '<a href="https://shop.example/angebot?a=1&amp;b=2">Noch einmal</a></p>'
    '<p><a href="{{ webversion_url }}">Im Browser ansehen</a></p>'
)


@pytest.fixture
def ready(world, monkeypatch):  # type: ignore[no-untyped-def]
    return ready_tenant(world, monkeypatch)


def png_bytes(color: tuple[int, int, int] = (200, 30, 30)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (12, 8), color).save(out, format="PNG")
    return out.getvalue()


def links_block(ready):  # type: ignore[no-untyped-def]
    with scope(tenant=ready.tenant.pk):
        return content.item_create(
            actor=ready.actor,
            tenant=ready.tenant,
            kind=ContentKind.TEXT_BLOCK,
            name="Links",
            html=LINKS_HTML,
            text="Zum Angebot: https://shop.example/angebot?a=1&b=2",
        )


def html_of(data: bytes) -> str:
    part = parse(data).get_body(preferencelist=("html",))
    assert part is not None
    return str(part.get_content())


def hrefs(html: str) -> list[str]:
    return [unescape(h) for h in re.findall(r'<a\b[^>]*\bhref="([^"]*)"', html)]


def path_of(url: str) -> str:
    return "/" + url.split("/", 3)[3]


def pixel_of(html: str) -> str:
    found = re.findall(r'<img src="([^"]*/o/[^"]*\.gif)"', html)
    assert len(found) == 1, html
    return found[0]


def send_tracked(ready, settings, **overrides):  # type: ignore[no-untyped-def]
    settings.TASKS = IMMEDIATE_TASKS
    block = links_block(ready)
    campaign = ready_campaign(ready, block_keys=[str(block.key)], tracking=True, **overrides)
    with scope(tenant=ready.tenant.pk):
        services.campaign_send(actor=ready.actor, tenant=ready.tenant, campaign=campaign)
    with scopes_disabled():
        return Campaign.objects.select_related("tenant").get(pk=campaign.pk)


def events(campaign: Campaign) -> list[tuple[int, str, int | None]]:
    with scopes_disabled():
        return sorted(
            TrackingEvent.objects.filter(campaign=campaign).values_list(
                "contact_id", "kind", "link_id"
            )
        )


def test_a_tracked_campaign_counts_opens_and_clicks(world, ready, smtp, settings):
    campaign = send_tracked(ready, settings)
    assert campaign.status == CampaignStatus.SENT
    anna_html = html_of(smtp.handler.to(ready.anna.email)[0].data)
    bert_html = html_of(smtp.handler.to(ready.bert.email)[0].data)
    site = settings.SITE_URL
    links = hrefs(anna_html)
    # Tracked: the two web links (the same URL twice is one link); kept: mailto, anchor, the
    # unsubscribe and the web version link.
    clicks = [h for h in links if h.startswith(f"{site}/c/")]
    assert len(clicks) == 3 and len(set(clicks)) == 2
    assert "mailto:info@kunde-drei.example" in links and "#oben" in links
    assert not any("shop.example" in h or "blog.example" in h for h in links)
    assert any(h.startswith(f"{site}/u/") for h in links)
    webversion = [h for h in links if h.startswith(f"{site}/w/")]
    assert len(webversion) == 1
    # One token per recipient, in every tracked URL of the message.
    anna_token = path_of(pixel_of(anna_html)).split("/")[2].removesuffix(".gif")
    bert_token = path_of(pixel_of(bert_html)).split("/")[2].removesuffix(".gif")
    assert anna_token != bert_token
    assert read_recipient_token(anna_token) == (ready.tenant.pk, campaign.pk, ready.anna.pk)
    assert all(f"/c/{anna_token}/" in h for h in clicks)
    # The text part keeps its links (no rewriting there).
    text = parse(smtp.handler.to(ready.anna.email)[0].data).get_body(preferencelist=("plain",))
    assert text is not None and "https://shop.example/angebot?a=1&b=2" in text.get_content()

    client = Client()
    # A HEAD (link checker, prefetching proxy) records nothing.
    assert client.head(path_of(pixel_of(anna_html))).status_code == 200
    assert events(campaign) == []
    for _ in range(2):
        response = client.get(path_of(pixel_of(anna_html)))
        assert response.status_code == 200
        assert response["Content-Type"] == "image/gif"
        assert response.content.startswith(b"GIF89a") and len(response.content) == 43
        assert "no-store" in response["Cache-Control"]
    offer = clicks[0]
    response = client.get(path_of(offer))
    assert response.status_code == 302
    assert response["Location"] == "https://shop.example/angebot?a=1&b=2"
    assert "no-store" in response["Cache-Control"]
    bert_clicks = [h for h in hrefs(bert_html) if h.startswith(f"{site}/c/")]
    blog = next(h for h in bert_clicks if h.split("/")[-2] != offer.split("/")[-2])
    response = client.get(path_of(blog))
    assert response["Location"] == "https://blog.example/"
    assert client.head(path_of(blog)).status_code == 302  # not counted

    offer_id, blog_id = int(offer.split("/")[-2]), int(blog.split("/")[-2])
    assert events(campaign) == [
        (ready.anna.pk, EventKind.CLICK, offer_id),
        (ready.anna.pk, EventKind.OPEN, None),
        (ready.anna.pk, EventKind.OPEN, None),
        (ready.bert.pk, EventKind.CLICK, blog_id),
    ]
    stats = campaign_statistics(campaign)
    assert (stats["delivered"], stats["opens"], stats["unique_opens"]) == (2, 2, 1)
    assert (stats["clicks"], stats["unique_clicks"]) == (2, 2)
    assert (stats["open_rate"], stats["click_rate"]) == (50.0, 100.0)
    assert {link["url"]: link["clicks"] for link in stats["links"]} == {
        "https://shop.example/angebot?a=1&b=2": 1,
        "https://blog.example/": 1,
    }

    # The campaign page shows them next to the other figures, in the chart too.
    page = world.client_for(ready.admin).get(f"/t/{ready.tenant.slug}/campaigns/{campaign.pk}/")
    body = page.content.decode()
    assert 'data-testid="stat-opened">1 ' in body and 'data-testid="stat-clicked">2 ' in body
    assert 'data-testid="bar-opened"' in body and 'data-testid="bar-clicked"' in body
    assert 'data-testid="stat-links"' in body and "https://blog.example/" in body
    # And the API's campaign detail.
    api = Api(world.api_key(ready.admin, ready.tenant))
    detail = api.get(f"/tenants/{ready.tenant.pk}/campaigns/{campaign.pk}").json()
    assert detail["tracking"] is True
    assert detail["statistics"]["unique_opens"] == 1
    assert detail["statistics"]["click_rate"] == 100.0
    assert len(detail["statistics"]["links"]) == 2


def test_tampered_tokens_and_foreign_links_are_404_never_a_redirect(world, ready, smtp, settings):
    campaign = send_tracked(ready, settings)
    html = html_of(smtp.handler.to(ready.anna.email)[0].data)
    click = path_of(next(h for h in hrefs(html) if "/c/" in h))
    _c, _prefix, token, link, _end = click.split("/")
    client = Client()
    tenant_hex, campaign_hex, contact_hex, mac = token.split(".")
    other_contact = f"{tenant_hex}.{campaign_hex}.{ready.bert.pk:x}.{mac}"
    for bad in (
        token[:-2] + ("AA" if not token.endswith("AA") else "BB"),
        other_contact,
        "x",
        "1.2.3",
        token + ".1",
    ):
        assert client.get(f"/c/{bad}/{link}/").status_code == 404
        assert client.get(f"/o/{bad}.gif").status_code == 404
        assert client.get(f"/w/{bad}/").status_code == 404
    # An id that is no link of this campaign: 404 (the URL only ever comes from the stored list).
    assert client.get(f"/c/{token}/{int(link) + 1000}/").status_code == 404
    # The link of another campaign, with a valid token of this one: 404.
    second = send_tracked(ready, settings, name="Zweite")
    html2 = html_of(smtp.handler.to(ready.anna.email)[-1].data)
    link2 = path_of(next(h for h in hrefs(html2) if "/c/" in h)).split("/")[3]
    assert second.pk != campaign.pk and link2 != link
    assert client.get(f"/c/{token}/{link2}/").status_code == 404
    assert events(campaign) == [] and events(second) == []


def test_untracked_and_featureless_campaigns_have_no_pixel_and_no_rewritten_links(
    world, ready, smtp, settings
):
    settings.TASKS = IMMEDIATE_TASKS
    block = links_block(ready)
    plain = ready_campaign(ready, block_keys=[str(block.key)], tracking=False)
    with scope(tenant=ready.tenant.pk):
        services.campaign_send(actor=ready.actor, tenant=ready.tenant, campaign=plain)
    html = html_of(smtp.handler.to(ready.anna.email)[0].data)
    assert "/o/" not in html and "/c/" not in html
    assert "https://shop.example/angebot?a=1&b=2" in hrefs(html)
    assert campaign_statistics(plain)["opens"] is None  # no figures rather than zeros

    # Tracking asked for while the tenant had the feature, which is gone at send time.
    tracked = ready_campaign(ready, name="Ohne Produkt", block_keys=[str(block.key)], tracking=True)
    Tenant.objects.filter(pk=ready.tenant.pk).update(version="BASIC")
    with scope(tenant=ready.tenant.pk):
        tenant = Tenant.objects.get(pk=ready.tenant.pk)
        services.campaign_send(actor=ready.actor, tenant=tenant, campaign=tracked)
    html = html_of(smtp.handler.to(ready.anna.email)[-1].data)
    assert "/o/" not in html and "/c/" not in html
    stats = campaign_statistics(tracked)
    assert stats["delivered"] == 2 and stats["unique_opens"] is None and stats["links"] is None
    page = world.client_for(ready.admin).get(f"/t/{ready.tenant.slug}/campaigns/{tracked.pk}/")
    assert 'data-testid="stat-opened"' not in page.content.decode()
    assert 'data-testid="stat-delivered"' in page.content.decode()


def test_a_test_send_of_a_tracked_draft_is_not_tracked(world, ready):
    campaign = ready_campaign(ready, block_keys=[str(links_block(ready).key)], tracking=True)
    with scope(tenant=ready.tenant.pk):
        html = html_of(personalise(build_campaign_message(campaign), ready.anna))
    assert "/o/" not in html and "/c/" not in html


def test_tracking_needs_the_feature_in_form_api_and_service(world, ready):
    Tenant.objects.filter(pk=ready.tenant.pk).update(version="BASIC")
    tenant = Tenant.objects.get(pk=ready.tenant.pk)
    client = world.client_for(ready.admin)
    page = client.get(f"/t/{tenant.slug}/campaigns/new/").content.decode()
    assert 'name="tracking"' not in page
    assert 'data-testid="tracking-locked"' in page and "Opens and clicks tracking" in page
    # Posting the field anyway changes nothing.
    response = client.post(
        f"/t/{tenant.slug}/campaigns/new/",
        {"start": "blank", "name": "Versuch", "tracking": "on"},
    )
    assert response.status_code == 302
    with scope(tenant=tenant.pk):
        assert Campaign.objects.get(tenant=tenant, name="Versuch").tracking is False
    api = Api(world.api_key(ready.admin, tenant))
    refused = api.post(f"/tenants/{tenant.pk}/campaigns", {"name": "Per API", "tracking": True})
    assert refused.status_code == 403
    assert "Opens and clicks tracking" in refused.json()["detail"]
    allowed = api.post(f"/tenants/{tenant.pk}/campaigns", {"name": "Per API", "tracking": False})
    assert allowed.status_code == 201 and allowed.json()["tracking"] is False
    patched = api.patch(
        f"/tenants/{tenant.pk}/campaigns/{allowed.json()['id']}", {"tracking": True}
    )
    assert patched.status_code == 403
    with scope(tenant=tenant.pk), pytest.raises(Exception, match="Opens and clicks tracking"):
        services.campaign_create(actor=ready.actor, tenant=tenant, name="X", tracking=True)

    # With the edition that includes it, the form offers it and the API takes it.
    Tenant.objects.filter(pk=tenant.pk).update(version="PROFESSIONAL")
    page = client.get(f"/t/{tenant.slug}/campaigns/new/").content.decode()
    assert 'name="tracking"' in page and 'data-testid="tracking-locked"' not in page
    api_ok = api.patch(f"/tenants/{tenant.pk}/campaigns/{allowed.json()['id']}", {"tracking": True})
    assert api_ok.status_code == 200 and api_ok.json()["tracking"] is True


def image_asset(ready, color=(200, 30, 30)):  # type: ignore[no-untyped-def]
    with scope(tenant=ready.tenant.pk):
        return content.item_create(
            actor=ready.actor,
            tenant=ready.tenant,
            kind=ContentKind.ASSET,
            name="Bild",
            asset=AssetUpload(data=png_bytes(color), filename="bild.png"),
        )


def test_images_in_mail_use_the_public_route(world, ready, settings):
    asset = image_asset(ready)
    with scope(tenant=ready.tenant.pk):
        block = content.item_create(
            actor=ready.actor,
            tenant=ready.tenant,
            kind=ContentKind.TEXT_BLOCK,
            name="Mit Bild",
            html=f'<p><img src="asset:{asset.key}" alt="Bild"></p>',
            text="Bild",
        )
    campaign = ready_campaign(ready, block_keys=[str(block.key)])
    with scope(tenant=ready.tenant.pk), CaptureQueriesContext(connection) as built:
        html = html_of(personalise(build_campaign_message(campaign), ready.anna))
    # Each batch builds the message: the URL is signed over the image's hash, its bytes are
    # not read.
    assert not [q["sql"] for q in built if "content_assetblob" in q["sql"] and '"data"' in q["sql"]]
    [src] = re.findall(r'<img src="([^"]*)" alt="Bild"', html)
    assert src.startswith(f"{settings.SITE_URL}/i/")
    anonymous = Client()  # no login
    response = anonymous.get(path_of(src))
    assert response.status_code == 200
    assert response["Content-Type"] == "image/png"
    assert "max-age=31536000" in response["Cache-Control"]
    with scope(tenant=ready.tenant.pk):
        asset.refresh_from_db()
        assert response.content == bytes(asset.blob.data)
    assert anonymous.get(path_of(src), HTTP_IF_NONE_MATCH=response["ETag"]).status_code == 304
    token = path_of(src).split("/")[2]
    assert anonymous.get(f"/i/{token[:-3]}abc/").status_code == 404
    assert anonymous.get("/i/nonsense/").status_code == 404
    # The library's route still needs a login.
    assert anonymous.get(f"/t/{ready.tenant.slug}/content/assets/{asset.key}/").status_code == 302
    # In the bin: gone for recipients too.
    with scope(tenant=ready.tenant.pk):
        content.item_delete(actor=ready.actor, tenant=ready.tenant, item=asset)
    assert anonymous.get(path_of(src)).status_code == 404


def test_an_image_replaced_after_sending_still_shows_the_sent_bytes(world, ready):
    asset = image_asset(ready)
    with scope(tenant=ready.tenant.pk):
        asset.refresh_from_db()
        sent_sha, sent_bytes = asset.blob.sha256, bytes(asset.blob.data)
        replaced = content.item_update(
            actor=ready.actor,
            tenant=ready.tenant,
            item=asset,
            asset=AssetUpload(data=png_bytes((10, 200, 10)), filename="neu.png"),
        )
        new_sha = replaced.blob.sha256
    assert new_sha != sent_sha
    client = Client()
    # The mail already sent names the old bytes, kept in the image's history …
    sent = client.get(f"/i/{image_token(ready.tenant.pk, str(asset.key), sent_sha)}/")
    assert sent.status_code == 200 and sent.content == sent_bytes
    # … the next mail names the new ones.
    now = client.get(f"/i/{image_token(ready.tenant.pk, str(asset.key), new_sha)}/")
    assert now.status_code == 200 and now.content != sent_bytes
    # Bytes that were never this image's are not served under its key.
    other = image_asset(ready, color=(1, 2, 3))
    with scope(tenant=ready.tenant.pk):
        other.refresh_from_db()
        other_sha = other.blob.sha256
    assert (
        client.get(f"/i/{image_token(ready.tenant.pk, str(asset.key), other_sha)}/").status_code
        == 404
    )


def test_an_image_token_of_tenant_a_cannot_read_tenant_b(world, ready):
    asset = image_asset(ready)
    with scope(tenant=ready.tenant.pk):
        asset.refresh_from_db()
        sha = asset.blob.sha256
    other = world.fremd  # another partner's tenant, with an image of its own
    with scope(tenant=other.pk):
        theirs = content.item_create(
            actor=world.actor(world.eve),
            tenant=other,
            kind=ContentKind.ASSET,
            name="Fremd",
            asset=AssetUpload(data=png_bytes((1, 2, 3)), filename="fremd.png"),
        )
        theirs.refresh_from_db()
        their_sha = theirs.blob.sha256
    client = Client()
    # A genuine token for tenant A's image works …
    assert client.get(f"/i/{image_token(ready.tenant.pk, str(asset.key), sha)}/").status_code == 200
    # … a token signed for tenant A naming B's image (key and bytes) does not, …
    mine_naming_theirs = image_token(ready.tenant.pk, str(theirs.key), their_sha)
    assert client.get(f"/i/{mine_naming_theirs}/").status_code == 404
    # … nor A's key with B's bytes, nor a token for B's id edited into A's.
    mixed = image_token(ready.tenant.pk, str(asset.key), their_sha)
    assert client.get(f"/i/{mixed}/").status_code == 404
    good = image_token(ready.tenant.pk, str(asset.key), sha)
    swapped = f"{other.pk:x}" + good[good.index(".") :]
    assert client.get(f"/i/{swapped}/").status_code == 404
    # Recipient tokens are bound to their tenant the same way.
    token = recipient_token(ready.tenant.pk, 1, ready.anna.pk)
    forged = f"{other.pk:x}" + token[token.index(".") :]
    assert read_recipient_token(forged) is None


def test_the_web_version_shows_the_mail_as_the_recipient_got_it(world, ready, smtp, settings):
    campaign = send_tracked(ready, settings)
    html = html_of(smtp.handler.to(ready.anna.email)[0].data)
    [url] = [h for h in hrefs(html) if "/w/" in h]
    response = Client().get(path_of(url))
    assert response.status_code == 200
    page = response.content.decode()
    assert "<p>Hello Anna</p>" in page
    assert "Viele Grüße aus Berlin" not in page  # the links block replaced the default block
    assert "Zum Angebot" in page and "Hauptstraße 1" in page
    assert response["Referrer-Policy"] == "no-referrer"
    assert "no-store" in response["Cache-Control"]
    assert "sandbox" in response["Content-Security-Policy"]
    token = path_of(url).split("/")[2]
    assert Client().get(f"/w/{token[:-2]}xx/").status_code == 404
    # Gone with the campaign (or the contact).
    with scopes_disabled():
        Campaign.objects.filter(pk=campaign.pk).delete()
    assert Client().get(path_of(url)).status_code == 404


def test_the_web_version_reads_as_sent_after_an_edit_and_writes_nothing(
    world, ready, smtp, settings
):
    campaign = send_tracked(ready, settings)
    html = html_of(smtp.handler.to(ready.anna.email)[0].data)
    [url] = [h for h in hrefs(html) if "/w/" in h]
    with scope(tenant=ready.tenant.pk):
        block = ContentItem.objects.get(key=campaign.block_keys[0])
        content.item_update(
            actor=ready.actor,
            tenant=ready.tenant,
            item=block,
            html='<p><a href="https://neu.example/">Ganz neu</a></p>',
            text="Ganz neu",
        )
    with CaptureQueriesContext(connection) as queries:
        response = Client().get(path_of(url))
    page = response.content.decode()
    assert response.status_code == 200
    assert "Zum Angebot" in page and "Ganz neu" not in page
    # The links are the ones in the mail, with the same ids.
    assert [h for h in hrefs(page) if "/c/" in h] == [h for h in hrefs(html) if "/c/" in h]
    writes = [q["sql"] for q in queries if not q["sql"].lstrip().upper().startswith("SELECT")]
    assert writes == []


def test_the_checklist_accepts_the_web_version_placeholder(world, ready, settings):
    campaign = ready_campaign(ready, preheader="Online lesen: {{ webversion_url }}")
    with scope(tenant=ready.tenant.pk):
        checks = {c.key: c.ok for c in campaign_checklist(campaign)}
        html = html_of(personalise(build_campaign_message(campaign), ready.anna))
    assert checks["placeholders"]
    [url] = re.findall(r"Online lesen: (\S+)</div>", html)
    assert url.startswith(f"{settings.SITE_URL}/w/")
    # A draft's test send names the contact too: the link shows the draft for Anna.
    page = Client().get(path_of(url))
    assert page.status_code == 200 and "Anna" in page.content.decode()
    # The tracking slot is no placeholder an author may use.
    other = ready_campaign(ready, name="Token", preheader="{{ #token }}")
    with scope(tenant=ready.tenant.pk):
        assert not {c.key: c.ok for c in campaign_checklist(other)}["placeholders"]
