"""Language codes as people read them: "de" is shown as "Deutsch" on a German page."""

from django.conf import global_settings, settings
from django.utils.translation import get_language_info, gettext


def language_name(code: str) -> str:
    """The name of a language in the current language; an unknown code stays as it is."""
    if not code:
        return ""
    ours = dict(settings.LANGUAGES)
    if code in ours:
        return str(ours[code])
    # Django's LANGUAGES names are the ones its catalogue translates (LANG_INFO spells some
    # differently, e.g. "Norwegian Bokmal", and those stay English).
    django_names = dict(global_settings.LANGUAGES)
    if code in django_names:
        return gettext(django_names[code])
    try:
        return str(get_language_info(code)["name_translated"])
    except KeyError:
        return code


def language_choices(current: str = "") -> list[tuple[str, str]]:
    """Every language a contact may have, by name: the product's languages first, then the
    others Django knows, alphabetically; ``current`` is kept when it is none of them."""
    ours = [code for code, _name in settings.LANGUAGES]
    others = sorted(
        (code for code, _name in global_settings.LANGUAGES if code not in ours),
        key=lambda code: language_name(code).casefold(),
    )
    codes = ours + others
    if current and current not in codes:
        codes.append(current)
    return [("", gettext("(none)"))] + [(code, language_name(code)) for code in codes]
