"""E-mail addresses as contacts store them: one spelling per address, so it is unique per tenant."""

from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _
from email_validator import EmailNotValidError, validate_email


def normalize_email(raw: str) -> str:
    """Syntax-checked (no DNS), IDN domain in Unicode form, lower case.

    The whole address is lower-cased, not only the domain: RFC 5321 allows case-sensitive local
    parts, but no mailbox provider uses them, and "Max@" and "max@" as two contacts would let an
    unsubscribe miss one of them.
    """
    try:
        result = validate_email(raw.strip(), check_deliverability=False)
    except EmailNotValidError:
        raise ValidationError(_("Enter a valid e-mail address."), code="invalid_email") from None
    return result.normalized.lower()
