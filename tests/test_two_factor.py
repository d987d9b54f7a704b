"""The optional second factor: TOTP set-up with a QR code, recovery codes, the second sign-in
step (throttled like the password), switching it off, and the operators' requirement for
Administrators and Customer Service."""

import re
from base64 import b32encode
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.test import Client
from django_otp import DEVICE_ID_SESSION_KEY
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from account_helpers import current_code, password_step, signed_in
from conftest import PASSWORD
from mandant.accounts.models import LoginFailure, Membership, SecuritySettings
from mandant.accounts.roles import Role
from mandant.accounts.services import membership_set, user_create
from mandant.audit.models import AuditEntry
from mandant.core.actor import Actor

START = datetime(2025, 3, 3, 9, 0, 5, tzinfo=UTC)
STEP = timedelta(seconds=30)
CODE_PATH = "/account/login/code/"


@pytest.fixture
def clock():
    with time_machine.travel(START, tick=False) as traveller:
        yield traveller


def enable(client: Client, user) -> tuple[TOTPDevice, list[str]]:  # type: ignore[no-untyped-def]
    page = client.get("/account/two-factor/")
    assert page.status_code == 200
    device = TOTPDevice.objects.get(user=user, confirmed=False)
    response = client.post("/account/two-factor/", {"code": current_code(device)})
    assert response.status_code == 200, response.content.decode()
    codes = re.findall(
        r"<li><code>([a-z2-7]{4}-[a-z2-7]{4})</code></li>", response.content.decode()
    )
    device.refresh_from_db()
    return device, codes


@pytest.fixture
def paula_2fa(world, clock):  # type: ignore[no-untyped-def]
    device, codes = enable(world.client_for(world.paula), world.paula)
    clock.shift(STEP)  # the set-up code may not be used again
    return device, codes


def sign_in_with_password(email: str = "paula@alpha.example", **extra: str) -> Client:
    client = Client(REMOTE_ADDR="203.0.113.7")
    response = password_step(client, email, PASSWORD, **extra)
    assert response.status_code == 302
    return client


def verified(client: Client) -> bool:
    return signed_in(client) and DEVICE_ID_SESSION_KEY in client.session


# --- set-up -----------------------------------------------------------------------------------


def test_setup_shows_a_qr_code_and_the_secret_and_keeps_them_on_reload(world):
    client = world.client_for(world.paula)
    first = client.get("/account/two-factor/").content.decode()
    device = TOTPDevice.objects.get(user=world.paula)
    assert not device.confirmed
    assert "<svg" in first and 'class="segno"' in first
    secret = b32encode(device.bin_key).decode()
    assert " ".join(secret[i : i + 4] for i in range(0, len(secret), 4)) in first
    assert "otpauth://" not in first  # the URL is only inside the QR code
    assert "Mandant" in device.config_url and "paula%40alpha.example" in device.config_url
    again = client.get("/account/two-factor/").content.decode()
    assert TOTPDevice.objects.filter(user=world.paula).count() == 1
    assert " ".join(secret[i : i + 4] for i in range(0, len(secret), 4)) in again


def test_a_wrong_code_does_not_switch_it_on(world, clock):
    client = world.client_for(world.paula)
    client.get("/account/two-factor/")
    device = TOTPDevice.objects.get(user=world.paula)
    wrong = f"{(int(current_code(device)) + 1) % 1000000:06d}"
    response = client.post("/account/two-factor/", {"code": wrong})
    assert response.status_code == 422
    assert "This code is not correct" in response.content.decode()
    assert "<svg" in response.content.decode()  # the QR code is still there
    device.refresh_from_db()
    assert not device.confirmed
    assert client.post("/account/two-factor/", {"code": ""}).status_code == 422


