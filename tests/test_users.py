"""Setup → Users (*Benutzer*): the list with statuses, and the management of users by the
tenant's Administrators and by Customer Service of a master tenant."""

from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone
from django_otp.plugins.otp_totp.models import TOTPDevice
from tests.user_support import (
    IMMEDIATE_TASKS,
    add_member,
    last_message,
    membership,
    messages_to,
    was_delivered,
)

from mandant.accounts.models import Invitation, LoginFailure, Membership, User
from mandant.accounts.roles import Role
from mandant.accounts.selectors import tenant_inherited_user_rows, tenant_user_rows
from mandant.accounts.services import (
    membership_change_role,
    membership_deactivate,
    membership_reactivate,
    membership_remove,
    user_add,
)
from mandant.audit.models import AuditEntry
from mandant.core.actor import Actor
from mandant.core.errors import NotFound, PermissionDenied
from mandant.tenants.models import Tenant, TenantStatus

USERS = "/t/{slug}/setup/users/"
INVITE = "/t/{slug}/setup/users/invite/"
ADMIN = "/t/{slug}/setup/users/administrator/"


@pytest.fixture(autouse=True)
def _immediate_tasks(settings):  # type: ignore[no-untyped-def]
    settings.TASKS = IMMEDIATE_TASKS


def invite_form(email="anna@kunde-eins.example", role=Role.EDITOR, **extra):  # type: ignore[no-untyped-def]
    return {
        "email": email,
        "first_name": "Anna",
        "last_name": "Adler",
        "language": "en",
        "role": role,
        **extra,
    }


def add(world, tenant, email, role=Role.EDITOR, user=None):  # type: ignore[no-untyped-def]
    return user_add(
        actor=Actor(user=user or world.paula),
        tenant=tenant,
        email=email,
        first_name=email.split("@")[0].title(),
        role=role,
    )


def hand_over(tenant: Tenant) -> None:
    Tenant.objects.filter(pk=tenant.pk).update(status=TenantStatus.HANDED_OVER)
    tenant.refresh_from_db()


# --- the list ---------------------------------------------------------------------------------


def test_the_list_shows_status_second_factor_and_undeliverable(world):
    add(world, world.kunde1, "invited@kunde-eins.example")
    locked = add_member(world.kunde1, "locked@kunde-eins.example")
    LoginFailure.objects.create(
        email_key=locked.email,
        client="10.0.0.1",
        failures=3,
        last_failure_at=timezone.now(),
        blocked_until=timezone.now() + timedelta(minutes=30),
    )
    expired_block = add_member(world.kunde1, "was-locked@kunde-eins.example")
    LoginFailure.objects.create(
        email_key=expired_block.email,
        client="10.0.0.1",
        failures=3,
        last_failure_at=timezone.now() - timedelta(hours=1),
        blocked_until=timezone.now() - timedelta(minutes=1),
    )
    off = add_member(world.kunde1, "off@kunde-eins.example")
    Membership.objects.filter(user=off).update(deactivated_at=timezone.now())
    gone = add_member(world.kunde1, "gone@kunde-eins.example")
    User.objects.filter(pk=gone.pk).update(is_active=False)
    TOTPDevice.objects.create(user=world.carl, name="phone", confirmed=True)
    User.objects.filter(pk=world.carl.pk).update(
        email_undeliverable_at=timezone.now(), email_undeliverable_reason="550 no such user"
    )

    rows = {row.user.email: row for row in tenant_user_rows(tenant=world.kunde1)}
    assert rows["invited@kunde-eins.example"].status == "invited"
    assert rows["invited@kunde-eins.example"].invitation_expires_at is not None
    assert rows["locked@kunde-eins.example"].status == "locked"
    assert rows["was-locked@kunde-eins.example"].status == "active"
    assert rows["off@kunde-eins.example"].status == "deactivated"
    assert rows["gone@kunde-eins.example"].status == "deactivated"
    carl = rows["carl@kunde-eins.example"]
    assert (carl.status, carl.second_factor, carl.undeliverable) == ("active", True, True)
    assert rows["locked@kunde-eins.example"].second_factor is False

    page = world.client_for(world.carl).get(USERS.format(slug="kunde-eins")).content.decode()
    for text in (
        "invited",
        "locked",
        "deactivated",
        "undeliverable",
        "550 no such user",
        "Second factor",
        "Last login",
        "Language",
    ):
        assert text in page, text
    # Deactivating asks first, naming the person.
    assert 'data-confirm="Deactivate locked@kunde-eins.example in this tenant?' in page


