"""Forms of Setup → Sending. They only parse; the rules live in ``services``."""

from django import forms
from django.utils.translation import gettext_lazy as _


class DomainAddForm(forms.Form):
    domain = forms.CharField(
        label=_("Domain"),
        max_length=253,
        help_text=_("The domain of your from addresses, e.g. news.example.com."),
    )


class SenderIdentityForm(forms.Form):
    from_address = forms.CharField(label=_("From address"), max_length=254)
    alias = forms.CharField(
        label=_("Sender alias"),
        max_length=100,
        required=False,
        help_text=_("The name recipients see. Empty: the tenant's name."),
    )
    reply_to = forms.CharField(label=_("Reply-to address"), max_length=254, required=False)


class PostalAddressForm(forms.Form):
    company_name = forms.CharField(label=_("Company name"), max_length=200)
    street = forms.CharField(label=_("Street and number"), max_length=200)
    postal_code = forms.CharField(label=_("Postal code"), max_length=20)
    city = forms.CharField(label=_("City"), max_length=100)
    country = forms.CharField(
        label=_("Country"),
        max_length=2,
        initial="DE",
        help_text=_("Two-letter country code, e.g. DE, AT, CH."),
    )