def test_the_right_code_switches_it_on_and_shows_ten_recovery_codes_once(world, clock):
    client = world.client_for(world.paula)
    device, codes = enable(client, world.paula)
    assert device.confirmed
    assert len(codes) == len(set(codes)) == 10
    stored = set(
        StaticToken.objects.filter(device__user=world.paula).values_list("token", flat=True)
    )
    assert stored == {code.replace("-", "") for code in codes}
    assert AuditEntry.objects.filter(action="user.second_factor_enable", actor=world.paula).exists()
    # This session counts as verified; the codes are not shown again.
    assert DEVICE_ID_SESSION_KEY in client.session
    page = client.get("/account/two-factor/").content.decode()
    assert "10 recovery codes left" in page
    assert not any(code in page for code in codes)
    assert 'status-ready">on<' in client.get("/account/").content.decode()


def test_a_second_setup_is_refused_once_active(world, clock):
    client = world.client_for(world.paula)
    device, _codes = enable(client, world.paula)
    clock.shift(STEP)
    response = client.post("/account/two-factor/", {"code": current_code(device)})
    assert response.status_code == 422
    assert TOTPDevice.objects.filter(user=world.paula).count() == 1


# --- signing in with a second factor ------------------------------------------------------


def test_the_password_alone_does_not_sign_in(world, paula_2fa):
    client = Client()
    response = password_step(client, "paula@alpha.example", PASSWORD)
    assert response.status_code == 302
    assert response["Location"] == CODE_PATH
    assert not signed_in(client)
    assert "paula" not in str(client.session.get("_auth_user_id", ""))
    # Pages are still closed.
    assert client.get("/t/agentur-alpha/")["Location"].startswith("/login/")
    page = client.get(CODE_PATH)
    assert page.status_code == 200
    assert 'autocomplete="one-time-code"' in page.content.decode()


def test_a_totp_code_completes_the_sign_in(world, paula_2fa, clock):
    device, _codes = paula_2fa
    client = sign_in_with_password(next="/t/agentur-alpha/setup/")
    response = client.post(CODE_PATH, {"code": current_code(device)})
    assert response.status_code == 302
    assert response["Location"] == "/t/agentur-alpha/setup/"
    assert verified(client)
    assert client.get("/t/agentur-alpha/").status_code == 200
    # The same code cannot be replayed.
    again = sign_in_with_password()
    assert again.post(CODE_PATH, {"code": current_code(device)}).status_code == 401
    clock.shift(STEP)
    assert again.post(CODE_PATH, {"code": current_code(device)}).status_code == 302


def test_a_code_used_moments_ago_says_so_and_costs_no_attempt(world, clock):
    # Set up, then sign in at once: the app still shows the code used for the set-up.
    device, _codes = enable(world.client_for(world.paula), world.paula)
    client = sign_in_with_password()
    for _ in range(4):  # more than the three failures that block
        response = client.post(CODE_PATH, {"code": current_code(device)})
        assert response.status_code == 401
        assert "This code has been used already" in response.content.decode()
        clock.shift(timedelta(seconds=2))
    assert not LoginFailure.objects.exists()
    clock.shift(STEP)
    assert client.post(CODE_PATH, {"code": current_code(device)}).status_code == 302


def test_the_code_may_have_spaces(world, paula_2fa):
    device, _codes = paula_2fa
    client = sign_in_with_password()
    code = current_code(device)
    assert client.post(CODE_PATH, {"code": f" {code[:3]} {code[3:]} "}).status_code == 302
    assert verified(client)


def test_a_retry_within_a_second_is_asked_to_wait_not_counted(world, paula_2fa, clock):
    device, _codes = paula_2fa
    client = sign_in_with_password()
    assert client.post(CODE_PATH, {"code": "000000"}).status_code == 401
    # django-otp's own back-off (1 s after the first failure) refuses to check at all …
    response = client.post(CODE_PATH, {"code": current_code(device)})
    assert response.status_code == 429
    assert "Please wait a few seconds" in response.content.decode()
    # … and that is not a failure in our throttle: a second later the code works.
    clock.shift(timedelta(seconds=2))
    assert client.post(CODE_PATH, {"code": current_code(device)}).status_code == 302


