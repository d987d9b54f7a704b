from django.apps import AppConfig


class ApiConfig(AppConfig):
    name = "mandant.api"
    label = "api"
