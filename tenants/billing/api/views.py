"""`GET /api/v1/billing/`: the tenant's plan, usage and invoices (billing.read)."""

from __future__ import annotations

from django.http import Http404
from drf_spectacular.utils import extend_schema
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from tenants.billing import selectors, stripe_client
from tenants.billing.api.serializers import BillingOverviewOut
from tenants.members.permissions import HasPermission


class BillingOverviewView(APIView):
    permission_classes = [HasPermission]
    required_permission = "billing.read"

    @extend_schema(responses=BillingOverviewOut)
    def get(self, request: Request) -> Response:
        tenant = request.tenant  # type: ignore[attr-defined]
        if tenant.schema_name == "public":
            raise Http404
        overview = selectors.tenant_billing_overview(tenant)
        sub = overview["subscription"]
        data = {
            "billing_enabled": stripe_client.billing_enabled(),
            "tenant_status": tenant.status,
            "plan": overview["plan"],
            "subscription_status": sub.status if sub else "none",
            "usage": overview["usage"],
            "invoices": overview["invoices"],
        }
        return Response(BillingOverviewOut(data).data)
