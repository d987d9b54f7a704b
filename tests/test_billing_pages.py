"""Setup → Upgrades in the browser-less client: the overview, the confirmation step with the
conditions and the acceptance box, refusals (403/409/422), deactivation."""

import re

import pytest
from django.utils import translation

from billing_support import EDITOR, acceptances, activate, activations, member
from mandant.billing.models import Product
from mandant.billing.services import conditions_publish
from mandant.core.actor import Actor

UPGRADES = "/t/kunde-eins/setup/upgrades/"
ACTIVATE = UPGRADES + "{}/activate/"
DEACTIVATE = UPGRADES + "{}/deactivate/"


def text(response) -> str:  # type: ignore[no-untyped-def]
    return re.sub(r"[ \t\r\n]+", " ", response.content.decode())


def test_overview_shows_edition_prices_and_what_can_be_activated(world):
    response = world.client_for(world.carl).get(UPGRADES)
    assert response.status_code == 200
    body = text(response)
    assert "Your edition: BASIC" in body and "29.00\u00a0€ per month" in body
    offered = re.findall(r'data-testid="available-row" data-product="(\w+)"', body)
    assert offered == ["tenant_management", "copy_content", "tracking"]  # no dedicated IP
    assert 'href="/t/kunde-eins/setup/upgrades/copy_content/activate/"' in body
    assert "15.00\u00a0€" in body and "19\u00a0%" in body
    assert "Free trial of 14 days" in body
    assert "No upgrade is active in this tenant." in body
    # Tabs: the overview and Tenant management.
    assert 'href="/t/kunde-eins/setup/upgrades/tenants/"' in body
    assert 'aria-current="page">Upgrades' in body
    # The cost notice sits with the products that cost, and speaks of each of them.
    available = body.split('data-testid="available-upgrades"')[1]
    assert "Each upgrade with a price incurs additional costs" in available
    assert "This product incurs" not in body


def test_overview_in_german_uses_german_names_and_numbers(world):
    world.carl.language = "de"
    world.carl.save()
    client = world.client_for(world.carl)
    client.cookies["mandant_language"] = "de"
    body = text(client.get(UPGRADES, HTTP_ACCEPT_LANGUAGE="de"))
    assert "Öffnungs- und Klick-Tracking" in body and "15,00\u00a0€" in body
    assert "Copy Content" in body  # its German name, too


def test_an_editor_sees_prices_but_no_activate_buttons(world):
    editor = member(world, world.kunde1, EDITOR, "ed@kunde-eins.example")
    client = world.client_for(editor)
    body = text(client.get(UPGRADES))
    assert 'data-testid="activate-copy_content"' not in body
    assert "Needs the role Administrator." in body
    page = client.get(ACTIVATE.format("copy_content"))
    assert page.status_code == 200
    assert 'data-testid="activation-form"' not in page.content.decode()
    response = client.post(
        ACTIVATE.format("copy_content"), {"conditions_version": 1, "accept": "on"}
    )
    assert response.status_code == 403
    assert "needs the role Administrator" in text(response)
    assert activations(world.kunde1) == []


def test_the_confirmation_page_shows_conditions_and_prices(world):
    response = world.client_for(world.carl).get(ACTIVATE.format("copy_content"))
    assert response.status_code == 200
    body = text(response)
    assert "Conditions (version 1 of" in body
    assert "These conditions apply to the product" in body
    assert "15.00\u00a0€" in body and "Activate with costs" in body
    assert 'name="accept"' in body and 'name="conditions_version" value="1"' in body
    assert "data-needs-accept" in body  # the button waits for the tick (app.js)


def test_the_conditions_are_shown_in_the_users_language(world):
    client = world.client_for(world.carl)
    with translation.override("de"):
        body = text(client.get(ACTIVATE.format("copy_content"), HTTP_ACCEPT_LANGUAGE="de"))
    assert "Geltungsbereich" in body or "Scope" in body
    world.carl.language = "de"
    world.carl.save()
    client = world.client_for(world.carl)
    client.cookies["mandant_language"] = "de"
    body = text(client.get(ACTIVATE.format("copy_content")))
    assert "Geltungsbereich" in body and "Scope." not in body


def test_without_the_tick_nothing_is_activated_and_the_page_says_why(world):
    client = world.client_for(world.carl)
    response = client.post(ACTIVATE.format("copy_content"), {"conditions_version": "1"})
    assert response.status_code == 422
    assert "Please tick the box to accept the conditions" in text(response)
    assert activations(world.kunde1) == [] and acceptances(world.kunde1) == []