def test_inherited_users_are_marked_with_their_tenant(world):
    rows = tenant_inherited_user_rows(tenant=world.filiale)
    assert [(r.user.email, r.inherited_from.name, r.role) for r in rows] == [
        ("carl@kunde-eins.example", "Kunde Eins", Role.ADMINISTRATOR),
        ("paula@alpha.example", "Agentur Alpha", Role.CUSTOMER_SERVICE),
    ]
    page = world.client_for(world.paula).get(USERS.format(slug="filiale-eins-a"))
    content = page.content.decode()
    assert "Acting here through a master tenant" in content
    assert "inherited" in content and "Agentur Alpha" in content
    # A deactivated membership in a master grants nothing, so it is not listed.
    Membership.objects.filter(user=world.carl).update(deactivated_at=timezone.now())
    assert [r.user.email for r in tenant_inherited_user_rows(tenant=world.filiale)] == [
        "paula@alpha.example"
    ]


def test_viewers_see_the_list_but_no_management(world):
    viewer = add_member(world.kunde1, "vera@kunde-eins.example", Role.VIEWER)
    client = world.client_for(viewer)
    page = client.get(USERS.format(slug="kunde-eins")).content.decode()
    assert "carl@kunde-eins.example" in page
    assert "Invite user" not in page and "Create administrator" not in page
    assert client.get(INVITE.format(slug="kunde-eins")).status_code == 403
    assert client.post(INVITE.format(slug="kunde-eins"), invite_form()).status_code == 403
    assert client.post(f"/t/kunde-eins/setup/users/{world.carl.pk}/remove/").status_code == 403
    assert Membership.objects.filter(user=world.carl).exists()


# --- who may manage ---------------------------------------------------------------------------


def test_administrators_manage_their_tenant_and_below(world):
    for tenant in (world.kunde1, world.filiale):
        add(world, tenant, f"x@{tenant.slug}.example", user=world.carl)
    with pytest.raises(NotFound):  # not carl's subtree
        add(world, world.kunde2, "x@kunde-zwei.example", user=world.carl)


def test_customer_service_manages_tenants_below_its_own_only(world):
    add(world, world.kunde1, "x@kunde-eins.example")  # inherited: fine
    with pytest.raises(PermissionDenied) as info:
        add(world, world.alpha, "colleague@alpha.example")
    assert "Customer Service cannot manage users" in info.value.message
    response = world.client_for(world.paula).get(INVITE.format(slug="agentur-alpha"))
    assert response.status_code == 403
    page = world.client_for(world.paula).get(USERS.format(slug="agentur-alpha")).content.decode()
    assert "Invite user" not in page
    # An Administrator of the partner manages the partner's own users.
    boss = add_member(world.alpha, "boss@alpha.example", Role.ADMINISTRATOR)
    add(world, world.alpha, "colleague@alpha.example", role=Role.CUSTOMER_SERVICE, user=boss)


def test_editors_may_not_invite(world):
    editor = add_member(world.kunde1, "ed@kunde-eins.example", Role.EDITOR)
    with pytest.raises(PermissionDenied):
        add(world, world.kunde1, "x@kunde-eins.example", user=editor)


# --- inviting through the web form ------------------------------------------------------------


