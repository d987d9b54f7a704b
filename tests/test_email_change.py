"""The profile page, proving the address ("valid and active"), and changing it: password again,
a link to the new address (the change happens only when it is followed), a notice to the old
one, audited."""

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.conf import settings
from django.core import signing
from django.core.exceptions import ValidationError
from django.test import Client

from account_helpers import link_path, mails, password_step, signed_in
from conftest import PASSWORD
from mandant.accounts import security
from mandant.accounts.models import User
from mandant.accounts.services import user_create
from mandant.accounts.verification import email_verification_confirm
from mandant.audit.models import AuditEntry

START = datetime(2025, 3, 3, 9, 0, tzinfo=UTC)
NEW = "paula.neu@alpha-agentur.example"


@pytest.fixture
def clock():
    with time_machine.travel(START, tick=False) as traveller:
        yield traveller


# --- profile ----------------------------------------------------------------------------------


def test_the_profile_shows_address_state_and_second_factor(world):
    client = world.client_for(world.paula)
    body = client.get("/account/").content.decode()
    assert "paula@alpha.example" in body
    assert "not verified yet" in body
    assert "Send the verification link again" in body
    assert "Two-factor authentication" in body
    assert "/account/two-factor/" in body
    assert "/account/password/" in body
    assert "/account/email/" in body
    # The address in the top bar leads here.
    assert 'href="/account/"' in client.get("/tenants/").content.decode()


def test_the_profile_needs_a_login(db):
    response = Client().get("/account/")
    assert response.status_code == 302
    assert response["Location"].startswith("/login/")


def test_a_verified_address_says_so(world):
    world.paula.email_verified_at = START
    world.paula.save()
    body = world.client_for(world.paula).get("/account/").content.decode()
    assert "verified" in body
    assert "Send the verification link again" not in body


def test_saving_name_and_language(world):
    client = world.client_for(world.paula)
    response = client.post(
        "/account/", {"first_name": " Paula ", "last_name": "Pauls", "language": "de"}
    )
    assert response.status_code == 302
    assert response.cookies[settings.LANGUAGE_COOKIE_NAME].value == "de"
    world.paula.refresh_from_db()
    assert (world.paula.first_name, world.paula.last_name, world.paula.language) == (
        "Paula",
        "Pauls",
        "de",
    )
    entry = AuditEntry.objects.get(action="user.profile_update")
    assert entry.changes == {"last_name": ["", "Pauls"], "language": ["en", "de"]}
    assert '<html lang="de">' in client.get("/account/").content.decode()


def test_an_unknown_language_is_refused_and_the_typed_name_kept(world):
    response = world.client_for(world.paula).post(
        "/account/", {"first_name": "Paulina", "last_name": "", "language": "fr"}
    )
    assert response.status_code == 422
    assert 'value="Paulina"' in response.content.decode()
    world.paula.refresh_from_db()
    assert world.paula.first_name == "Paula"


# --- verifying the current address -----------------------------------------------------------


def test_sending_the_verification_link_again(world):
    client = world.client_for(world.paula)
    response = client.post("/account/email/verify/")
    assert response.status_code == 302
    [mail] = mails("email_verify")
    assert mail.to_email == "paula@alpha.example"
    assert "please confirm that paula@alpha.example is your address" in mail.text_body
    token = link_path(mail).rstrip("/").split("/")[-1]
    assert link_path(mail).startswith("/verify-email/")
    user = email_verification_confirm(token)
    assert user.pk == world.paula.pk
    world.paula.refresh_from_db()
    assert world.paula.email_verified_at is not None
    # Verified: nothing more is sent.
    client.post("/account/email/verify/")
    assert len(mails("email_verify")) == 1


def test_verification_mails_are_limited(world, clock):
    client = world.client_for(world.paula)
    for _ in range(security.VERIFICATION_MAILS_PER_HOUR + 2):
        client.post("/account/email/verify/")
    assert len(mails("email_verify")) == security.VERIFICATION_MAILS_PER_HOUR
    response = client.post("/account/email/verify/", follow=True)
    assert "already sent several links in the last hour" in response.content.decode()


def test_sending_needs_post(world):
    assert world.client_for(world.paula).get("/account/email/verify/").status_code == 405


# --- changing the address --------------------------------------------------------------------


def request_change(world, new: str = NEW, password: str = PASSWORD):  # type: ignore[no-untyped-def]
    return world.client_for(world.paula).post(
        "/account/email/", {"new_email": new, "current_password": password}
    )


def test_a_change_sends_a_link_to_the_new_and_a_notice_to_the_old_address(world):
    response = request_change(world, "  Paula.Neu@Alpha-Agentur.example ")
    assert response.status_code == 302
    # Nothing changed yet.
    world.paula.refresh_from_db()
    assert world.paula.email == "paula@alpha.example"
    [verify] = mails("email_change_verify")
    assert verify.to_email == NEW
    assert NEW in verify.text_body and "paula@alpha.example" in verify.text_body
    assert link_path(verify).startswith("/account/email/confirm/")
    [notice] = mails("email_change_notice")
    assert notice.to_email == "paula@alpha.example"
    assert NEW in notice.text_body
    assert "/account/password-reset/" in notice.text_body
    entry = AuditEntry.objects.get(action="user.email_change_request")
    assert entry.actor == world.paula
    assert entry.changes == {"from": "paula@alpha.example", "to": NEW}


