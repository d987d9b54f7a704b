"""Tenant names: what is accepted, and the key that makes them unique platform-wide."""

import unicodedata

from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _

NAME_MAX_LENGTH = 100
# Tenant.name_key's column width. NFKC can expand one character to 18 (U+FDFA), so a
# short name can still have a key too long for the column and its unique index.
NAME_KEY_MAX_LENGTH = 400
# Control, format (zero-width, bidi overrides), surrogate, private-use, unassigned,
# line and paragraph separators: invisible or confusable, never part of a name.
FORBIDDEN_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"})


def tenant_name_key(name: str) -> str:
    """NFKC, case-folded, NFKC again (Unicode's NFKC_Casefold in practice)."""
    return unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", name).casefold())


def clean_tenant_name(raw: str | None) -> str:
    """Trim and check a tenant name; raise ValidationError with a translated message."""
    name = (raw or "").strip()
    if not name:
        raise ValidationError(_("Please enter a name for the tenant."), code="required")
    bad = [ch for ch in name if unicodedata.category(ch) in FORBIDDEN_CATEGORIES]
    if bad:
        codes = ", ".join(sorted({f"U+{ord(ch):04X}" for ch in bad}))
        raise ValidationError(
            _("The name contains control or invisible characters (%(codes)s). Please remove them.")
            % {"codes": codes},
            code="invalid_characters",
        )
    name = " ".join(name.split())
    if len(name) > NAME_MAX_LENGTH:
        raise ValidationError(
            _("The name may have at most %(max)d characters; it has %(length)d.")
            % {"max": NAME_MAX_LENGTH, "length": len(name)},
            code="max_length",
        )
    if len(tenant_name_key(name)) > NAME_KEY_MAX_LENGTH:
        raise ValidationError(
            _(
                "The name is too long once its special characters are spelled out. "
                "Please shorten it."
            ),
            code="max_length",
        )
    return name