def test_a_recovery_code_works_once(world, paula_2fa, clock):
    _device, codes = paula_2fa
    client = sign_in_with_password()
    response = client.post(CODE_PATH, {"code": codes[0].upper()})
    assert response.status_code == 302
    assert verified(client)
    assert "9 of them are left" in client.get("/account/").content.decode()
    assert StaticToken.objects.filter(device__user=world.paula).count() == 9
    assert AuditEntry.objects.filter(action="user.recovery_code_use").count() == 1

    clock.shift(timedelta(seconds=10))
    second = sign_in_with_password()
    assert second.post(CODE_PATH, {"code": codes[0]}).status_code == 401
    assert not signed_in(second)


def test_a_wrong_code_is_refused_with_a_hint(world, paula_2fa):
    client = sign_in_with_password()
    response = client.post(CODE_PATH, {"code": "000000"})
    assert response.status_code == 401
    assert "This code is not correct" in response.content.decode()
    assert "recovery codes" in response.content.decode()
    assert not signed_in(client)
    assert client.post(CODE_PATH, {"code": ""}).status_code == 400


def test_code_failures_count_in_the_login_throttle(world, paula_2fa, clock):
    device, _codes = paula_2fa
    client = sign_in_with_password()
    statuses = []
    for _ in range(3):
        statuses.append(client.post(CODE_PATH, {"code": "000000"}).status_code)
        clock.shift(timedelta(seconds=10))  # past django-otp's own short back-off
    assert statuses == [401, 401, 429]
    # The pending sign-in is dropped: the next try starts with the password again.
    assert client.get(CODE_PATH)["Location"] == "/login/"
    # Blocked for this account from this client: neither a new password step nor a code works.
    response = password_step(Client(REMOTE_ADDR="203.0.113.7"), "paula@alpha.example", PASSWORD)
    assert response.status_code == 429
    # From another network the real user still gets in.
    other = Client(REMOTE_ADDR="192.0.2.10")
    assert password_step(other, "paula@alpha.example", PASSWORD)["Location"] == CODE_PATH
    assert other.post(CODE_PATH, {"code": current_code(device)}).status_code == 302
    assert verified(other)


def test_a_right_password_does_not_reset_the_count_of_code_failures(world, paula_2fa, clock):
    """Otherwise re-entering the password would give unlimited code guesses."""
    for _ in range(2):
        client = sign_in_with_password()
        assert client.post(CODE_PATH, {"code": "000000"}).status_code == 401
        clock.shift(timedelta(seconds=10))
    client = sign_in_with_password()
    assert client.post(CODE_PATH, {"code": "000000"}).status_code == 429


def test_the_pending_sign_in_expires(world, paula_2fa, clock):
    device, _codes = paula_2fa
    client = sign_in_with_password()
    clock.shift(timedelta(minutes=11))
    response = client.post(CODE_PATH, {"code": current_code(device)})
    assert response.status_code == 302
    assert response["Location"] == "/login/"
    assert not signed_in(client)


def test_the_code_page_without_a_password_step_goes_to_login(db):
    response = Client().get(CODE_PATH)
    assert response["Location"] == "/login/"
    assert Client().post(CODE_PATH, {"code": "123456"})["Location"] == "/login/"


def test_a_password_change_in_between_cancels_the_pending_sign_in(world, paula_2fa):
    device, _codes = paula_2fa
    client = sign_in_with_password()
    world.paula.set_password("Leuchtturm hinter sieben Dünen")
    world.paula.save()
    assert client.post(CODE_PATH, {"code": current_code(device)})["Location"] == "/login/"
    assert not signed_in(client)