def test_inviting_a_user_through_the_form(world, django_capture_on_commit_callbacks):
    client = world.client_for(world.carl)
    assert client.get(INVITE.format(slug="kunde-eins")).status_code == 200
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            INVITE.format(slug="kunde-eins"), invite_form(language="de", role=Role.EDITOR)
        )
    anna = User.objects.get(email="anna@kunde-eins.example")
    assert response.status_code == 302
    assert response["Location"].endswith(f"/setup/users/{anna.pk}/added/?outcome=invited")
    assert membership(world.kunde1, anna).role == Role.EDITOR
    assert membership(world.kunde1, anna).created_by == world.carl
    message = last_message(anna.email, "user.invitation")
    assert message.language == "de"
    assert was_delivered(message)
    page = client.get(response["Location"]).content.decode()
    assert "We have sent an invitation to anna@kunde-eins.example" in page
    # Invited, not yet a user with the role: the heading says so.
    assert "Invitation sent: Anna Adler as Editor" in page
    assert "is now" not in page
    entry = AuditEntry.objects.get(action="user.add")
    assert (entry.actor_id, entry.tenant_id, entry.role_source_id) == (
        world.carl.pk,
        world.kunde1.pk,
        world.kunde1.pk,
    )


def test_bad_input_is_refused_and_kept(world):
    client = world.client_for(world.carl)
    cases = [
        (invite_form(email="anna@@kunde-eins"), 422, "is not a valid e-mail address"),
        (invite_form(email=""), 422, "This field is required"),
        (invite_form(role="50"), 422, "Select a valid choice"),
        (invite_form(language="fr"), 422, "Select a valid choice"),
        (invite_form(email="Carl@KUNDE-eins.example"), 409, "already a user of Kunde Eins"),
    ]
    users_before = User.objects.count()
    for data, status, text in cases:
        response = client.post(INVITE.format(slug="kunde-eins"), data)
        assert response.status_code == status, data
        content = response.content.decode()
        assert text in content, data
        assert 'value="Adler"' in content, data
    assert User.objects.count() == users_before
    assert not messages_to("anna@kunde-eins.example")


def test_the_service_refuses_bad_values_per_field(world):
    with pytest.raises(ValidationError) as info:
        user_add(
            actor=Actor(user=world.carl),
            tenant=world.kunde1,
            email="nope",
            first_name="x" * 151,
            role=50,
            language="fr",
            method="fax",
        )
    assert set(info.value.error_dict) == {"email", "first_name", "role", "language", "method"}


def test_an_existing_person_is_added_without_a_new_password(
    world, django_capture_on_commit_callbacks
):
    before = User.objects.get(pk=world.carl.pk).password
    with django_capture_on_commit_callbacks(execute=True):
        result = add(world, world.kunde2, "  CARL@Kunde-Eins.EXAMPLE ", role=Role.EDITOR)
    assert result.outcome == "added_existing"
    assert result.user == world.carl
    carl = User.objects.get(pk=world.carl.pk)
    assert carl.password == before
    assert carl.first_name == "Carl"  # the person's own data is not overwritten
    assert membership(world.kunde2, carl).role == Role.EDITOR
    assert not Invitation.objects.filter(user=carl).exists()
    assert not messages_to(carl.email, "user.invitation")
    message = last_message(carl.email, "user.added")
    assert "Kunde Zwei" in message.subject
    assert "/t/kunde-zwei/" in message.text_body
    assert message.language == carl.language
    assert was_delivered(message)
    page = world.client_for(world.paula).get(
        f"/t/kunde-zwei/setup/users/{carl.pk}/added/?outcome=added_existing"
    )
    assert "Carl" in page.content.decode() and " is now Editor" in page.content.decode()
    assert "Invitation sent" not in page.content.decode()


def test_the_tenant_created_page_and_the_home_lead_to_create_administrator(world):
    client = world.client_for(world.paula)
    page = client.get("/t/agentur-alpha/setup/upgrades/tenants/created/kunde-zwei/")
    assert 'href="/t/kunde-zwei/setup/users/administrator/"' in page.content.decode()
    home = client.get("/t/kunde-zwei/").content.decode()
    assert 'href="/t/kunde-zwei/setup/users/administrator/"' in home
    assert 'data-testid="create-administrator"' in home
    # Once there is one, the home no longer offers it.
    assert 'data-testid="create-administrator"' not in client.get("/t/kunde-eins/").content.decode()
    assert "At least one administrator" in home
    form = client.get(ADMIN.format(slug="kunde-zwei")).content.decode()
    assert 'value="invitation"' in form and 'value="initial_password"' in form
    assert "keeping the number of responsible users" in form


