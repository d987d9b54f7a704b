"""Forms of the account pages: they only parse; the rules live in ``accounts.security``."""

from typing import Any

from django import forms
from django.conf import settings
from django.utils.translation import gettext_lazy as _

from mandant.accounts.passwords import MAX_LENGTH, password_help_text

# Generous limits: the policy (not the form) explains what is too long.
_PASSWORD_MAX = MAX_LENGTH * 4


def _password_field(label: Any, autocomplete: str, help_text: Any = "") -> forms.CharField:
    return forms.CharField(
        label=label,
        strip=False,
        max_length=_PASSWORD_MAX,
        help_text=help_text,
        widget=forms.PasswordInput(attrs={"autocomplete": autocomplete}),
        error_messages={"max_length": _("That is far too long for a password.")},
    )


class _NewPasswordMixin(forms.Form):
    new_password = forms.CharField()  # replaced in __init__ (help text is computed)
    new_password_again = forms.CharField()

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["new_password"] = _password_field(
            _("New password"), "new-password", password_help_text()
        )
        self.fields["new_password_again"] = _password_field(_("New password again"), "new-password")

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        first, second = data.get("new_password"), data.get("new_password_again")
        if first and second and first != second:
            self.add_error(
                "new_password_again",
                _("The two new passwords are not the same. Please type the new password twice."),
            )
        return data


class PasswordChangeForm(_NewPasswordMixin):
    field_order = ["current_password", "new_password", "new_password_again"]
    current_password = _password_field(_("Current password"), "current-password")


class SetPasswordForm(_NewPasswordMixin):
    pass


class PasswordResetRequestForm(forms.Form):
    email = forms.CharField(
        label=_("E-mail address"),
        max_length=254,
        widget=forms.EmailInput(attrs={"autocomplete": "username", "autofocus": True}),
        error_messages={"required": _("Please enter the e-mail address of your account.")},
    )


class EmailChangeForm(forms.Form):
    new_email = forms.CharField(
        label=_("New e-mail address"),
        max_length=254,
        widget=forms.EmailInput(attrs={"autocomplete": "email"}),
        help_text=_(
            "We send a link to the new address. The change takes effect when you follow it."
        ),
    )
    current_password = _password_field(_("Current password"), "current-password")


class ProfileForm(forms.Form):
    first_name = forms.CharField(label=_("First name"), max_length=150, required=False)
    last_name = forms.CharField(label=_("Last name"), max_length=150, required=False)
    language = forms.ChoiceField(label=_("Language"), choices=settings.LANGUAGES)


class CodeForm(forms.Form):
    code = forms.CharField(
        label=_("Code"),
        max_length=32,
        widget=forms.TextInput(
            attrs={
                "autocomplete": "one-time-code",
                "inputmode": "numeric",
                "autofocus": True,
                "spellcheck": "false",
            }
        ),
        error_messages={"required": _("Please enter the code.")},
    )


class LoginCodeForm(CodeForm):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["code"].help_text = _(
            "The 6-digit code from your authenticator app, or one of your recovery codes."
        )
        self.fields["code"].widget.attrs["inputmode"] = "text"


class TwoFactorDisableForm(forms.Form):
    current_password = _password_field(_("Current password"), "current-password")
    code = forms.CharField(
        label=_("Code"),
        max_length=32,
        help_text=_("A code from your authenticator app, or a recovery code."),
        widget=forms.TextInput(attrs={"autocomplete": "one-time-code"}),
        error_messages={"required": _("Please enter the code.")},
    )