def test_conditions_that_changed_meanwhile_must_be_read_again(world):
    client = world.client_for(world.carl)
    conditions_publish(
        actor=Actor(user=world.olga),
        product=Product.objects.get(key="copy_content"),
        text_en="Brand new conditions.",
        text_de="Ganz neue Konditionen.",
    )
    response = client.post(
        ACTIVATE.format("copy_content"), {"conditions_version": "1", "accept": "on"}
    )
    assert response.status_code == 422
    body = text(response)
    assert "(version 2)" in body and "Brand new conditions." in body
    assert 'name="conditions_version" value="2"' in body
    assert activations(world.kunde1) == []
    response = client.post(
        ACTIVATE.format("copy_content"), {"conditions_version": "2", "accept": "on"}
    )
    assert response.status_code == 302
    assert acceptances(world.kunde1)[0].conditions.version == 2


def test_activation_and_deactivation_through_the_pages(world):
    client = world.client_for(world.carl)
    response = client.post(
        ACTIVATE.format("copy_content"),
        {"conditions_version": "1", "accept": "on"},
        REMOTE_ADDR="198.51.100.9",
        follow=True,
    )
    assert response.redirect_chain[-1][0] == UPGRADES
    body = text(response)
    assert "“Copy Content” is active." in body
    assert 'data-testid="active-row" data-product="copy_content"' in body
    assert acceptances(world.kunde1)[0].client_ip == "198.51.100.9"
    # Again: the page says it is active already (409).
    again = client.post(
        ACTIVATE.format("copy_content"), {"conditions_version": "1", "accept": "on"}
    )
    assert again.status_code == 409 and "already active" in text(again)
    # Deactivate: the confirmation, then the end of the month.
    page = client.get(DEACTIVATE.format("copy_content"))
    assert page.status_code == 200 and "stays active until the end of the billing period" in text(
        page
    )
    response = client.post(DEACTIVATE.format("copy_content"), follow=True)
    body = text(response)
    assert "stays active until" in body and "active until" in body
    assert "Keep it" in body


def test_deactivating_what_is_not_active(world):
    client = world.client_for(world.carl)
    page = client.get(DEACTIVATE.format("tracking"))
    assert page.status_code == 200 and "is not active in this tenant" in text(page)
    response = client.post(DEACTIVATE.format("tracking"))
    assert response.status_code == 409


@pytest.mark.parametrize("key", ["basic", "extra_mails", "nope"])
def test_only_products_activated_online_have_pages(world, key):
    client = world.client_for(world.carl)
    assert client.get(ACTIVATE.format(key)).status_code == 404
    assert client.get(DEACTIVATE.format(key)).status_code == 404


def test_unavailable_products_are_explained_not_offered(world):
    client = world.client_for(world.carl)
    body = text(client.get(ACTIVATE.format("dedicated_ip")))
    assert "not available for the edition BASIC" in body
    assert 'data-testid="activation-form"' not in body
    response = client.post(
        ACTIVATE.format("dedicated_ip"), {"conditions_version": 1, "accept": "on"}
    )
    assert response.status_code == 422
    paula = world.client_for(world.paula)
    body = text(paula.get("/t/agentur-alpha/setup/upgrades/copy_content/activate/"))
    assert "needs the role Administrator" in body


def test_tenant_management_page_offers_the_product(world):
    body = text(world.client_for(world.carl).get("/t/kunde-eins/setup/upgrades/tenants/"))
    assert "The product Tenant management is not active for your tenant." in body
    assert 'href="/t/kunde-eins/setup/upgrades/tenant_management/activate/"' in body
    activate(world.carl, world.kunde1, "tenant_management")
    body = text(world.client_for(world.carl).get("/t/kunde-eins/setup/upgrades/tenants/"))
    assert 'data-testid="tenant-create-form"' in body


def test_a_trial_shows_its_end_and_can_be_made_paid(world):
    client = world.client_for(world.carl)
    response = client.post(
        ACTIVATE.format("tracking"), {"conditions_version": "1", "accept": "on"}, follow=True
    )
    body = text(response)
    assert "your free trial runs until" in body
    assert "free trial until" in body and "Activate with costs now" in body
    page = text(client.get(ACTIVATE.format("tracking")))
    assert "Your free trial ends now and the paid activation starts." in page