def test_following_the_link_changes_the_address_once(world):
    request_change(world)
    path = link_path(mails("email_change_verify")[0])
    page = Client().get(path)
    assert page.status_code == 200
    assert NEW in page.content.decode()
    # A GET (a mail scanner opening the link) changes nothing.
    world.paula.refresh_from_db()
    assert world.paula.email == "paula@alpha.example"

    response = Client().post(path)
    assert response.status_code == 302
    assert response["Location"] == "/login/"
    world.paula.refresh_from_db()
    assert world.paula.email == NEW
    assert world.paula.email_verified_at is not None
    assert AuditEntry.objects.get(action="user.email_change").changes == {
        "from": "paula@alpha.example",
        "to": NEW,
    }
    # Single use.
    assert Client().get(path).status_code == 404
    assert Client().post(path).status_code == 404
    # The new address signs in; the old one does not.
    assert password_step(Client(), "paula@alpha.example", PASSWORD).status_code == 401
    client = Client()
    assert password_step(client, NEW, PASSWORD).status_code == 302
    assert signed_in(client)


def test_confirming_while_signed_in_returns_to_the_profile(world):
    request_change(world)
    path = link_path(mails("email_change_verify")[0])
    client = world.client_for(world.paula)
    response = client.post(path)
    assert response["Location"] == "/account/"
    assert NEW in client.get("/account/").content.decode()


def test_a_change_clears_an_undeliverable_mark(world):
    world.paula.email_undeliverable_at = START
    world.paula.save()
    request_change(world)
    Client().post(link_path(mails("email_change_verify")[0]))
    world.paula.refresh_from_db()
    assert world.paula.email_undeliverable_at is None


@pytest.mark.parametrize(
    ("new", "password", "message"),
    [
        (NEW, "wrong-password-123", "Your current password is not correct."),
        ("paula@", PASSWORD, "is not a valid e-mail address"),
        ("", PASSWORD, "This field is required."),
        ("EVE@fremd.example", PASSWORD, "already used by another account"),
        ("PAULA@alpha.example", PASSWORD, "This is already your e-mail address."),
    ],
)
def test_refused_changes_say_why_and_keep_what_was_typed(world, new, password, message):
    response = request_change(world, new, password)
    assert response.status_code == 422
    body = response.content.decode()
    assert message in body
    if new:
        assert f'value="{new}"' in body
    assert mails("email_change_verify") == mails("email_change_notice") == []
    world.paula.refresh_from_db()
    assert world.paula.email == "paula@alpha.example"


def test_wrong_passwords_count_in_the_login_throttle(world, clock):
    statuses = [request_change(world, password="wrong-password-123").status_code for _ in range(3)]
    assert statuses == [422, 422, 429]
    assert request_change(world).status_code == 429
    assert mails("email_change_verify") == []


def test_an_address_taken_in_the_meantime_is_refused_at_confirmation(world):
    request_change(world)
    path = link_path(mails("email_change_verify")[0])
    user_create(email=NEW.upper(), password=PASSWORD)
    response = Client().post(path)
    assert response.status_code == 409
    assert "has meanwhile been taken by another account" in response.content.decode()
    world.paula.refresh_from_db()
    assert world.paula.email == "paula@alpha.example"


def test_the_link_expires_after_seven_days(world, clock):
    request_change(world)
    path = link_path(mails("email_change_verify")[0])
    clock.shift(timedelta(days=7, minutes=1))
    assert Client().get(path).status_code == 404
    assert Client().post(path).status_code == 404


def test_a_tampered_link_naming_another_user_is_404(world):
    """The route takes an id inside the token: another user's id must not work."""
    request_change(world)
    token = link_path(mails("email_change_verify")[0]).rstrip("/").split("/")[-1]
    payload = signing.loads(token, salt=security.EMAIL_CHANGE_SALT)
    forged_payload = {**payload, "u": world.carl.pk, "o": world.carl.email}
    # Re-signed without the key (wrong salt) or edited by hand: both are refused.
    forged = [
        signing.dumps(forged_payload, salt="something-else"),
        signing.dumps(forged_payload, key="not-the-secret-key", salt=security.EMAIL_CHANGE_SALT),
        token.replace(token.split(":")[0], signing.dumps(forged_payload).split(":")[0]),
        "garbage",
    ]
    for candidate in forged:
        assert Client().get(f"/account/email/confirm/{candidate}/").status_code == 404
        assert Client().post(f"/account/email/confirm/{candidate}/").status_code == 404
    world.carl.refresh_from_db()
    assert world.carl.email == "carl@kunde-eins.example"


def test_the_change_link_is_neither_a_verification_nor_a_reset_link(world):
    request_change(world)
    token = link_path(mails("email_change_verify")[0]).rstrip("/").split("/")[-1]
    with pytest.raises(ValidationError):
        email_verification_confirm(token)
    assert Client().get(f"/account/password-reset/MQ/{token}/").status_code == 404


def test_a_verification_token_is_not_a_change_link(world):
    from mandant.accounts.verification import make_email_verification_token

    token = make_email_verification_token(world.paula)
    assert Client().get(f"/account/email/confirm/{token}/").status_code == 404


def test_the_change_page_needs_a_login(db):
    response = Client().get("/account/email/")
    assert response.status_code == 302
    assert response["Location"].startswith("/login/")
    assert User.objects.count() == 0
