"""Input the API cannot store or understand is the client's mistake: a 422 on the field (or a
404 for an id that can name nothing), never a 500, and nothing is written."""

import pytest
from django.test import Client
from django_scopes import scope, scopes_disabled

from campaign_support import ready_campaign, ready_tenant
from mandant.campaigns.models import Campaign, CampaignStatus
from mandant.contacts.models import Contact, ContactList
from mandant.jobs.models import Job
from user_support import Api

HUGE = "99999999999999999999"  # more than any database key


@pytest.fixture
def ready(world, monkeypatch):  # type: ignore[no-untyped-def]
    return ready_tenant(world, monkeypatch)


@pytest.fixture
def api(world, ready) -> Api:  # type: ignore[no-untyped-def]
    return Api(world.api_key(ready.admin, ready.tenant))


def rows(ready) -> tuple[int, int, int]:  # type: ignore[no-untyped-def]
    with scope(tenant=ready.tenant.pk):
        return (
            Contact.objects.filter(tenant=ready.tenant).count(),
            ContactList.objects.filter(tenant=ready.tenant).count(),
            Campaign.objects.filter(tenant=ready.tenant).count(),
        )


@pytest.mark.parametrize("bad", ["x\x00y", "x\ud800y", "x\x07y", "x\x85y"])
@pytest.mark.parametrize(
    ("path", "payload", "field"),
    [
        ("/contacts", {"email": "neu@x.de", "first_name": "{}"}, "first_name"),
        ("/contacts", {"email": "neu@x.de", "fields": {"stadt": "{}"}}, "fields"),
        ("/lists", {"name": "{}"}, "name"),
        ("/campaigns", {"name": "Frühling", "subject": "{}"}, "subject"),
        ("/users", {"email": "neu@x.de", "last_name": "{}"}, "last_name"),
        ("/upgrades", {"product": "{}"}, "product"),
    ],
)
def test_text_that_cannot_be_stored_is_422_on_its_field(
    world, ready, api, bad, path, payload, field
):
    def fill(value):  # type: ignore[no-untyped-def]
        if isinstance(value, dict):
            return {k: fill(v) for k, v in value.items()}
        return value.replace("{}", bad) if isinstance(value, str) else value

    before = rows(ready)
    response = api.post(f"/tenants/{ready.tenant.pk}{path}", fill(payload))
    assert response.status_code == 422, response.content
    [message] = response.json()["errors"][field]
    assert f"U+{ord(bad[1]):04X}" in message and "cannot be stored" in message
    assert rows(ready) == before


def test_tabs_and_line_breaks_are_text(world, ready, api):
    response = api.post(
        f"/tenants/{ready.tenant.pk}/contacts",
        {"email": "neu@x.de", "fields": {"notiz": "Zeile 1\r\nZeile 2\tEnde"}},
    )
    assert response.status_code == 201, response.content


def test_text_longer_than_its_column_is_422(world, ready, api):
    before = rows(ready)
    response = api.post(f"/tenants/{ready.tenant.pk}/lists", {"name": "L" * 201})
    assert response.status_code == 422
    assert response.json()["errors"]["name"] == ["Enter at most 200 characters."]
    response = api.post(
        f"/tenants/{ready.tenant.pk}/contacts", {"email": "neu@x.de", "first_name": "V" * 151}
    )
    assert response.json()["errors"]["first_name"] == ["Enter at most 150 characters."]
    assert api.post(f"/tenants/{ready.tenant.pk}/lists", {"name": "L" * 200}).status_code == 201
    assert rows(ready)[1] == before[1] + 1


@pytest.mark.parametrize("body", ["[]", "[null, null]", "5", '"x"', "null", "0.0"])
def test_a_body_that_is_no_json_object_is_422(world, ready, api, body):
    campaign = ready_campaign(ready)
    for method, path in [
        ("patch", f"/tenants/{ready.tenant.pk}"),
        ("patch", f"/tenants/{ready.tenant.pk}/campaigns/{campaign.pk}"),
        ("post", f"/tenants/{ready.tenant.pk}/campaigns/{campaign.pk}/send"),
    ]:
        if body == "null" and method == "post":
            continue  # the send's body is optional: null is no body, i.e. "send now"
        send = getattr(api.client, method)
        response = send("/api/v1" + path, body, content_type="application/json", **api.headers)
        assert response.status_code == 422, (path, body, response.content)
        assert response.json() == {"errors": {"__all__": ["Send a JSON object."]}}
    campaign.refresh_from_db()
    assert campaign.status == CampaignStatus.DRAFT  # "[]" did not mean "send now"


