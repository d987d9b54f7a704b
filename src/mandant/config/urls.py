from django.contrib import admin
from django.urls import include, path

from mandant.api.api import api

admin.site.site_header = "Mandant"
admin.site.site_title = "Mandant operators"

urlpatterns = [
    path("", include("mandant.accounts.urls")),
    path("t/<slug:slug>/", include("mandant.tenants.urls")),
    path("operator/", include("mandant.tenants.operator_urls")),
    path("admin/", admin.site.urls),
    path("api/v1/", api.urls),
]
