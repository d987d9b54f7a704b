"""Invitations: a random single-use link (only its SHA-256 stored), valid 72 hours, that lets
the invited person set their own password and proves their address on the way."""

import hashlib
from datetime import timedelta

import pytest
import time_machine
from django.contrib.auth.tokens import default_token_generator
from django.test import Client
from django.utils import timezone
from tests.user_support import (
    IMMEDIATE_TASKS,
    STRONG,
    invitation_token,
    last_message,
    messages_to,
    was_delivered,
)

from mandant.accounts.models import Invitation, Membership, User
from mandant.accounts.roles import Role
from mandant.accounts.services import user_add, user_resend
from mandant.audit.models import AuditEntry
from mandant.core.actor import Actor

ANNA = "anna@kunde-eins.example"


@pytest.fixture(autouse=True)
def _immediate_tasks(settings):  # type: ignore[no-untyped-def]
    settings.TASKS = IMMEDIATE_TASKS


def invite(
    world,
    django_capture_on_commit_callbacks,
    *,
    email=ANNA,
    language="en",
    role=Role.ADMINISTRATOR,
    tenant=None,
    actor_user=None,
):  # type: ignore[no-untyped-def]
    with django_capture_on_commit_callbacks(execute=True):
        return user_add(
            actor=Actor(user=actor_user or world.paula),
            tenant=tenant or world.kunde1,
            email=email,
            first_name="Anna",
            last_name="Adler",
            language=language,
            role=role,
        )


def accept_url(token: str) -> str:
    return f"/invitation/{token}/"


def test_an_invitation_creates_a_user_without_password_and_mails_a_link(
    world, django_capture_on_commit_callbacks
):
    result = invite(world, django_capture_on_commit_callbacks)
    assert result.outcome == "invited"
    anna = User.objects.get(email=ANNA)
    assert not anna.has_usable_password()
    assert anna.email_verified_at is None
    assert Membership.objects.get(tenant=world.kunde1, user=anna).role == Role.ADMINISTRATOR

    message = last_message(ANNA, "user.invitation")
    assert message.language == "en"
    assert message.tenant_id == world.kunde1.pk
    assert "Kunde Eins" in message.subject
    assert "Kunde Eins" in message.text_body
    assert ANNA in message.text_body
    assert was_delivered(message)

    token = invitation_token(ANNA)
    assert len(token) >= 43  # secrets.token_urlsafe(32)
    invitation = Invitation.objects.get(user=anna)
    # Only the SHA-256 of the token is stored, never the token.
    assert invitation.token_hash == hashlib.sha256(token.encode()).hexdigest()
    assert not Invitation.objects.filter(token_hash=token).exists()
    assert abs(invitation.expires_at - invitation.created_at - timedelta(hours=72)) < timedelta(
        seconds=1
    )
    assert invitation.created_by == world.paula


def test_the_mail_speaks_the_invitees_language(world, django_capture_on_commit_callbacks):
    invite(world, django_capture_on_commit_callbacks, language="de")
    message = last_message(ANNA, "user.invitation")
    assert message.language == "de"
    # German text (needs the lead's merge of /tmp/tr/users.json into the catalogue).
    assert "Einladung" in message.subject


def test_the_page_shows_tenant_and_address_and_does_not_use_the_link(
    world, django_capture_on_commit_callbacks
):
    invite(world, django_capture_on_commit_callbacks)
    token = invitation_token(ANNA)
    for _ in range(2):  # mail scanners open links: GET uses nothing up
        response = Client().get(accept_url(token))
        assert response.status_code == 200
        content = response.content.decode()
        assert "Kunde Eins" in content
        assert ANNA in content
        assert response["Referrer-Policy"] == "same-origin"
        assert "no-cache" in response["Cache-Control"] or "max-age=0" in response["Cache-Control"]
    assert Invitation.objects.get(user__email=ANNA).used_at is None