def test_the_admin_login_goes_through_the_product_sign_in(world, clock):
    olga = Client()
    enable(world.client_for(world.olga), world.olga)
    response = olga.get("/admin/login/?next=/admin/")
    assert response.status_code == 302
    assert response["Location"] == "/login/?next=/admin/"
    assert olga.get("/admin/login/?next=//evil.example/")["Location"] == "/login/?next=/admin/"
    # Posting credentials to the admin's login does not sign in (no way around the code).
    olga.post("/admin/login/", {"username": "olga@mandant.example", "password": PASSWORD})
    assert not signed_in(olga)


# --- new recovery codes, switching off --------------------------------------------------------


def test_new_recovery_codes_replace_the_old_ones(world, paula_2fa):
    device, codes = paula_2fa
    client = world.client_for(world.paula)
    response = client.post("/account/two-factor/recovery-codes/", {"code": current_code(device)})
    assert response.status_code == 200
    new = re.findall(r"<code>([a-z2-7]{4}-[a-z2-7]{4})</code>", response.content.decode())
    assert len(new) == 10 and not set(new) & set(codes)
    assert StaticDevice.objects.filter(user=world.paula).count() == 1
    assert client.post("/account/two-factor/recovery-codes/", {"code": "000000"}).status_code == 422


def test_switching_off_needs_password_and_code(world, paula_2fa, clock):
    device, codes = paula_2fa
    client = world.client_for(world.paula)
    url = "/account/two-factor/disable/"
    wrong_password = client.post(
        url, {"current_password": "wrong-password-123", "code": current_code(device)}
    )
    assert wrong_password.status_code == 422
    assert "Your current password is not correct." in wrong_password.content.decode()
    wrong_code = client.post(url, {"current_password": PASSWORD, "code": "000000"})
    assert wrong_code.status_code == 422
    assert TOTPDevice.objects.filter(user=world.paula, confirmed=True).exists()
    clock.shift(timedelta(seconds=10))
    response = client.post(url, {"current_password": PASSWORD, "code": codes[1]})
    assert response.status_code == 302
    assert not TOTPDevice.objects.filter(user=world.paula).exists()
    assert not StaticDevice.objects.filter(user=world.paula).exists()
    assert AuditEntry.objects.filter(action="user.second_factor_disable").exists()
    # The password alone signs in again.
    plain = Client()
    assert password_step(plain, "paula@alpha.example", PASSWORD)["Location"] == "/"
    assert signed_in(plain)


def test_switching_off_without_a_factor_just_returns(world):
    client = world.client_for(world.paula)
    response = client.post(
        "/account/two-factor/disable/", {"current_password": PASSWORD, "code": "123456"}
    )
    assert response.status_code == 302
    assert response["Location"] == "/account/two-factor/"


def test_devices_of_another_user_are_never_used(world, paula_2fa, clock):
    """Codes are checked only against the pending user's own devices."""
    device, codes = paula_2fa
    enable(world.client_for(world.eve), world.eve)
    clock.shift(STEP)
    client = sign_in_with_password("eve@fremd.example")
    assert client.post(CODE_PATH, {"code": current_code(device)}).status_code == 401
    assert client.post(CODE_PATH, {"code": codes[2]}).status_code == 401
    assert StaticToken.objects.filter(device__user=world.paula).count() == 10


# --- the operators' requirement ---------------------------------------------------------------


@pytest.fixture
def required(world):  # type: ignore[no-untyped-def]
    row = SecuritySettings.current()
    row.require_second_factor_for_managers = True
    row.save()
    return world


def test_managers_without_a_factor_are_sent_to_the_setup(required, clock):
    world = required
    client = Client()
    response = password_step(client, "paula@alpha.example", PASSWORD, next="/t/agentur-alpha/")
    assert response["Location"] == "/account/two-factor/"
    assert signed_in(client)
    page = client.get("/account/two-factor/").content.decode()
    assert "Your role (Administrator or Customer Service) requires two-factor" in page
    for url in ("/", "/t/agentur-alpha/", "/account/", "/account/password/", "/tenants/"):
        response = client.get(url)
        assert response["Location"] == "/account/two-factor/", url
    assert client.post("/language/", {"language": "de"}).status_code == 302

    device = TOTPDevice.objects.get(user=world.paula)
    assert client.post("/account/two-factor/", {"code": current_code(device)}).status_code == 200
    assert client.get("/t/agentur-alpha/").status_code == 200
    assert verified(client)


