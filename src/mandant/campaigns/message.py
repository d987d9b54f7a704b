"""The campaign message: rendered once per campaign into a MIME skeleton, then personalised per
recipient straight into bytes (DESIGN.md §4).

``build_campaign_message`` fills everything that is the same for every recipient (template with
the text blocks at ``{{ content }}``, tenant and sender fields, images as absolute URLs, the
imprint footer) and splits each part at the personal placeholders once. ``personalise`` joins
the pieces with one recipient's values, encodes in the tenant's charset (headers RFC 2047, bodies
quoted-printable) and DKIM-signs when the from-domain has a verified key. The ``email`` package
is only used to read messages back in tests: it is several times slower than the SMTP exchange.

Images: ``asset:<key>`` becomes the absolute URL of the public image route (``/i/<token>/``,
signed over the tenant, the image's key and its bytes' hash: campaigns.tracking); the preview in
the app keeps the library's route.

Tracking (campaigns.tracking): when the campaign has ``tracking`` on and the tenant the
feature, the skeleton's links point at ``/c/<token>/<link>/`` and an open pixel
``/o/<token>.gif`` closes the body. The links are rewritten once per skeleton; per recipient only
the recipient token is filled in (the same slot as ``{{ webversion_url }}`` uses), so
personalising costs one MAC more. Drafts (test sends) are never tracked.
"""

import binascii
import html as html_lib
import os
import re
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from email.utils import formatdate
from typing import Any, Protocol

from django.conf import settings
from django.urls import reverse
from django.utils import translation
from django.utils.translation import pgettext

from mandant.billing.features import feature_enabled
from mandant.campaigns import tracking
from mandant.campaigns.models import Campaign, CampaignStatus, SentContent
from mandant.contacts.models import Contact
from mandant.contacts.unsubscribe import token_for as unsubscribe_token_for
from mandant.contacts.unsubscribe import unsubscribe_url
from mandant.content.html import (
    CONTENT_PLACEHOLDER,
    PLACEHOLDER_RE,
    replace_asset_refs,
    sanitize_html,
    text_from_html,
    text_part_of,
)
from mandant.content.models import ContentItem, ContentKind
from mandant.content.selectors import asset_hash
from mandant.core import tokens
from mandant.sending.dkim_keys import PreparedSigner, signer_for
from mandant.sending.models import SendingDomain
from mandant.sending.selectors import postal_address_get, signing_domain_for

# Filled per recipient; every other placeholder is filled once per campaign.
PERSONAL = (
    "contact.first_name",
    "contact.last_name",
    "contact.email",
    "contact.salutation",
    "unsubscribe_url",
    "webversion_url",
    # Not in the placeholder registry (the checklist refuses it in content): the recipient
    # token in the tracked links and the open pixel.
    "#token",
)
# Header fields written per recipient (lower case, as the signer names them).
PERSONAL_HEADERS = (b"to", b"subject", b"date", b"message-id", b"list-unsubscribe")
TOKEN_SLOT = "{{ #token }}"  # noqa: S105 (a placeholder, no secret)
TRACKING_FEATURE = "tracking"
# In the registry but not fillable (none at the moment).
NOT_FILLABLE: frozenset[str] = frozenset()

PYTHON_CODECS = {"UTF-8": "utf-8", "ISO-8859-1": "iso-8859-1", "ISO-8859-15": "iso-8859-15"}
# Characters left as they are in an RFC 2047 Q-encoded word (RFC 2047 §5 (3)).
_Q_SAFE = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789!*+-/")
_ASCII_HEADER_RE = re.compile(r"[\x20-\x7e]*\Z")
# The href of every <a> (sanitize_html writes attributes in double quotes).
_HREF_RE = re.compile(r"""(<a\b[^>]*?\bhref\s*=\s*)(["'])(.*?)\2""", re.I | re.S)
_BODY_END_RE = re.compile(r"</body>", re.I)


def codec_of(charset: str) -> str:
    return PYTHON_CODECS.get(charset, charset.lower())


def mime_charset(charset: str) -> str:
    return charset.lower()


# --- encoding -------------------------------------------------------------------------------


