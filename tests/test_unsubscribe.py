"""One-click unsubscribe (RFC 8058): signed link, no login, no CSRF token, tenant-wide."""

from django.test import Client
from django_scopes import scope

from mandant.contacts import services
from mandant.contacts.models import Contact, ContactStatus
from mandant.contacts.unsubscribe import read_token, unsubscribe_token, unsubscribe_url


def make(tenant, email, language=""):  # type: ignore[no-untyped-def]
    with scope(tenant=tenant.pk):
        return services.contact_create(actor=None, tenant=tenant, email=email, language=language)


def status(contact) -> str:  # type: ignore[no-untyped-def]
    with scope(tenant=contact.tenant_id):
        return Contact.objects.get(pk=contact.pk).status


def path_of(contact) -> str:  # type: ignore[no-untyped-def]
    return "/" + unsubscribe_url(contact).split("/", 3)[3]


def test_one_click_post_without_login_and_csrf(world):
    contact = make(world.kunde1, "one@example.com")
    client = Client(enforce_csrf_checks=True)
    response = client.post(
        path_of(contact),
        "List-Unsubscribe=One-Click",
        content_type="application/x-www-form-urlencoded",
    )
    assert response.status_code == 200
    assert status(contact) == ContactStatus.UNSUBSCRIBED
    # Again: still fine (mail clients retry).
    assert client.post(path_of(contact), {"List-Unsubscribe": "One-Click"}).status_code == 200


def test_get_shows_a_confirmation_in_the_contacts_language(world):
    contact = make(world.kunde1, "de@example.com", language="de")
    response = Client().get(path_of(contact))
    assert response.status_code == 200
    body = response.content.decode()
    assert '<html lang="de">' in body
    # Recipients are addressed formally, on a page of the sender, not the app's.
    assert "Möchten Sie keine E-Mails mehr von Kunde Eins an de@example.com erhalten?" in body
    assert 'data-testid="sender">Kunde Eins<' in body
    assert "/login/" not in body
    assert status(contact) == ContactStatus.ACTIVE  # a GET (link preview) changes nothing
    done = Client().post(path_of(contact)).content.decode()
    assert "Sie wurden abgemeldet." in done and "/login/" not in done
    english = make(world.kunde1, "en@example.com", language="en")
    assert "Unsubscribe" in Client().get(path_of(english)).content.decode()


def test_the_button_posts_and_confirms(world):
    contact = make(world.kunde1, "btn@example.com", language="en")
    response = Client(enforce_csrf_checks=True).post(path_of(contact))
    assert response.status_code == 200
    assert "You have been unsubscribed" in response.content.decode()
    assert status(contact) == ContactStatus.UNSUBSCRIBED


def test_a_tampered_token_is_404(world):
    contact = make(world.kunde1, "t@example.com")
    other = make(world.kunde2, "t@example.com")
    token = unsubscribe_token(contact)
    assert read_token(token) == (world.kunde1.pk, contact.pk)
    # Another contact id with the first one's signature.
    other_payload = unsubscribe_token(other).rsplit(".", 1)[0]
    forged = other_payload + "." + token.rsplit(".", 1)[1]
    for bad in (token[:-2] + "xx", forged, "garbage", token + "x", "a.b.c"):
        assert Client().post(f"/u/{bad}/", {"List-Unsubscribe": "One-Click"}).status_code == 404
        assert Client().get(f"/u/{bad}/").status_code == 404
    assert status(contact) == status(other) == ContactStatus.ACTIVE


def test_links_of_the_earlier_token_format_still_unsubscribe(world):
    from django.core import signing

    from mandant.contacts.unsubscribe import SALT

    contact = make(world.kunde1, "old@example.com")
    old = signing.Signer(salt=SALT).sign_object([world.kunde1.pk, contact.pk])
    assert read_token(old) == (world.kunde1.pk, contact.pk)
    assert Client().post(f"/u/{old}/", {"List-Unsubscribe": "One-Click"}).status_code == 200
    assert status(contact) == ContactStatus.UNSUBSCRIBED


def test_unsubscribe_applies_to_the_tenant_only(world):
    here = make(world.kunde1, "both@example.com")
    there = make(world.kunde2, "both@example.com")
    with scope(tenant=world.kunde1.pk):
        for name in ("A", "B"):
            cl = services.list_create(actor=None, tenant=world.kunde1, name=name)
            services.list_add_members(
                actor=None, tenant=world.kunde1, contact_list=cl, contact_ids=[here.pk]
            )
    Client().post(path_of(here), {"List-Unsubscribe": "One-Click"})
    assert status(here) == ContactStatus.UNSUBSCRIBED
    assert status(there) == ContactStatus.ACTIVE


def test_a_deleted_contact_is_404(world):
    contact = make(world.kunde1, "gone@example.com")
    url = path_of(contact)
    with scope(tenant=world.kunde1.pk):
        services.contact_delete(actor=None, tenant=world.kunde1, contact=contact)
    assert Client().get(url).status_code == 404
