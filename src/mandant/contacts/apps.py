from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ContactsConfig(AppConfig):
    name = "mandant.contacts"
    label = "contacts"
    verbose_name = _("Contacts")
    default_auto_field = "django.db.models.BigAutoField"