def encode_header_value(value: str, charset: str) -> str:
    """``value`` as it goes into a header: unchanged when plain ASCII, else RFC 2047 Q-encoded
    words of the tenant's charset (characters outside it become "?"), each at most 75 long."""
    if _ASCII_HEADER_RE.match(value) and "=?" not in value:
        return value
    codec = codec_of(charset)
    prefix = f"=?{mime_charset(charset)}?Q?"
    words: list[str] = []
    current = ""
    for char in value:
        encoded = "".join(
            chr(b) if b in _Q_SAFE else ("_" if b == 0x20 else f"={b:02X}")
            for b in char.encode(codec, errors="replace")
        )
        if len(prefix) + len(current) + len(encoded) + 2 > 75:
            words.append(prefix + current + "?=")
            current = ""
        current += encoded
    words.append(prefix + current + "?=")
    return "\r\n ".join(words)


def encode_body(text: str, codec: str, *, html: bool) -> bytes:
    """Quoted-printable bytes with CRLF line ends (binascii: the C implementation)."""
    data = text.replace("\r\n", "\n").encode(
        codec, errors="xmlcharrefreplace" if html else "replace"
    )
    return binascii.b2a_qp(data, quotetabs=False, istext=True).replace(b"\n", b"\r\n")


# --- the skeleton ---------------------------------------------------------------------------


@dataclass
class SplitPart:
    """A body split at the personal placeholders: literal pieces with slots between them."""

    pieces: list[str]
    slots: list[tuple[int, str]]  # (index in pieces, placeholder name)
    escape: bool

    def fill(self, values: dict[str, str]) -> str:
        if not self.slots:
            return self.pieces[0] if self.pieces else ""
        pieces = self.pieces.copy()
        for index, name in self.slots:
            pieces[index] = values[name]
        return "".join(pieces)


def split_personal(value: str, *, escape: bool) -> SplitPart:
    pieces: list[str] = []
    slots: list[tuple[int, str]] = []
    last = 0
    for match in PLACEHOLDER_RE.finditer(value):
        name = match.group(1)
        if name not in PERSONAL:
            continue
        pieces.append(value[last : match.start()])
        slots.append((len(pieces), name))
        pieces.append("")
        last = match.end()
    pieces.append(value[last:])
    return SplitPart(pieces=pieces, slots=slots, escape=escape)


@dataclass
class MessageSkeleton:
    tenant_id: int
    charset: str
    codec: str
    envelope_from: str
    message_id_domain: str
    head: bytes  # headers the same for every recipient, CRLF-terminated
    subject: SplitPart
    text: SplitPart
    html: SplitPart
    boundary: str
    subject_header: str  # the encoded subject when it has no personal placeholder, else ""
    signing_domain: SendingDomain | None
    # {{ contact.salutation }} per language: (with the first name as %(name)s, without),
    # translated once per skeleton; ``language`` is the one for contacts without a known one.
    salutations: dict[str, tuple[str, str]]
    language: str
    # unsubscribe_url() split around the token once: reverse() per recipient costs 15 µs.
    unsubscribe_prefix: tuple[str, str]
    # The recipient token (campaigns.tracking) when a part needs it (tracked links, the open
    # pixel, {{ webversion_url }}): the part before the contact id and the MAC key; "" if not.
    token_prefix: str = ""
    token_key: bytes = b""
    webversion_prefix: tuple[str, str] = ("", "")
    tracked: bool = False
    frozen: bool = False  # the parts are the ones frozen when the send started (SentContent)
    signer: PreparedSigner | None = None  # loaded when the first message is signed
    # The unencoded parts (the HTML as sent: links tracked when tracked), for the preview.
    rendered: dict[str, str] = field(default_factory=dict)


def live_template(campaign: Campaign) -> ContentItem | None:
    template = campaign.template
    if template is None or template.deleted_at is not None or template.kind != ContentKind.TEMPLATE:
        return None
    return template


def live_blocks(campaign: Campaign) -> list[ContentItem]:
    keys = list(campaign.block_keys or [])
    if not keys:
        return []
    rows = ContentItem.objects.filter(
        tenant_id=campaign.tenant_id,
        kind=ContentKind.TEXT_BLOCK,
        key__in=keys,
        deleted_at__isnull=True,
    )
    by_key = {str(row.key): row for row in rows}
    return [by_key[k] for k in keys if k in by_key]


def _insert_content(container: str, parts: list[str], joiner: str) -> str:
    content = joiner.join(p for p in parts if p)
    replaced, count = re.subn(
        r"\{\{\s*" + CONTENT_PLACEHOLDER + r"\s*\}\}", lambda _m: content, container
    )
    return replaced if count else joiner.join(p for p in (container, content) if p)


