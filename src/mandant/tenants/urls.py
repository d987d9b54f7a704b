from django.urls import path

from mandant.accounts import views as account_views
from mandant.tenants import views

app_name = "tenants"

urlpatterns = [
    path("", views.tenant_home, name="home"),
    path("enter/", views.tenant_enter, name="enter"),
    path("logo.png", views.tenant_logo, name="logo"),
    path("setup/", views.setup, name="setup"),
    path("handover/", views.tenant_handover, name="handover"),
    path("setup/users/", account_views.setup_users, name="setup_users"),
    path("setup/users/invite/", account_views.user_invite, name="user_invite"),
    path(
        "setup/users/administrator/",
        account_views.create_administrator,
        name="create_administrator",
    ),
    path("setup/users/<id:user_id>/added/", account_views.user_added, name="user_added"),
    path("setup/users/<id:user_id>/role/", account_views.user_role, name="user_role"),
    path(
        "setup/users/<id:user_id>/deactivate/",
        account_views.user_deactivate,
        name="user_deactivate",
    ),
    path(
        "setup/users/<id:user_id>/reactivate/",
        account_views.user_reactivate,
        name="user_reactivate",
    ),
    path("setup/users/<id:user_id>/resend/", account_views.user_resend, name="user_resend"),
    path("setup/users/<id:user_id>/remove/", account_views.user_remove, name="user_remove"),
    path("setup/tenant/", views.tenant_settings, name="settings"),
    path("setup/upgrades/", views.setup_upgrades, name="setup_upgrades"),
    path("setup/upgrades/tenants/", views.tenant_management, name="tenant_management"),
    path(
        "setup/upgrades/tenants/created/<slug:new_slug>/",
        views.tenant_created,
        name="tenant_created",
    ),
]
