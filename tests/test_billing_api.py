"""The API of the price list and of a tenant's upgrades (``/api/v1/products``,
``/api/v1/tenants/{id}/upgrades``), and feature gating as the API client sees it."""

import json
from datetime import UTC, datetime

import pytest
import time_machine
from django.test import Client

from billing_support import ADMIN, EDITOR, acceptances, activations, member
from mandant.accounts.services import membership_set
from mandant.billing.features import require_feature
from mandant.core.actor import Actor
from mandant.core.errors import PermissionDenied

API = "/api/v1"


class Api:
    def __init__(self, key: str, language: str | None = None, ip: str = "192.0.2.44") -> None:
        self.client = Client()
        self.headers = {"HTTP_AUTHORIZATION": f"Bearer {key}", "REMOTE_ADDR": ip}
        if language:
            self.headers["HTTP_ACCEPT_LANGUAGE"] = language

    def get(self, path: str):  # type: ignore[no-untyped-def]
        return self.client.get(API + path, **self.headers)

    def post(self, path: str, payload: object):  # type: ignore[no-untyped-def]
        return self.client.post(
            API + path, json.dumps(payload), content_type="application/json", **self.headers
        )

    def delete(self, path: str):  # type: ignore[no-untyped-def]
        return self.client.delete(API + path, **self.headers)


@pytest.fixture(autouse=True)
def _march(settings):  # type: ignore[no-untyped-def]
    settings.TIME_ZONE = "Europe/Berlin"
    with time_machine.travel(datetime(2026, 3, 11, 11, 0, tzinfo=UTC), tick=False):
        yield


@pytest.fixture
def carl_api(world) -> Api:  # type: ignore[no-untyped-def]
    return Api(world.api_key(world.carl, world.kunde1))


def test_products_list_the_price_list_in_the_request_language(world, carl_api):
    response = carl_api.get("/products")
    assert response.status_code == 200
    products = {p["key"]: p for p in response.json()}
    assert set(products) >= {"basic", "tenant_management", "copy_content", "tracking"}
    copy = products["copy_content"]
    assert copy["name"] == "Copy Content"
    assert copy["kind"] == "addon"
    assert copy["conditions_version"] == 1
    assert copy["prices"] == {
        "monthly_fee": "15.00",
        "setup_fee": "0.00",
        "unit_price": "0.0000",
        "unit": "",
        "vat_rate": "19.00",
        "valid_from": "2025-01-01",
    }
    assert products["extra_mails"]["prices"]["unit_price"] == "1.5000"
    assert products["basic"]["conditions_version"] is None
    german = Api(world.api_key(world.carl, world.kunde1), language="de").get("/products")
    names = {p["key"]: p["name"] for p in german.json()}
    assert names["copy_content"] == "Copy Content"
    assert names["tenant_management"] == "Mandantenverwaltung"


def test_upgrades_of_a_tenant(world, carl_api):
    response = carl_api.get(f"/tenants/{world.kunde1.pk}/upgrades")
    assert response.status_code == 200
    body = response.json()
    assert (body["edition"], body["included"], body["active"]) == ("BASIC", [], [])
    available = {row["product"]: row for row in body["available"]}
    assert list(available) == ["tenant_management", "copy_content", "tracking"]
    assert available["tracking"]["trial_days"] == 14
    assert available["copy_content"]["trial_days"] == 0
    assert available["copy_content"]["may_activate"] is True
    assert available["copy_content"]["prices"]["monthly_fee"] == "15.00"


