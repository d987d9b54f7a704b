"""Forms of the billing app: they only parse; billing.services validates and decides."""

from django import forms
from django.utils.translation import gettext_lazy as _

from mandant.billing.models import ACTIVATION_ROLE_CHOICES, DeactivationMode
from mandant.tenants.models import TenantVersion


class ActivationForm(forms.Form):
    """The confirmation step: the conditions shown must be accepted explicitly."""

    conditions_version = forms.IntegerField(widget=forms.HiddenInput, min_value=1)
    accept = forms.BooleanField(
        label=_("I have read the conditions and accept them, including the costs."),
        error_messages={
            "required": _("Please tick the box to accept the conditions, or cancel."),
        },
    )


class PriceForm(forms.Form):
    valid_from = forms.DateField(
        label=_("Valid from"),
        widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
        help_text=_("Today or later. Invoices use the price valid on each day."),
    )
    monthly_fee = forms.DecimalField(
        label=_("Monthly fee (EUR, net)"), min_value=0, decimal_places=2, max_digits=10
    )
    setup_fee = forms.DecimalField(
        label=_("One-time set-up fee (EUR, net)"), min_value=0, decimal_places=2, max_digits=10
    )
    unit_price = forms.DecimalField(
        label=_("Price per unit (EUR, net)"), min_value=0, decimal_places=4, max_digits=10
    )
    unit_en = forms.CharField(label=_("Unit (English)"), max_length=60, required=False)
    unit_de = forms.CharField(label=_("Unit (German)"), max_length=60, required=False)
    vat_rate = forms.DecimalField(
        label=_("VAT rate (%)"), min_value=0, max_value=100, decimal_places=2, max_digits=5
    )


class ConditionsForm(forms.Form):
    text_en = forms.CharField(
        label=_("Conditions (English)"), widget=forms.Textarea(attrs={"rows": 10})
    )
    text_de = forms.CharField(
        label=_("Conditions (German)"), widget=forms.Textarea(attrs={"rows": 10})
    )


class ProductSettingsForm(forms.Form):
    name_en = forms.CharField(label=_("Name (English)"), max_length=100)
    name_de = forms.CharField(label=_("Name (German)"), max_length=100)
    description_en = forms.CharField(
        label=_("Description (English)"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
    )
    description_de = forms.CharField(
        label=_("Description (German)"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
    )
    editions = forms.MultipleChoiceField(
        label=_("Editions that may have it"),
        choices=TenantVersion.choices,
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text=_("None ticked: every edition."),
    )
    activation_role = forms.TypedChoiceField(
        label=_("May be activated by"), choices=ACTIVATION_ROLE_CHOICES, coerce=int
    )
    trial_days = forms.IntegerField(
        label=_("Trial days"), min_value=0, max_value=365, help_text=_("0: no trial.")
    )
    deactivation_mode = forms.ChoiceField(
        label=_("Deactivation takes effect"), choices=DeactivationMode.choices
    )
    offered = forms.BooleanField(label=_("Offered"), required=False)
    sort_order = forms.IntegerField(label=_("Order"), min_value=0, max_value=32767)
