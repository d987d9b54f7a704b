"""The one password policy (accounts/passwords.py), pinned, and used by every path that sets a
password: Django's validators (admin, Django's forms), the change and reset pages."""

import pytest
from django.conf import settings
from django.contrib.auth import password_validation
from django.contrib.auth.forms import SetPasswordForm
from django.core.exceptions import ValidationError

from conftest import PASSWORD
from mandant.accounts.models import User
from mandant.accounts.passwords import MAX_LENGTH, MIN_LENGTH, password_problems, validate_password
from mandant.accounts.roles import Role
from mandant.accounts.security import password_user_inputs
from mandant.accounts.services import membership_set, user_create
from mandant.core.actor import Actor
from mandant.tenants.services import tenant_create

STRONG = "Wolken über dem Ostseestrand"
PASSPHRASE_64 = "Kaffee Tasse Regenschirm Elefant Saxophon Wiese Dachboden Morgen"
ADVICE = "A few unrelated words make a long password that is easy to remember."


def problems(password: str, *inputs: str) -> str:
    return " ".join(password_problems(password, user_inputs=inputs))


# --- length -----------------------------------------------------------------------------


def test_the_limits_are_those_documented():
    assert (MIN_LENGTH, MAX_LENGTH) == (12, 256)


def test_eleven_characters_are_refused_saying_why_and_how_to_do_better():
    message = problems("tqbf-jotl-9")
    assert "too short: it has 11 characters, at least 12 are needed" in message
    assert ADVICE in message


def test_twelve_unrelated_characters_are_enough():
    assert problems("tqbf-jotl-9z") == ""


def test_a_64_character_passphrase_is_accepted():
    assert len(PASSPHRASE_64) == 64
    assert problems(PASSPHRASE_64) == ""


def test_256_characters_are_accepted_and_257_refused():
    long_phrase = ("Leuchtturm am Deich 42 " * 12)[:256]
    assert problems(long_phrase) == ""
    message = problems(long_phrase + "x")
    assert message == "The password may have at most 256 characters."


def test_no_composition_rules():
    # Lower-case letters and spaces only: fine when long and unguessable (NIST: no
    # composition rules).
    assert problems("wolken ueber dem ostseestrand") == ""
    assert problems(STRONG) == ""


# --- guessable passwords -------------------------------------------------------------------


@pytest.mark.parametrize("password", ["password1234", "123456789012", "qwertyuiop123"])
def test_common_passwords_are_refused(password):
    message = problems(password)
    assert message, password
    assert "guess" in message


def test_a_listed_common_password_says_it_is_on_the_list():
    message = problems("password1234")
    assert "on the list of the most common passwords" in message
    assert ADVICE in message


def test_the_tenant_name_plus_year_is_refused_acme():
    # Too short already, and the message says how to do better …
    message = problems("Acme2026!", "Acme")
    assert "too short" in message
    assert ADVICE in message
    # … and long enough, it is still the tenant's name and a year.
    for password in ("Acme2026!Acme", "Acme2026!Acme2026!"):
        message = problems(password, "Acme")
        assert "too easy to guess" in message, password
        assert "contains a name or address that belongs to you or your tenant" in message
        assert "avoid names, dates and sequences" in message


def test_the_seeds_pattern_xq12345_is_refused_with_the_reason():
    assert "too short" in problems("xq12345")
    assert "too easy to guess" in problems("xq1234567890")
    message = problems("xq12345xq12345")
    assert "too easy to guess" in message
    assert "Sequences, repeated characters and keyboard patterns" in message
    assert "“xq12345”" in message
    # … also when combined with the tenant's name, as partners repeat it across tenants.
    assert "contains a name" in problems("xq12345Acme!", "Acme")
    assert "contains a name" in problems("xq12345kunde1", "Kunde Eins")


def test_validate_password_raises_one_clear_message():
    with pytest.raises(ValidationError) as exc:
        validate_password("Acme2026!Acme", user_inputs=["Acme"])
    assert len(exc.value.messages) == 1


# --- the same policy in Django's validators (admin, Django's forms) ------------------------


def test_settings_use_only_the_policy_validator():
    assert settings.AUTH_PASSWORD_VALIDATORS == [
        {"NAME": "mandant.accounts.passwords.PolicyValidator"}
    ]


def test_djangos_validate_password_applies_the_policy_with_the_users_names(db):
    user = User(email="mareike.sommer@acme.example", first_name="Mareike", last_name="Sommer")
    with pytest.raises(ValidationError) as exc:
        password_validation.validate_password("Mareike2026!Sommer", user)
    assert "contains a name or address" in " ".join(exc.value.messages)
    password_validation.validate_password(STRONG, user)
    help_text = " ".join(password_validation.password_validators_help_texts())
    assert "At least 12 characters" in help_text


def test_djangos_set_password_form_refuses_a_weak_password(world):
    form = SetPasswordForm(
        world.carl, {"new_password1": "password1234", "new_password2": "password1234"}
    )
    assert not form.is_valid()
    assert "most common passwords" in " ".join(form.errors["new_password2"])


def test_the_admin_refuses_a_weak_password_for_a_new_user(world):
    client = world.client_for(world.olga)
    response = client.post(
        "/admin/accounts/user/add/",
        {
            "email": "neu@alpha.example",
            "password1": "xq1234567890",
            "password2": "xq1234567890",
            "usable_password": "true",
        },
    )
    assert response.status_code == 200
    assert "too easy to guess" in response.content.decode()
    assert not User.objects.filter(email="neu@alpha.example").exists()


# --- user inputs: the person's and their tenants' names ---------------------------------


def test_user_inputs_include_names_address_tenants_and_their_masters(world):
    inputs = password_user_inputs(world.carl)
    assert "carl@kunde-eins.example" in inputs
    assert "Carl" in inputs
    assert "Kunde Eins" in inputs
    assert "Agentur Alpha" in inputs  # the partner above the customer
    assert "Fremdagentur" not in inputs


def test_a_password_with_the_tenants_name_is_refused_when_changing_it(world):
    acme = tenant_create(
        actor=Actor(user=world.paula),
        name="Acme",
        type="STANDARD",
        version="BASIC",
        master=world.alpha,
    )
    user = user_create(email="anna@acme.example", password=PASSWORD, first_name="Anna")
    membership_set(actor=Actor(user=world.olga), tenant=acme, user=user, role=Role.ADMINISTRATOR)
    response = world.client_for(user).post(
        "/account/password/",
        {
            "current_password": PASSWORD,
            "new_password": "Acme2026!Acme2026!",
            "new_password_again": "Acme2026!Acme2026!",
        },
    )
    assert response.status_code == 422
    body = response.content.decode()
    assert "contains a name or address that belongs to you or your tenant" in body
    user.refresh_from_db()
    assert user.check_password(PASSWORD)
