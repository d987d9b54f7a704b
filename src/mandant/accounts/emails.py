"""E-mail addresses: syntax and IDN normalisation (email-validator), optional DNS check."""

from django.conf import settings
from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _
from email_validator import EmailNotValidError, EmailUndeliverableError
from email_validator import validate_email as _validate


def clean_email_address(raw: str | None) -> str:
    """The normalised address (domain in Unicode, lower-cased), or ValidationError."""
    value = (raw or "").strip()
    if not value:
        raise ValidationError(_("Please enter an e-mail address."), code="required")
    try:
        info = _validate(
            value,
            check_deliverability=getattr(settings, "EMAIL_CHECK_DELIVERABILITY", False),
            allow_smtputf8=True,
        )
    except EmailUndeliverableError as exc:
        raise ValidationError(
            _("The domain of “%(address)s” does not receive e-mail. Please check the address.")
            % {"address": value},
            code="undeliverable",
        ) from exc
    except EmailNotValidError as exc:
        raise ValidationError(
            _("“%(address)s” is not a valid e-mail address. Please check it for typing errors.")
            % {"address": value},
            code="invalid",
        ) from exc
    return str(info.normalized).lower()
