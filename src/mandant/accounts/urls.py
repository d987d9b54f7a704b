from django.urls import path

from mandant.accounts import views

app_name = "accounts"

urlpatterns = [
    path("", views.start, name="start"),
    path("login/", views.login_view, name="login"),
    path("logout/", views.logout_view, name="logout"),
    path("language/", views.language_switch, name="language"),
    path("tenants/", views.my_tenants, name="my_tenants"),
    # Links from mails, usable without signing in; the token is the only key.
    path("invitation/<str:token>/", views.invitation_accept, name="invitation"),
    path("verify-email/<str:token>/", views.verify_email, name="verify_email"),
    path("t/<slug:slug>/setup/api-keys/", views.setup_api_keys, name="setup_api_keys"),
    path(
        "t/<slug:slug>/setup/api-keys/<id:key_id>/revoke/",
        views.revoke_api_key,
        name="revoke_api_key",
    ),
]
