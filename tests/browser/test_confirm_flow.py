"""Deleting a contact, a list or a segment asks first, as deleting a campaign does.

carl, Administrator of Kunde Eins, clicks Delete: declining the browser's question keeps the
thing and the page; accepting deletes it. Without JavaScript the form is sent as it is (the
same as a campaign's Delete).
"""

import pytest
from django_scopes import scope
from playwright.sync_api import Dialog, Page, expect
from tests.browser.test_seed_flow import log_in
from tests.conftest import PASSWORD

from mandant.contacts import services
from mandant.contacts.models import Contact, ContactList, Segment

pytestmark = pytest.mark.browser


def answer(page: Page, accept: bool, questions: list[str]) -> None:
    def handle(dialog: Dialog) -> None:
        questions.append(dialog.message)
        if accept:
            dialog.accept()
        else:
            dialog.dismiss()

    page.once("dialog", handle)


def test_deleting_asks_first_and_declining_keeps_everything(world, browser, page, live_server):
    tenant = world.kunde1
    with scope(tenant=tenant.pk):
        contact = services.contact_create(actor=None, tenant=tenant, email="frag@example.org")
        other = services.contact_create(actor=None, tenant=tenant, email="ohne-js@example.org")
        contact_list = services.list_create(actor=None, tenant=tenant, name="Frag")
        segment = services.segment_create(
            actor=None,
            tenant=tenant,
            name="Frag",
            rules={"conditions": [{"field": "language", "op": "equals", "value": "de"}]},
        )
    base = f"/t/{tenant.slug}/contacts/"
    log_in(page, world.carl.email, PASSWORD)
    questions: list[str] = []

    for url, button, model, pk in [
        (f"{base}{contact.pk}/", page.get_by_role("button", name="Delete"), Contact, contact.pk),
        (
            f"{base}lists/{contact_list.pk}/",
            page.get_by_role("button", name="Delete list"),
            ContactList,
            contact_list.pk,
        ),
        (f"{base}segments/", page.get_by_role("button", name="Delete"), Segment, segment.pk),
    ]:
        page.goto(url)
        answer(page, False, questions)
        button.click()
        expect(page).to_have_url(f"{live_server.url}{url}")
        with scope(tenant=tenant.pk):
            assert model.objects.filter(pk=pk).exists(), url
        answer(page, True, questions)
        with page.expect_navigation():
            button.click()
        with scope(tenant=tenant.pk):
            assert not model.objects.filter(pk=pk).exists(), url
    assert [q.split("?")[0] for q in questions] == [
        "Delete this contact",
        "Delete this contact",
        "Delete this list",
        "Delete this list",
        "Delete this segment",
        "Delete this segment",
    ]

    # Without JavaScript nobody asks: the form is sent, as a campaign's Delete is.
    quiet = browser.new_context(base_url=live_server.url, locale="en-US", java_script_enabled=False)
    try:
        quiet_page = quiet.new_page()
        log_in(quiet_page, world.carl.email, PASSWORD)
        quiet_page.goto(f"{base}{other.pk}/")
        quiet_page.get_by_role("button", name="Delete").click()
        quiet_page.wait_for_load_state()
        expect(quiet_page).to_have_url(f"{live_server.url}{base}")
        with scope(tenant=tenant.pk):
            assert not Contact.objects.filter(pk=other.pk).exists()
    finally:
        quiet.close()
