from django.apps import AppConfig


class CoreConfig(AppConfig):
    name = "mandant.core"
    label = "core"
