"""Operator forms of the notices app: they only parse; notices.services validates."""

from datetime import timedelta
from typing import Any

from django import forms
from django.utils import timezone
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from mandant.notices.models import MessageStatus, NoticeKind, NoticeSeverity
from mandant.notices.selectors import tenant_by_slug_or_id
from mandant.tenants.models import Tenant

DATETIME_INPUT = "%Y-%m-%dT%H:%M"


class DateTimeLocalInput(forms.DateTimeInput):
    input_type = "datetime-local"

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(format=DATETIME_INPUT, **kwargs)


class NoticeForm(forms.Form):
    kind = forms.ChoiceField(label=_("Kind"), choices=NoticeKind.choices)
    severity = forms.ChoiceField(label=_("Severity"), choices=NoticeSeverity.choices)
    title_en = forms.CharField(label=_("Title (English)"), max_length=200)
    title_de = forms.CharField(label=_("Title (German)"), max_length=200)
    body_en = forms.CharField(label=_("Text (English)"), widget=forms.Textarea(attrs={"rows": 5}))
    body_de = forms.CharField(label=_("Text (German)"), widget=forms.Textarea(attrs={"rows": 5}))
    scope = forms.CharField(
        label=_("Tenants"),
        required=False,
        max_length=120,
        help_text=_(
            "Empty: all tenants. Otherwise the slug or id of a tenant: that tenant and "
            "all tenants below it."
        ),
    )
    starts_at = forms.DateTimeField(
        label=_("Shown from"), input_formats=[DATETIME_INPUT], widget=DateTimeLocalInput()
    )
    ends_at = forms.DateTimeField(
        label=_("Shown until"), input_formats=[DATETIME_INPUT], widget=DateTimeLocalInput()
    )

    def __init__(self, data: Any = None, **kwargs: Any) -> None:
        if data is None and "initial" not in kwargs:
            now = timezone.localtime().replace(second=0, microsecond=0)
            kwargs["initial"] = {"starts_at": now, "ends_at": now + timedelta(hours=2)}
        super().__init__(data, **kwargs)

    def clean_scope(self) -> Tenant | None:
        value = (self.cleaned_data.get("scope") or "").strip()
        if not value:
            return None
        tenant = tenant_by_slug_or_id(value)
        if tenant is None:
            raise forms.ValidationError(
                gettext("There is no tenant with the slug or id “%(value)s”.") % {"value": value},
                code="unknown_tenant",
            )
        return tenant


class OutboxFilterForm(forms.Form):
    status = forms.ChoiceField(
        label=_("Status"),
        required=False,
        choices=[("", _("all")), *MessageStatus.choices],
    )
