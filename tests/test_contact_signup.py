"""Sign-up forms with double opt-in: management pages, the public page, the confirmation link
(through a real SMTP server), consent proof, honeypot, rate limit, no enumeration, languages."""

import re
import time
from email.message import EmailMessage

import pytest
from django.core import signing
from django.core.exceptions import ValidationError
from django.test import Client
from django.utils import translation
from django.utils.translation import gettext
from django_scopes import scope
from tests.worker import IMMEDIATE_TASKS

from mandant.accounts.models import User
from mandant.accounts.roles import Role
from mandant.accounts.services import membership_set, user_create
from mandant.contacts import selectors, services
from mandant.contacts.models import (
    ConsentRecord,
    Contact,
    ContactList,
    ContactStatus,
    ListMembership,
    SignupForm,
)
from mandant.contacts.signup import CONFIRM_DAYS, confirm_token, read_confirm_token
from mandant.core.actor import Actor
from mandant.notices.models import OutboundMessage

CONSENT = "Ja, ich möchte den Newsletter von Kunde Eins erhalten. Abmelden geht jederzeit."


def make_list(tenant, name="Newsletter"):  # type: ignore[no-untyped-def]
    with scope(tenant=tenant.pk):
        return services.list_create(actor=None, tenant=tenant, name=name)


def make_form(tenant, **kw):  # type: ignore[no-untyped-def]
    name = kw.pop("name", "Website")
    contact_list = kw.pop("contact_list", None) or make_list(tenant, f"Liste {name}")
    data = {
        "name": name,
        "contact_list": contact_list,
        "consent_text": CONSENT,
        "ask_first_name": True,
        "ask_last_name": True,
        "languages": ["de", "en"],
        **kw,
    }
    with scope(tenant=tenant.pk):
        return services.signup_form_create(actor=None, tenant=tenant, **data)


def contact_of(tenant, email):  # type: ignore[no-untyped-def]
    with scope(tenant=tenant.pk):
        return Contact.objects.filter(tenant=tenant, email=email).first()


def consents_of(contact):  # type: ignore[no-untyped-def]
    with scope(tenant=contact.tenant_id):
        return list(ConsentRecord.objects.filter(contact=contact).order_by("pk"))


def sign_up(client, form, **data):  # type: ignore[no-untyped-def]
    return client.post(f"/f/{form.public_key}/", data, REMOTE_ADDR=data.pop("ip", "198.51.100.7"))


def confirm_path(message: EmailMessage) -> str:
    text = message.get_body(preferencelist=("plain",)).get_content()  # type: ignore[union-attr]
    found = re.search(r"https?://[^/\s]+(/f/confirm/[^\s]+/)", text)
    assert found, text
    return found.group(1)


def member(tenant, email, role):  # type: ignore[no-untyped-def]
    user = user_create(email=email, password="correct-horse-battery-staple-7", first_name="M")
    op = Actor(user=User.objects.get(email="olga@mandant.example"))
    membership_set(actor=op, tenant=tenant, user=user, role=role)
    return user


# --- management pages ------------------------------------------------------------------------