def test_accepting_sets_the_password_proves_the_address_and_signs_in(
    world, django_capture_on_commit_callbacks
):
    invite(world, django_capture_on_commit_callbacks)
    token = invitation_token(ANNA)
    client = Client()
    response = client.post(accept_url(token), {"password": STRONG, "password_repeat": STRONG})
    assert response.status_code == 302
    assert response["Location"] == "/t/kunde-eins/"
    anna = User.objects.get(email=ANNA)
    assert anna.check_password(STRONG)
    assert anna.email_verified_at is not None
    assert not anna.must_change_password
    invitation = Invitation.objects.get(user=anna)
    assert invitation.used_at is not None
    # Signed in: the tenant home answers, as Administrator of Kunde Eins.
    home = client.get("/t/kunde-eins/")
    assert home.status_code == 200
    assert int(client.session["_auth_user_id"]) == anna.pk
    assert (
        AuditEntry.objects.filter(
            action="invitation.accept", actor=anna, tenant_id=world.kunde1.pk
        ).count()
        == 1
    )


def test_the_link_works_once(world, django_capture_on_commit_callbacks):
    invite(world, django_capture_on_commit_callbacks)
    token = invitation_token(ANNA)
    assert (
        Client()
        .post(accept_url(token), {"password": STRONG, "password_repeat": STRONG})
        .status_code
        == 302
    )
    for method in ("get", "post"):
        response = getattr(Client(), method)(
            accept_url(token),
            {
                "password": "Another fine passphrase 99",
                "password_repeat": "Another fine passphrase 99",
            },
        )
        assert response.status_code == 410
        assert "already been used" in response.content.decode()
    assert User.objects.get(email=ANNA).check_password(STRONG)


def test_the_link_expires_after_72_hours(world, django_capture_on_commit_callbacks):
    start = timezone.now()
    with time_machine.travel(start, tick=False):
        invite(world, django_capture_on_commit_callbacks)
    token = invitation_token(ANNA)
    with time_machine.travel(start + timedelta(hours=71, minutes=59), tick=False):
        assert Client().get(accept_url(token)).status_code == 200
    with time_machine.travel(start + timedelta(hours=72, seconds=1), tick=False):
        response = Client().get(accept_url(token))
        assert response.status_code == 410
        assert "expired" in response.content.decode()
        post = Client().post(accept_url(token), {"password": STRONG, "password_repeat": STRONG})
        assert post.status_code == 410
    assert not User.objects.get(email=ANNA).has_usable_password()


def test_unknown_tokens_are_404(world, django_capture_on_commit_callbacks):
    invite(world, django_capture_on_commit_callbacks)
    token = invitation_token(ANNA)
    for bad in ("nonsense", token[:-1], token + "x", "x" * 300):
        response = Client().get(accept_url(bad))
        assert response.status_code == 404, bad
        assert "not valid" in response.content.decode()


def test_resending_revokes_the_older_link(world, django_capture_on_commit_callbacks):
    invite(world, django_capture_on_commit_callbacks)
    first = invitation_token(ANNA)
    anna = User.objects.get(email=ANNA)
    with django_capture_on_commit_callbacks(execute=True):
        assert (
            user_resend(actor=Actor(user=world.paula), tenant=world.kunde1, user_id=anna.pk)
            == "invitation"
        )
    second = invitation_token(ANNA)
    assert first != second
    assert len(messages_to(ANNA, "user.invitation")) == 2
    response = Client().get(accept_url(first))
    assert response.status_code == 410
    assert "replaced by a newer one" in response.content.decode()
    assert Client().get(accept_url(second)).status_code == 200
    assert Invitation.objects.filter(user=anna, revoked_at__isnull=True).count() == 1