def test_ids_beyond_any_key_are_404_on_pages_and_in_the_api(world, ready, api):
    t = ready.tenant.pk
    assert api.patch(f"/tenants/{t}/users/{HUGE}", {}).status_code == 404
    assert api.delete(f"/tenants/{t}/users/{HUGE}").status_code == 404
    assert api.post(f"/tenants/{t}/users/{HUGE}/resend").status_code == 404
    assert api.get(f"/tenants/{t}/campaigns/{HUGE}").json() == {"detail": "Not found."}
    assert api.get(f"/jobs/{HUGE}").status_code == 404
    page = Client()
    page.force_login(ready.admin)
    slug = ready.tenant.slug
    for path in ["campaigns", "contacts", "content/items", "setup/users", "contacts/jobs"]:
        assert page.get(f"/t/{slug}/{path}/{HUGE}/").status_code == 404, path


def test_copy_content_with_ids_beyond_any_key_names_them(world):
    world.set_version(world.alpha, "PROFESSIONAL")
    api = Api(world.api_key(world.paula, world.alpha))
    response = api.post(
        f"/tenants/{world.alpha.pk}/copy-content",
        {"items": [int(HUGE)], "folders": [int(HUGE)], "targets": [int(HUGE)]},
    )
    assert response.status_code == 422, response.content
    errors = response.json()["errors"]
    assert HUGE in errors["items"][0] and HUGE in errors["folders"][0]
    assert HUGE in errors["targets"][0]
    response = api.post(
        f"/tenants/{world.alpha.pk}/copy-content",
        {"items": [1], "all_descendants": True, "target_type": "x\ud800", "target_version": "?"},
    )
    assert response.status_code == 422
    with scopes_disabled():
        assert not Job.objects.exists()


@pytest.mark.parametrize("at", ["9999-12-31T23:59:59-14:00", "9999-12-31T23:59:59Z"])
def test_a_send_cannot_be_scheduled_more_than_a_year_ahead(world, ready, api, at):
    campaign = ready_campaign(ready)
    path = f"/tenants/{ready.tenant.pk}/campaigns/{campaign.pk}/send"
    response = api.post(path, {"at": at})
    assert response.status_code == 422
    assert response.json()["errors"]["at"] == ["A send can be scheduled at most a year ahead."]
    campaign.refresh_from_db()
    assert campaign.status == CampaignStatus.DRAFT


def test_campaign_errors_name_the_fields_the_client_sent(world, ready, api):
    path = f"/tenants/{ready.tenant.pk}/campaigns"
    foreign = world.kunde1.pk  # any id that is no list of this tenant
    response = api.post(path, {"name": "x", "list_id": 10**6 + foreign})
    assert response.status_code == 422
    assert list(response.json()["errors"]) == ["list_id"]
    campaign = ready_campaign(ready)
    response = api.patch(f"{path}/{campaign.pk}", {"sender_identity_id": 10**6})
    assert list(response.json()["errors"]) == ["sender_identity_id"]


def test_an_import_without_an_email_column_is_an_error_on_the_file(world, ready, api):
    response = api.client.post(
        f"/api/v1/tenants/{ready.tenant.pk}/contacts/import",
        {"file": ("c.csv", b"name,stadt\nA,B\n")},
        **api.headers,
    )
    assert response.status_code == 422, response.content
    assert list(response.json()["errors"]) == ["file"]


def test_an_unknown_status_filter_finds_nobody(world, ready, api):
    response = api.get(f"/tenants/{ready.tenant.pk}/contacts?status=bogus")
    assert response.status_code == 200 and response.json()["total"] == 0
    assert api.get(f"/tenants/{ready.tenant.pk}/contacts").json()["total"] > 0


def test_unstorable_text_is_refused_in_the_clients_language(world, ready):
    api = Api(world.api_key(ready.admin, ready.tenant), language="de")
    response = api.post(f"/tenants/{ready.tenant.pk}/lists", {"name": "L\x00"})
    assert "U+0000" in response.json()["errors"]["name"][0]
    assert "nicht gespeichert werden" in response.json()["errors"]["name"][0]
