"""Password reset by e-mail link, changing the password, and the forced change of an initial
password (must_change_password)."""

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.conf import settings
from django.core.exceptions import ValidationError
from django.test import Client
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode

from account_helpers import (
    OTHER_STRONG,
    STRONG,
    link_path,
    mails,
    password_step,
    signed_in,
    without_csrf,
)
from conftest import PASSWORD
from mandant.accounts import security
from mandant.accounts.models import LoginFailure, User
from mandant.accounts.verification import email_verification_confirm
from mandant.audit.models import AuditEntry

START = datetime(2025, 3, 3, 9, 0, tzinfo=UTC)
SAME_ANSWER = "If an account with the address"


@pytest.fixture
def clock():
    with time_machine.travel(START, tick=False) as traveller:
        yield traveller


def request_reset(email: str, client: Client | None = None):  # type: ignore[no-untyped-def]
    return (client or Client()).post("/account/password-reset/", {"email": email})


def reset_link(world, user: User) -> str:  # type: ignore[no-untyped-def]
    assert request_reset(user.email).status_code == 200
    return link_path(mails("password_reset", to=user.email)[-1])


def set_password(path: str, password: str, again: str | None = None):  # type: ignore[no-untyped-def]
    return Client().post(
        path, {"new_password": password, "new_password_again": password if again is None else again}
    )


# --- asking for a link ----------------------------------------------------------------------


def test_the_form_is_reachable_from_the_login_page(db):
    assert "/account/password-reset/" in Client().get("/login/").content.decode()
    response = Client().get("/account/password-reset/")
    assert response.status_code == 200
    assert 'name="email"' in response.content.decode()


def test_an_existing_address_gets_a_mail_with_a_link(world):
    response = request_reset("Paula@Alpha.example ")
    assert response.status_code == 200
    assert SAME_ANSWER in response.content.decode()
    [mail] = mails("password_reset")
    assert mail.to_email == "paula@alpha.example"
    assert mail.to_user == world.paula
    assert "reset the password" in mail.text_body
    assert link_path(mail).startswith("/account/password-reset/")
    assert link_path(mail) in mail.html_body


def test_the_mail_is_in_the_users_language(world):
    world.carl.language = "de"
    world.carl.save()
    request_reset("carl@kunde-eins.example")
    [mail] = mails("password_reset")
    assert mail.language == "de"


def test_the_mail_follows_the_stored_language_not_the_requesting_browser(world):
    german = Client()
    german.cookies[settings.LANGUAGE_COOKIE_NAME] = "de"
    assert (
        "Sieh in Deinem Posteingang nach"
        in request_reset(world.carl.email, german).content.decode()
    )
    [mail] = mails("password_reset")
    assert (mail.language, mail.subject) == ("en", "Reset your Mandant password")
    assert "reset the password" in mail.text_body
    world.paula.language = "de"
    world.paula.save(update_fields=["language"])
    english = Client()
    english.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    request_reset(world.paula.email, english)
    mail = mails("password_reset", to=world.paula.email)[-1]
    assert mail.language == "de" and "Passwort" in mail.subject


def test_unknown_and_inactive_addresses_get_the_same_answer_and_no_mail(world):
    world.carl.is_active = False
    world.carl.save()
    known = request_reset("paula@alpha.example")
    for email in ("nobody@alpha.example", "carl@kunde-eins.example"):
        response = request_reset(email)
        assert response.status_code == known.status_code == 200
        assert without_csrf(response.content.decode()).replace(email, "ADDRESS") == (
            without_csrf(known.content.decode()).replace("paula@alpha.example", "ADDRESS")
        )
    assert [m.to_email for m in mails("password_reset")] == ["paula@alpha.example"]


def test_an_empty_form_is_refused_with_a_message(db):
    response = Client().post("/account/password-reset/", {"email": ""})
    assert response.status_code == 422
    assert "Please enter the e-mail address of your account." in response.content.decode()


def test_mails_per_account_are_limited_but_the_answer_stays_the_same(world, clock):
    for _ in range(5):
        response = request_reset("paula@alpha.example")
        assert response.status_code == 200
        assert SAME_ANSWER in response.content.decode()
    assert len(mails("password_reset")) == security.RESET_MAILS_PER_ACCOUNT_PER_HOUR
    clock.shift(timedelta(minutes=61))
    request_reset("paula@alpha.example")
    assert len(mails("password_reset")) == security.RESET_MAILS_PER_ACCOUNT_PER_HOUR + 1


def test_requests_per_client_are_limited(world, clock):
    client = Client(REMOTE_ADDR="198.51.100.5")
    for i in range(security.RESET_REQUESTS_PER_CLIENT_PER_HOUR):
        assert request_reset(f"probe{i}@alpha.example", client).status_code == 200
    response = request_reset("paula@alpha.example", client)
    assert response.status_code == 429
    assert "Too many requests from your network" in response.content.decode()
    assert mails("password_reset") == []
    # Another client is not affected; an hour later this one may ask again.
    assert request_reset("paula@alpha.example", Client(REMOTE_ADDR="192.0.2.9")).status_code == 200
    clock.shift(timedelta(minutes=61))
    assert request_reset("paula@alpha.example", client).status_code == 200


