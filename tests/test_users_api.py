"""API v1: users of a tenant, administrators (invitation or initial password)."""

import pytest
from tests.user_support import (
    IMMEDIATE_TASKS,
    STRONG,
    Api,
    add_member,
    last_message,
    was_delivered,
)

from mandant.accounts.models import Invitation, Membership, User
from mandant.accounts.roles import Role
from mandant.tenants.models import Tenant, TenantStatus

ANNA = "anna@kunde-eins.example"


@pytest.fixture(autouse=True)
def _immediate_tasks(settings):  # type: ignore[no-untyped-def]
    settings.TASKS = IMMEDIATE_TASKS


@pytest.fixture
def api(world) -> Api:  # type: ignore[no-untyped-def]
    return Api(world.api_key(world.paula, world.alpha))


def test_list_users_with_inherited_ones(world, api):
    response = api.get(f"/tenants/{world.kunde1.pk}/users")
    assert response.status_code == 200
    body = response.json()
    [carl] = body["items"]
    assert carl["email"] == "carl@kunde-eins.example"
    assert (carl["role"], carl["role_label"], carl["status"]) == (100, "Administrator", "active")
    assert carl["email_verified"] is False and carl["email_undeliverable"] is False
    assert carl["second_factor"] is False
    assert carl["inherited_from"] is None
    [paula] = body["inherited"]
    assert paula["email"] == "paula@alpha.example"
    assert paula["inherited_from"] == {"id": world.alpha.pk, "name": "Agentur Alpha"}


