"""Governance API: policies, violations, reports, DSRs, consent, DPIA, AI register.

Viewsets only parse input and call services; permissions come from `required_permission`.
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import exceptions, mixins, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from compliance.governance import selectors, services
from compliance.governance.api import serializers as s
from compliance.governance.catalogue import UnknownFramework, frameworks
from compliance.governance.models import (
    AIReviewItem,
    AISystem,
    ConsentRecord,
    DataSubjectRequest,
    Dpia,
    Policy,
    PolicyViolation,
)
from compliance.governance.policy_templates import TEMPLATES
from compliance.governance.reports import build_report, overall_score, parse_period
from tenants.members.permissions import HasPermission

READ_ACTIONS = ("list", "retrieve")


def perms(read: str, write: str, **extra: str) -> dict[str, str]:
    return {**{a: read for a in READ_ACTIONS}, "*": write, **extra}


class PolicyViewSet(viewsets.ModelViewSet):
    serializer_class = s.PolicySerializer
    permission_classes = [HasPermission]
    required_permission = perms("policies.read", "policies.manage", templates="policies.read")
    queryset = Policy.objects.all()
    http_method_names = ["get", "post", "patch", "delete"]

    def perform_create(self, serializer: Any) -> None:
        serializer.instance = services.policy_create(actor=self.request.user, **serializer.validated_data)

    def perform_update(self, serializer: Any) -> None:
        serializer.instance = services.policy_update(
            policy=serializer.instance, actor=self.request.user, **serializer.validated_data
        )

    def perform_destroy(self, instance: Policy) -> None:
        services.policy_delete(policy=instance, actor=self.request.user)

    @action(detail=False, methods=["get"])
    def templates(self, request: Request) -> Response:
        return Response(
            [
                {
                    "key": t.key,
                    "name": t.name,
                    "description": t.description,
                    "applies_to": list(t.applies_to),
                    "conditions": t.conditions,
                    "action": t.action,
                }
                for t in TEMPLATES
            ]
        )

    @action(detail=False, methods=["post"], url_path="install-template")
    def install_template(self, request: Request) -> Response:
        data = s.TemplateInstallSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        policy = services.policy_install_template(key=data.validated_data["template"], actor=request.user)
        return Response(s.PolicySerializer(policy).data, status=201)


class ViolationViewSet(viewsets.ReadOnlyModelViewSet):
    serializer_class = s.ViolationSerializer
    permission_classes = [HasPermission]
    required_permission = perms("policies.read", "policies.manage")

    def get_queryset(self) -> Any:
        resolved = self.request.query_params.get("resolved")
        flag = {"true": True, "false": False}.get((resolved or "").lower())
        return selectors.violations(resolved=flag)

    @action(detail=True, methods=["post"])
    def resolve(self, request: Request, pk: str | None = None) -> Response:
        data = s.ResolveSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        violation = services.violation_resolve(
            violation=self.get_object(), actor=request.user, **data.validated_data
        )
        return Response(s.ViolationSerializer(violation).data)


class FrameworkListView(APIView):
    permission_classes = [HasPermission]
    required_permission = "reports.read"

    @extend_schema(responses=OpenApiTypes.OBJECT, description="The frameworks of the control catalogue.")
    def get(self, request: Request) -> Response:
        return Response(
            [
                {"key": f.key, "name": f.name, "version": f.version, "controls": len(f.controls)}
                for f in frameworks().values()
            ]
        )


class ReportView(APIView):
    permission_classes = [HasPermission]
    required_permission = "reports.read"

    @extend_schema(
        responses=OpenApiTypes.OBJECT,
        parameters=[
            OpenApiParameter("start", OpenApiTypes.DATE, description="First day (default: 90 days ago)"),
            OpenApiParameter("end", OpenApiTypes.DATE, description="Last day (default: today)"),
        ],
        description="A framework's controls over a period: status, evidence, date and link.",
    )
    def get(self, request: Request, key: str) -> Response:
        period = parse_period(request.query_params.get("start"), request.query_params.get("end"))
        try:
            report = build_report(framework_key=key, period=period)
        except UnknownFramework as exc:
            raise exceptions.NotFound(str(exc), code="unknown_framework") from exc
        return Response(report.as_dict())


class DashboardView(APIView):
    permission_classes = [HasPermission]
    required_permission = "reports.read"

    @extend_schema(responses=OpenApiTypes.OBJECT, description="Score, open violations, DSR deadlines.")
    def get(self, request: Request) -> Response:
        overall = overall_score(parse_period(None, None))
        dsr = selectors.dsr_deadline_summary()
        return Response(
            {
                "score": overall["score"],
                "controls": {k: overall[k] for k in ("controls", "passing", "failing", "manual")},
                "frameworks": {r.framework.key: r.score for r in overall["reports"]},
                "open_violations": PolicyViolation.objects.filter(resolved=False).count(),
                "dsr": {k: dsr[k] for k in ("open", "overdue", "due_within_7_days")},
                "pending_ai_reviews": selectors.pending_reviews().count(),
            }
        )


class DsrViewSet(mixins.CreateModelMixin, viewsets.ReadOnlyModelViewSet):
    serializer_class = s.DsrSerializer
    permission_classes = [HasPermission]
    required_permission = perms("privacy.read", "privacy.manage")
    queryset = DataSubjectRequest.objects.all()

    def perform_create(self, serializer: Any) -> None:
        serializer.instance = services.dsr_create(actor=self.request.user, **serializer.validated_data)

    @action(detail=True, methods=["post"])
    def fulfil(self, request: Request, pk: str | None = None) -> Response:
        dsr = services.dsr_fulfil(dsr=self.get_object(), actor=request.user)
        return Response(s.DsrSerializer(dsr).data)

    @action(detail=True, methods=["post"])
    def reject(self, request: Request, pk: str | None = None) -> Response:
        data = s.RejectSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        dsr = services.dsr_reject(dsr=self.get_object(), actor=request.user, **data.validated_data)
        return Response(s.DsrSerializer(dsr).data)


class ConsentViewSet(mixins.CreateModelMixin, viewsets.ReadOnlyModelViewSet):
    serializer_class = s.ConsentSerializer
    permission_classes = [HasPermission]
    required_permission = perms("privacy.read", "privacy.manage")
    queryset = ConsentRecord.objects.all()

    def perform_create(self, serializer: Any) -> None:
        serializer.instance = services.consent_record(actor=self.request.user, **serializer.validated_data)

    @action(detail=True, methods=["post"])
    def withdraw(self, request: Request, pk: str | None = None) -> Response:
        record = services.consent_withdraw(record=self.get_object(), actor=request.user)
        return Response(s.ConsentSerializer(record).data)


class DpiaViewSet(mixins.CreateModelMixin, mixins.UpdateModelMixin, viewsets.ReadOnlyModelViewSet):
    serializer_class = s.DpiaSerializer
    permission_classes = [HasPermission]
    required_permission = perms("privacy.read", "privacy.manage")
    queryset = Dpia.objects.all()
    http_method_names = ["get", "post", "patch"]

    def perform_create(self, serializer: Any) -> None:
        serializer.instance = services.dpia_save(actor=self.request.user, **serializer.validated_data)

    def perform_update(self, serializer: Any) -> None:
        serializer.instance = services.dpia_save(
            actor=self.request.user, dpia=serializer.instance, **serializer.validated_data
        )

    @action(detail=True, methods=["post"])
    def approve(self, request: Request, pk: str | None = None) -> Response:
        return Response(
            s.DpiaSerializer(services.dpia_approve(dpia=self.get_object(), actor=request.user)).data
        )


class AISystemViewSet(mixins.CreateModelMixin, mixins.UpdateModelMixin, viewsets.ReadOnlyModelViewSet):
    serializer_class = s.AISystemSerializer
    permission_classes = [HasPermission]
    required_permission = perms("privacy.read", "privacy.manage")
    queryset = AISystem.objects.prefetch_related("assessments")
    http_method_names = ["get", "post", "patch"]

    def perform_create(self, serializer: Any) -> None:
        serializer.instance = services.ai_system_save(actor=self.request.user, **serializer.validated_data)

    def perform_update(self, serializer: Any) -> None:
        serializer.instance = services.ai_system_save(
            actor=self.request.user, system=serializer.instance, **serializer.validated_data
        )

    @action(detail=True, methods=["post"])
    def assess(self, request: Request, pk: str | None = None) -> Response:
        data = s.AssessmentSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        assessment = services.ai_risk_assess(
            actor=request.user, system=self.get_object(), **data.validated_data
        )
        return Response(s.AssessmentSerializer(assessment).data, status=201)


class ReviewViewSet(mixins.CreateModelMixin, viewsets.ReadOnlyModelViewSet):
    """The human review queue. Submitting needs privacy.read; deciding needs privacy.manage."""

    serializer_class = s.ReviewSerializer
    permission_classes = [HasPermission]
    required_permission = perms("privacy.read", "privacy.manage", create="privacy.read")

    def get_queryset(self) -> Any:
        qs = AIReviewItem.objects.select_related("system", "reviewer")
        status = self.request.query_params.get("status")
        return qs.filter(status=status) if status else qs

    def perform_create(self, serializer: Any) -> None:
        serializer.instance = services.ai_review_submit(actor=self.request.user, **serializer.validated_data)

    @action(detail=True, methods=["post"])
    def decide(self, request: Request, pk: str | None = None) -> Response:
        data = s.DecideSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        item = services.ai_review_decide(
            actor=request.user,
            item=self.get_object(),
            approve=data.validated_data["decision"] == "approve",
            note=data.validated_data["note"],
        )
        return Response(s.ReviewSerializer(item).data)
