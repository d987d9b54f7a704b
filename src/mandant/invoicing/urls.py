"""Setup → Billing, under ``/t/<slug>/setup/billing/``."""

from django.urls import path

from mandant.invoicing import views

app_name = "invoicing"

urlpatterns = [
    path("", views.billing, name="billing"),
    path("<str:number>.pdf", views.invoice_pdf, name="invoice_pdf"),
]
