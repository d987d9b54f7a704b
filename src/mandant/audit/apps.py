from django.apps import AppConfig


class AuditConfig(AppConfig):
    name = "mandant.audit"
    label = "audit"
