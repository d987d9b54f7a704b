"""Signing in through the real /login/ view: redirects, throttling, language, hashing."""

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.conf import settings
from django.test import Client

from conftest import PASSWORD
from mandant.accounts.models import LoginFailure, User
from mandant.accounts.services import user_create
from mandant.config import settings as project_settings

WRONG = "wrong-password-123456"
BLOCKED_EN = "Too many failed attempts"
BLOCKED_DE = "Zu viele fehlgeschlagene Versuche"
WRONG_EN = "The e-mail address or the password is not correct."
START = datetime(2025, 3, 3, 9, 0, tzinfo=UTC)


def client(address: str = "203.0.113.7", language: str | None = None) -> Client:
    c = Client(REMOTE_ADDR=address)
    if language:
        c.cookies[settings.LANGUAGE_COOKIE_NAME] = language
    return c


def login(c: Client, email: str, password: str):
    return c.post("/login/", {"email": email, "password": password})


def signed_in(c: Client) -> bool:
    return "_auth_user_id" in c.session


def fail(c: Client, email: str, times: int) -> list[int]:
    return [login(c, email, WRONG).status_code for _ in range(times)]


@pytest.fixture
def clock():
    with time_machine.travel(START, tick=False) as traveller:
        yield traveller


def test_login_page_renders(world):
    response = client().get("/login/")
    assert response.status_code == 200
    assert b'name="email"' in response.content
    assert b'name="password"' in response.content


def test_success_redirects_to_the_users_tenant_home(world):
    c = client()
    response = login(c, "paula@alpha.example", PASSWORD)
    assert response.status_code == 302
    assert response["Location"] == "/"
    assert signed_in(c)
    assert c.get("/")["Location"] == "/t/agentur-alpha/"
    assert c.get("/t/agentur-alpha/").status_code == 200


def test_success_follows_a_safe_next_but_not_a_foreign_one(world):
    assert login_next("/t/agentur-alpha/setup/") == "/t/agentur-alpha/setup/"
    assert login_next("https://evil.example/phish") == "/"
    assert login_next("//evil.example/") == "/"


def login_next(target: str) -> str:
    response = client().post(
        "/login/", {"email": "paula@alpha.example", "password": PASSWORD, "next": target}
    )
    assert response.status_code == 302
    return response["Location"]


def test_email_is_case_insensitive(world):
    c = client()
    response = login(c, "PAULA@Alpha.example", PASSWORD)
    assert response.status_code == 302
    assert int(c.session["_auth_user_id"]) == world.paula.pk


def test_surrounding_spaces_in_the_email_are_ignored(world):
    assert login(client(), "  paula@alpha.example ", PASSWORD).status_code == 302


def test_wrong_password_is_refused_with_a_hint_about_the_limit(world):
    c = client()
    response = login(c, "paula@alpha.example", WRONG)
    assert response.status_code == 401
    assert WRONG_EN in response.content.decode()
    assert "After 3 failed attempts in a row" in response.content.decode()
    assert not signed_in(c)


def test_unknown_account_and_inactive_user_are_refused_alike(world):
    world.carl.is_active = False
    world.carl.save()
    for email in ("nobody@alpha.example", "carl@kunde-eins.example"):
        response = login(client(), email, PASSWORD)
        assert response.status_code == 401
        assert WRONG_EN in response.content.decode()


def test_empty_form_is_a_bad_request(world):
    assert client().post("/login/", {}).status_code == 400


def test_three_failures_block_the_account_from_that_client_for_30_minutes(world, clock):
    c = client("198.51.100.1")
    statuses = fail(c, "paula@alpha.example", 3)
    assert statuses[:2] == [401, 401]
    assert statuses[2] in (401, 429)

    response = login(c, "paula@alpha.example", PASSWORD)
    assert response.status_code == 429
    assert BLOCKED_EN in response.content.decode()
    assert not signed_in(c)

    clock.shift(timedelta(minutes=29))
    response = login(client("198.51.100.1"), "paula@alpha.example", PASSWORD)
    assert response.status_code == 429
    assert BLOCKED_EN in response.content.decode()

    clock.shift(timedelta(minutes=2))
    c = client("198.51.100.1")
    assert login(c, "paula@alpha.example", PASSWORD).status_code == 302
    assert signed_in(c)


def test_the_block_ignores_the_spelling_of_the_address(world, clock):
    c = client()
    fail(c, "paula@alpha.example", 1)
    fail(c, "PAULA@ALPHA.EXAMPLE", 1)
    fail(c, " Paula@Alpha.Example", 1)
    assert login(c, "pAuLa@alpha.example", PASSWORD).status_code == 429


