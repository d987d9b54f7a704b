"""Forms of the contacts pages: parsing only; the services decide."""

from typing import Any

from django import forms
from django.conf import settings
from django.utils.translation import gettext_lazy as _

from mandant.contacts.models import ContactStatus
from mandant.contacts.segments import OPS
from mandant.core.languages import language_choices

SEGMENT_ROWS = 3


class ContactForm(forms.Form):
    email = forms.CharField(label=_("E-mail address"), max_length=254)
    first_name = forms.CharField(label=_("First name"), max_length=150, required=False)
    last_name = forms.CharField(label=_("Last name"), max_length=150, required=False)
    language = forms.ChoiceField(label=_("Language"), required=False)
    # Not offered on a new contact (it starts active).
    status = forms.ChoiceField(label=_("Status"), choices=ContactStatus.choices, required=False)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Offered by name; a contact's code that is no known language is kept as it is.
        current = str(self.initial.get("language") or "")
        self.fields["language"].choices = language_choices(current)  # type: ignore[attr-defined]


class ListForm(forms.Form):
    name = forms.CharField(label=_("Name"), max_length=200)


class MemberForm(forms.Form):
    email = forms.CharField(label=_("E-mail address"), max_length=254)


class SegmentForm(forms.Form):
    """A name and up to three conditions (field, comparison, value); empty rows are ignored."""

    name = forms.CharField(label=_("Name"), max_length=200)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for i in range(SEGMENT_ROWS):
            self.fields[f"field{i}"] = forms.CharField(required=False, max_length=120)
            self.fields[f"op{i}"] = forms.ChoiceField(
                required=False, choices=[(op, op) for op in OPS]
            )
            self.fields[f"value{i}"] = forms.CharField(required=False, max_length=200)

    def rules(self) -> dict[str, Any]:
        data = self.cleaned_data
        conditions = [
            {
                "field": data[f"field{i}"],
                "op": data[f"op{i}"] or "equals",
                "value": data[f"value{i}"],
            }
            for i in range(SEGMENT_ROWS)
            if data.get(f"field{i}")
        ]
        return {"conditions": conditions}


class SignupFormForm(forms.Form):
    """A sign-up form's settings; the lists are the tenant's (the service checks them again)."""

    name = forms.CharField(label=_("Name"), max_length=200)
    contact_list = forms.ChoiceField(label=_("List the confirmed contacts join"))
    consent_text = forms.CharField(
        label=_("Consent text"),
        max_length=5000,
        widget=forms.Textarea(attrs={"rows": 4}),
        help_text=_(
            "Shown above the button and kept word for word with every sign-up as proof, e.g. "
            '"Yes, I want to receive the newsletter. I can unsubscribe at any time."'
        ),
    )
    ask_first_name = forms.BooleanField(label=_("Ask for the first name"), required=False)
    ask_last_name = forms.BooleanField(label=_("Ask for the last name"), required=False)
    languages = forms.MultipleChoiceField(
        label=_("Languages"),
        choices=settings.LANGUAGES,
        widget=forms.CheckboxSelectMultiple,
        help_text=_("The page and the confirmation mail speak these; the first is the default."),
    )
    success_url = forms.CharField(
        label=_("Page after sign-up (optional)"), max_length=500, required=False
    )
    confirmed_url = forms.CharField(
        label=_("Page after confirmation (optional)"), max_length=500, required=False
    )
    active = forms.BooleanField(label=_("Active"), required=False)

    def __init__(self, *args: Any, lists: list[tuple[int, str]], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["contact_list"].choices = [("", "—"), *lists]  # type: ignore[attr-defined]
