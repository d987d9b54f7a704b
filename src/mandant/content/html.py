"""HTML and placeholders of content items: sanitising on save, checking placeholders, preview.

Placeholders are written ``{{ name }}`` (spaces optional) and filled in per recipient when a
campaign is sent. ``{{ content }}`` is reserved for templates: a campaign draft's text blocks
go there.
"""

import html as html_lib
import re
import uuid
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

import nh3
from django.core.exceptions import ValidationError
from django.urls import NoReverseMatch, reverse
from django.utils.functional import Promise
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, pgettext

if TYPE_CHECKING:
    from mandant.content.models import ContentItem
    from mandant.tenants.models import Tenant

# name -> translated description (lazy: shown in the user's language).
PLACEHOLDERS: dict[str, str | Promise] = {
    "contact.first_name": gettext_lazy("First name of the recipient"),
    "contact.last_name": gettext_lazy("Last name of the recipient"),
    "contact.email": gettext_lazy("E-mail address of the recipient"),
    "contact.salutation": gettext_lazy(
        "Salutation in the recipient's language, without punctuation, e.g. “Hello Erika”: "
        "write the comma after it"
    ),
    "tenant.name": gettext_lazy("Name of the sending tenant"),
    "unsubscribe_url": gettext_lazy("Link to unsubscribe (required in every campaign)"),
    "webversion_url": gettext_lazy("Link to the web version of the e-mail"),
    "sender.postal_address": gettext_lazy("Postal address of the sender (imprint)"),
    "campaign.subject": gettext_lazy("Subject of the campaign"),
}
# Where a template receives the text blocks of a campaign draft; valid in templates only.
CONTENT_PLACEHOLDER = "content"

PLACEHOLDER_RE = re.compile(r"\{\{\s*([^{}]*?)\s*\}\}")
NAME_RE = re.compile(r"[a-z_][a-z0-9_]*(?:\.[a-z_][a-z0-9_]*)*\Z")
ASSET_REF_RE = re.compile(r"""\b(?:src|href)\s*=\s*["']?\s*asset:([^"'\s>]*)""", re.IGNORECASE)
ASSET_SCHEME = "asset:"

# Markup that e-mail clients render: tables for layout, inline styles, simple text formatting.
ALLOWED_TAGS = frozenset(
    {
        "table", "thead", "tbody", "tfoot", "tr", "td", "th", "caption", "colgroup", "col",
        "h1", "h2", "h3", "h4", "h5", "h6", "p", "br", "hr", "a", "img", "span", "div",
        "strong", "em", "b", "i", "u", "s", "strike", "sub", "sup", "small", "ul", "ol", "li",
        "blockquote", "center", "font", "pre", "code",
    }
)  # fmt: skip
CELL_ATTRIBUTES = frozenset(
    {"align", "valign", "width", "height", "bgcolor", "colspan", "rowspan", "nowrap"}
)
ALLOWED_ATTRIBUTES: dict[str, set[str]] = {
    "*": {"style", "align", "dir", "lang", "title"},
    "table": {"align", "width", "height", "bgcolor", "border", "cellpadding", "cellspacing",
              "role"},
    "tr": {"align", "valign", "bgcolor", "height"},
    "td": set(CELL_ATTRIBUTES),
    "th": set(CELL_ATTRIBUTES),
    "col": {"width", "span"},
    "colgroup": {"width", "span"},
    "a": {"href", "title", "target"},
    "img": {"src", "alt", "width", "height", "style", "border"},
    "font": {"color", "size", "face"},
    "ol": {"start", "type"},
    "ul": {"type"},
}  # fmt: skip
URL_SCHEMES = frozenset({"http", "https", "mailto", "asset"})
# Tags removed together with everything inside them (not just unwrapped).
CLEAN_CONTENT_TAGS = frozenset(
    {"script", "style", "iframe", "object", "embed", "noscript", "template", "title",
     "textarea", "select", "applet", "frameset", "frame", "noembed", "noframes", "head"}
)  # fmt: skip
STYLE_PROPERTIES = frozenset(
    {
        "color", "background-color", "font", "font-family", "font-size", "font-style",
        "font-weight", "line-height", "letter-spacing", "text-align", "text-decoration",
        "text-transform", "text-indent", "vertical-align", "white-space", "word-break",
        "width", "min-width", "max-width", "height", "min-height", "max-height", "display",
        "margin", "margin-top", "margin-right", "margin-bottom", "margin-left",
        "padding", "padding-top", "padding-right", "padding-bottom", "padding-left",
        "border", "border-top", "border-right", "border-bottom", "border-left",
        "border-color", "border-style", "border-width", "border-radius", "border-collapse",
        "border-spacing", "table-layout", "list-style", "list-style-type", "overflow",
        "mso-line-height-rule", "mso-table-lspace", "mso-table-rspace",
    }
)  # fmt: skip
# Old browsers ran these inside CSS values; no e-mail needs them.
DANGEROUS_STYLE_RE = re.compile(r"url\s*\(|expression\s*\(|javascript:|vbscript:|@import", re.I)


