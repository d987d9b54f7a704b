"""Sign-up forms with double opt-in: the signed confirmation link, the rate limit of the public
form, the page language and the HTML snippet to embed.

The writes (sign-up, confirmation, form management) are in ``services.py``.
"""

from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.core import signing
from django.http import HttpRequest
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.html import escape
from django_scopes import scopes_disabled

from mandant.contacts.models import ConsentRecord, SignupForm

SALT = "mandant.contacts.signup"
# How long the confirmation link works (German practice: days, not months).
CONFIRM_DAYS = 7
HONEYPOT_FIELD = "website"


def language_codes() -> list[str]:
    return [code for code, _label in settings.LANGUAGES]


# --- the confirmation link --------------------------------------------------------------------


def confirm_token(consent: ConsentRecord) -> str:
    return signing.TimestampSigner(salt=SALT).sign_object(
        [consent.tenant_id, consent.contact_id, consent.pk]
    )


@dataclass(frozen=True)
class TokenIds:
    tenant_id: int
    contact_id: int
    consent_id: int
    expired: bool


def read_confirm_token(token: str) -> TokenIds | None:
    """The ids the token names (``expired`` set when it is older than ``CONFIRM_DAYS``), or None
    for a tampered or malformed token."""
    signer = signing.TimestampSigner(salt=SALT)
    expired = False
    try:
        value = signer.unsign_object(token, max_age=CONFIRM_DAYS * 24 * 3600)
    except signing.SignatureExpired:
        # The signature is genuine, only too old: read it to show the form's page again.
        expired = True
        try:
            value = signer.unsign_object(token)
        except (signing.BadSignature, ValueError, TypeError):
            return None
    except (signing.BadSignature, ValueError, TypeError):
        return None
    if not isinstance(value, list) or len(value) != 3 or not all(type(v) is int for v in value):
        return None
    return TokenIds(value[0], value[1], value[2], expired)


def confirm_url(consent: ConsentRecord) -> str:
    path = reverse("signup_confirm", kwargs={"token": confirm_token(consent)})
    return settings.SITE_URL.rstrip("/") + path


def form_url(form: SignupForm) -> str:
    """The absolute URL of the hosted page (also the ``action`` of the embedded form)."""
    path = reverse("signup_form", kwargs={"key": form.public_key})
    return settings.SITE_URL.rstrip("/") + path


# --- the public form --------------------------------------------------------------------------


def form_languages(form: SignupForm) -> list[str]:
    known = language_codes()
    chosen = [code for code in form.languages if code in known]
    return chosen or [settings.LANGUAGE_CODE]


def page_language(form: SignupForm, request: HttpRequest) -> str:
    """The language of the hosted page and of the sign-up: one the form offers, chosen by
    ``language`` (query or form field), else by the browser, else the form's first."""
    offered = form_languages(form)
    asked = (request.POST.get("language") or request.GET.get("language") or "").lower()
    if asked in offered:
        return asked
    browser = translation.get_language_from_request(request).split("-")[0].lower()
    return browser if browser in offered else offered[0]


def rate_limited(*, ip: str, tenant_id: int, email: str) -> bool:
    """True when the client address or the (tenant, address) has had its sign-ups of the
    window already. Protects the form from flooding and the address from a mail bomb.

    Counted from the pending consent records every sign-up writes (one per confirmation mail),
    not in a cache: the limit then holds across every web process and machine."""
    since = timezone.now() - timedelta(seconds=settings.SIGNUP_RATE_WINDOW_SECONDS)
    # The client's limit spans the forms of every tenant (one flood, many forms). The queryset
    # is made without the scope: django-scopes filters by the tenant when it is created.
    with scopes_disabled():
        recent = ConsentRecord.objects.filter(double_opt_in=True, given_at__gte=since)
        per_ip = recent.filter(ip=ip).count() if ip and ip != "unknown" else 0
        per_address = recent.filter(tenant_id=tenant_id, contact__email=email).count()
    return per_ip >= settings.SIGNUP_RATE_PER_IP or per_address >= settings.SIGNUP_RATE_PER_ADDRESS


def embed_snippet(form: SignupForm, labels: dict[str, str]) -> str:
    """A plain HTML form posting to the hosted page (works without JavaScript), in the language
    of ``labels``. The honeypot field is hidden from people; bots fill it in."""
    lines = [f'<form method="post" action="{escape(form_url(form))}">']
    lang = form_languages(form)[0]
    lines.append(f'  <input type="hidden" name="language" value="{escape(lang)}">')
    lines.append(
        f"  <label>{escape(labels['email'])} "
        '<input type="email" name="email" required autocomplete="email"></label>'
    )
    if form.ask_first_name:
        lines.append(
            f"  <label>{escape(labels['first_name'])} "
            '<input type="text" name="first_name" autocomplete="given-name"></label>'
        )
    if form.ask_last_name:
        lines.append(
            f"  <label>{escape(labels['last_name'])} "
            '<input type="text" name="last_name" autocomplete="family-name"></label>'
        )
    lines.append(
        '  <div style="position:absolute;left:-10000px" aria-hidden="true">'
        f'<input type="text" name="{HONEYPOT_FIELD}" tabindex="-1" autocomplete="off"></div>'
    )
    lines.append(f"  <p>{escape(form.consent_text)}</p>")
    lines.append(f'  <button type="submit">{escape(labels["submit"])}</button>')
    lines.append("</form>")
    return "\n".join(lines)
