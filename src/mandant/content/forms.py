"""Forms of the content library and Copy Content. They only parse input: every rule (names,
sanitising, placeholders, references, targets) lives in ``content.services`` and
``content.copying``, whose errors the views put back on these forms."""

from collections.abc import Sequence
from typing import Any

from django import forms
from django.conf import settings
from django.utils.html import format_html, format_html_join
from django.utils.safestring import mark_safe
from django.utils.translation import gettext_lazy as _

from mandant.content.copying import DEFAULT_POLICY, CopyPolicy
from mandant.content.models import ContentItem, ContentKind, Folder
from mandant.tenants.forms import FastSelect
from mandant.tenants.models import TenantType, TenantVersion

# The fields each kind of item has on its form (besides name, folder and language).
KIND_FIELDS: dict[str, tuple[str, ...]] = {
    ContentKind.TEMPLATE: ("subject", "preheader", "html", "text"),
    ContentKind.TEXT_BLOCK: ("html", "text"),
    ContentKind.CAMPAIGN_DRAFT: (
        "subject",
        "preheader",
        "sender_alias",
        "reply_to",
        "template",
        "blocks",
    ),
    ContentKind.ASSET: ("file",),
}
COMMON_FIELDS = ("name", "folder", "language")
CONTENT_TEXT_FIELDS = ("subject", "preheader", "sender_alias", "reply_to", "html", "text")
# Text block slots offered beyond the chosen blocks (without JavaScript, to add blocks).
EXTRA_BLOCK_SLOTS = 2
MAX_IDS = 1000

POLICY_HELP = {
    "overwrite_unchanged": _(
        "Recommended. Items the sub-tenant has edited since the last copy are kept and "
        "reported; all others get the new version."
    ),
    "overwrite": _(
        "The master's version replaces the item in the sub-tenant, even if the sub-tenant "
        "changed it. Its earlier version stays in the item's version history."
    ),
    "skip": _(
        "Items that already exist in the sub-tenant are left as they are; only new items are added."
    ),
}


def folder_choices(tree: Sequence[tuple[Folder, int]]) -> list[tuple[Any, Any]]:
    """The folder tree as select options, indented by depth."""
    return [("", _("— no folder —")), *((f.pk, "\u2003" * depth + f.name) for f, depth in tree)]


def _item_choices(items: Sequence[ContentItem], empty: str) -> list[tuple[Any, str]]:
    return [("", empty), *((item.pk, item.name) for item in items)]


class BlockSlots(forms.Widget):
    """An ordered choice of text blocks: one select per position, all named ``blocks``.

    Works without JavaScript (the order of the selects is the order of the blocks);
    ``app.js`` adds a button to add a slot.
    """

    def __init__(self, attrs: dict[str, Any] | None = None) -> None:
        super().__init__(attrs)
        self.choices: list[tuple[Any, str]] = []

    def value_from_datadict(self, data: Any, files: Any, name: str) -> list[str]:
        return [value for value in data.getlist(name) if value]

    def value_omitted_from_data(self, data: Any, files: Any, name: str) -> bool:
        return False

    def render(
        self, name: str, value: Any, attrs: dict[str, Any] | None = None, renderer: Any = None
    ) -> Any:
        chosen = [str(v) for v in (value or [])]
        slots = [*chosen, *([""] * EXTRA_BLOCK_SLOTS)]
        disabled = (
            " disabled" if (attrs or {}).get("disabled") or self.attrs.get("disabled") else ""
        )
        rows = []
        for position, current in enumerate(slots, start=1):
            options = format_html_join(
                "",
                '<option value="{}"{}>{}</option>',
                (
                    (
                        choice_value,
                        mark_safe(" selected") if str(choice_value) == current else "",
                        label,
                    )
                    for choice_value, label in self.choices
                ),
            )
            rows.append(
                format_html(
                    '<li><label class="visually-hidden" for="id_{name}_{n}">{label}</label>'
                    '<select name="{name}" id="id_{name}_{n}"{disabled}>{options}</select></li>',
                    name=name,
                    n=position,
                    label=_("Text block %(position)s") % {"position": position},
                    disabled=disabled,
                    options=options,
                )
            )
        return format_html(
            '<ol class="block-slots" id="id_{}" data-block-slots data-add-label="{}">{}</ol>',
            name,
            _("Add another text block"),
            mark_safe("".join(rows)),  # noqa: S308 - every row is built with format_html
        )