def test_a_password_reset_token_is_no_invitation_and_vice_versa(
    world, django_capture_on_commit_callbacks
):
    invite(world, django_capture_on_commit_callbacks)
    anna = User.objects.get(email=ANNA)
    token = invitation_token(ANNA)
    reset_token = default_token_generator.make_token(anna)
    assert default_token_generator.check_token(anna, reset_token)  # a valid reset token …
    response = Client().post(
        accept_url(reset_token), {"password": STRONG, "password_repeat": STRONG}
    )
    assert response.status_code == 404  # … is no invitation
    assert not default_token_generator.check_token(anna, token)  # and the other way round
    assert not User.objects.get(email=ANNA).has_usable_password()


def test_a_weak_or_mismatched_password_is_refused_and_the_link_stays_usable(
    world, django_capture_on_commit_callbacks
):
    invite(world, django_capture_on_commit_callbacks)
    token = invitation_token(ANNA)
    client = Client()
    response = client.post(accept_url(token), {"password": STRONG, "password_repeat": STRONG[:-1]})
    assert response.status_code == 422
    assert "not the same" in response.content.decode()
    # The tenant's and the person's names are inputs of the policy.
    for weak, reason in (
        ("KundeEins2026!", "name or address"),
        ("Anna Adler 1985", "name or address"),
        ("short", "too short"),
    ):
        response = client.post(accept_url(token), {"password": weak, "password_repeat": weak})
        assert response.status_code == 422, weak
        assert reason in response.content.decode(), weak
    anna = User.objects.get(email=ANNA)
    assert not anna.has_usable_password()
    assert Invitation.objects.get(user=anna).used_at is None
    assert "_auth_user_id" not in client.session
    ok = client.post(accept_url(token), {"password": STRONG, "password_repeat": STRONG})
    assert ok.status_code == 302


def test_removing_or_deactivating_the_user_revokes_the_link(
    world, django_capture_on_commit_callbacks
):
    from mandant.accounts.services import membership_deactivate, membership_remove

    invite(world, django_capture_on_commit_callbacks)
    token = invitation_token(ANNA)
    anna = User.objects.get(email=ANNA)
    membership_deactivate(actor=Actor(user=world.paula), tenant=world.kunde1, user_id=anna.pk)
    assert Client().get(accept_url(token)).status_code == 410
    invite(world, django_capture_on_commit_callbacks, email="bert@kunde-eins.example")
    bert_token = invitation_token("bert@kunde-eins.example")
    bert = User.objects.get(email="bert@kunde-eins.example")
    membership_remove(actor=Actor(user=world.paula), tenant=world.kunde1, user_id=bert.pk)
    assert Client().get(accept_url(bert_token)).status_code == 410


def test_accepting_while_signed_in_as_someone_else_switches_the_session(
    world, django_capture_on_commit_callbacks
):
    invite(world, django_capture_on_commit_callbacks)
    token = invitation_token(ANNA)
    client = world.client_for(world.paula)
    page = client.get(accept_url(token)).content.decode()
    assert "You are signed in as paula@alpha.example" in page
    client.post(accept_url(token), {"password": STRONG, "password_repeat": STRONG})
    assert int(client.session["_auth_user_id"]) == User.objects.get(email=ANNA).pk


def test_an_uninvited_existing_user_without_password_is_invited_again_elsewhere(
    world, django_capture_on_commit_callbacks
):
    """Invited to two tenants before accepting: one acceptance fulfils both invitations."""
    invite(world, django_capture_on_commit_callbacks)
    invite(world, django_capture_on_commit_callbacks, tenant=world.kunde2, role=Role.EDITOR)
    assert User.objects.filter(email=ANNA).count() == 1
    assert len(messages_to(ANNA, "user.invitation")) == 2
    assert not messages_to(ANNA, "user.added")
    token = invitation_token(ANNA)  # the newer one: Kunde Zwei
    response = Client().post(accept_url(token), {"password": STRONG, "password_repeat": STRONG})
    assert response["Location"] == "/t/kunde-zwei/"
    assert not Invitation.objects.filter(user__email=ANNA, used_at__isnull=True).exists()