# --- role, deactivation, removal --------------------------------------------------------------


def test_change_role_deactivate_reactivate_and_remove(world):
    anna = add(world, world.kunde1, "anna@kunde-eins.example").user
    client = world.client_for(world.carl)
    url = f"/t/kunde-eins/setup/users/{anna.pk}/"
    assert client.post(url + "role/", {"role": Role.VIEWER}).status_code == 302
    assert membership(world.kunde1, anna).role == Role.VIEWER
    assert client.post(url + "role/", {"role": "50"}).status_code == 422
    assert client.post(url + "deactivate/").status_code == 302
    assert membership(world.kunde1, anna).deactivated_at is not None
    assert client.post(url + "reactivate/").status_code == 302
    assert membership(world.kunde1, anna).deactivated_at is None
    assert client.post(url + "remove/").status_code == 302
    assert not Membership.objects.filter(user=anna).exists()
    assert client.post(url + "remove/").status_code == 404
    actions = list(
        AuditEntry.objects.filter(tenant_id=world.kunde1.pk)
        .values_list("action", flat=True)
        .order_by("pk")
    )
    assert actions[-4:] == [
        "membership.role",
        "membership.deactivate",
        "membership.reactivate",
        "membership.remove",
    ]


def test_a_deactivated_membership_grants_nothing(world):
    client = world.client_for(world.carl)
    membership_deactivate(actor=Actor(user=world.paula), tenant=world.kunde1, user_id=world.carl.pk)
    assert client.get("/t/kunde-eins/").status_code == 404
    membership_reactivate(actor=Actor(user=world.paula), tenant=world.kunde1, user_id=world.carl.pk)
    assert client.get("/t/kunde-eins/").status_code == 200


def test_users_of_other_tenants_are_not_found(world):
    for call in (membership_remove, membership_deactivate):
        with pytest.raises(NotFound):
            call(actor=Actor(user=world.paula), tenant=world.kunde2, user_id=world.carl.pk)
    client = world.client_for(world.paula)
    for action in ("remove", "deactivate", "reactivate", "resend", "role", "added"):
        method = client.get if action == "added" else client.post
        response = method(f"/t/kunde-zwei/setup/users/{world.carl.pk}/{action}/")
        assert response.status_code == 404, action
    assert Membership.objects.filter(user=world.carl, deactivated_at__isnull=True).exists()


# --- keep administrators few; never lose the last one -----------------------------------------


def test_more_than_three_administrators_give_a_warning_not_a_refusal(world):
    results = [
        add(world, world.kunde1, f"admin{i}@kunde-eins.example", role=Role.ADMINISTRATOR)
        for i in range(3)
    ]
    assert [bool(r.warnings) for r in results] == [False, False, True]  # carl + 3 = 4
    assert "now has 4 administrators" in results[-1].warnings[0]
    client = world.client_for(world.paula)
    assert (
        "already has 4 administrators"
        in client.get(ADMIN.format(slug="kunde-eins")).content.decode()
    )
    response = client.post(
        ADMIN.format(slug="kunde-eins"),
        {"email": "admin9@kunde-eins.example", "language": "en", "method": "invitation"},
        follow=True,
    )
    assert response.status_code == 200
    assert "now has 5 administrators" in response.content.decode()
    _m, warnings = membership_change_role(
        actor=Actor(user=world.paula),
        tenant=world.kunde2,
        user_id=add(world, world.kunde2, "z@kunde-zwei.example").user.pk,
        role=Role.ADMINISTRATOR,
    )
    assert warnings == []


