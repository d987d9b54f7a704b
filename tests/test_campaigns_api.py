"""The campaigns API: /api/v1/tenants/{id}/campaigns[/{cid}]."""

import pytest
from django_scopes import scope

from campaign_support import ready_campaign, ready_tenant
from mandant.campaigns.models import Campaign
from mandant.contacts import services as contacts
from user_support import Api


@pytest.fixture
def ready(world, monkeypatch):  # type: ignore[no-untyped-def]
    return ready_tenant(world, monkeypatch)


def test_create_get_list_and_patch(world, ready):
    api = Api(world.api_key(ready.admin, ready.tenant))
    base = f"/tenants/{ready.tenant.pk}/campaigns"
    created = api.post(
        base,
        {
            "name": "Frühling",
            "subject": "Grüße",
            "sender_identity_id": ready.identity.pk,
            "template_id": ready.template.pk,
            "block_keys": [str(ready.block.key)],
            "list_id": ready.contact_list.pk,
        },
    )
    assert created.status_code == 201, created.content
    body = created.json()
    assert body["status"] == "draft"
    assert body["sender_alias"] == "Kunde Drei"
    assert body["reply_to"] == "antwort@kunde-drei.example"
    assert (body["template_id"], body["list_id"], body["segment_id"]) == (
        ready.template.pk,
        ready.contact_list.pk,
        None,
    )
    assert (body["sent"], body["failed"], body["remaining"]) == (0, 0, 2)
    assert all(item["ok"] for item in body["checklist"])
    assert {item["key"] for item in body["checklist"]} >= {"subject", "charset", "readiness"}
    cid = body["id"]
    assert api.get(base).json() == [
        {"id": cid, "name": "Frühling", "subject": "Grüße", "status": "draft"}
    ]
    patched = api.patch(f"{base}/{cid}", {"subject": "Nur 5 €"})
    assert patched.status_code == 200
    check = {i["key"]: i["ok"] for i in patched.json()["checklist"]}
    assert check["charset"] is False and check["subject"] is True
    assert api.get(f"{base}/{cid}").json()["subject"] == "Nur 5 €"


def test_the_order_of_the_text_blocks_is_kept(world, ready):
    from mandant.campaigns.message import content_parts
    from mandant.content import services as content
    from mandant.content.models import ContentKind

    with scope(tenant=ready.tenant.pk):
        first = content.item_create(
            actor=ready.actor,
            tenant=ready.tenant,
            kind=ContentKind.TEXT_BLOCK,
            name="Zuletzt angelegt",
            html="<p>Zuerst</p>",
            text="Zuerst",
        )
    keys = [str(first.key), str(ready.block.key)]
    keys_sorted = sorted(keys)
    order = keys if keys != keys_sorted else keys[::-1]  # never the sorted order
    api = Api(world.api_key(ready.admin, ready.tenant))
    base = f"/tenants/{ready.tenant.pk}/campaigns"
    created = api.post(base, {"name": "Reihe", "block_keys": order})
    assert created.status_code == 201 and created.json()["block_keys"] == order
    cid = created.json()["id"]
    assert api.get(f"{base}/{cid}").json()["block_keys"] == order
    reversed_order = order[::-1]
    assert api.patch(f"{base}/{cid}", {"block_keys": reversed_order}).json()["block_keys"] == (
        reversed_order
    )
    with scope(tenant=ready.tenant.pk):
        html, text = content_parts(Campaign.objects.get(pk=cid))
    expected = ["Zuerst", "Viele Grüße aus Berlin"]
    if reversed_order[0] != str(first.key):
        expected.reverse()
    assert text.index(expected[0]) < text.index(expected[1])
    assert html.index(expected[0]) < html.index(expected[1])


def test_bad_input_is_422_and_nothing_is_written(world, ready):
    api = Api(world.api_key(ready.admin, ready.tenant))
    base = f"/tenants/{ready.tenant.pk}/campaigns"
    response = api.post(base, {"name": "x", "reply_to": "kein@"})
    assert response.status_code == 422 and "reply_to" in response.json()["errors"]
    response = api.post(base, {"name": "x", "template_id": ready.block.pk})
    assert response.status_code == 422 and "template_id" in response.json()["errors"]
    assert api.post(base, {"subject": "no name"}).status_code == 422
    with scope(tenant=ready.tenant.pk):
        assert not Campaign.objects.exists()


def test_ids_of_other_tenants_are_404(world, ready):
    campaign = ready_campaign(ready)
    with scope(tenant=world.kunde1.pk):
        foreign_list = contacts.list_create(actor=None, tenant=world.kunde1, name="Fremd")
    own = Api(world.api_key(ready.admin, ready.tenant))
    base = f"/tenants/{ready.tenant.pk}/campaigns"
    # A list id of another tenant is refused as input.
    assert own.patch(f"{base}/{campaign.pk}", {"list_id": foreign_list.pk}).status_code == 422
    # The campaign under another tenant the key reaches: 404.
    carl_in_kunde1 = Api(world.api_key(world.carl, world.kunde1))
    path = f"/tenants/{world.kunde1.pk}/campaigns/{campaign.pk}"
    assert carl_in_kunde1.get(path).status_code == 404
    # Another partner: 404 for the tenant and the campaign.
    eve = Api(world.api_key(world.eve, world.fremd))
    assert eve.get(base).status_code == 404
    assert eve.get(f"{base}/{campaign.pk}").status_code == 404
    assert eve.patch(f"{base}/{campaign.pk}", {"name": "x"}).status_code == 404
    assert eve.post(base, {"name": "x"}).status_code == 404
    assert own.get(f"{base}/999999").status_code == 404