def test_forms_are_managed_on_the_contacts_pages(world):
    tenant, carl = world.kunde1, world.carl
    newsletter = make_list(tenant)
    make_list(world.kunde2, "Fremde Liste")
    with scope(tenant=world.kunde2.pk):
        foreign = ContactList.objects.get(tenant=world.kunde2)
    client = world.client_for(carl)
    base = f"/t/{tenant.slug}/contacts/forms/"
    assert "Sign-up forms" in client.get(f"/t/{tenant.slug}/contacts/").content.decode()
    page = client.get(base + "new/")
    assert page.status_code == 200
    assert f'value="{foreign.pk}"' not in page.content.decode()  # only the tenant's own lists

    # Refused: no list, a list of another tenant, no consent text, a bad address, no language.
    bad = client.post(
        base + "new/",
        {"name": "Web", "contact_list": str(foreign.pk), "consent_text": "", "languages": []},
    )
    assert bad.status_code == 422
    assert 'class="errors"' in bad.content.decode()  # the field partial lists them
    with scope(tenant=tenant.pk):
        assert not SignupForm.objects.filter(tenant=tenant).exists()
        # The service checks the list itself too (the API and other callers).
        with pytest.raises(ValidationError) as refused:
            services.signup_form_create(
                actor=None,
                tenant=tenant,
                name="Web",
                contact_list=foreign.pk,
                consent_text="",
                languages=["xx"],
            )
        assert set(refused.value.message_dict) == {"contact_list", "consent_text", "languages"}
    bad = client.post(
        base + "new/",
        {
            "name": "Web",
            "contact_list": str(newsletter.pk),
            "consent_text": CONSENT,
            "languages": ["de"],
            "success_url": "javascript:alert(1)",
        },
    )
    assert bad.status_code == 422
    assert "https://" in bad.content.decode()

    created = client.post(
        base + "new/",
        {
            "name": "Web",
            "contact_list": str(newsletter.pk),
            "consent_text": CONSENT,
            "languages": ["de", "en"],
            "ask_first_name": "on",
            "success_url": "https://kunde-eins.example/danke",
            "active": "on",
        },
    )
    assert created.status_code == 302
    with scope(tenant=tenant.pk):
        form = SignupForm.objects.get(tenant=tenant)
    assert (form.name, form.contact_list_id, form.languages) == ("Web", newsletter.pk, ["de", "en"])
    assert form.ask_first_name and not form.ask_last_name and form.active
    assert len(form.public_key) >= 20

    detail = client.get(base + f"{form.pk}/").content.decode()
    # The hosted page and the snippet posting to it, with the honeypot field.
    assert f"action=&quot;http://127.0.0.1:8000/f/{form.public_key}/&quot;" in detail
    assert f'href="http://127.0.0.1:8000/f/{form.public_key}/"' in detail
    assert "&lt;form method=&quot;post&quot; action=&quot;" in detail
    assert "name=&quot;website&quot;" in detail
    assert "name=&quot;first_name&quot;" in detail and "name=&quot;last_name&quot;" not in detail
    listing = client.get(base).content.decode()
    assert "Web" in listing and "Newsletter" in listing

    # Edit, then a name that another form has.
    make_form(tenant, name="Messe", contact_list=newsletter)
    edited = client.post(
        base + f"{form.pk}/",
        {
            "name": "Webseite",
            "contact_list": str(newsletter.pk),
            "consent_text": CONSENT,
            "languages": ["en"],
            "active": "on",
        },
    )
    assert edited.status_code == 302
    form.refresh_from_db()
    assert (form.name, form.languages, form.success_url) == ("Webseite", ["en"], "")
    taken = client.post(
        base + f"{form.pk}/",
        {"name": "messe", "contact_list": str(newsletter.pk), "consent_text": CONSENT,
         "languages": ["en"]},
    )  # fmt: skip
    assert taken.status_code == 422
    assert "exists already" in taken.content.decode()

    # Delete: the form goes, the consent records of its sign-ups stay.
    sign_up(Client(), form, email="bleibt@example.com")
    assert client.post(base + f"{form.pk}/", {"action": "delete"}).status_code == 302
    with scope(tenant=tenant.pk):
        assert not SignupForm.objects.filter(pk=form.pk).exists()
    [consent] = consents_of(contact_of(tenant, "bleibt@example.com"))
    assert consent.source == "form:Webseite" and consent.form_id is None


def test_a_viewer_may_not_manage_forms(world):
    viewer = member(world.kunde1, "viewer@kunde-eins.example", Role.VIEWER)
    form = make_form(world.kunde1)
    client = world.client_for(viewer)
    base = f"/t/{world.kunde1.slug}/contacts/forms/"
    assert client.get(base).status_code == 403
    assert client.get(base + "new/").status_code == 403
    assert client.post(base + f"{form.pk}/", {"action": "delete"}).status_code == 403
    with scope(tenant=world.kunde1.pk):
        assert SignupForm.objects.filter(pk=form.pk).exists()
    editor = member(world.kunde1, "editor@kunde-eins.example", Role.EDITOR)
    assert world.client_for(editor).get(base).status_code == 200


# --- the whole double opt-in, through a real SMTP server --------------------------------------


