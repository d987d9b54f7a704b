"""Setup → Sending, under ``/t/<slug>/setup/sending/``."""

from django.urls import path

from mandant.sending import views

app_name = "sending"

urlpatterns = [
    path("", views.sending_setup, name="setup"),
    path("domains/", views.domain_add, name="domain_add"),
    path("domains/<id:domain_id>/check/", views.domain_check, name="domain_check"),
    path(
        "domains/<id:domain_id>/verify-without-dns/",
        views.domain_verify_without_dns,
        name="domain_verify_without_dns",
    ),
    path("domains/<id:domain_id>/remove/", views.domain_remove, name="domain_remove"),
    path("identities/", views.identity_create, name="identity_create"),
    path("identities/<id:identity_id>/", views.identity_edit, name="identity_edit"),
    path("identities/<id:identity_id>/delete/", views.identity_delete, name="identity_delete"),
    path("postal-address/", views.postal_address, name="postal_address"),
]
