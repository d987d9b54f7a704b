"""Under ``/t/<slug>/setup/upgrades/`` (the overview itself is ``tenants:setup_upgrades``)."""

from django.urls import path

from mandant.billing import views

app_name = "billing"

urlpatterns = [
    path("<slug:product>/activate/", views.upgrade_activate, name="upgrade_activate"),
    path("<slug:product>/deactivate/", views.upgrade_deactivate, name="upgrade_deactivate"),
]
