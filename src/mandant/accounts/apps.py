from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "mandant.accounts"
    label = "accounts"