def test_administrators_are_required_too_but_editors_and_viewers_not(required):
    world = required
    assert password_step(Client(), "carl@kunde-eins.example", PASSWORD)["Location"] == (
        "/account/two-factor/"
    )
    for role in (Role.EDITOR, Role.VIEWER):
        user = user_create(email=f"role{role.value}@kunde-eins.example", password=PASSWORD)
        membership_set(actor=Actor(user=world.olga), tenant=world.kunde1, user=user, role=role)
        client = Client()
        assert password_step(client, user.email, PASSWORD)["Location"] == "/"
        assert client.get("/t/kunde-eins/").status_code == 200


def test_a_deactivated_membership_does_not_require_it(required):
    world = required
    Membership.objects.filter(user=world.carl).update(deactivated_at=START)
    assert password_step(Client(), "carl@kunde-eins.example", PASSWORD)["Location"] == "/"


def test_without_the_setting_nobody_is_required(world):
    assert password_step(Client(), "paula@alpha.example", PASSWORD)["Location"] == "/"


def test_a_required_user_with_a_factor_signs_in_normally(required, clock):
    world = required
    device, _codes = enable(world.client_for(world.paula), world.paula)
    clock.shift(STEP)
    client = sign_in_with_password(next="/t/agentur-alpha/")
    response = client.post(CODE_PATH, {"code": current_code(device)})
    assert response["Location"] == "/t/agentur-alpha/"
    assert client.get("/t/agentur-alpha/").status_code == 200


def test_switching_off_when_required_confines_again(required, clock):
    world = required
    client = world.client_for(world.paula)
    device, _codes = enable(client, world.paula)
    clock.shift(STEP)
    response = client.post(
        "/account/two-factor/disable/", {"current_password": PASSWORD, "code": current_code(device)}
    )
    assert response["Location"] == "/account/two-factor/"
    assert client.get("/t/agentur-alpha/")["Location"] == "/account/two-factor/"


def test_a_forced_password_change_comes_before_the_setup(required):
    world = required
    world.paula.must_change_password = True
    world.paula.save()
    client = Client()
    assert password_step(client, "paula@alpha.example", PASSWORD)["Location"] == (
        "/account/password/"
    )
    assert client.get("/account/two-factor/")["Location"] == "/account/password/"
    response = client.post(
        "/account/password/",
        {
            "current_password": PASSWORD,
            "new_password": "Leuchtturm hinter sieben Dünen",
            "new_password_again": "Leuchtturm hinter sieben Dünen",
        },
    )
    assert response["Location"] == "/account/two-factor/"


def test_operators_edit_the_setting_in_the_admin(world):
    client = world.client_for(world.olga)
    changelist = client.get("/admin/accounts/securitysettings/")
    assert changelist.status_code == 302
    row = SecuritySettings.current()
    assert changelist["Location"] == f"/admin/accounts/securitysettings/{row.pk}/change/"
    response = client.post(changelist["Location"], {"require_second_factor_for_managers": "on"})
    assert response.status_code == 302
    assert SecuritySettings.current().require_second_factor_for_managers
    entry = AuditEntry.objects.get(action="security_settings.change")
    assert entry.actor == world.olga
    assert entry.changes == {"require_second_factor_for_managers": True}
    assert client.get("/admin/accounts/securitysettings/add/").status_code == 403
    assert (
        world.client_for(world.paula).get("/admin/accounts/securitysettings/").status_code == 302
    )  # to the login, like every admin page for non-staff
