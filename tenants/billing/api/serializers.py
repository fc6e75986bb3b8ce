"""Output serializers of the billing API (read-only: money changes go through Stripe pages)."""

from __future__ import annotations

from rest_framework import serializers


class PlanOut(serializers.Serializer):
    slug = serializers.CharField()
    name = serializers.CharField()
    max_members = serializers.IntegerField(allow_null=True)
    max_agents = serializers.IntegerField(allow_null=True)
    max_environments = serializers.IntegerField(allow_null=True)
    max_secrets = serializers.IntegerField(allow_null=True)
    max_deploys_per_month = serializers.IntegerField(allow_null=True)
    features = serializers.ListField(child=serializers.CharField())


class InvoiceOut(serializers.Serializer):
    id = serializers.CharField(source="stripe_invoice_id")
    number = serializers.CharField()
    status = serializers.CharField()
    currency = serializers.CharField()
    amount_due = serializers.IntegerField()
    amount_paid = serializers.IntegerField()
    issued_at = serializers.DateTimeField(allow_null=True)
    paid_at = serializers.DateTimeField(allow_null=True)


class BillingOverviewOut(serializers.Serializer):
    billing_enabled = serializers.BooleanField()
    tenant_status = serializers.CharField()
    plan = PlanOut(allow_null=True)
    subscription_status = serializers.CharField()
    usage = serializers.DictField(child=serializers.IntegerField())
    invoices = InvoiceOut(many=True)