def content_parts(campaign: Campaign) -> tuple[str, str]:
    """(HTML fragment, text) of the campaign: the template with the text blocks put in."""
    template = live_template(campaign)
    blocks = live_blocks(campaign)
    html = _insert_content(template.html if template else "", [b.html for b in blocks], "\n")
    text = _insert_content(
        text_part_of(template) if template else "", [text_part_of(b) for b in blocks], "\n\n"
    )
    return sanitize_html(html), text


def campaign_values(campaign: Campaign) -> dict[str, str]:
    """Values of the placeholders that are the same for every recipient."""
    tenant = campaign.tenant
    address = postal_address_get(tenant)
    return {
        "tenant.name": tenant.name,
        "campaign.subject": campaign.subject,
        "sender.postal_address": ", ".join(address.lines()) if address else "",
    }


def display_subjects(campaigns: Sequence[Campaign], *, contact: Contact) -> dict[int, str]:
    """Each campaign's subject as the preview shows it, for a list: the tenant's values filled
    in (looked up once, not per row) and the personal ones with ``contact`` (the viewer's name;
    the salutation in its language, else the active one). No message is built."""
    if not campaigns:
        return {}
    tenant = campaigns[0].tenant
    address = (
        postal_address_get(tenant)
        if any("sender.postal_address" in c.subject for c in campaigns)
        else None
    )
    first_name = contact.first_name
    values = {
        "tenant.name": tenant.name,
        "sender.postal_address": ", ".join(address.lines()) if address else "",
        "contact.first_name": first_name,
        "contact.last_name": contact.last_name,
        "contact.email": contact.email,
        "contact.salutation": salutation_from(
            salutation_patterns(),
            _supported(translation.get_language()) or settings.LANGUAGES[0][0],
            contact,
        ),
    }
    return {
        c.pk: _fill_shared(c.subject, {**values, "campaign.subject": c.subject}, escape=False)
        for c in campaigns
    }


def _fill_shared(value: str, values: dict[str, str], *, escape: bool) -> str:
    def replace(match: re.Match[str]) -> str:
        name = match.group(1)
        if name in values:
            return html_lib.escape(values[name]) if escape else values[name]
        return match.group(0)

    return PLACEHOLDER_RE.sub(replace, value)


def site_url(path: str) -> str:
    return getattr(settings, "SITE_URL", "").rstrip("/") + path


def absolute_asset_url(campaign: Campaign, key: str) -> str:
    """The public URL of an image of the campaign's tenant ("" when it has none by that key):
    signed over tenant, key and the bytes' hash, so it may be cached for good."""
    sha256 = asset_hash(tenant=campaign.tenant, key=key)
    if sha256 is None:
        return ""
    token = tracking.image_token(campaign.tenant_id, key, sha256)
    return site_url(reverse("campaign_image", kwargs={"token": token}))


def _footer(campaign: Campaign) -> tuple[str, str]:
    """The imprint footer the builder adds to every mail (the sender's postal address)."""
    address = postal_address_get(campaign.tenant)
    if address is None:
        return "", ""
    lines = address.lines()
    html = (
        '<div style="margin-top:24px;font-size:12px;color:#666">'
        + "<br>".join(html_lib.escape(line) for line in lines)
        + "</div>"
    )
    return html, "\n-- \n" + "\n".join(lines)


def render_parts(
    campaign: Campaign, *, asset_url: Callable[[str], str] | None = None
) -> dict[str, str]:
    """subject, preheader, html (document) and text with the shared values filled in and the
    personal placeholders still in place. ``asset_url``: an image key's URL (default: absolute
    URL of the library's image route)."""
    fragment, text = content_parts(campaign)
    if not text.strip() and fragment:
        text = text_from_html(fragment)
    shared = campaign_values(campaign)
    fragment = _fill_shared(fragment, shared, escape=True)
    fragment = replace_asset_refs(
        fragment, asset_url or (lambda key: absolute_asset_url(campaign, key))
    )
    preheader = _fill_shared(campaign.preheader, shared, escape=False)
    footer_html, footer_text = _footer(campaign)
    hidden = (
        '<div style="display:none;max-height:0;overflow:hidden">'
        + html_lib.escape(preheader)
        + "</div>\n"
        if preheader
        else ""
    )
    subject = _fill_shared(campaign.subject, shared, escape=False)
    document = (
        f'<!DOCTYPE html>\n<html><head><meta charset="{mime_charset(campaign.tenant.charset)}">'
        f"<title>{html_lib.escape(subject)}</title></head>\n<body>\n{hidden}{fragment}\n"
        f"{footer_html}\n</body></html>\n"
    )
    return {
        "subject": subject,
        "preheader": preheader,
        "html": document,
        "text": _fill_shared(text, shared, escape=False) + footer_text + "\n",
    }


