"""The tuned argon2 hasher: new hashes use its parameters, existing argon2 hashes stay valid."""

from django.contrib.auth.hashers import (
    Argon2PasswordHasher,
    check_password,
    get_hasher,
    identify_hasher,
    make_password,
)

from mandant.accounts.hashers import MandantArgon2PasswordHasher
from mandant.config import settings as project_settings

PASSWORD = "correct-horse-battery-staple-7"


def test_production_hashers(settings):
    settings.PASSWORD_HASHERS = project_settings.PASSWORD_HASHERS
    assert isinstance(get_hasher(), MandantArgon2PasswordHasher)
    encoded = make_password(PASSWORD)
    assert encoded.startswith("argon2$argon2id$v=19$m=47104,t=2,p=1$")
    assert check_password(PASSWORD, encoded)
    assert not check_password("wrong", encoded)


def test_hashes_made_with_djangos_defaults_stay_valid_and_are_upgraded(settings):
    settings.PASSWORD_HASHERS = project_settings.PASSWORD_HASHERS
    old = Argon2PasswordHasher().encode(PASSWORD, Argon2PasswordHasher().salt())
    assert "m=102400,t=2,p=8" in old
    upgraded = []
    assert check_password(PASSWORD, old, setter=upgraded.append)
    assert upgraded == [PASSWORD]  # re-hashed with the tuned parameters at the next login
    assert identify_hasher(old).must_update(old)
    assert not identify_hasher(make_password(PASSWORD)).must_update(make_password(PASSWORD))
