"""The operators' form for the monthly invoice run."""

from django import forms
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from mandant.invoicing import calculation as calc


class InvoiceRunForm(forms.Form):
    month = forms.CharField(
        label=_("Month"),
        max_length=7,
        help_text=_("YYYY-MM; a month that is over. Running it again creates no duplicates."),
        widget=forms.TextInput(attrs={"placeholder": "2026-01", "inputmode": "numeric"}),
    )

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        if not self.is_bound:
            self.initial.setdefault("month", calc.previous_month(timezone.localdate()))

    def clean_month(self) -> str:
        value = str(self.cleaned_data["month"]).strip()
        try:
            calc.parse_month(value)
        except ValueError:
            raise forms.ValidationError(
                _("Enter the month as YYYY-MM, e.g. 2026-01."), code="invalid"
            ) from None
        return value
