"""Operator pages of the price list, under ``/operator/billing/``."""

from django.urls import path

from mandant.billing import operator_views as views

app_name = "billing_operator"

urlpatterns = [
    path("products/", views.products, name="price_list"),
    path("products/<slug:key>/", views.product_detail, name="product"),
]
