from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class InvoicingConfig(AppConfig):
    name = "mandant.invoicing"
    label = "invoicing"
    verbose_name = _("Invoices")
    default_auto_field = "django.db.models.BigAutoField"