def _unsubscribe_prefix() -> tuple[str, str]:
    url = unsubscribe_url(Contact(pk=0, tenant_id=0))
    token = unsubscribe_token_for(0, 0)
    before, _sep, after = url.partition(token)
    return before, after


def is_tracked(campaign: Campaign) -> bool:
    """Tracked mail: the campaign asks for it, the tenant has the feature now (at send time)
    and the campaign is no draft (a test send is never counted)."""
    return (
        campaign.tracking
        and campaign.status != CampaignStatus.DRAFT
        and feature_enabled(campaign.tenant, TRACKING_FEATURE)
    )


def _trackable(href: str) -> bool:
    """Links that are rewritten: absolute http(s) URLs without a placeholder (unsubscribe, web
    version and personalised links keep their own); never mailto:, tel: or anchors."""
    value = href.strip().lower()
    return value.startswith(("http://", "https://")) and "{{" not in href


def _split_around(name: str, marker: str, **kwargs: object) -> tuple[str, str]:
    before, _sep, after = site_url(reverse(name, kwargs={"token": marker, **kwargs})).partition(
        marker
    )
    return before, after


def track_links(campaign: Campaign, document: str) -> str:
    """The HTML document with its links pointing at the click redirect and the open pixel at
    the end of the body; the recipient token left as a slot (``{{ #token }}``)."""
    hrefs = [m.group(3) for m in _HREF_RE.finditer(document) if _trackable(m.group(3))]
    urls = list(dict.fromkeys(html_lib.unescape(h).strip() for h in hrefs))
    ids = tracking.register_links(campaign, urls)
    click_before, click_after = _split_around("campaign_click", "t0kenmark", link=987654321)

    def replace(match: re.Match[str]) -> str:
        href = match.group(3)
        if not _trackable(href):
            return match.group(0)
        link_id = ids[html_lib.unescape(href).strip()]
        target = click_before + TOKEN_SLOT + click_after.replace("987654321", str(link_id), 1)
        return f"{match.group(1)}{match.group(2)}{target}{match.group(2)}"

    document = _HREF_RE.sub(replace, document)
    open_before, open_after = _split_around("campaign_open", "t0kenmark")
    pixel = (
        f'<img src="{open_before}{TOKEN_SLOT}{open_after}" width="1" height="1" alt="" '
        'style="display:block;border:0;width:1px;height:1px">\n'
    )
    document, count = _BODY_END_RE.subn(lambda _m: pixel + "</body>", document, count=1)
    return document if count else document + pixel


def live_sending_parts(campaign: Campaign) -> tuple[dict[str, str], bool]:
    """(parts, tracked) as the campaign would send them now: ``render_parts`` with the HTML's
    links rewritten for tracking when it is tracked (which stores the tracked links)."""
    parts = render_parts(campaign)
    tracked = is_tracked(campaign)
    if tracked:
        parts["html"] = track_links(campaign, parts["html"])
    return parts, tracked


def frozen_parts(campaign: Campaign) -> tuple[dict[str, str], bool] | None:
    """(parts, tracked) as frozen when the campaign's send started (SentContent); None before
    (drafts, test sends, a scheduled campaign not yet started), which send the live parts."""
    if campaign.status == CampaignStatus.DRAFT:
        return None
    frozen = SentContent.objects.filter(
        tenant_id=campaign.tenant_id, campaign_id=campaign.pk
    ).first()
    if frozen is None:
        return None
    return {name: getattr(frozen, name) for name in SentContent.PARTS}, frozen.tracked


def base_language(code: str | None) -> str:
    """ "de" of "de", "DE", "de-AT" or "de_AT"; "" of nothing."""
    return (code or "").replace("_", "-").partition("-")[0].strip().lower()


def _supported(code: str | None) -> str:
    """The language of the UI ``code`` names (``settings.LANGUAGES``), else ""."""
    base = base_language(code)
    return base if base in dict(settings.LANGUAGES) else ""


def content_language(campaign: Campaign) -> str:
    """The campaign's language for recipients without a known one: its template's language,
    else its first text block's with one, else the system's default (``LANGUAGE_CODE``)."""
    template = live_template(campaign)
    if template is not None and _supported(template.language):
        return _supported(template.language)
    for block in live_blocks(campaign):
        if _supported(block.language):
            return _supported(block.language)
    return _supported(settings.LANGUAGE_CODE) or settings.LANGUAGES[0][0]


