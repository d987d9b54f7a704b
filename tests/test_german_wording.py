"""The German catalogue keeps to one wording: the product's German texts name the terms
(Submandant, Master-Mandant, Copy Content), and the spelling follows the rules (E-Mail-Adresse,
z. B., the declined "Mandanten")."""

import re
from pathlib import Path

import pytest

import mandant

PO = Path(mandant.__file__).parent / "locale" / "de" / "LC_MESSAGES" / "django.po"


def translations() -> list[str]:
    """Every msgstr of the catalogue, continuation lines joined."""
    found: list[str] = []
    current: list[str] | None = None
    for line in PO.read_text(encoding="utf-8").splitlines():
        if line.startswith("msgstr"):
            current = [line.partition(" ")[2].strip()[1:-1]]
            found.append("")
        elif line.startswith('"') and current is not None:
            current.append(line.strip()[1:-1])
        else:
            current = None
            continue
        found[-1] = "".join(current)
    return [text for text in found if text and not text.startswith("Project-Id-Version")]


@pytest.mark.parametrize(
    ("wrong", "right"),
    [
        (r"Master Mandant", "Master-Mandant"),
        (r"Unter-Mandant", "Submandant"),
        (r"E-Mail Adresse", "E-Mail-Adresse"),
        (r"\bz\.B\.", "z. B."),
        (r"\bvalide\b", "gültig"),
        (r"\b(im|dem|des|einem|jedem|diesem|Deinem|vom|zum) Mandant\b(?![-\w])", "… Mandanten"),
        (r"Inhalte kopieren", "Copy Content"),
        (r"Features", "Funktionen"),
    ],
)
def test_no_translation_uses_the_wrong_form(wrong, right):
    offenders = [text for text in translations() if re.search(wrong, text)]
    assert not offenders, f"use {right!r}: {offenders}"


def test_every_contact_language_has_a_german_name():
    from django.utils import translation

    from mandant.core.languages import language_choices

    with translation.override("de"):
        names = dict(language_choices())
    assert names["nb"] == "Norwegisch (Bokmål)" and names["fr"] == "Französisch"
    assert names["sr-latn"] == "Serbisch (Latein)"
