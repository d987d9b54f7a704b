from typing import Any

from django import forms
from django.conf import settings
from django.utils.functional import lazy
from django.utils.translation import gettext_lazy as _

from mandant.accounts.passwords import password_help_text
from mandant.accounts.roles import MEMBERSHIP_ROLE_CHOICES, Role
from mandant.accounts.services import HandOverMethod


class LoginForm(forms.Form):
    email = forms.CharField(
        label=_("E-mail address"),
        max_length=254,
        widget=forms.EmailInput(attrs={"autocomplete": "username", "autofocus": True}),
    )
    password = forms.CharField(
        label=_("Password"),
        strip=False,
        max_length=4096,
        widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}),
    )


class ApiKeyCreateForm(forms.Form):
    name = forms.CharField(
        label=_("Name of the key"),
        max_length=100,
        help_text=_("What the key is used for, e.g. “CRM sync”."),
    )


# --- Setup → Users: only parsing; every rule lives in ``accounts.services.user_add`` ---------


_password_help = lazy(password_help_text, str)()


def _language_choices() -> list[tuple[str, str]]:
    return [(code, str(name)) for code, name in settings.LANGUAGES]


class UserInviteForm(forms.Form):
    email = forms.CharField(
        label=_("E-mail address"),
        max_length=320,
        help_text=_("The e-mail address is the username. Important system messages go to it."),
        widget=forms.EmailInput(attrs={"autocomplete": "off"}),
    )
    first_name = forms.CharField(label=_("First name"), max_length=300, required=False)
    last_name = forms.CharField(label=_("Last name"), max_length=300, required=False)
    language = forms.ChoiceField(
        label=_("Language"),
        choices=_language_choices,
        help_text=_("The language of the invitation and of all later messages."),
    )
    role = forms.TypedChoiceField(
        label=_("Role"), choices=MEMBERSHIP_ROLE_CHOICES, coerce=int, initial=Role.EDITOR
    )


class AdministratorCreateForm(forms.Form):
    email = forms.CharField(
        label=_("E-mail address"),
        max_length=320,
        help_text=_(
            "The e-mail address is the username. Important system messages go to it, "
            "e.g. about outages or paid upgrades: make sure it is valid and active."
        ),
        widget=forms.EmailInput(attrs={"autocomplete": "off"}),
    )
    first_name = forms.CharField(label=_("First name"), max_length=300, required=False)
    last_name = forms.CharField(label=_("Last name"), max_length=300, required=False)
    language = forms.ChoiceField(
        label=_("Language"),
        choices=_language_choices,
        help_text=_("The language of the e-mails to the administrator."),
    )
    method = forms.ChoiceField(
        label=_("Hand-over of the access"),
        choices=HandOverMethod.choices,
        initial=HandOverMethod.INVITATION,
        widget=forms.RadioSelect,
    )
    password = forms.CharField(
        label=_("Initial password"),
        required=False,
        strip=False,
        max_length=4096,
        # Kept on an error page (nothing typed is lost); never shown after success.
        widget=forms.PasswordInput(render_value=True, attrs={"autocomplete": "new-password"}),
        help_text=_password_help,
    )


class RoleChangeForm(forms.Form):
    role = forms.TypedChoiceField(label=_("Role"), choices=MEMBERSHIP_ROLE_CHOICES, coerce=int)


class InvitationAcceptForm(forms.Form):
    password = forms.CharField(
        label=_("New password"),
        strip=False,
        max_length=4096,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password", "autofocus": True}),
        help_text=_password_help,
    )
    password_repeat = forms.CharField(
        label=_("Repeat the password"),
        strip=False,
        max_length=4096,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
    )

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        first, second = data.get("password"), data.get("password_repeat")
        if first and second and first != second:
            self.add_error("password_repeat", _("The two passwords are not the same."))
        return data