def test_invite_a_user(world, api, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        response = api.post(
            f"/tenants/{world.kunde1.pk}/users",
            {
                "email": ANNA,
                "first_name": "Anna",
                "last_name": "Adler",
                "language": "de",
                "role": Role.EDITOR,
            },
        )
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["outcome"] == "invited"
    assert body["warnings"] == []
    assert body["user"]["status"] == "invited"
    assert body["user"]["role"] == Role.EDITOR
    assert body["user"]["invitation_expires_at"]
    message = last_message(ANNA, "user.invitation")
    assert message.language == "de"
    assert was_delivered(message)


def test_create_an_administrator_with_an_initial_password(
    world, api, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = api.post(
            f"/tenants/{world.kunde2.pk}/administrators",
            {
                "email": ANNA,
                "first_name": "Anna",
                "language": "en",
                "method": "initial_password",
                "password": STRONG,
            },
        )
    assert response.status_code == 201, response.content
    assert response.json()["outcome"] == "initial_password"
    assert response.json()["user"]["role"] == Role.ADMINISTRATOR
    anna = User.objects.get(email=ANNA)
    assert anna.must_change_password and anna.initial_password_by == world.alpha
    assert last_message(ANNA, "user.verify_email")
    assert STRONG not in response.content.decode()


def test_a_refused_password_is_422_with_the_reason(world, api):
    response = api.post(
        f"/tenants/{world.kunde2.pk}/administrators",
        {
            "email": ANNA,
            "method": "initial_password",
            "password": "KundeZwei2026!",
        },
    )
    assert response.status_code == 422
    [reason] = response.json()["errors"]["password"]
    assert "name or address" in reason
    api.post(
        f"/tenants/{world.kunde1.pk}/administrators",
        {
            "email": "first@kunde-eins.example",
            "method": "initial_password",
            "password": STRONG,
        },
    )
    response = api.post(
        f"/tenants/{world.kunde2.pk}/administrators",
        {
            "email": ANNA,
            "method": "initial_password",
            "password": STRONG,
        },
    )
    assert response.status_code == 422
    assert "already given this initial password" in response.json()["errors"]["password"][0]
    assert not User.objects.filter(email=ANNA).exists()


def test_validation_errors_per_field(world, api):
    response = api.post(
        f"/tenants/{world.kunde1.pk}/users",
        {
            "email": "nope",
            "language": "fr",
            "role": 50,
            "method": "pigeon",
        },
    )
    assert response.status_code == 422
    assert set(response.json()["errors"]) == {"email", "language", "role", "method"}
    response = api.post(f"/tenants/{world.kunde1.pk}/users", {"first_name": "Anna"})
    assert response.status_code == 422
    assert response.json()["errors"] == {"email": ["This field is required."]}
    response = api.post(
        f"/tenants/{world.kunde1.pk}/administrators",
        {
            "email": ANNA,
            "method": "invitation",
            "password": STRONG,
        },
    )
    assert response.status_code == 422
    assert "password" in response.json()["errors"]


def test_existing_person_and_existing_member(world, api, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        response = api.post(
            f"/tenants/{world.kunde2.pk}/users",
            {
                "email": "Carl@Kunde-Eins.example",
                "role": Role.VIEWER,
            },
        )
    assert response.status_code == 201
    assert response.json()["outcome"] == "added_existing"
    assert last_message("carl@kunde-eins.example", "user.added")
    response = api.post(
        f"/tenants/{world.kunde1.pk}/users",
        {
            "email": "carl@kunde-eins.example",
            "role": Role.VIEWER,
        },
    )
    assert response.status_code == 409
    assert "already a user of Kunde Eins" in response.json()["errors"]["email"][0]


def test_patch_role_and_active(world, api):
    anna = add_member(world.kunde1, ANNA, Role.EDITOR)
    url = f"/tenants/{world.kunde1.pk}/users/{anna.pk}"
    response = api.patch(url, {"role": Role.ADMINISTRATOR})
    assert response.status_code == 200
    assert response.json()["user"]["role"] == Role.ADMINISTRATOR
    response = api.patch(url, {"active": False})
    assert response.json()["user"]["status"] == "deactivated"
    response = api.patch(url, {"active": True, "role": Role.VIEWER})
    assert response.json()["user"]["status"] == "active"
    assert response.json()["user"]["role"] == Role.VIEWER
    assert api.patch(url, {"role": 50}).status_code == 422
    assert api.patch(url, {"role": "boss"}).status_code == 422


def test_patch_is_all_or_nothing(world, api):
    Tenant.objects.filter(pk=world.kunde1.pk).update(status=TenantStatus.HANDED_OVER)
    url = f"/tenants/{world.kunde1.pk}/users/{world.carl.pk}"
    # The role change would pass, the deactivation of the last administrator is refused.
    response = api.patch(url, {"role": Role.ADMINISTRATOR, "active": False})
    assert response.status_code == 409
    assert "last active administrator" in response.json()["errors"]["__all__"][0]
    response = api.patch(url, {"role": Role.EDITOR})
    assert response.status_code == 409
    assert Membership.objects.get(user=world.carl).role == Role.ADMINISTRATOR
    assert api.delete(url).status_code == 409


def test_delete(world, api):
    anna = add_member(world.kunde1, ANNA, Role.EDITOR)
    url = f"/tenants/{world.kunde1.pk}/users/{anna.pk}"
    assert api.delete(url).status_code == 204
    assert not Membership.objects.filter(user=anna).exists()
    assert api.delete(url).status_code == 404


def test_a_user_of_another_tenant_is_404(world, api):
    eve_url = f"/tenants/{world.kunde1.pk}/users/{world.eve.pk}"
    assert api.patch(eve_url, {"role": Role.VIEWER}).status_code == 404
    assert api.delete(eve_url).status_code == 404
    assert api.post(eve_url + "/resend").status_code == 404
    # carl exists in kunde1, not in kunde2.
    carl_in_kunde2 = f"/tenants/{world.kunde2.pk}/users/{world.carl.pk}"
    assert api.patch(carl_in_kunde2, {"active": False}).status_code == 404
    assert api.delete(carl_in_kunde2).status_code == 404
    # Another partner's tenant does not exist for this key.
    assert api.get(f"/tenants/{world.fremd.pk}/users").status_code == 404
    assert api.post(f"/tenants/{world.fremd.pk}/users", {"email": ANNA}).status_code == 404
    assert Membership.objects.filter(user=world.carl, deactivated_at__isnull=True).count() == 1


def test_customer_service_keys_cannot_manage_their_own_tenant(world, api):
    response = api.post(f"/tenants/{world.alpha.pk}/users", {"email": "new@alpha.example"})
    assert response.status_code == 403
    assert "Customer Service cannot manage users" in response.json()["detail"]


def test_resend_invitation(world, api, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        api.post(f"/tenants/{world.kunde1.pk}/users", {"email": ANNA, "role": Role.VIEWER})
    anna = User.objects.get(email=ANNA)
    with django_capture_on_commit_callbacks(execute=True):
        response = api.post(f"/tenants/{world.kunde1.pk}/users/{anna.pk}/resend")
    assert response.json() == {"sent": "invitation"}
    assert Invitation.objects.filter(user=anna, revoked_at__isnull=False).count() == 1


def test_warning_for_many_administrators(world, api):
    for i in range(2):
        api.post(f"/tenants/{world.kunde1.pk}/administrators", {"email": f"a{i}@k.example"})
    response = api.post(f"/tenants/{world.kunde1.pk}/administrators", {"email": "a9@k.example"})
    assert response.status_code == 201
    assert "now has 4 administrators" in response.json()["warnings"][0]


def test_german_messages(world):
    api = Api(world.api_key(world.paula, world.alpha), language="de")
    response = api.post(
        f"/tenants/{world.kunde1.pk}/users",
        {
            "email": "carl@kunde-eins.example",
            "role": Role.VIEWER,
        },
    )
    assert response.status_code == 409
    # Needs the lead's merge of /tmp/tr/users.json into the German catalogue.
    assert "bereits" in response.json()["errors"]["email"][0]