def salutation_patterns() -> dict[str, tuple[str, str]]:
    """The salutation of every UI language, (with the first name as %(name)s, without):
    translated once per skeleton, so personalising never switches the active language."""
    patterns: dict[str, tuple[str, str]] = {}
    for code, _name in settings.LANGUAGES:
        with translation.override(code):
            patterns[code] = (
                pgettext("salutation in a mail", "Hello %(name)s"),
                pgettext("salutation in a mail", "Hello"),
            )
    return patterns


# Before a test send's subject, so the test is never mistaken for the campaign in an inbox.
TEST_SUBJECT_PREFIX = "[Test] "


def build_campaign_message(campaign: Campaign, *, test: bool = False) -> MessageSkeleton:
    """The skeleton of the campaign's mail (``test``: a test send's, its subject marked);
    call inside the tenant's scope."""
    tenant = campaign.tenant
    charset = tenant.charset or "UTF-8"
    codec = codec_of(charset)
    identity = campaign.sender_identity
    from_address = identity.from_address if identity else ""
    alias = campaign.sender_alias or (identity.alias if identity else "") or tenant.name
    reply_to = campaign.reply_to or (identity.reply_to if identity else "")
    domain = signing_domain_for(tenant, from_address) if from_address else None
    frozen = frozen_parts(campaign)
    parts, tracked = frozen if frozen is not None else live_sending_parts(campaign)
    boundary = f"=_mandant_{uuid.uuid4().hex}"
    head_lines = [
        f"From: {encode_header_value(alias, charset)} <{from_address}>",
    ]
    if reply_to:
        head_lines.append(f"Reply-To: {reply_to}")
    head_lines += [
        "MIME-Version: 1.0",
        "List-Unsubscribe-Post: List-Unsubscribe=One-Click",
        f'Content-Type: multipart/alternative; boundary="{boundary}"',
    ]
    subject_text = (TEST_SUBJECT_PREFIX if test else "") + parts["subject"]
    subject = split_personal(subject_text, escape=False)
    text = split_personal(parts["text"], escape=False)
    html = split_personal(parts["html"], escape=True)
    needs_token = tracked or any(
        name == "webversion_url" for part in (subject, text, html) for _i, name in part.slots
    )
    return MessageSkeleton(
        tenant_id=tenant.pk,
        charset=charset,
        codec=codec,
        envelope_from=from_address,
        message_id_domain=(domain.domain if domain else from_address.rpartition("@")[2])
        or "localhost",
        head=("\r\n".join(head_lines) + "\r\n").encode("ascii"),
        subject=subject,
        text=text,
        html=html,
        boundary=boundary,
        subject_header="" if subject.slots else encode_header_value(subject.fill({}), charset),
        signing_domain=domain,
        salutations=salutation_patterns(),
        language=content_language(campaign),
        unsubscribe_prefix=_unsubscribe_prefix(),
        rendered=parts,
        token_prefix=tracking.recipient_prefix(tenant.pk, campaign.pk) if needs_token else "",
        token_key=tokens.mac_key(tracking.RECIPIENT_SALT) if needs_token else b"",
        webversion_prefix=_split_around("campaign_webversion", "t0kenmark")
        if needs_token
        else ("", ""),
        tracked=tracked,
        frozen=frozen is not None,
    )


# --- per recipient --------------------------------------------------------------------------


class Recipient(Protocol):
    """A contact as personalising reads it: the model, or the loop's lighter row."""

    @property
    def pk(self) -> Any: ...
    @property
    def tenant_id(self) -> Any: ...
    @property
    def email(self) -> str: ...
    @property
    def first_name(self) -> str: ...
    @property
    def last_name(self) -> str: ...
    @property
    def language(self) -> str: ...
    @property
    def fields(self) -> Any: ...


def salutation(skeleton: MessageSkeleton, contact: Recipient) -> str:
    """``{{ contact.salutation }}`` without trailing punctuation (the content adds it: "{{
    contact.salutation }},"): the contact's custom field ``salutation`` when it has one (a
    trailing comma dropped), else "Hello <first name>" in the contact's language (else the
    campaign's, ``skeleton.language``). Dictionary look-ups only: no translation per recipient."""
    return salutation_from(skeleton.salutations, skeleton.language, contact)


