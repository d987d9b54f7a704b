"""The one password policy, used by every path that sets a password.

NIST SP 800-63B-4 (§3.1.1.2) requires at least 15 characters for a password that is the only
factor, allows 8 for a password used only together with a second factor, asks to accept at
least 64, forbids composition rules and requires checking candidates against a blocklist of
common, expected or compromised values. We require 12 for everyone, accept up to 256, impose no
composition rules, refuse Django's list of 20,000 common passwords and refuse what zxcvbn rates
below 3 ("safely unguessable") given the person's and tenants' names. 12 is below NIST's 15 for
single-factor use: the guessability check (not length alone) and the login throttle carry the
difference, and the optional second factor (required for managers by an operator setting)
makes the password one factor of two. See docs/architecture.md, "Passwords".
"""

from collections.abc import Iterable

from django.contrib.auth.password_validation import CommonPasswordValidator
from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from zxcvbn import zxcvbn

MIN_LENGTH = 12
MAX_LENGTH = 256
MIN_ZXCVBN_SCORE = 3
# zxcvbn refuses inputs over 72 characters (and is slow on long ones); beyond this, length
# alone makes a password strong.
ZXCVBN_MAX_INPUT = 72

_common = CommonPasswordValidator()


def _user_input_words(inputs: Iterable[str | None]) -> list[str]:
    words: list[str] = []
    for value in inputs:
        if not value:
            continue
        value = value.strip().lower()
        words.append(value)
        for part in value.replace("@", " ").replace(".", " ").replace("-", " ").split():
            if len(part) >= 3:
                words.append(part)
    return words


def password_problems(password: str, *, user_inputs: Iterable[str | None] = ()) -> list[str]:
    """Everything wrong with a candidate password, as translated sentences (empty: fine)."""
    if len(password) < MIN_LENGTH:
        return [
            ngettext(
                "The password is too short: it has %(length)d character, at least %(min)d are "
                "needed.",
                "The password is too short: it has %(length)d characters, at least %(min)d are "
                "needed.",
                len(password),
            )
            % {"length": len(password), "min": MIN_LENGTH}
            + " "
            + _("A few unrelated words make a long password that is easy to remember.")
        ]
    if len(password) > MAX_LENGTH:
        return [_("The password may have at most %(max)d characters.") % {"max": MAX_LENGTH}]
    try:
        _common.validate(password)
    except ValidationError:
        return [
            _("This password is on the list of the most common passwords and is guessed first.")
            + " "
            + _("A few unrelated words make a long password that is easy to remember.")
        ]
    words = _user_input_words(user_inputs)
    result = zxcvbn(password[:ZXCVBN_MAX_INPUT], user_inputs=words)
    # A name of the person or tenant adds (almost) nothing for an attacker who targets them:
    # what is left without it must be strong on its own ("Acme2026!Acme" for tenant Acme).
    rest = _without_inputs(password, words)
    if rest != password and result["score"] >= MIN_ZXCVBN_SCORE:
        rest_result = zxcvbn(rest[:ZXCVBN_MAX_INPUT], user_inputs=words) if rest else None
        if rest_result is None or rest_result["score"] < MIN_ZXCVBN_SCORE:
            result = {"score": 0, "sequence": []}
    if result["score"] < MIN_ZXCVBN_SCORE:
        reasons = [_("This password is too easy to guess.")]
        if _uses_inputs(password, user_inputs):
            reasons.append(
                _(
                    "It contains a name or address that belongs to you or your tenant; such "
                    "patterns are among the first an attacker tries."
                )
            )
        elif any(
            m.get("pattern") in ("sequence", "repeat", "spatial")
            for m in result.get("sequence", [])
        ):
            reasons.append(
                _(
                    "Sequences, repeated characters and keyboard patterns such as "
                    "“xq12345” are guessed quickly."
                )
            )
        elif any(m.get("pattern") == "date" for m in result.get("sequence", [])):
            reasons.append(_("Dates and years are guessed quickly."))
        reasons.append(_("Add a few more unrelated words; avoid names, dates and sequences."))
        return [" ".join(reasons)]
    return []


def _without_inputs(password: str, words: list[str]) -> str:
    rest = password
    for word in sorted((w for w in words if len(w) >= 4), key=len, reverse=True):
        index = rest.lower().find(word)
        while index >= 0:
            rest = rest[:index] + rest[index + len(word) :]
            index = rest.lower().find(word)
    return rest


def _uses_inputs(password: str, inputs: Iterable[str | None]) -> bool:
    lowered = password.lower()
    return any(len(word) >= 3 and word in lowered for word in _user_input_words(inputs))


def validate_password(password: str, *, user_inputs: Iterable[str | None] = ()) -> None:
    problems = password_problems(password, user_inputs=user_inputs)
    if problems:
        raise ValidationError(problems, code="weak_password")


class PolicyValidator:
    """The policy as a Django password validator (admin and Django's own forms use it)."""

    def validate(self, password: str, user: object | None = None) -> None:
        inputs = [
            getattr(user, "email", None),
            getattr(user, "first_name", None),
            getattr(user, "last_name", None),
        ]
        validate_password(password, user_inputs=inputs)

    def get_help_text(self) -> str:
        return password_help_text()


def password_help_text() -> str:
    return _(
        "At least %(min)d characters. No special characters needed: a few unrelated words are "
        "strong and easy to remember. Avoid names, dates, sequences and passwords you use "
        "elsewhere."
    ) % {"min": MIN_LENGTH}