def test_the_last_administrator_of_a_handed_over_tenant_stays(world):
    hand_over(world.kunde1)
    paula = Actor(user=world.paula)
    calls = [
        lambda: membership_remove(actor=paula, tenant=world.kunde1, user_id=world.carl.pk),
        lambda: membership_deactivate(actor=paula, tenant=world.kunde1, user_id=world.carl.pk),
        lambda: membership_change_role(
            actor=paula, tenant=world.kunde1, user_id=world.carl.pk, role=Role.EDITOR
        ),
    ]
    for call in calls:
        with pytest.raises(ValidationError) as info:
            call()
        assert info.value.code == "last_administrator"
        assert "last active administrator of Kunde Eins" in info.value.messages[0]
    carl_membership = membership(world.kunde1, world.carl)
    assert (carl_membership.role, carl_membership.deactivated_at) == (Role.ADMINISTRATOR, None)

    client = world.client_for(world.paula)
    response = client.post(f"/t/kunde-eins/setup/users/{world.carl.pk}/remove/")
    assert response.status_code == 409
    assert "last active administrator" in response.content.decode()
    assert Membership.objects.filter(user=world.carl, tenant=world.kunde1).exists()

    # A deactivated or invited-but-inactive second admin does not count; an active one does.
    other = add_member(world.kunde1, "second@kunde-eins.example", Role.ADMINISTRATOR)
    Membership.objects.filter(user=other).update(deactivated_at=timezone.now())
    with pytest.raises(ValidationError):
        calls[0]()
    Membership.objects.filter(user=other).update(deactivated_at=None)
    calls[2]()
    assert membership(world.kunde1, world.carl).role == Role.EDITOR


def test_before_the_hand_over_the_last_administrator_may_go(world):
    membership_remove(actor=Actor(user=world.paula), tenant=world.kunde1, user_id=world.carl.pk)
    assert not Membership.objects.filter(user=world.carl).exists()
    assert User.objects.filter(pk=world.carl.pk).exists()  # the person stays


def test_nothing_is_written_when_a_refusal_happens(world):
    hand_over(world.kunde1)
    before = AuditEntry.objects.count()
    with pytest.raises(ValidationError):
        membership_remove(actor=Actor(user=world.paula), tenant=world.kunde1, user_id=world.carl.pk)
    assert AuditEntry.objects.count() == before


def test_removal_asks_for_confirmation_in_the_page(world):
    page = world.client_for(world.carl).get(USERS.format(slug="kunde-eins")).content.decode()
    assert "data-confirm=" in page


def test_the_list_names_each_users_language_in_the_page_language(world):
    world.carl.language = "en"
    world.carl.save(update_fields=["language"])
    client = world.client_for(world.carl)
    assert "<td>English</td>" in client.get(USERS.format(slug="kunde-eins")).content.decode()
    world.carl.language = "de"
    world.carl.save(update_fields=["language"])
    german = client.get(USERS.format(slug="kunde-eins")).content.decode()
    assert "<td>Deutsch</td>" in german
    world.paula.language = "de"
    world.paula.save(update_fields=["language"])
    world.carl.language = "en"
    world.carl.save(update_fields=["language"])
    page = world.client_for(world.paula).get(USERS.format(slug="kunde-eins")).content.decode()
    assert "<td>Englisch</td>" in page


def test_mails_to_a_user_speak_the_users_language_not_the_senders(
    world, django_capture_on_commit_callbacks
):
    """A German administrator adds, invites and re-invites English-speaking people: every mail
    is in the recipient's stored language (a new person's: the one chosen in the form)."""
    world.carl.language = "de"
    world.carl.save(update_fields=["language"])
    client = world.client_for(world.carl)
    with django_capture_on_commit_callbacks(execute=True):
        client.post(INVITE.format(slug="kunde-eins"), invite_form(email=world.paula.email))
        client.post(INVITE.format(slug="kunde-eins"), invite_form(language="en"))
    added = last_message(world.paula.email, "user.added")
    assert (added.language, added.subject) == ("en", "You have been added to Kunde Eins")
    anna = User.objects.get(email="anna@kunde-eins.example")
    invited = last_message(anna.email, "user.invitation")
    assert (invited.language, invited.subject) == ("en", "Your invitation to Kunde Eins")
    with django_capture_on_commit_callbacks(execute=True):
        client.post(f"/t/kunde-eins/setup/users/{anna.pk}/resend/")
    again = last_message(anna.email, "user.invitation")
    assert again.pk != invited.pk
    assert (again.language, again.subject) == ("en", "Your invitation to Kunde Eins")