def test_sign_up_mail_link_and_confirmation(
    world, smtp, settings, django_capture_on_commit_callbacks
):
    settings.TASKS = IMMEDIATE_TASKS
    tenant = world.kunde1
    form = make_form(tenant)
    public = Client(enforce_csrf_checks=True)  # embedded on another site: no CSRF cookie
    page = public.get(f"/f/{form.public_key}/", HTTP_ACCEPT_LANGUAGE="de")
    assert page.status_code == 200
    assert '<html lang="de">' in page.content.decode()
    assert CONSENT in page.content.decode()

    with django_capture_on_commit_callbacks(execute=True):
        response = sign_up(
            public,
            form,
            email="  Neu@Example.COM ",
            first_name="Nina",
            last_name="Neu",
            language="de",
            ip="203.0.113.9",
        )
    assert response.status_code == 200
    contact = contact_of(tenant, "neu@example.com")
    assert contact.status == ContactStatus.UNCONFIRMED
    assert (contact.first_name, contact.last_name, contact.language) == ("Nina", "Neu", "de")
    [consent] = consents_of(contact)
    assert consent.source == "form:Website"
    assert (consent.ip, consent.text, consent.form_id) == ("203.0.113.9", CONSENT, form.pk)
    assert consent.double_opt_in and consent.confirmed_at is None
    # Not sendable before the confirmation, and not on the list yet.
    with scope(tenant=tenant.pk):
        assert contact not in selectors.sendable_contacts(tenant=tenant)
        assert not ListMembership.objects.filter(contact=contact).exists()

    [received] = smtp.handler.to("neu@example.com")
    message = received.message
    with translation.override("de"):
        expected = gettext("Please confirm your sign-up with %(sender)s") % {"sender": tenant.name}
    assert message["Subject"] == expected
    path = confirm_path(message)

    # A link scanner's GET changes nothing.
    shown = Client().get(path)
    assert shown.status_code == 200
    assert "confirm-button" in shown.content.decode()
    assert '<html lang="de">' in shown.content.decode()
    assert contact_of(tenant, "neu@example.com").status == ContactStatus.UNCONFIRMED

    done = Client(enforce_csrf_checks=True).post(path, REMOTE_ADDR="203.0.113.10")
    assert done.status_code == 200
    assert "signup-confirmed" in done.content.decode()
    contact.refresh_from_db()
    assert contact.status == ContactStatus.ACTIVE
    [consent] = consents_of(contact)
    assert consent.confirmed_at is not None and consent.confirmed_ip == "203.0.113.10"
    with scope(tenant=tenant.pk):
        assert ListMembership.objects.filter(
            contact=contact, contact_list_id=form.contact_list_id
        ).exists()
        assert list(selectors.sendable_contacts(tenant=tenant, contact_list=form.contact_list)) == [
            contact
        ]

    # Confirming twice is harmless.
    first = consent.confirmed_at
    assert Client().post(path).status_code == 200
    assert Client().get(path).status_code == 200
    [consent] = consents_of(contact)
    assert consent.confirmed_at == first and consent.confirmed_ip == "203.0.113.10"
    with scope(tenant=tenant.pk):
        assert ListMembership.objects.filter(contact=contact).count() == 1

    # The contact page shows the consent history.
    detail = world.client_for(world.carl).get(f"/t/{tenant.slug}/contacts/{contact.pk}/")
    history = detail.content.decode().split('data-testid="consent-history"')[1]
    assert "Form: Website" in history
    assert "203.0.113.9" in history and "203.0.113.10" in history
    assert "Ja, ich möchte den Newsletter" in history
    assert "waiting for confirmation" not in history


def test_redirects_after_sign_up_and_confirmation(world):
    form = make_form(
        world.kunde1,
        success_url="https://kunde-eins.example/fast-fertig",
        confirmed_url="https://kunde-eins.example/willkommen",
    )
    response = sign_up(Client(), form, email="weiter@example.com")
    assert response.status_code == 303
    assert response["Location"] == "https://kunde-eins.example/fast-fertig"
    [consent] = consents_of(contact_of(world.kunde1, "weiter@example.com"))
    done = Client().post(f"/f/confirm/{confirm_token(consent)}/")
    assert done.status_code == 303
    assert done["Location"] == "https://kunde-eins.example/willkommen"


# --- bad links --------------------------------------------------------------------------------


