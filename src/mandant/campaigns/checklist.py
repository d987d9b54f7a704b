"""The campaign checklist: what must hold before a campaign can be sent (or test-sent).

The unsubscribe link must be in the campaign's content itself — ``{{ unsubscribe_url }}`` in the
HTML part and in the text part (a text part derived from the HTML keeps its links). The builder
adds only the imprint footer (the sender's postal address), no link: where the link sits and
what it says is the author's decision, and the checklist makes sure it is there.
"""

from typing import NamedTuple

from django.urls import reverse
from django.utils.translation import gettext as _

from mandant.campaigns.message import (
    NOT_FILLABLE,
    codec_of,
    live_blocks,
    live_template,
    render_parts,
)
from mandant.campaigns.models import Campaign
from mandant.campaigns.selectors import recipient_count
from mandant.content.html import CONTENT_PLACEHOLDER, PLACEHOLDER_RE, PLACEHOLDERS
from mandant.sending.readiness import is_ready, tenant_readiness


class CampaignCheck(NamedTuple):
    key: str
    label: str
    ok: bool
    hint: str
    fix_url: str


def _check(key: str, label: str, ok: bool, hint: str, fix_url: str) -> CampaignCheck:
    return CampaignCheck(key, label, ok, "" if ok else hint, "" if ok else fix_url)


def _field_labels() -> dict[str, str]:
    return {
        "subject": _("subject"),
        "preheader": _("preheader"),
        "alias": _("sender alias"),
        "html": _("HTML part"),
        "text": _("text part"),
    }


def _fix_url(where: str, edit_url: str, content_url: str) -> str:
    """Where a problem in ``where`` is fixed: the content for the parts, else the form field."""
    if where in ("html", "text"):
        return content_url
    field = {"alias": "sender_alias"}.get(where, where)
    return f"{edit_url}#id_{field}" if field else edit_url


def unknown_placeholder(parts: dict[str, str]) -> tuple[str, str] | None:
    """(placeholder, where) of the first placeholder that cannot be filled."""
    for where in ("subject", "preheader", "html", "text"):
        for match in PLACEHOLDER_RE.finditer(parts[where]):
            name = match.group(1)
            if name not in PLACEHOLDERS or name in NOT_FILLABLE or name == CONTENT_PLACEHOLDER:
                return match.group(0), where
    return None


def unrepresentable(texts: dict[str, str], charset: str) -> tuple[str, str] | None:
    """(character, where) of the first character the tenant's charset cannot encode."""
    codec = codec_of(charset)
    for where, value in texts.items():
        try:
            value.encode(codec)
        except UnicodeEncodeError as exc:
            return value[exc.start], where
    return None


def _has_unsubscribe(value: str) -> bool:
    return any(m.group(1) == "unsubscribe_url" for m in PLACEHOLDER_RE.finditer(value))


def campaign_checklist(
    campaign: Campaign, *, may_create_administrator: bool = True
) -> list[CampaignCheck]:
    """Every item, in the order shown; call inside the tenant's scope.
    ``may_create_administrator``: as for ``tenant_readiness`` (the hints of the page)."""
    tenant = campaign.tenant
    edit_url = reverse("campaigns:edit", args=[tenant.slug, campaign.pk])
    template = live_template(campaign)
    content_url = reverse("content:item", args=[tenant.slug, template.pk]) if template else edit_url
    checks: list[CampaignCheck] = []

    checks.append(
        _check(
            "subject",
            _("The subject is not empty"),
            bool(campaign.subject.strip()),
            _("Enter a subject."),
            edit_url + "#id_subject",
        )
    )
    sender_ok = bool(
        campaign.sender_identity_id and campaign.sender_alias.strip() and campaign.reply_to.strip()
    )
    checks.append(
        _check(
            "sender",
            _("Sender, sender alias and reply-to address are set"),
            sender_ok,
            _("Choose a sender and enter the sender alias and the reply-to address."),
            edit_url + "#id_sender_identity",
        )
    )
    count = recipient_count(campaign=campaign)
    has_audience = campaign.contact_list_id is not None or campaign.segment_id is not None
    checks.append(
        _check(
            "recipients",
            _("A list or segment with at least one active recipient"),
            count > 0,
            _("The chosen list or segment has no active recipients.")
            if has_audience
            else _("Choose a list or a segment."),
            edit_url + "#id_contact_list",
        )
    )
    has_content = template is not None or bool(live_blocks(campaign))
    checks.append(
        _check(
            "content",
            _("Content is present (a template or text blocks)"),
            has_content,
            _("Choose a template or text blocks."),
            edit_url + "#id_template",
        )
    )
    parts = render_parts(campaign)
    unknown = unknown_placeholder(parts)
    checks.append(
        _check(
            "placeholders",
            _("Every placeholder can be filled"),
            unknown is None,
            _("%(placeholder)s in the %(where)s cannot be filled.")
            % {"placeholder": unknown[0], "where": _field_labels()[unknown[1]]}
            if unknown
            else "",
            _fix_url(unknown[1] if unknown else "", edit_url, content_url),
        )
    )
    missing = [where for where in ("html", "text") if not _has_unsubscribe(parts[where])]
    checks.append(
        _check(
            "unsubscribe",
            _("An unsubscribe link is present in the HTML and the text part"),
            has_content and not missing,
            _("Add {{ unsubscribe_url }} to the %(parts)s.")
            % {"parts": _(" and the ").join(_field_labels()[w] for w in missing)}
            if missing
            else _("Choose a template or text blocks."),
            content_url,
        )
    )
    texts = {
        "subject": parts["subject"],
        "preheader": parts["preheader"],
        "alias": campaign.sender_alias,
        "html": parts["html"],
        "text": parts["text"],
    }
    bad = unrepresentable(texts, tenant.charset or "UTF-8")
    checks.append(
        _check(
            "charset",
            _("Every character can be written in the tenant's charset (%(charset)s)")
            % {"charset": tenant.charset},
            bad is None,
            _("“%(char)s” (U+%(code)04X) in the %(where)s cannot be written in %(charset)s.")
            % {
                "char": bad[0],
                "code": ord(bad[0]),
                "where": _field_labels()[bad[1]],
                "charset": tenant.charset,
            }
            if bad
            else "",
            _fix_url(bad[1] if bad else "", edit_url, content_url),
        )
    )
    readiness = tenant_readiness(tenant, may_create_administrator=may_create_administrator)
    unmet = [c for c in readiness if not c.ok]
    home_url = reverse("tenants:home", args=[tenant.slug])
    checks.append(
        _check(
            "readiness",
            _("The tenant is ready to send"),
            is_ready(readiness),
            "; ".join(c.hint or c.label for c in unmet),
            next((c.fix_url for c in unmet if c.fix_url), home_url),
        )
    )
    return checks


def checklist_passes(checks: list[CampaignCheck], *, except_keys: tuple[str, ...] = ()) -> bool:
    return all(c.ok for c in checks if c.key not in except_keys)
