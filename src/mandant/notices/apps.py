from django.apps import AppConfig


class NoticesConfig(AppConfig):
    name = "mandant.notices"
    label = "notices"