def test_activate_with_the_accepted_conditions(world, carl_api):
    response = carl_api.post(
        f"/tenants/{world.kunde1.pk}/upgrades",
        {"product": "copy_content", "accepted_conditions_version": 1},
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["outcome"] == "activated" and body["conditions_version"] == 1
    assert body["trial"] is False and body["ends_at"] is None
    [acceptance] = acceptances(world.kunde1)
    assert acceptance.client_ip == "192.0.2.44"
    assert acceptance.via_api_key is not None
    listed = carl_api.get(f"/tenants/{world.kunde1.pk}/upgrades").json()
    assert [row["product"] for row in listed["active"]] == ["copy_content"]
    assert listed["active"][0]["state"] == "active"
    assert listed["active"][0]["activated_by"] == "carl@kunde-eins.example"
    # Again: 409.
    again = carl_api.post(
        f"/tenants/{world.kunde1.pk}/upgrades",
        {"product": "copy_content", "accepted_conditions_version": 1},
    )
    assert again.status_code == 409
    assert "already active" in again.json()["errors"]["product"][0]


@pytest.mark.parametrize(
    "payload",
    [
        {"product": "copy_content"},
        {"product": "copy_content", "accepted_conditions_version": None},
        {"product": "copy_content", "accepted_conditions_version": 2},
    ],
)
def test_without_the_current_conditions_version_422(world, carl_api, payload):
    response = carl_api.post(f"/tenants/{world.kunde1.pk}/upgrades", payload)
    assert response.status_code == 422
    errors = response.json()["errors"]
    assert list(errors) == ["accepted_conditions_version"]
    assert "version 1" in errors["accepted_conditions_version"][0]
    assert activations(world.kunde1) == []


def test_bad_bodies_are_422(world, carl_api):
    path = f"/tenants/{world.kunde1.pk}/upgrades"
    response = carl_api.post(path, {"accepted_conditions_version": 1})
    assert response.status_code == 422 and "product" in response.json()["errors"]
    response = carl_api.post(path, {"product": "nope", "accepted_conditions_version": 1})
    assert response.status_code == 422 and "product" in response.json()["errors"]
    response = carl_api.post(path, {"product": "copy_content", "accepted_conditions_version": "x"})
    assert response.status_code == 422
    assert "accepted_conditions_version" in response.json()["errors"]


def test_an_editor_gets_403(world):
    # A key acts with its creator's current role: made as Administrator, then demoted.
    editor = member(world, world.kunde1, ADMIN, "ed@kunde-eins.example")
    api = Api(world.api_key(editor, world.kunde1))
    membership_set(actor=Actor(user=world.olga), tenant=world.kunde1, user=editor, role=EDITOR)
    response = api.post(
        f"/tenants/{world.kunde1.pk}/upgrades",
        {"product": "copy_content", "accepted_conditions_version": 1},
    )
    assert response.status_code == 403
    assert "needs the role Administrator" in response.json()["detail"]
    assert api.delete(f"/tenants/{world.kunde1.pk}/upgrades/copy_content").status_code == 403
    # Reading is fine, and says the editor may not activate.
    listed = api.get(f"/tenants/{world.kunde1.pk}/upgrades").json()
    assert not any(row["may_activate"] for row in listed["available"])


def test_a_foreign_tenant_is_404(world):
    eve = Api(world.api_key(world.eve, world.fremd))
    assert eve.get(f"/tenants/{world.kunde1.pk}/upgrades").status_code == 404
    response = eve.post(
        f"/tenants/{world.kunde1.pk}/upgrades",
        {"product": "copy_content", "accepted_conditions_version": 1},
    )
    assert response.status_code == 404
    assert eve.delete(f"/tenants/{world.kunde1.pk}/upgrades/copy_content").status_code == 404
    assert eve.get("/tenants/999999/upgrades").status_code == 404
    assert activations(world.kunde1) == []


def test_deactivate_answers_202_with_the_effective_end(world, carl_api):
    path = f"/tenants/{world.kunde1.pk}/upgrades"
    assert carl_api.delete(path + "/copy_content").status_code == 409  # not active
    assert carl_api.delete(path + "/no_such").status_code == 404
    carl_api.post(path, {"product": "copy_content", "accepted_conditions_version": 1})
    response = carl_api.delete(path + "/copy_content")
    assert response.status_code == 202
    body = response.json()
    assert body["immediate"] is False
    assert body["active_until"] == "2026-03-31"
    # Midnight at the start of 1 April in Berlin (22:00 UTC).
    assert datetime.fromisoformat(body["ends_at"]) == datetime(2026, 3, 31, 22, tzinfo=UTC)
    listed = carl_api.get(path).json()
    assert listed["active"][0]["state"] == "ending"
    assert listed["active"][0]["active_until"] == "2026-03-31"
    # A trial ends at once.
    carl_api.post(path, {"product": "tracking", "accepted_conditions_version": 1})
    trial = carl_api.delete(path + "/tracking").json()
    assert trial["immediate"] is True and trial["active_until"] == "2026-03-11"


def test_feature_gating_as_a_client_sees_it(world, carl_api):
    """A disabled feature is not offered, and asking for it anyway names the product."""
    with pytest.raises(PermissionDenied) as info:
        require_feature(world.kunde1, "copy_content")
    assert "“Copy Content”" in info.value.message
    carl_api.post(
        f"/tenants/{world.kunde1.pk}/upgrades",
        {"product": "copy_content", "accepted_conditions_version": 1},
    )
    from mandant.tenants.models import Tenant

    require_feature(Tenant.objects.get(pk=world.kunde1.pk), "copy_content")  # no error now
