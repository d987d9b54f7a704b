"""Operator pages of the invoices, under ``/operator/invoices/``."""

from django.urls import path

from mandant.invoicing import views

app_name = "invoicing_operator"

urlpatterns = [
    path("", views.operator_invoices, name="invoices"),
]
