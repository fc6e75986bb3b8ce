"""Billing routes, mounted at /billing/ on the public domain (webhook) and tenant domains."""

from __future__ import annotations

from django.urls import path

from tenants.billing import views

app_name = "billing"
urlpatterns = [
    path("", views.billing_home, name="home"),
    path("webhook/", views.webhook, name="webhook"),
    path("checkout/", views.checkout, name="checkout"),
    path("checkout/done/", views.checkout_done, name="checkout-done"),
    path("checkout/status/<str:session_id>/", views.checkout_status, name="checkout-status"),
    path("portal/", views.portal, name="portal"),
    path("change/<slug:slug>/", views.plan_change, name="plan-change"),
]
