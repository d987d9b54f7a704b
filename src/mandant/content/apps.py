from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ContentConfig(AppConfig):
    name = "mandant.content"
    label = "content"
    verbose_name = _("Content")
    default_auto_field = "django.db.models.BigAutoField"