# --- following the link ---------------------------------------------------------------------


def test_the_link_sets_a_new_password_once(world):
    path = reset_link(world, world.paula)
    page = Client().get(path)
    assert page.status_code == 200
    assert "paula@alpha.example" in page.content.decode()

    response = set_password(path, STRONG)
    assert response.status_code == 302
    assert response["Location"] == "/login/"
    world.paula.refresh_from_db()
    assert world.paula.check_password(STRONG)
    assert AuditEntry.objects.filter(action="user.password_reset", actor=world.paula).exists()

    # Django's token covers the password hash: once the password changed, the link is dead.
    assert Client().get(path).status_code == 404
    again = set_password(path, OTHER_STRONG)
    assert again.status_code == 404
    assert "This link is no longer valid" in again.content.decode()
    world.paula.refresh_from_db()
    assert world.paula.check_password(STRONG)


def test_after_a_reset_the_new_password_signs_in_and_the_old_does_not(world):
    set_password(reset_link(world, world.paula), STRONG)
    assert password_step(Client(), "paula@alpha.example", PASSWORD).status_code == 401
    client = Client()
    assert password_step(client, "paula@alpha.example", STRONG).status_code == 302
    assert signed_in(client)


def test_a_reset_does_not_sign_in(world):
    client = Client()
    path = reset_link(world, world.paula)
    client.post(path, {"new_password": STRONG, "new_password_again": STRONG})
    assert not signed_in(client)


def test_a_weak_or_mismatched_new_password_is_refused_and_the_link_stays_valid(world):
    path = reset_link(world, world.paula)
    weak = set_password(path, "xq1234567890")
    assert weak.status_code == 422
    assert "too easy to guess" in weak.content.decode()
    mismatch = set_password(path, STRONG, OTHER_STRONG)
    assert mismatch.status_code == 422
    assert "The two new passwords are not the same" in mismatch.content.decode()
    world.paula.refresh_from_db()
    assert world.paula.check_password(PASSWORD)
    assert set_password(path, STRONG).status_code == 302


def test_the_link_expires(world, clock, settings):
    path = reset_link(world, world.paula)
    clock.shift(timedelta(seconds=settings.PASSWORD_RESET_TIMEOUT + 1))
    assert Client().get(path).status_code == 404
    assert set_password(path, STRONG).status_code == 404


def test_the_link_dies_when_the_password_changes_another_way(world):
    path = reset_link(world, world.paula)
    world.client_for(world.paula).post(
        "/account/password/",
        {"current_password": PASSWORD, "new_password": STRONG, "new_password_again": STRONG},
    )
    assert Client().get(path).status_code == 404


def test_another_users_id_with_my_token_is_404(world):
    path = reset_link(world, world.paula)
    token = path.rstrip("/").split("/")[-1]
    for user in (world.carl, world.eve):
        uid = urlsafe_base64_encode(force_bytes(user.pk))
        forged = f"/account/password-reset/{uid}/{token}/"
        assert Client().get(forged).status_code == 404
        assert set_password(forged, STRONG).status_code == 404
        user.refresh_from_db()
        assert user.check_password(PASSWORD)


@pytest.mark.parametrize("uid", ["", "x", "Zm9v", "MTIzNDU2Nzg5MDEyMzQ1Njc4OTA"])
def test_garbage_links_are_404_not_500(world, uid):
    assert Client().get(f"/account/password-reset/{uid or 'MQ'}/abc-def/").status_code == 404


def test_a_reset_token_is_not_an_email_verification_token(world):
    path = reset_link(world, world.paula)
    token = path.rstrip("/").split("/")[-1]
    uid = path.rstrip("/").split("/")[-2]
    for candidate in (token, f"{uid}/{token}", f"{uid}:{token}"):
        with pytest.raises(ValidationError):
            email_verification_confirm(candidate)
    assert Client().get(f"/account/email/confirm/{token}/").status_code == 404
    world.paula.refresh_from_db()
    assert world.paula.email_verified_at is None


def test_a_reset_proves_the_address_and_lifts_login_blocks(world, clock):
    blocked = Client(REMOTE_ADDR="198.51.100.1")
    for _ in range(3):
        password_step(blocked, "paula@alpha.example", "wrong-password-123")
    assert LoginFailure.objects.filter(email_key="paula@alpha.example").exists()
    set_password(reset_link(world, world.paula), STRONG)
    world.paula.refresh_from_db()
    assert world.paula.email_verified_at is not None
    assert not LoginFailure.objects.exists()
    assert password_step(blocked, "paula@alpha.example", STRONG).status_code == 302


