import html
from typing import Any

from django import forms
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import gettext_lazy as _

from mandant.tenants.logo import logo_limits_text
from mandant.tenants.models import Charset, Tenant, TenantStatus, TenantType, TenantVersion
from mandant.tenants.names import NAME_MAX_LENGTH


def _escape(value: Any) -> str:
    """``conditional_escape`` without its lazy-string wrappers (it runs per option)."""
    if hasattr(value, "__html__"):
        return str(value.__html__())
    return html.escape(str(value))


def _attrs_html(attrs: dict[str, Any]) -> str:
    """``django/forms/widgets/attrs.html`` in Python: True is a bare name, False is left out."""
    return "".join(
        f" {_escape(name)}" if value is True else f' {_escape(name)}="{_escape(value)}"'
        for name, value in attrs.items()
        if value is not False
    )


class FastSelect(forms.Select):
    """A select that renders its options in Python, to the same HTML as ``forms.Select``.

    Django renders every option through two template includes; the master select can list
    hundreds of tenants, which made it the slowest part of the Mandantenverwaltung page
    (see docs/benchmarks.md). Choices with option groups fall back to ``forms.Select``.
    """

    def render(
        self, name: str, value: Any, attrs: dict[str, Any] | None = None, renderer: Any = None
    ) -> SafeString:
        widget = self.get_context(name, value, attrs)["widget"]
        if any(group_name for group_name, _choices, _index in widget["optgroups"]):
            return super().render(name, value, attrs, renderer)
        options = "".join(
            f'\n  <option value="{_escape(option["value"])}"{_attrs_html(option["attrs"])}>'
            f"{_escape(option['label'])}</option>\n"
            for _group, group_choices, _index in widget["optgroups"]
            for option in group_choices
        )
        return mark_safe(  # noqa: S308 - every value above is escaped
            f'<select name="{_escape(widget["name"])}"{_attrs_html(widget["attrs"])}>'
            f"{options}\n</select>"
        )


class TenantCreateForm(forms.Form):
    """Only parses input; every rule lives in ``tenant_create``."""

    name = forms.CharField(
        label=_("Name"),
        max_length=NAME_MAX_LENGTH * 2,  # the service gives the precise message
        help_text=_(
            "The name that identifies the tenant clearly for your customers and you. "
            "It must be unique on the platform."
        ),
    )
    type = forms.ChoiceField(
        label=_("Type"),
        choices=TenantType.choices,
        initial=TenantType.STANDARD,
        widget=FastSelect,
        help_text=_(
            "Choose STANDARD to make sure that all features and functions we provide "
            "are present. CUSTOM creates a largely empty tenant that our service staff "
            "must configure individually before it is ready to send."
        ),
    )
    version = forms.ChoiceField(
        label=_("Version"),
        choices=TenantVersion.choices,
        initial=TenantVersion.BASIC,
        widget=FastSelect,
        help_text=_(
            "Choose BASIC for the simple scope of a tenant, suited for fast sending. "
            "Higher versions unlock more features."
        ),
    )
    master = forms.TypedChoiceField(
        label=_("Master tenant"),
        coerce=int,
        widget=FastSelect,
        help_text=_(
            "The tenant below which the new tenant is created. Tenants can be arranged "
            "hierarchically, which allows features such as Copy Content to copy "
            "information from the master into the sub-tenants below it. By default "
            "your own tenant is selected."
        ),
    )
    charset = forms.ChoiceField(
        label=_("Charset"),
        choices=Charset.choices,
        initial=Charset.UTF_8,
        required=False,
        widget=FastSelect,
        help_text=_(
            "Choose a suitable setting. STANDARD tenants are always created in UTF-8, "
            "to avoid charset problems later."
        ),
    )
    logo = forms.FileField(
        label=_("Logo"),
        required=False,
        help_text=_(
            "If you have a small logo for the tenant, to be shown top left in the tenant, "
            "upload it here. Without a logo, the tenant's name is shown in its place."
        ),
    )
    logo_kept = forms.CharField(required=False, widget=forms.HiddenInput)

    def __init__(self, *args: object, masters: list[Tenant], **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        base_depth = masters[0].depth if masters else 0
        self.fields["master"].choices = [  # type: ignore[attr-defined]
            (t.pk, "\u2003" * (t.depth - base_depth) + t.name) for t in masters
        ]
        self.logo_limits = logo_limits_text()
        self.fields["logo"].widget.attrs["accept"] = "image/png,image/jpeg,image/gif,image/webp"


class TenantFilterForm(forms.Form):
    q = forms.CharField(label=_("Search by name"), required=False, max_length=100)
    type = forms.ChoiceField(
        label=_("Type"),
        required=False,
        choices=[("", _("All types")), *TenantType.choices],
        widget=FastSelect,
    )
    version = forms.ChoiceField(
        label=_("Version"),
        required=False,
        choices=[("", _("All versions")), *TenantVersion.choices],
        widget=FastSelect,
    )
    status = forms.ChoiceField(
        label=_("Status"),
        required=False,
        choices=[("", _("All statuses")), *TenantStatus.choices],
        widget=FastSelect,
    )


class TenantEditForm(forms.Form):
    name = forms.CharField(label=_("Name"), max_length=NAME_MAX_LENGTH * 2)
    version = forms.ChoiceField(label=_("Version"), choices=TenantVersion.choices)
    charset = forms.ChoiceField(label=_("Charset"), choices=Charset.choices, required=False)


class TenantLogoForm(forms.Form):
    logo = forms.FileField(label=_("Logo"), required=False)
    remove = forms.BooleanField(label=_("Remove the logo"), required=False)
