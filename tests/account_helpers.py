"""Helpers for the account-security tests: mails, links, sign-in steps, TOTP codes."""

import re
from urllib.parse import urlsplit

from django.test import Client
from django_otp.oath import totp
from django_otp.plugins.otp_totp.models import TOTPDevice

from mandant.notices.models import OutboundMessage

STRONG = "Wolken über dem Ostseestrand"
OTHER_STRONG = "Leuchtturm hinter sieben Dünen"


def mails(kind: str, to: str | None = None) -> list[OutboundMessage]:
    query = OutboundMessage.objects.filter(kind=kind).order_by("pk")
    if to is not None:
        query = query.filter(to_email=to)
    return list(query)


def link_path(message: OutboundMessage) -> str:
    """The path of the (only) link in a mail's text."""
    urls = re.findall(r"https?://\S+", message.text_body)
    assert urls, message.text_body
    return urlsplit(urls[0]).path


def signed_in(client: Client) -> bool:
    return "_auth_user_id" in client.session


def password_step(client: Client, email: str, password: str, **extra: str):  # type: ignore[no-untyped-def]
    return client.post("/login/", {"email": email, "password": password, **extra})


def current_code(device: TOTPDevice) -> str:
    """The code an authenticator app shows now for ``device`` (time follows time_machine)."""
    return f"{totp(device.bin_key, step=device.step, t0=device.t0, digits=device.digits):06d}"


def without_csrf(html: str) -> str:
    return re.sub(r'name="csrfmiddlewaretoken" value="[^"]*"', "", html)