def _filter_attribute(tag: str, attribute: str, value: str) -> str | None:
    if attribute == "style":
        declarations = [d for d in value.split(";") if not DANGEROUS_STYLE_RE.search(d)]
        return ";".join(declarations) or None
    return value


_CLEANER = nh3.Cleaner(
    tags=set(ALLOWED_TAGS),
    clean_content_tags=set(CLEAN_CONTENT_TAGS),
    attributes=ALLOWED_ATTRIBUTES,
    attribute_filter=_filter_attribute,
    strip_comments=True,
    link_rel="noopener noreferrer",
    url_schemes=set(URL_SCHEMES),
    filter_style_properties=set(STYLE_PROPERTIES),
)


def sanitize_html(html: str) -> str:
    """The HTML without scripts, event handlers, dangerous URLs or active elements."""
    if not html.strip():
        return ""
    return _CLEANER.clean(html).strip()


def placeholders_in(value: str) -> list[str]:
    """The placeholder names used in ``value``, each once, in order of appearance."""
    seen: dict[str, None] = {}
    for match in PLACEHOLDER_RE.finditer(value):
        seen.setdefault(match.group(1), None)
    return list(seen)


def _syntax_problem(value: str) -> str | None:
    """A message for the first malformed placeholder in ``value``, or None."""
    for match in PLACEHOLDER_RE.finditer(value):
        name = match.group(1)
        if not NAME_RE.match(name):
            return _(
                "“%(fragment)s” is not a valid placeholder. Write the name without spaces, "
                "e.g. {{ contact.first_name }}."
            ) % {"fragment": match.group(0)}
    rest = PLACEHOLDER_RE.sub("", value)
    if "{{" in rest:
        return _("A placeholder is opened with “{{” but not closed with “}}”.")
    if "}}" in rest:
        return _("A placeholder is closed with “}}” but was not opened with “{{”.")
    return None


def allowed_placeholders_text(*, allow_content: bool = False) -> str:
    names = list(PLACEHOLDERS) + ([CONTENT_PLACEHOLDER] if allow_content else [])
    return ", ".join(f"{{{{ {name} }}}}" for name in names)


def check_placeholders(value: str, *, field: str, allow_content: bool = False) -> None:
    """Refuse malformed or unknown placeholders with a message naming them.

    ``allow_content``: ``{{ content }}`` is valid (templates only).
    """
    if "{" not in value and "}" not in value:
        return
    problem = _syntax_problem(value)
    if problem is not None:
        raise ValidationError({field: ValidationError(problem, code="placeholder_syntax")})
    names = placeholders_in(value)
    if CONTENT_PLACEHOLDER in names and not allow_content:
        raise ValidationError(
            {
                field: ValidationError(
                    _(
                        "{{ content }} can only be used in templates: it marks where a "
                        "campaign's text blocks go."
                    ),
                    code="placeholder_content",
                )
            }
        )
    unknown = [n for n in names if n not in PLACEHOLDERS and n != CONTENT_PLACEHOLDER]
    if unknown:
        raise ValidationError(
            {
                field: ValidationError(
                    _("Unknown placeholder %(names)s. Allowed placeholders: %(allowed)s.")
                    % {
                        "names": ", ".join(f"{{{{ {n} }}}}" for n in unknown),
                        "allowed": allowed_placeholders_text(allow_content=allow_content),
                    },
                    code="placeholder_unknown",
                )
            }
        )


def asset_keys_in(html: str) -> list[str]:
    """The image references ``asset:<key>`` in ``html``, each once, in order.

    Valid keys come back normalised (lowercase UUID with dashes); anything else unchanged, so
    the caller can name it in an error.
    """
    seen: dict[str, None] = {}
    for match in ASSET_REF_RE.finditer(html):
        raw = match.group(1)
        try:
            key = str(uuid.UUID(raw))
        except ValueError:
            key = raw
        seen.setdefault(key, None)
    return list(seen)


# ---- preview -------------------------------------------------------------------------------


def sample_values(tenant: "Tenant", item: "ContentItem") -> dict[str, str]:
    """Made-up recipient data for the preview."""
    return {
        "contact.first_name": _("Erika"),
        "contact.last_name": _("Mustermann"),
        "contact.email": "erika.mustermann@example.com",
        "contact.salutation": pgettext("salutation in a mail", "Hello %(name)s")
        % {"name": _("Erika")},
        "tenant.name": tenant.name,
        "unsubscribe_url": "#unsubscribe",
        "webversion_url": "#webversion",
        "sender.postal_address": _("Example Street 1, 12345 Example Town"),
        "campaign.subject": item.subject,
    }


