"""The contacts API: contacts, lists, the CSV import as a job; other tenants are 404."""

import json
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django_scopes import scope, scopes_disabled
from tests.user_support import IMMEDIATE_TASKS

from mandant.contacts.models import Contact, ImportFile
from mandant.contacts.services import contact_create, list_create

API = "/api/v1"


class Api:
    def __init__(self, key: str) -> None:
        self.client = Client()
        self.headers = {"HTTP_AUTHORIZATION": f"Bearer {key}"}

    def get(self, path: str, params: dict[str, Any] | None = None) -> Any:
        return self.client.get(API + path, params or {}, **self.headers)

    def post(self, path: str, payload: object) -> Any:
        return self.client.post(
            API + path, json.dumps(payload), content_type="application/json", **self.headers
        )

    def upload(self, path: str, data: dict[str, Any]) -> Any:
        return self.client.post(API + path, data, **self.headers)


@pytest.fixture(autouse=True)
def _immediate_tasks(settings):  # type: ignore[no-untyped-def]
    settings.TASKS = IMMEDIATE_TASKS


@pytest.fixture
def api(world) -> Api:  # type: ignore[no-untyped-def]
    return Api(world.api_key(world.paula, world.alpha))


def test_create_and_list_contacts(world, api):
    t = world.kunde1.pk
    created = api.post(
        f"/tenants/{t}/contacts",
        {"email": "Neu@Example.com", "first_name": "N", "fields": {"plz": "1"}},
    )
    assert created.status_code == 201, created.content
    assert created.json()["email"] == "neu@example.com"
    again = api.post(f"/tenants/{t}/contacts", {"email": "neu@example.COM"})
    assert again.status_code == 409
    assert "email" in again.json()["errors"]
    bad = api.post(f"/tenants/{t}/contacts", {"email": "nope"})
    assert bad.status_code == 422 and "email" in bad.json()["errors"]
    listed = api.get(f"/tenants/{t}/contacts", {"q": "neu"}).json()
    assert listed["total"] == 1 and listed["items"][0]["fields"] == {"plz": "1"}
    one = api.get(f"/tenants/{t}/contacts/{created.json()['id']}")
    assert one.status_code == 200


def test_lists(world, api):
    t = world.kunde1.pk
    assert api.post(f"/tenants/{t}/lists", {"name": "News"}).status_code == 201
    assert api.post(f"/tenants/{t}/lists", {"name": "news"}).status_code == 409
    assert api.post(f"/tenants/{t}/lists", {"name": " "}).status_code == 422
    assert [x["name"] for x in api.get(f"/tenants/{t}/lists").json()] == ["News"]


def test_import_starts_a_job(world, api, django_capture_on_commit_callbacks):
    t = world.kunde1.pk
    csv = "email,first_name,last_name,language\na@x.de,Anna,A,de\nb@x.de,Bert,B,en\n"
    with django_capture_on_commit_callbacks(execute=True):
        response = api.upload(
            f"/tenants/{t}/contacts/import",
            {"file": SimpleUploadedFile("c.csv", csv.encode(), content_type="text/csv")},
        )
    assert response.status_code == 202, response.content
    job = api.get(f"/jobs/{response.json()['id']}").json()
    assert job["status"] == "done", job
    assert job["done"] == job["total"] == 2
    with scope(tenant=t):
        assert Contact.objects.filter(tenant_id=t).count() == 2
    with scopes_disabled():
        kept = ImportFile.objects.count()
    no_email = api.upload(
        f"/tenants/{t}/contacts/import",
        {"file": SimpleUploadedFile("c.csv", b"name\nx\n", content_type="text/csv")},
    )
    assert no_email.status_code == 422
    # A row the CSV reader refuses (a field over its limit) is a 422 too, not a 500.
    huge = b"email,notes\na@x.de," + b"x" * 200_000 + b"\n"
    unreadable = api.upload(
        f"/tenants/{t}/contacts/import",
        {"file": SimpleUploadedFile("c.csv", huge, content_type="text/csv")},
    )
    assert unreadable.status_code == 422
    assert "not a readable CSV" in unreadable.json()["errors"]["file"][0]
    with scopes_disabled():  # a refused file is not kept
        assert ImportFile.objects.count() == kept


def test_other_tenants_are_404(world, api):
    eve = Api(world.api_key(world.eve, world.fremd))
    t = world.kunde1.pk
    with scope(tenant=world.kunde1.pk):
        contact = contact_create(actor=None, tenant=world.kunde1, email="c@x.de")
    assert eve.get(f"/tenants/{t}/contacts").status_code == 404
    assert eve.post(f"/tenants/{t}/contacts", {"email": "x@y.de"}).status_code == 404
    assert eve.get(f"/tenants/{t}/lists").status_code == 404
    assert eve.get(f"/tenants/{t}/contacts/{contact.pk}").status_code == 404
    # The contact id of kunde1 asked for in kunde2 (a tenant paula reaches too).
    assert api.get(f"/tenants/{world.kunde2.pk}/contacts/{contact.pk}").status_code == 404
    assert api.get(f"/tenants/{t}/contacts/{contact.pk}").status_code == 200


def test_import_into_a_list(world, api, django_capture_on_commit_callbacks):
    t = world.kunde1.pk
    with scope(tenant=t):
        newsletter = list_create(actor=None, tenant=world.kunde1, name="Newsletter")
    with scope(tenant=world.kunde2.pk):
        foreign = list_create(actor=None, tenant=world.kunde2, name="Fremd")
    csv = b"email\na@x.de\nb@x.de\n"
    with django_capture_on_commit_callbacks(execute=True):
        response = api.client.post(
            f"{API}/tenants/{t}/contacts/import?list_id={newsletter.pk}",
            {"file": SimpleUploadedFile("c.csv", csv, content_type="text/csv")},
            **api.headers,
        )
    assert response.status_code == 202, response.content
    assert api.get(f"/tenants/{t}/lists").json()[0]["members"] == 2
    refused = api.client.post(
        f"{API}/tenants/{t}/contacts/import?list_id={foreign.pk}",
        {"file": SimpleUploadedFile("c.csv", csv, content_type="text/csv")},
        **api.headers,
    )
    assert refused.status_code == 422
    assert refused.json()["errors"] == {"list_id": ["Choose a list of this tenant."]}