def test_an_expired_link_is_a_translated_410(world, monkeypatch):
    form = make_form(world.kunde1)
    sign_up(Client(), form, email="spaet@example.com", language="de")
    contact = contact_of(world.kunde1, "spaet@example.com")
    [consent] = consents_of(contact)
    old = int(time.time()) - (CONFIRM_DAYS * 24 * 3600 + 60)
    with monkeypatch.context() as patched:
        patched.setattr(signing.TimestampSigner, "timestamp", lambda self: signing.b62_encode(old))
        token = confirm_token(consent)
    ids = read_confirm_token(token)
    assert ids is not None and ids.expired
    for method in ("get", "post"):
        response = getattr(Client(), method)(f"/f/confirm/{token}/")
        assert response.status_code == 410
        body = response.content.decode()
        assert '<html lang="de">' in body
        with translation.override("de"):
            assert gettext("This link has expired") in body
        assert f"/f/{form.public_key}/" in body  # sign up again
    contact.refresh_from_db()
    assert contact.status == ContactStatus.UNCONFIRMED
    assert consents_of(contact)[0].confirmed_at is None
    # A fresh link still works.
    assert Client().post(f"/f/confirm/{confirm_token(consent)}/").status_code == 200
    contact.refresh_from_db()
    assert contact.status == ContactStatus.ACTIVE


def test_a_tampered_link_is_a_400_and_confirms_nothing(world):
    form = make_form(world.kunde1)
    sign_up(Client(), form, email="echt@example.com")
    contact = contact_of(world.kunde1, "echt@example.com")
    [consent] = consents_of(contact)
    token = confirm_token(consent)
    other = make_form(world.kunde2, name="Andere")
    sign_up(Client(), other, email="fremd@example.com")
    [foreign] = consents_of(contact_of(world.kunde2, "fremd@example.com"))
    forged = [
        token[:-1] + ("A" if token[-1] != "A" else "B"),
        "x" + token,
        "garbage",
        # A valid signature of another salt (the unsubscribe link) over the same ids.
        signing.Signer(salt="mandant.contacts.unsubscribe").sign_object(
            [consent.tenant_id, consent.contact_id, consent.pk]
        ),
        # The right salt, but the ids of another tenant's consent under this tenant.
        signing.TimestampSigner(salt="mandant.contacts.signup").sign_object(
            [world.kunde1.pk, foreign.contact_id, foreign.pk]
        ),
    ]
    for bad in forged:
        for method in ("get", "post"):
            response = getattr(Client(), method)(f"/f/confirm/{bad}/")
            assert response.status_code == 400, bad
            assert "This link is not valid" in response.content.decode()
    contact.refresh_from_db()
    assert contact.status == ContactStatus.UNCONFIRMED
    assert contact_of(world.kunde2, "fremd@example.com").status == ContactStatus.UNCONFIRMED


def test_unknown_inactive_or_listless_forms_are_404(world):
    assert Client().get("/f/nope/").status_code == 404
    form = make_form(world.kunde1, active=False)
    assert Client().get(f"/f/{form.public_key}/").status_code == 404
    assert sign_up(Client(), form, email="a@example.com").status_code == 404
    form2 = make_form(world.kunde1, name="Zwei", contact_list=make_list(world.kunde1, "Weg"))
    with scope(tenant=world.kunde1.pk):
        services.list_delete(actor=None, tenant=world.kunde1, contact_list=form2.contact_list)
        form2.refresh_from_db()
    assert form2.contact_list_id is None
    assert Client().get(f"/f/{form2.public_key}/").status_code == 404
    page = world.client_for(world.carl).get(f"/t/{world.kunde1.slug}/contacts/forms/{form2.pk}/")
    assert 'data-testid="no-list"' in page.content.decode()
    assert contact_of(world.kunde1, "a@example.com") is None


def test_an_invalid_address_is_shown_again_with_a_422(world):
    form = make_form(world.kunde1)
    response = sign_up(Client(), form, email="nicht-gültig", first_name="X", language="en")
    assert response.status_code == 422
    assert "Enter a valid e-mail address." in response.content.decode()
    assert 'value="X"' in response.content.decode()
    assert OutboundMessage.objects.count() == 0


# --- bots and floods -------------------------------------------------------------------------


def test_the_honeypot_answers_like_success_and_does_nothing(world):
    form = make_form(world.kunde1)
    human = sign_up(Client(), form, email="mensch@example.com", language="en")
    bot = sign_up(Client(), form, email="bot@example.com", website="http://spam", language="en")
    assert bot.status_code == human.status_code == 200
    assert bot.content == human.content
    assert contact_of(world.kunde1, "bot@example.com") is None
    assert list(OutboundMessage.objects.values_list("to_email", flat=True)) == [
        "mensch@example.com"
    ]


