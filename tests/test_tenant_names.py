"""Tenant names: clean_tenant_name (what is accepted) and tenant_name_key (what is unique)."""

import pytest
from django.core.exceptions import ValidationError
from django.utils import translation

from mandant.tenants.models import Tenant
from mandant.tenants.names import (
    NAME_KEY_MAX_LENGTH,
    NAME_MAX_LENGTH,
    clean_tenant_name,
    tenant_name_key,
)


@pytest.fixture(autouse=True)
def _english():
    with translation.override("en"):
        yield


def refused(raw: str | None) -> ValidationError:
    with pytest.raises(ValidationError) as info:
        clean_tenant_name(raw)
    return info.value


# --- tenant_name_key ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "variant",
    [
        "Kunde Eins",
        "KUNDE EINS",
        "kunde eins",
        "kUnDe EiNs",
        "Ｋｕｎｄｅ Ｅｉｎｓ",  # fullwidth letters
        "Ｋｕｎｄｅ\u3000Ｅｉｎｓ",  # and an ideographic space
        "Kunde\u00a0Eins",  # no-break space
        "𝐊𝐮𝐧𝐝𝐞 𝐄𝐢𝐧𝐬",  # mathematical bold
    ],
)
def test_look_alike_spellings_share_one_key(variant):
    assert tenant_name_key(variant) == "kunde eins"


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("Straße", "STRASSE"),  # case folding, not lower-casing
        ("ﬁrma", "Firma"),  # ligature
        ("Cafe\u0301", "Café"),  # combining accent vs precomposed
        ("Ⅻ Partner", "xii partner"),  # roman numeral
        ("ΣΊΣΥΦΟΣ", "σίσυφος"),  # final sigma
        ("Kunde²", "Kunde2"),
    ],
)
def test_key_folds_case_and_compatibility_forms(a, b):
    assert tenant_name_key(a) == tenant_name_key(b)


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("Kunde Eins", "Kunde Zwei"),
        ("Kunde Eins", "Kunde-Eins"),
        ("Kunde Eins", "KundeEins"),
        ("Müller", "Muller"),
        ("Bäckerei", "Baeckerei"),
    ],
)
def test_different_names_keep_different_keys(a, b):
    assert tenant_name_key(a) != tenant_name_key(b)


@pytest.mark.parametrize("name", ["Kunde Eins", "Straße", "ǅemal", "ＡＢＣ", "\u1e9e", "ﬃ", "ΐ"])
def test_key_is_idempotent(name):
    key = tenant_name_key(name)
    assert tenant_name_key(key) == key


def test_key_does_not_trim():
    # Trimming is clean_tenant_name's job; the key is only computed from a cleaned name.
    assert tenant_name_key(" a ") == " a "


# --- clean_tenant_name ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        ("Kunde Eins", "Kunde Eins"),
        ("  Kunde Eins  ", "Kunde Eins"),
        ("Kunde    Eins", "Kunde Eins"),
        ("\n Kunde Eins \t", "Kunde Eins"),
        ("Kunde\u00a0\u00a0Eins", "Kunde Eins"),
        ("Kunde\u3000Eins", "Kunde Eins"),
        ("Bäckerei Sonnenschein ☀️", "Bäckerei Sonnenschein ☀️"),
        ("東京支店", "東京支店"),
        ("Ｋｕｎｄｅ", "Ｋｕｎｄｅ"),  # stored as typed; only the key is normalised
        ("O'Neill & Söhne (GmbH) #1", "O'Neill & Söhne (GmbH) #1"),
        ("x", "x"),
    ],
)
def test_clean_names(raw, clean):
    assert clean_tenant_name(raw) == clean


@pytest.mark.parametrize("raw", [None, "", " ", "   \t\n  ", "\u00a0\u3000"])
def test_empty_names_are_required(raw):
    error = refused(raw)
    assert error.code == "required"
    assert error.messages == ["Please enter a name for the tenant."]


