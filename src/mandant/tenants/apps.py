from django.apps import AppConfig


class TenantsConfig(AppConfig):
    name = "mandant.tenants"
    label = "tenants"
