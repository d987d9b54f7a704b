from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class CampaignsConfig(AppConfig):
    name = "mandant.campaigns"
    label = "campaigns"
    verbose_name = _("Campaigns")
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # The tracking models live in campaigns.tracking; importing it registers them.
        from mandant.campaigns import tracking  # noqa: F401
