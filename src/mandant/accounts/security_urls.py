"""``/account/``: pages that act only on the signed-in user (or the user a signed link names)."""

from django.urls import path

from mandant.accounts import security_views as views

app_name = "security"

urlpatterns = [
    path("", views.profile, name="profile"),
    path("password/", views.password_change, name="password_change"),
    path("password-reset/", views.password_reset, name="password_reset"),
    path(
        "password-reset/<str:uidb64>/<str:token>/",
        views.password_reset_confirm,
        name="password_reset_confirm",
    ),
    path("email/", views.email_change, name="email_change"),
    path("email/verify/", views.email_verify_send, name="email_verify_send"),
    path("email/confirm/<str:token>/", views.email_change_confirm, name="email_change_confirm"),
    path("two-factor/", views.two_factor, name="two_factor"),
    path("two-factor/recovery-codes/", views.recovery_codes, name="recovery_codes"),
    path("two-factor/disable/", views.two_factor_disable, name="two_factor_disable"),
    path("login/code/", views.login_code, name="login_code"),
]