def test_a_user_without_a_usable_password_gets_no_reset_mail(world):
    # Invited, not accepted yet: the invitation link is the way in.
    world.carl.set_unusable_password()
    world.carl.save()
    assert SAME_ANSWER in request_reset("carl@kunde-eins.example").content.decode()
    assert mails("password_reset") == []


# --- changing the password --------------------------------------------------------------------


def change(client: Client, current: str, new: str, again: str | None = None):  # type: ignore[no-untyped-def]
    return client.post(
        "/account/password/",
        {
            "current_password": current,
            "new_password": new,
            "new_password_again": new if again is None else again,
        },
    )


def test_the_change_page_needs_a_login(db):
    response = Client().get("/account/password/")
    assert response.status_code == 302
    assert response["Location"].startswith("/login/?next=/account/password/")


def test_changing_the_password(world):
    client = world.client_for(world.paula)
    other_session = world.client_for(world.paula)
    assert client.get("/account/password/").status_code == 200
    response = change(client, PASSWORD, STRONG)
    assert response.status_code == 302
    world.paula.refresh_from_db()
    assert world.paula.check_password(STRONG)
    assert AuditEntry.objects.filter(action="user.password_change", actor=world.paula).exists()
    # This session stays signed in; every other session of the user ends.
    assert client.get("/t/agentur-alpha/").status_code == 200
    assert other_session.get("/t/agentur-alpha/").status_code == 302


@pytest.mark.parametrize(
    ("current", "new", "again", "message"),
    [
        ("wrong-password-123", STRONG, None, "Your current password is not correct."),
        (PASSWORD, STRONG, OTHER_STRONG, "The two new passwords are not the same"),
        (PASSWORD, "password1234", None, "most common passwords"),
        (PASSWORD, "Paula2026!Paula", None, "contains a name or address"),
        (PASSWORD, PASSWORD, None, "must be different from the current one"),
        (PASSWORD, "", None, "This field is required."),
    ],
)
def test_refused_changes_say_why(world, current, new, again, message):
    response = change(world.client_for(world.paula), current, new, again)
    assert response.status_code == 422
    assert message in response.content.decode()
    world.paula.refresh_from_db()
    assert world.paula.check_password(PASSWORD)


def test_wrong_current_passwords_count_in_the_login_throttle(world, clock):
    client = world.client_for(world.paula)
    assert [change(client, "wrong-password-123", STRONG).status_code for _ in range(3)] == [
        422,
        422,
        429,
    ]
    response = change(client, PASSWORD, STRONG)
    assert response.status_code == 429
    assert "Too many failed attempts" in response.content.decode()
    world.paula.refresh_from_db()
    assert world.paula.check_password(PASSWORD)


# --- the forced change of an initial password -------------------------------------------


@pytest.fixture
def initial(world):  # type: ignore[no-untyped-def]
    world.carl.must_change_password = True
    world.carl.initial_password_by = world.alpha
    world.carl.save()
    return world


def test_an_initial_password_leads_straight_to_the_change_page(initial):
    client = Client()
    response = password_step(client, "carl@kunde-eins.example", PASSWORD, next="/t/kunde-eins/")
    assert response.status_code == 302
    assert response["Location"] == "/account/password/"
    page = client.get("/account/password/")
    assert "Your password was set by someone else" in page.content.decode()


def test_nothing_else_is_usable_until_the_password_is_changed(initial):
    client = Client()
    password_step(client, "carl@kunde-eins.example", PASSWORD)
    for url in (
        "/",
        "/t/kunde-eins/",
        "/tenants/",
        "/account/",
        "/account/two-factor/",
        "/account/email/",
        "/t/kunde-eins/setup/users/",
    ):
        response = client.get(url)
        assert response.status_code == 302, url
        assert response["Location"] == "/account/password/", url
    response = client.post("/t/kunde-eins/setup/api-keys/", {"name": "sneaky"})
    assert response["Location"] == "/account/password/"
    # Switching the language and signing out stay possible.
    assert client.post("/language/", {"language": "de"})["Location"] == "/"
    assert client.post("/logout/").status_code == 302
    assert not signed_in(client)


def test_changing_the_initial_password_frees_the_user(initial):
    world = initial
    client = Client()
    password_step(client, "carl@kunde-eins.example", PASSWORD)
    response = change(client, PASSWORD, STRONG)
    assert response.status_code == 302
    world.carl.refresh_from_db()
    assert world.carl.must_change_password is False
    assert world.carl.initial_password_by is None
    assert client.get("/t/kunde-eins/").status_code == 200
    entry = AuditEntry.objects.get(action="user.password_change", actor=world.carl)
    assert entry.changes == {"initial_password_replaced": True}


def test_a_reset_also_replaces_an_initial_password(initial):
    world = initial
    set_password(reset_link(world, world.carl), STRONG)
    world.carl.refresh_from_db()
    assert world.carl.must_change_password is False
    assert world.carl.initial_password_by is None