class BlockListField(forms.TypedMultipleChoiceField):
    # Setting the field's choices sets the widget's too (ChoiceField.choices).
    widget = BlockSlots


class ItemForm(forms.Form):
    """One form for every kind; ``__init__`` keeps the fields of the item's kind."""

    name = forms.CharField(label=_("Name"), max_length=400)
    folder = forms.TypedChoiceField(
        label=_("Folder"), coerce=int, required=False, empty_value=None, widget=FastSelect
    )
    language = forms.ChoiceField(
        label=_("Language"),
        required=False,
        help_text=_("The language of the item's text, to find it again; optional."),
    )
    subject = forms.CharField(label=_("Subject"), max_length=1000, required=False)
    preheader = forms.CharField(
        label=_("Preheader"),
        max_length=1000,
        required=False,
        help_text=_("The short text many e-mail programs show after the subject."),
    )
    sender_alias = forms.CharField(
        label=_("Sender alias"),
        max_length=400,
        required=False,
        help_text=_("The name shown as the sender, e.g. “Bäckerei Schmidt”."),
    )
    reply_to = forms.CharField(
        label=_("Reply-to address"),
        max_length=400,
        required=False,
        widget=forms.EmailInput,
    )
    html = forms.CharField(
        label=_("HTML part"),
        required=False,
        strip=False,
        widget=forms.Textarea(attrs={"rows": 16, "class": "code", "spellcheck": "false"}),
        help_text=_(
            "Scripts, event handlers and javascript: links are removed when you save. Show an "
            'image of the library with <img src="asset:…">; the image\'s page shows its address.'
        ),
    )
    text = forms.CharField(
        label=_("Text part"),
        required=False,
        strip=False,
        widget=forms.Textarea(attrs={"rows": 10, "class": "code"}),
        help_text=_("For e-mail programs that show no HTML."),
    )
    template = forms.TypedChoiceField(
        label=_("Template"), coerce=int, required=False, empty_value=None, widget=FastSelect
    )
    blocks = BlockListField(
        label=_("Text blocks"),
        coerce=int,
        required=False,
        help_text=_("In the order they appear in the e-mail. Leave a position empty to drop it."),
    )
    file = forms.FileField(label=_("Image file"), required=False)
    file_kept = forms.CharField(required=False, widget=forms.HiddenInput)

    def __init__(
        self,
        *args: Any,
        kind: str,
        folders: Sequence[tuple[Folder, int]],
        templates: Sequence[ContentItem] = (),
        blocks: Sequence[ContentItem] = (),
        read_only: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.kind = kind
        self.template_items = list(templates)
        self.block_items = list(blocks)
        keep = {*COMMON_FIELDS, *KIND_FIELDS[kind]}
        if kind == ContentKind.ASSET:
            keep.add("file_kept")
        for name in list(self.fields):
            if name not in keep:
                del self.fields[name]
        self.fields["folder"].choices = folder_choices(folders)  # type: ignore[attr-defined]
        self.fields["language"].choices = [  # type: ignore[attr-defined]
            ("", _("— not set —")),
            *((code, str(label)) for code, label in settings.LANGUAGES),
        ]
        if "template" in self.fields:
            self.fields["template"].choices = _item_choices(  # type: ignore[attr-defined]
                templates, str(_("— no template —"))
            )
        if "blocks" in self.fields:
            self.fields["blocks"].choices = _item_choices(  # type: ignore[attr-defined]
                blocks, str(_("— none —"))
            )
        if "file" in self.fields:
            self.fields["file"].widget.attrs["accept"] = "image/png,image/jpeg,image/gif,image/webp"
            # An image's name may come from its file name.
            self.fields["name"].required = False
            self.fields["name"].help_text = _("Leave empty to use the file name.")
        if read_only:
            for field in self.fields.values():
                field.disabled = True

    def initial_for(self, item: Any) -> dict[str, Any]:
        """The values of a stored item or version (references by key become choice ids)."""
        initial: dict[str, Any] = {
            name: getattr(item, name, "")
            for name in ("name", "language", *KIND_FIELDS[self.kind])
            if name in CONTENT_TEXT_FIELDS or name in ("name", "language")
        }
        initial["folder"] = getattr(item, "folder_id", None)
        if "template" in self.fields:
            by_key = {str(t.key): t.pk for t in self.template_items}
            initial["template"] = by_key.get(str(item.template_key)) if item.template_key else None
        if "blocks" in self.fields:
            by_key = {str(b.key): b.pk for b in self.block_items}
            initial["blocks"] = [by_key[str(k)] for k in item.block_keys or [] if str(k) in by_key]
        return initial

    def service_changes(self, folders: Sequence[tuple[Folder, int]]) -> dict[str, Any]:
        """The keyword arguments of ``item_create`` / ``item_update`` from a valid form."""
        data = self.cleaned_data
        by_id = {folder.pk: folder for folder, _depth in folders}
        changes: dict[str, Any] = {
            "name": data.get("name") or "",
            "folder": by_id.get(data["folder"]) if data.get("folder") else None,
            "language": data.get("language") or "",
        }
        for name in CONTENT_TEXT_FIELDS:
            if name in self.fields:
                changes[name] = data.get(name) or ""
        if "template" in self.fields:
            templates = {t.pk: t for t in self.template_items}
            changes["template"] = templates.get(data["template"]) if data.get("template") else None
        if "blocks" in self.fields:
            blocks = {b.pk: b for b in self.block_items}
            changes["blocks"] = [blocks[pk] for pk in data.get("blocks") or [] if pk in blocks]
        return changes


class LibraryFilterForm(forms.Form):
    q = forms.CharField(label=_("Search"), required=False, max_length=200)
    kind = forms.ChoiceField(
        label=_("Kind"),
        required=False,
        choices=[("", _("all kinds")), *ContentKind.choices],
        widget=FastSelect,
    )
    folder = forms.TypedChoiceField(
        label=_("Folder"), coerce=int, required=False, empty_value=None, widget=FastSelect
    )

    def __init__(self, *args: Any, folders: Sequence[tuple[Folder, int]], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["folder"].choices = [  # type: ignore[attr-defined]
            ("", _("all folders")),
            *folder_choices(folders)[1:],
        ]


class FolderForm(forms.Form):
    name = forms.CharField(label=_("Name"), max_length=400)
    parent = forms.TypedChoiceField(
        label=_("Inside folder"), coerce=int, required=False, empty_value=None, widget=FastSelect
    )

    def __init__(
        self, *args: Any, folders: Sequence[tuple[Folder, int]] = (), **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        self.fields["parent"].choices = [  # type: ignore[attr-defined]
            ("", _("— top level —")),
            *folder_choices(folders)[1:],
        ]


class FolderRenameForm(forms.Form):
    name = forms.CharField(label=_("Name"), max_length=400)


class IdListField(forms.Field):
    """Repeated ``name=<id>`` inputs (hidden or checkboxes) as a list of distinct ints."""

    widget = forms.MultipleHiddenInput
    default_error_messages = {
        "invalid": _("Choose from the list."),
        "too_many": _("Choose at most %(max)s."),
    }

    def to_python(self, value: Any) -> list[int]:
        ids: list[int] = []
        for raw in value or []:
            try:
                number = int(raw)
            except (TypeError, ValueError):
                raise forms.ValidationError(
                    self.error_messages["invalid"], code="invalid"
                ) from None
            if number not in ids:
                ids.append(number)
        if len(ids) > MAX_IDS:
            raise forms.ValidationError(
                self.error_messages["too_many"], code="too_many", params={"max": MAX_IDS}
            )
        return ids


class CopyForm(forms.Form):
    """Copy Content: what, where to, and what to do with items already there."""

    items = IdListField(required=False)
    folders = IdListField(required=False)
    scope = forms.ChoiceField(
        label=_("Target tenants"),
        choices=[("chosen", _("Chosen sub-tenants")), ("all", _("All sub-tenants"))],
        initial="chosen",
        widget=forms.RadioSelect,
    )
    target_type = forms.ChoiceField(
        label=_("Only of type"),
        required=False,
        choices=[("", _("All types")), *TenantType.choices],
        widget=FastSelect,
    )
    target_version = forms.ChoiceField(
        label=_("Only of version"),
        required=False,
        choices=[("", _("All versions")), *TenantVersion.choices],
        widget=FastSelect,
    )
    targets = IdListField(required=False, widget=forms.CheckboxSelectMultiple)
    tq = forms.CharField(label=_("Search sub-tenants"), required=False, max_length=100)
    policy = forms.ChoiceField(
        label=_("Items that already exist in a sub-tenant"),
        choices=CopyPolicy.choices,
        initial=DEFAULT_POLICY,
        widget=forms.RadioSelect,
    )
