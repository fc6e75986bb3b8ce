"""Billing forms: choose a paid plan and interval; confirm a plan change."""

from __future__ import annotations

from django import forms

from tenants.models import Plan


class CheckoutForm(forms.Form):
    plan = forms.ModelChoiceField(
        queryset=Plan.objects.filter(is_public=True, monthly_price_cents__gt=0), to_field_name="slug"
    )
    interval = forms.ChoiceField(choices=[("month", "Monthly"), ("year", "Yearly")], initial="month")


class PlanChangeForm(forms.Form):
    interval = forms.ChoiceField(choices=[("month", "Monthly"), ("year", "Yearly")], initial="month")
    confirm = forms.BooleanField(required=True, label="I have read what changes")