def salutation_from(
    patterns: dict[str, tuple[str, str]], fallback_language: str, contact: Recipient
) -> str:
    """``salutation`` with the patterns (``salutation_patterns``) and the language for a
    contact without a known one given."""
    fields = contact.fields
    custom = fields.get("salutation") if isinstance(fields, dict) else None
    if custom:
        return str(custom).rstrip().rstrip(",").rstrip()
    language = contact.language
    pair = None
    if language:  # most contacts: an exact code ("de"), else its base ("de-AT")
        pair = patterns.get(language) or patterns.get(base_language(language))
    if pair is None:
        pair = patterns[fallback_language]
    with_name, without = pair
    return with_name % {"name": contact.first_name} if contact.first_name else without


def personal_values(skeleton: MessageSkeleton, contact: Recipient) -> dict[str, str]:
    if skeleton.token_prefix:
        # One MAC per recipient (campaigns.tracking); a contact without a row (test send) is 0.
        payload = f"{skeleton.token_prefix}{contact.pk or 0:x}"
        token = f"{payload}.{tokens.mac(skeleton.token_key, payload)}"
        webversion = skeleton.webversion_prefix[0] + token + skeleton.webversion_prefix[1]
    else:
        token = webversion = ""
    return {
        "contact.first_name": contact.first_name,
        "contact.last_name": contact.last_name,
        "contact.email": contact.email,
        "contact.salutation": salutation(skeleton, contact),
        "unsubscribe_url": skeleton.unsubscribe_prefix[0]
        + unsubscribe_token_for(contact.tenant_id, contact.pk)
        + skeleton.unsubscribe_prefix[1],
        "webversion_url": webversion,
        "#token": token,
    }


_DATE: list[tuple[int, str]] = [(0, "")]


def _date_now() -> str:
    """The Date header's value, formatted once a second."""
    now = int(time.time())
    second, value = _DATE[0]
    if second != now:
        value = formatdate(now, usegmt=True)
        _DATE[0] = (now, value)
    return value


def personalise(skeleton: MessageSkeleton, contact: Recipient, *, sign: bool = True) -> bytes:
    """The finished message for one recipient, as bytes ready for SMTP DATA."""
    values = personal_values(skeleton, contact)
    escaped = {k: html_lib.escape(v) for k, v in values.items()}
    charset = skeleton.charset
    codec = skeleton.codec
    mime = mime_charset(charset)
    boundary = skeleton.boundary
    subject = skeleton.subject_header or encode_header_value(skeleton.subject.fill(values), charset)
    personal_head = [
        (name, value.encode("ascii", errors="replace"))
        for name, value in (
            (b"To", contact.email),
            (b"Subject", subject),
            (b"Date", _date_now()),
            # 128 random bits, as uuid4 has, without building a UUID object.
            (b"Message-ID", f"<{os.urandom(16).hex()}@{skeleton.message_id_domain}>"),
            (b"List-Unsubscribe", f"<{values['unsubscribe_url']}>"),
        )
    ]
    part_head = '\r\n--{b}\r\nContent-Type: text/{kind}; charset="{cs}"\r\n' + (
        "Content-Transfer-Encoding: quoted-printable\r\n\r\n"
    )
    body = b"".join(
        (
            b"This is a multi-part message in MIME format.\r\n",
            part_head.format(b=boundary, kind="plain", cs=mime).encode("ascii"),
            encode_body(skeleton.text.fill(values), codec, html=False),
            part_head.format(b=boundary, kind="html", cs=mime).encode("ascii"),
            encode_body(skeleton.html.fill(escaped), codec, html=True),
            f"\r\n--{boundary}--\r\n".encode("ascii"),
        )
    )
    signature = b""
    if sign and skeleton.signing_domain is not None:
        personal = {name.lower(): value for name, value in personal_head}
        signature = _signer(skeleton).signature(personal, body)
    head = b"".join(name + b": " + value + b"\r\n" for name, value in personal_head)
    return b"".join((signature, skeleton.head, head, b"\r\n", body))


def _signer(skeleton: MessageSkeleton) -> PreparedSigner:
    """The skeleton's signer, loaded at the first signed message (a preview never loads the
    key, so a broken key does not break it)."""
    if skeleton.signer is None:
        assert skeleton.signing_domain is not None
        skeleton.signer = signer_for(skeleton.signing_domain).prepared(
            skeleton.head, PERSONAL_HEADERS
        )
    return skeleton.signer
