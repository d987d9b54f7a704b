from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class SendingConfig(AppConfig):
    name = "mandant.sending"
    label = "sending"
    verbose_name = _("Sending")
    default_auto_field = "django.db.models.BigAutoField"
