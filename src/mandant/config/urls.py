from django.contrib import admin
from django.urls import include, path

from mandant.accounts.security_views import admin_login
from mandant.api.api import api
from mandant.campaigns import public as campaign_public
from mandant.contacts.views import signup_confirm_page, signup_form_page, unsubscribe
from mandant.notices.views import inbound_bounce

admin.site.site_header = "Mandant"
admin.site.site_title = "Mandant operators"
# The admin signs in through the product's sign-in, so the second factor cannot be skipped.
admin.site.login = admin_login  # type: ignore[method-assign]

urlpatterns = [
    path("", include("mandant.accounts.urls")),
    path("account/", include("mandant.accounts.security_urls")),
    path("t/<slug:slug>/", include("mandant.tenants.urls")),
    path("t/<slug:slug>/content/", include("mandant.content.urls")),
    path("t/<slug:slug>/contacts/", include("mandant.contacts.urls")),
    path("t/<slug:slug>/campaigns/", include("mandant.campaigns.urls")),
    path("t/<slug:slug>/setup/upgrades/", include("mandant.billing.urls")),
    path("t/<slug:slug>/setup/billing/", include("mandant.invoicing.urls")),
    path("t/<slug:slug>/setup/sending/", include("mandant.sending.urls")),
    path("operator/", include("mandant.tenants.operator_urls")),
    path("operator/billing/", include("mandant.billing.operator_urls")),
    path("operator/invoices/", include("mandant.invoicing.operator_urls")),
    path("admin/", admin.site.urls),
    path("api/v1/", api.urls),
    # Delivery status notifications from the bounce mailbox's MTA (BOUNCE_WEBHOOK_SECRET).
    path("inbound/bounces/", inbound_bounce, name="inbound_bounces"),
    # One-click unsubscribe (RFC 8058): public, authorised by the signed token alone.
    path("u/<str:token>/", unsubscribe, name="unsubscribe"),
    # Campaign mail for its recipients (campaigns.public): open pixel, click redirect, images,
    # web version; public, authorised by the signed token alone.
    path("o/<str:token>.gif", campaign_public.open_pixel, name="campaign_open"),
    path("c/<str:token>/<id:link>/", campaign_public.click, name="campaign_click"),
    path("i/<str:token>/", campaign_public.image, name="campaign_image"),
    path("w/<str:token>/", campaign_public.web_version, name="campaign_webversion"),
    # Sign-up forms with double opt-in: public; the form by its random key, the confirmation
    # by its signed token (contacts.signup).
    path("f/confirm/<str:token>/", signup_confirm_page, name="signup_confirm"),
    path("f/<str:key>/", signup_form_page, name="signup_form"),
]
