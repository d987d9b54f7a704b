from django.apps import AppConfig


class CoreConfig(AppConfig):
    name = "mandant.core"
    label = "core"

    def ready(self) -> None:
        from django.urls import register_converter

        from mandant.core.ids import IdConverter

        # Before the URLconf is loaded: every id in a URL uses it.
        register_converter(IdConverter, "id")