def test_rate_limit_per_address_and_per_client(world, settings):
    settings.SIGNUP_RATE_PER_ADDRESS = 2
    settings.SIGNUP_RATE_PER_IP = 4
    form = make_form(world.kunde1)
    for _ in range(2):
        assert sign_up(Client(), form, email="opfer@example.com", ip="192.0.2.1").status_code == 200
    # The third mail to the same address within the hour is refused, from any client.
    limited = sign_up(Client(), form, email="Opfer@example.com", ip="192.0.2.2")
    assert limited.status_code == 429
    assert "Too many sign-ups" in limited.content.decode()
    assert OutboundMessage.objects.filter(to_email="opfer@example.com").count() == 2
    # One client: 4 sign-ups, then refused whatever the address.
    assert sign_up(Client(), form, email="b@example.com", ip="192.0.2.1").status_code == 200
    assert sign_up(Client(), form, email="c@example.com", ip="192.0.2.1").status_code == 200
    assert sign_up(Client(), form, email="d@example.com", ip="192.0.2.1").status_code == 429
    assert contact_of(world.kunde1, "d@example.com") is None
    # Another client is not affected.
    assert sign_up(Client(), form, email="d@example.com", ip="192.0.2.3").status_code == 200


def test_the_client_limit_spans_the_forms_of_every_tenant(world, settings):
    settings.SIGNUP_RATE_PER_IP = 2
    first, second = make_form(world.kunde1), make_form(world.kunde2)
    assert sign_up(Client(), first, email="a@example.com", ip="192.0.2.9").status_code == 200
    assert sign_up(Client(), first, email="b@example.com", ip="192.0.2.9").status_code == 200
    # The same client at another tenant's form: still the same flood.
    assert sign_up(Client(), second, email="c@example.com", ip="192.0.2.9").status_code == 429
    assert contact_of(world.kunde2, "c@example.com") is None


# --- no enumeration, existing contacts --------------------------------------------------------


def test_the_answer_never_tells_whether_the_address_is_known(world):
    tenant = world.kunde1
    form = make_form(tenant)
    with scope(tenant=tenant.pk):
        services.contact_create(
            actor=None, tenant=tenant, email="aktiv@example.com", first_name="A"
        )
        gone = services.contact_create(actor=None, tenant=tenant, email="weg@example.com")
        services.contact_unsubscribe(tenant=tenant, contact=gone, source="test")
        blocked = services.contact_create(actor=None, tenant=tenant, email="gesperrt@example.com")
        services.contact_update(
            actor=None, tenant=tenant, contact=blocked, status=ContactStatus.BLOCKED
        )
    answers = {
        email: sign_up(Client(), form, email=email, first_name="Fremd", language="en")
        for email in (
            "neu@example.com",
            "aktiv@example.com",
            "weg@example.com",
            "gesperrt@example.com",
        )
    }
    assert {r.status_code for r in answers.values()} == {200}
    assert len({r.content for r in answers.values()}) == 1
    # Nothing about an existing contact changes before its confirmation.
    active = contact_of(tenant, "aktiv@example.com")
    assert (active.status, active.first_name) == (ContactStatus.ACTIVE, "A")
    unsubscribed = contact_of(tenant, "weg@example.com")
    assert unsubscribed.status == ContactStatus.UNSUBSCRIBED
    assert contact_of(tenant, "gesperrt@example.com").status == ContactStatus.BLOCKED
    # Blocked addresses get no mail; the others a confirmation each.
    assert sorted(OutboundMessage.objects.values_list("to_email", flat=True)) == [
        "aktiv@example.com",
        "neu@example.com",
        "weg@example.com",
    ]
    # The unsubscribed contact comes back only through the confirmation, the active one joins
    # the list and takes the name given on the form.
    for contact in (unsubscribed, active):
        [pending] = [c for c in consents_of(contact) if c.double_opt_in]
        assert Client().post(f"/f/confirm/{confirm_token(pending)}/").status_code == 200
        contact.refresh_from_db()
        assert (contact.status, contact.first_name) == (ContactStatus.ACTIVE, "Fremd")
        with scope(tenant=tenant.pk):
            assert ListMembership.objects.filter(
                contact=contact, contact_list_id=form.contact_list_id
            ).exists()