def test_exactly_the_maximum_length_is_accepted():
    assert clean_tenant_name("x" * NAME_MAX_LENGTH) == "x" * 100
    assert NAME_MAX_LENGTH == 100


def test_one_character_too_many_is_refused_stating_both_numbers():
    error = refused("x" * 101)
    assert error.code == "max_length"
    assert error.messages == ["The name may have at most 100 characters; it has 101."]


def test_length_is_counted_after_trimming_and_collapsing():
    assert clean_tenant_name("   " + "x" * 100 + "   ") == "x" * 100
    assert clean_tenant_name("a" + " " * 20 + "b" * 98) == "a " + "b" * 98
    assert refused("a" + " " * 20 + "b" * 99).messages == [
        "The name may have at most 100 characters; it has 101."
    ]


def test_name_whose_key_would_overflow_its_column_is_refused():
    assert Tenant._meta.get_field("name_key").max_length == NAME_KEY_MAX_LENGTH
    assert Tenant._meta.get_field("name").max_length == NAME_MAX_LENGTH
    assert len(tenant_name_key("\ufdfa")) == 18
    assert clean_tenant_name("\ufdfa" * 22) == "\ufdfa" * 22  # key: 396 characters
    error = refused("\ufdfa" * 23)  # key: 414 characters
    assert error.code == "max_length"
    assert "too long" in error.messages[0]


def test_length_counts_characters_not_bytes():
    assert clean_tenant_name("ä" * 100) == "ä" * 100
    assert refused("ä" * 101).code == "max_length"


@pytest.mark.parametrize(
    ("raw", "code_point"),
    [
        ("Kunde\x00Eins", "U+0000"),
        ("Kunde\x07Eins", "U+0007"),
        ("Kunde\x1bEins", "U+001B"),
        ("Kunde\x7fEins", "U+007F"),
        ("Kunde\x85Eins", "U+0085"),
        ("Kunde\tEins", "U+0009"),  # a name is one line: no tabs inside
        ("Kunde\nEins", "U+000A"),
        ("Kunde\u200bEins", "U+200B"),  # zero-width space
        ("Kunde\u200dEins", "U+200D"),  # zero-width joiner
        ("Kunde\u2060Eins", "U+2060"),  # word joiner
        ("\ufeffKunde Eins", "U+FEFF"),  # byte order mark
        ("Kunde \u202eEins", "U+202E"),  # right-to-left override
        ("Kunde \u2066Eins\u2069", "U+2066"),  # bidi isolate
        ("Kunde\u00adEins", "U+00AD"),  # soft hyphen
        ("Kunde\u2028Eins", "U+2028"),  # line separator
        ("Kunde\u2029Eins", "U+2029"),  # paragraph separator
        ("Kunde\ue000Eins", "U+E000"),  # private use
        ("Kunde\u0378Eins", "U+0378"),  # unassigned
        ("Kunde\ud800Eins", "U+D800"),  # lone surrogate
    ],
)
def test_control_and_invisible_characters_are_refused_naming_them(raw, code_point):
    error = refused(raw)
    assert error.code == "invalid_characters"
    assert code_point in error.messages[0]
    assert "control or invisible characters" in error.messages[0]


def test_all_offending_characters_are_listed_once_and_sorted():
    error = refused("A\u202eB\u200bC\u202eD")
    assert "(U+200B, U+202E)" in error.messages[0]


def test_invisible_characters_at_the_edges_are_not_trimmed_away():
    # str.strip() does not remove them, so they must still be refused.
    assert refused("\u200bKunde Eins\u200b").code == "invalid_characters"


def test_messages_are_translated():
    with translation.override("de"):
        error = refused("x" * 101)
    assert error.messages == ["Der Name darf höchstens 100 Zeichen haben; er hat 101."]


def test_the_long_key_message_is_translated():
    with translation.override("de"):
        error = refused("\ufdfa" * 23)
    assert error.messages[0].startswith("Der Name ist zu lang")
