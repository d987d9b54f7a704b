from django.urls import path

from mandant.accounts import views

app_name = "accounts"

urlpatterns = [
    path("", views.start, name="start"),
    path("login/", views.login_view, name="login"),
    path("logout/", views.logout_view, name="logout"),
    path("language/", views.language_switch, name="language"),
    path("tenants/", views.my_tenants, name="my_tenants"),
    path("t/<slug:slug>/setup/api-keys/", views.setup_api_keys, name="setup_api_keys"),
    path(
        "t/<slug:slug>/setup/api-keys/<int:key_id>/revoke/",
        views.revoke_api_key,
        name="revoke_api_key",
    ),
]