def test_the_mail_speaks_the_contacts_language(world):
    tenant = world.kunde1
    form = make_form(tenant)
    with scope(tenant=tenant.pk):
        services.contact_create(actor=None, tenant=tenant, email="de@example.com", language="de")
    sign_up(Client(), form, email="en@example.com", language="en")
    sign_up(Client(), form, email="neu-de@example.com", language="de")
    # A known contact keeps its language, whatever the page spoke.
    sign_up(Client(), form, email="de@example.com", language="en")
    mails = {m.to_email: m for m in OutboundMessage.objects.all()}
    assert {k: m.language for k, m in mails.items()} == {
        "en@example.com": "en",
        "neu-de@example.com": "de",
        "de@example.com": "de",
    }
    assert mails["en@example.com"].subject == f"Please confirm your sign-up with {tenant.name}"
    with translation.override("de"):
        german = gettext("Please confirm your sign-up with %(sender)s") % {"sender": tenant.name}
    assert mails["neu-de@example.com"].subject == german
    assert "/f/confirm/" in mails["en@example.com"].text_body
    assert "/f/confirm/" in mails["en@example.com"].html_body
    # A language the form does not offer falls back to its first one.
    only_en = make_form(tenant, name="Englisch", languages=["en"])
    assert (
        '<html lang="en">' in Client().get(f"/f/{only_en.public_key}/?language=de").content.decode()
    )


# --- API --------------------------------------------------------------------------------------


def test_api_lists_and_creates_signup_forms(world):
    key = world.api_key(world.carl, world.kunde1)
    auth = {"HTTP_AUTHORIZATION": f"Bearer {key}"}
    newsletter = make_list(world.kunde1)
    foreign = make_list(world.kunde2, "Fremd")
    url = f"/api/v1/tenants/{world.kunde1.pk}/signup-forms"
    body = {
        "name": "API-Formular",
        "list_id": newsletter.pk,
        "consent_text": CONSENT,
        "languages": ["de"],
    }
    created = Client().post(url, body, content_type="application/json", **auth)
    assert created.status_code == 201, created.content
    data = created.json()
    assert data["list_id"] == newsletter.pk and data["languages"] == ["de"]
    assert data["url"].endswith(f"/f/{data['public_key']}/")
    assert data["pending"] == 0
    refused = Client().post(
        url, {**body, "name": "X", "list_id": foreign.pk}, content_type="application/json", **auth
    )
    assert refused.status_code == 422
    assert "list_id" in refused.json()["errors"]
    taken = Client().post(
        url, {**body, "name": "api-formular"}, content_type="application/json", **auth
    )
    assert taken.status_code == 409
    sign_up(Client(), SignupForm(public_key=data["public_key"]), email="api@example.com")
    listed = Client().get(url, **auth).json()
    assert [(f["name"], f["pending"]) for f in listed] == [("API-Formular", 1)]


def test_the_form_lists_count_sign_ups_in_one_query_for_any_number_of_forms(world):
    """The page and the API list every form with its pending and confirmed sign-ups; the
    queries do not grow with the number of forms."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    key = world.api_key(world.carl, world.kunde1)
    auth = {"HTTP_AUTHORIZATION": f"Bearer {key}"}
    api_url = f"/api/v1/tenants/{world.kunde1.pk}/signup-forms"
    page = Client()
    page.force_login(world.carl)
    page_url = f"/t/{world.kunde1.slug}/contacts/forms/"

    def queries(client, url, **extra) -> int:  # type: ignore[no-untyped-def]
        with CaptureQueriesContext(connection) as captured:
            assert client.get(url, **extra).status_code == 200
        return len(captured)

    first = make_form(world.kunde1, name="Eins")
    sign_up(Client(), first, email="a@example.com", ip="198.51.100.1")
    # Once before counting: the first use of a key or a session writes when it was used.
    queries(Client(), api_url, **auth), queries(page, page_url)
    one = (queries(Client(), api_url, **auth), queries(page, page_url))
    for number in range(2, 5):
        form = make_form(world.kunde1, name=f"Form {number}")
        for signup in range(number):
            sign_up(
                Client(),
                form,
                email=f"f{number}s{signup}@example.com",
                ip=f"198.51.{number}.{signup}",
            )
    assert (queries(Client(), api_url, **auth), queries(page, page_url)) == one
    listed = Client().get(api_url, **auth).json()
    assert sorted((f["name"], f["pending"], f["confirmed"]) for f in listed) == [
        ("Eins", 1, 0),
        ("Form 2", 2, 0),
        ("Form 3", 3, 0),
        ("Form 4", 4, 0),
    ]