def fill_placeholders(value: str, values: dict[str, str], *, escape: bool) -> str:
    def replace(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in values:
            return match.group(0)
        return html_lib.escape(values[name]) if escape else values[name]

    return PLACEHOLDER_RE.sub(replace, value)


def asset_file_url(tenant: "Tenant", key: str) -> str:
    """The URL the web UI serves an image of this tenant at ("" while there is none)."""
    try:
        return reverse("content:asset_file", args=[tenant.slug, key])
    except NoReverseMatch:
        return ""


def replace_asset_refs(html: str, url_for: Callable[[str], str]) -> str:
    def replace(match: re.Match[str]) -> str:
        raw = match.group(1)
        try:
            key = str(uuid.UUID(raw))
        except ValueError:
            return match.group(0)
        url = url_for(key)
        return match.group(0).replace(ASSET_SCHEME + raw, html_lib.escape(url), 1)

    return ASSET_REF_RE.sub(replace, html)


_LINK_RE = re.compile(r"""<a\b[^>]*\bhref\s*=\s*["']([^"']*)["'][^>]*>(.*?)</a>""", re.I | re.S)
_BLOCK_END_RE = re.compile(r"</(p|div|h[1-6]|li|tr|table)>|<br\s*/?>", re.I)
_TAG_RE = re.compile(r"<[^>]+>")


def text_from_html(value: str) -> str:
    """A plain-text part for content that has none: links keep their address."""
    value = _LINK_RE.sub(lambda m: f"{_TAG_RE.sub('', m.group(2)).strip()} ({m.group(1)})", value)
    value = _BLOCK_END_RE.sub("\n", value)
    value = html_lib.unescape(_TAG_RE.sub("", value))
    lines = [" ".join(line.split()) for line in value.splitlines()]
    text = "\n".join(lines)
    return re.sub(r"\n{3,}", "\n\n", text).strip()


def text_part_of(item: "ContentItem") -> str:
    """A template's or text block's text part: its own, else derived from its HTML (an item
    with only an HTML part must not vanish from the mail's text version)."""
    return item.text if item.text.strip() else text_from_html(item.html)


def _insert_content(container: str, parts: Iterable[str], *, joiner: str) -> str:
    content = joiner.join(p for p in parts if p)
    replaced, count = re.subn(
        r"\{\{\s*" + CONTENT_PLACEHOLDER + r"\s*\}\}", lambda _m: content, container
    )
    if count:
        return replaced
    return joiner.join(p for p in (container, content) if p)


def _draft_parts(tenant: "Tenant", item: "ContentItem") -> tuple[str, str]:
    """The HTML and text of a campaign draft: its template with the blocks put in."""
    from django_scopes import scope

    from mandant.content.models import ContentItem, ContentKind

    with scope(tenant=tenant.pk):
        live = ContentItem.objects.filter(tenant=tenant, deleted_at__isnull=True)
        template = (
            live.filter(kind=ContentKind.TEMPLATE, key=item.template_key).first()
            if item.template_key
            else None
        )
        blocks_by_key = {
            str(b.key): b
            for b in live.filter(kind=ContentKind.TEXT_BLOCK, key__in=item.block_keys or [])
        }
    blocks = [blocks_by_key[k] for k in item.block_keys or [] if k in blocks_by_key]
    html = _insert_content(template.html if template else "", (b.html for b in blocks), joiner="\n")
    text = _insert_content(
        text_part_of(template) if template else "",
        (text_part_of(b) for b in blocks),
        joiner="\n\n",
    )
    return html, text


def render_preview(
    *,
    tenant: "Tenant",
    item: "ContentItem",
    asset_url: Callable[[str], str] | None = None,
) -> tuple[str, str]:
    """(HTML document, text part) of ``item`` with sample values, for a sandboxed preview.

    ``asset_url`` maps an image key to its URL (default: the web UI's image URL).
    """
    from mandant.content.models import ContentKind

    if item.kind == ContentKind.CAMPAIGN_DRAFT:
        body, text = _draft_parts(tenant, item)
    elif item.kind == ContentKind.ASSET:
        url = (asset_url or (lambda key: asset_file_url(tenant, key)))(str(item.key))
        body = f'<img src="{html_lib.escape(url)}" alt="{html_lib.escape(item.name)}">'
        text = ""
    else:
        body, text = item.html, text_part_of(item)
    values = sample_values(tenant, item)
    values[CONTENT_PLACEHOLDER] = _("[The text blocks of a campaign appear here.]")
    # Stored HTML is sanitised already; sanitise again in case a draft's parts changed rules.
    body = sanitize_html(body) if item.kind != ContentKind.ASSET else body
    body = fill_placeholders(body, values, escape=True)
    body = replace_asset_refs(body, asset_url or (lambda key: asset_file_url(tenant, key)))
    title = html_lib.escape(item.subject or item.name)
    document = (
        '<!DOCTYPE html>\n<html><head><meta charset="utf-8">'
        f"<title>{title}</title></head>\n<body>\n{body}\n</body></html>\n"
    )
    return document, fill_placeholders(text, values, escape=False)