def test_the_blocked_account_can_still_sign_in_from_another_client(world, clock):
    fail(client("198.51.100.1"), "paula@alpha.example", 3)
    assert login(client("198.51.100.1"), "paula@alpha.example", PASSWORD).status_code == 429

    other = client("192.0.2.44")
    assert login(other, "paula@alpha.example", PASSWORD).status_code == 302
    assert signed_in(other)
    # ...and that success does not lift the block for the attacker's address.
    assert login(client("198.51.100.1"), "paula@alpha.example", PASSWORD).status_code == 429


def test_failures_for_one_account_do_not_block_another(world, clock):
    c = client()
    fail(c, "paula@alpha.example", 3)
    assert login(c, "eve@fremd.example", PASSWORD).status_code == 302


def test_a_success_resets_the_counter(world, clock):
    address = "198.51.100.9"
    assert fail(client(address), "paula@alpha.example", 2) == [401, 401]
    assert login(client(address), "paula@alpha.example", PASSWORD).status_code == 302
    assert not LoginFailure.objects.exists()

    assert fail(client(address), "paula@alpha.example", 2) == [401, 401]
    assert login(client(address), "paula@alpha.example", PASSWORD).status_code == 302


def test_after_a_block_expires_counting_starts_again(world, clock):
    c = client()
    fail(c, "paula@alpha.example", 3)
    clock.shift(timedelta(minutes=31))
    assert fail(c, "paula@alpha.example", 2) == [401, 401]
    assert login(c, "paula@alpha.example", PASSWORD).status_code == 302


def test_blocked_attempts_do_not_extend_the_block(world, clock):
    c = client()
    fail(c, "paula@alpha.example", 3)
    clock.shift(timedelta(minutes=20))
    assert fail(c, "paula@alpha.example", 5) == [429] * 5
    clock.shift(timedelta(minutes=11))
    assert login(c, "paula@alpha.example", PASSWORD).status_code == 302


def test_blocked_message_is_german_with_the_german_cookie(world, clock):
    c = client(language="de")
    fail(c, "paula@alpha.example", 3)
    response = login(c, "paula@alpha.example", PASSWORD)
    assert response.status_code == 429
    body = response.content.decode()
    assert BLOCKED_DE in body
    assert BLOCKED_EN not in body


def test_login_page_is_german_with_the_german_cookie(world):
    response = client(language="de").get("/login/")
    assert "Anmelden" in response.content.decode()
    assert '<html lang="de">' in response.content.decode()


def test_success_sets_the_language_cookie_from_the_user(world):
    world.paula.language = "de"
    world.paula.save()
    response = login(client(language="en"), "paula@alpha.example", PASSWORD)
    assert response.cookies[settings.LANGUAGE_COOKIE_NAME].value == "de"


# --- password hashing ---------------------------------------------------------------------


def test_production_settings_hash_with_argon2():
    # Argon2 with parameters tuned for the deployment (accounts/hashers.py, docs/benchmarks.md).
    from django.contrib.auth.hashers import Argon2PasswordHasher
    from django.utils.module_loading import import_string

    assert issubclass(import_string(project_settings.PASSWORD_HASHERS[0]), Argon2PasswordHasher)


def test_passwords_are_stored_as_argon2_hashes(db, settings):
    settings.PASSWORD_HASHERS = project_settings.PASSWORD_HASHERS
    user = user_create(email="argon@alpha.example", password=PASSWORD)
    stored = User.objects.get(pk=user.pk).password
    assert stored.startswith("argon2$")
    assert PASSWORD not in stored
    assert login(client(), "argon@alpha.example", PASSWORD).status_code == 302


# --- language switch -----------------------------------------------------------------------


def test_language_switch_stores_the_language_on_the_user_and_sets_the_cookie(world):
    c = world.client_for(world.paula)
    response = c.post("/language/", {"language": "de", "next": "/t/agentur-alpha/"})
    assert response.status_code == 302
    assert response["Location"] == "/t/agentur-alpha/"
    assert response.cookies[settings.LANGUAGE_COOKIE_NAME].value == "de"
    world.paula.refresh_from_db()
    assert world.paula.language == "de"
    page = c.get("/t/agentur-alpha/setup/upgrades/tenants/").content.decode()
    assert "Mandantenverwaltung" in page


def test_language_switch_before_login_only_sets_the_cookie(world):
    c = client()
    response = c.post("/language/", {"language": "de"})
    assert response.status_code == 302
    assert response["Location"] == "/"
    assert response.cookies[settings.LANGUAGE_COOKIE_NAME].value == "de"
    assert set(User.objects.values_list("language", flat=True)) == {"en"}
    assert "Anmelden" in c.get("/login/").content.decode()


def test_language_switch_refuses_unknown_languages_and_foreign_redirects(world):
    c = world.client_for(world.paula)
    assert c.post("/language/", {"language": "fr"}).status_code == 400
    world.paula.refresh_from_db()
    assert world.paula.language == "en"
    response = c.post("/language/", {"language": "de", "next": "https://evil.example/"})
    assert response["Location"] == "/"
    assert c.get("/language/").status_code == 405
