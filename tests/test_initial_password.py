"""Create administrator with an initial password set by the partner.

The password follows the one policy (with the person's, the tenant's, its master's and the
partner's names as inputs), must not repeat another still unused initial password of the same
partner (checked against salted hashes only), must be changed at first sign-in, and never
travels by mail: the user gets a link that proves the address instead.
"""

from datetime import timedelta

import pytest
import time_machine
from django.core.exceptions import ValidationError
from django.test import Client
from django.utils import timezone
from tests.user_support import (
    IMMEDIATE_TASKS,
    STRONG,
    STRONG_2,
    last_message,
    messages_to,
    verification_token,
    was_delivered,
)

from mandant.accounts.models import Invitation, Membership, User
from mandant.accounts.roles import Role
from mandant.accounts.services import user_add
from mandant.accounts.verification import (
    email_verification_confirm,
    make_email_verification_token,
)
from mandant.audit.models import AuditEntry
from mandant.core.actor import Actor
from mandant.notices.models import OutboundMessage
from mandant.tenants.services import tenant_create

ANNA = "anna@kunde-eins.example"
ADMIN_URL = "/t/{slug}/setup/users/administrator/"


@pytest.fixture(autouse=True)
def _immediate_tasks(settings):  # type: ignore[no-untyped-def]
    settings.TASKS = IMMEDIATE_TASKS


def form(email=ANNA, password=STRONG, **extra):  # type: ignore[no-untyped-def]
    return {
        "email": email,
        "first_name": "Anna",
        "last_name": "Adler",
        "language": "en",
        "method": "initial_password",
        "password": password,
        **extra,
    }


def create(world, tenant, password, email=ANNA, user=None, **kw):  # type: ignore[no-untyped-def]
    return user_add(
        actor=Actor(user=user or world.paula),
        tenant=tenant,
        email=email,
        first_name="Anna",
        last_name="Adler",
        language="en",
        role=Role.ADMINISTRATOR,
        method="initial_password",
        password=password,
        **kw,
    )


def test_paula_creates_the_administrator_with_an_initial_password(
    world, django_capture_on_commit_callbacks
):
    client = world.client_for(world.paula)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(ADMIN_URL.format(slug="kunde-zwei"), form(language="de"))
    assert response.status_code == 302
    anna = User.objects.get(email=ANNA)
    assert response["Location"] == (
        f"/t/kunde-zwei/setup/users/{anna.pk}/added/?outcome=initial_password"
    )
    assert anna.check_password(STRONG)
    assert anna.must_change_password
    assert anna.initial_password_by == world.alpha  # the partner: paula's role source
    assert anna.email_verified_at is None
    assert (anna.first_name, anna.last_name, anna.language) == ("Anna", "Adler", "de")
    assert Membership.objects.get(tenant=world.kunde2, user=anna).role == Role.ADMINISTRATOR
    assert not Invitation.objects.filter(user=anna).exists()

    # The result page tells paula how to pass the password on.
    page = client.get(response["Location"]).content.decode()
    assert "separately from the username" in page
    assert "by phone" in page
    assert "never in the same e-mail" in page
    assert "must change it at the first sign-in" in page
    assert STRONG not in page

    # Anna gets a mail in her language that proves the address, without the password.
    message = last_message(ANNA, "user.verify_email")
    assert message.language == "de"
    assert was_delivered(message)
    assert "/verify-email/" in message.text_body


