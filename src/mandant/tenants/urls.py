from django.urls import path

from mandant.accounts import views as account_views
from mandant.tenants import views

app_name = "tenants"

urlpatterns = [
    path("", views.tenant_home, name="home"),
    path("enter/", views.tenant_enter, name="enter"),
    path("logo.png", views.tenant_logo, name="logo"),
    path("setup/", views.setup, name="setup"),
    path("setup/users/", account_views.setup_users, name="setup_users"),
    path("setup/tenant/", views.tenant_settings, name="settings"),
    path("setup/upgrades/", views.setup_upgrades, name="setup_upgrades"),
    path("setup/upgrades/tenants/", views.tenant_management, name="tenant_management"),
    path(
        "setup/upgrades/tenants/created/<slug:new_slug>/",
        views.tenant_created,
        name="tenant_created",
    ),
]