def test_the_password_is_stored_only_as_a_salted_hash(world, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        create(world, world.kunde1, STRONG)
    anna = User.objects.get(email=ANNA)
    assert anna.password.startswith("md5$")  # the test hasher; production: argon2
    assert STRONG not in anna.password
    for message in OutboundMessage.objects.all():
        assert STRONG not in message.subject + message.text_body + message.html_body
    for entry in AuditEntry.objects.all():
        assert STRONG not in str(entry.changes)


def test_a_weak_password_is_refused_with_the_reason_and_the_input_kept(world):
    client = world.client_for(world.paula)
    for weak, reason in (
        ("KundeZwei2026!", "name or address"),  # the tenant
        ("Agentur Alpha 2026!", "name or address"),  # the partner = master of Kunde Zwei
        ("xq12345xq12345", "too easy to guess"),
        ("short1", "too short"),
    ):
        response = client.post(ADMIN_URL.format(slug="kunde-zwei"), form(password=weak))
        assert response.status_code == 422, weak
        content = response.content.decode()
        assert reason in content, weak
        assert 'value="anna@kunde-eins.example"' in content
        assert 'value="Adler"' in content
        assert weak not in content  # a refused password is not kept
    assert not User.objects.filter(email=ANNA).exists()
    assert not OutboundMessage.objects.exists()


def test_a_bad_address_and_a_weak_password_are_both_named_in_one_round(world):
    client = world.client_for(world.paula)
    response = client.post(
        ADMIN_URL.format(slug="kunde-zwei"), form(email="anna@", password="short1")
    )
    assert response.status_code == 422
    content = response.content.decode()
    assert "too short" in content and "valid e-mail address" in content
    missing = client.post(ADMIN_URL.format(slug="kunde-zwei"), form(email="anna@", password=""))
    assert "Enter the initial password" in missing.content.decode()
    assert not User.objects.filter(email__startswith="anna@").exists()


def test_the_filiale_master_name_is_an_input_too(world):
    with pytest.raises(ValidationError) as info:
        create(world, world.filiale, "Kunde Eins Filiale 2026")
    assert "password" in info.value.error_dict


def test_reuse_across_tenants_of_the_same_partner_is_refused(
    world, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        create(world, world.kunde1, STRONG)
    with pytest.raises(ValidationError) as info:
        create(world, world.kunde2, STRONG, email="bert@kunde-zwei.example")
    assert info.value.error_dict["password"][0].code == "password_reused"
    assert not User.objects.filter(email="bert@kunde-zwei.example").exists()
    # A different password is fine.
    create(world, world.kunde2, STRONG_2, email="bert@kunde-zwei.example")

    # The web form says why.
    response = world.client_for(world.paula).post(
        ADMIN_URL.format(slug="filiale-eins-a"), form(email="cleo@filiale.example")
    )
    assert response.status_code == 422
    assert "already given this initial password to another user" in response.content.decode()


def test_reuse_by_a_different_partner_is_allowed(world, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        create(world, world.kunde1, STRONG)
    fremdkunde = tenant_create(
        actor=Actor(user=world.eve),
        name="Fremdkunde",
        type="STANDARD",
        version="BASIC",
        master=world.fremd,
    )
    result = create(world, fremdkunde, STRONG, email="dora@fremdkunde.example", user=world.eve)
    assert result.user.initial_password_by == world.fremd


def test_once_changed_the_password_no_longer_blocks_reuse(world):
    create(world, world.kunde1, STRONG)
    User.objects.filter(email=ANNA).update(must_change_password=False, initial_password_by=None)
    create(world, world.kunde2, STRONG, email="bert@kunde-zwei.example")


def test_operators_initial_passwords_count_for_the_partner(world):
    result = create(world, world.filiale, STRONG, user=world.olga)
    assert result.user.initial_password_by == world.alpha
    with pytest.raises(ValidationError):
        create(world, world.kunde2, STRONG, email="bert@kunde-zwei.example")


def test_an_existing_user_keeps_their_password(world, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        result = user_add(
            actor=Actor(user=world.paula),
            tenant=world.kunde2,
            email="CARL@Kunde-Eins.example",
            role=Role.ADMINISTRATOR,
            method="initial_password",
            password=STRONG,
        )
    assert result.outcome == "added_existing"
    carl = User.objects.get(pk=world.carl.pk)
    assert not carl.check_password(STRONG)
    assert not carl.must_change_password
    assert last_message(carl.email, "user.added")


def test_a_password_with_the_invitation_method_or_none_with_initial_password_is_refused(world):
    with pytest.raises(ValidationError) as info:
        user_add(
            actor=Actor(user=world.paula),
            tenant=world.kunde2,
            email=ANNA,
            role=Role.ADMINISTRATOR,
            method="invitation",
            password=STRONG,
        )
    assert "password" in info.value.error_dict
    with pytest.raises(ValidationError) as info:
        user_add(
            actor=Actor(user=world.paula),
            tenant=world.kunde2,
            email=ANNA,
            role=Role.ADMINISTRATOR,
            method="initial_password",
            password="",
        )
    assert "password" in info.value.error_dict
    assert not User.objects.filter(email=ANNA).exists()


# --- the address confirmation link ------------------------------------------------------------


def test_the_link_confirms_the_address_on_post(world, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        create(world, world.kunde1, STRONG)
    token = verification_token(ANNA)
    client = Client()
    page = client.get(f"/verify-email/{token}/")
    assert page.status_code == 200
    assert page["Referrer-Policy"] == "same-origin"
    assert User.objects.get(email=ANNA).email_verified_at is None  # GET changes nothing
    response = client.post(f"/verify-email/{token}/")
    assert response.status_code == 200
    assert "is confirmed" in response.content.decode()
    anna = User.objects.get(email=ANNA)
    assert anna.email_verified_at is not None
    # Idempotent.
    assert client.post(f"/verify-email/{token}/").status_code == 200
    assert User.objects.get(email=ANNA).email_verified_at == anna.email_verified_at
    assert AuditEntry.objects.filter(action="user.email_verified", actor=anna).count() == 1


def test_bad_expired_or_stale_confirmation_links(world):
    create(world, world.kunde1, STRONG)
    anna = User.objects.get(email=ANNA)
    start = timezone.now()
    with time_machine.travel(start, tick=False):
        token = make_email_verification_token(anna)
    assert Client().post(f"/verify-email/{token[:-2]}xx/").status_code == 404
    with time_machine.travel(start + timedelta(days=8), tick=False):
        response = Client().post(f"/verify-email/{token}/")
        assert response.status_code == 410
        assert "expired" in response.content.decode()
    # A token of another purpose (signed with another salt) is refused.
    from django.core import signing

    other = signing.dumps({"u": anna.pk, "e": anna.email}, salt="mandant.email-change")
    assert Client().post(f"/verify-email/{other}/").status_code == 404
    # After an address change, older links confirm nothing.
    with time_machine.travel(start, tick=False):
        token = make_email_verification_token(anna)
    User.objects.filter(pk=anna.pk).update(email="anna.neu@kunde-eins.example")
    with pytest.raises(ValidationError):
        email_verification_confirm(token)
    assert User.objects.get(pk=anna.pk).email_verified_at is None


def test_resend_sends_the_confirmation_link_again(world, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        create(world, world.kunde1, STRONG)
    anna = User.objects.get(email=ANNA)
    client = world.client_for(world.paula)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(f"/t/kunde-eins/setup/users/{anna.pk}/resend/")
    assert response.status_code == 302
    assert len(messages_to(ANNA, "user.verify_email")) == 2
    User.objects.filter(pk=anna.pk).update(email_verified_at=timezone.now())
    response = client.post(f"/t/kunde-eins/setup/users/{anna.pk}/resend/")
    assert response.status_code == 409
    assert "nothing to send again" in response.content.decode()
