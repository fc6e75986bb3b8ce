"""API serializers: explicit field allow-lists; writes go through the services."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from compliance.governance.conditions import validate_conditions
from compliance.governance.models import (
    AIReviewItem,
    AIRiskAssessment,
    AISystem,
    ConsentRecord,
    DataSubjectRequest,
    Dpia,
    Policy,
    PolicyViolation,
)
from compliance.governance.services.policies import clean_applies_to
from portal.api import AllowListModelSerializer


class PolicySerializer(AllowListModelSerializer):
    applies_to = serializers.JSONField()
    conditions = serializers.JSONField()

    class Meta:
        model = Policy
        fields = [
            "id",
            "name",
            "description",
            "applies_to",
            "conditions",
            "action",
            "enabled",
            "template",
            "created_at",
            "updated_at",
        ]
        read_only_fields = ["template", "created_at", "updated_at"]
        extra_kwargs: dict[str, Any] = {"name": {"validators": []}}

    def validate_conditions(self, value: Any) -> Any:
        return validate_conditions(value)

    def validate_applies_to(self, value: Any) -> Any:
        return clean_applies_to(value)


class TemplateInstallSerializer(serializers.Serializer):
    template = serializers.CharField()


class ViolationSerializer(AllowListModelSerializer):
    resolved_by: serializers.Field = serializers.StringRelatedField()

    class Meta:
        model = PolicyViolation
        fields = [
            "id",
            "uid",
            "policy_name",
            "action",
            "outcome",
            "message",
            "actor_label",
            "context",
            "occurred_at",
            "resolved",
            "resolved_at",
            "resolved_by",
            "resolution_note",
        ]
        read_only_fields = fields


class ResolveSerializer(serializers.Serializer):
    note = serializers.CharField(max_length=400, required=False, allow_blank=True, default="")


class DsrSerializer(AllowListModelSerializer):
    class Meta:
        model = DataSubjectRequest
        fields = [
            "id",
            "kind",
            "subject_email",
            "received_at",
            "deadline",
            "status",
            "completed_at",
            "result_summary",
            "notes",
        ]
        read_only_fields = ["received_at", "deadline", "status", "completed_at", "result_summary"]
        extra_kwargs: dict[str, Any] = {"subject_email": {"required": True, "allow_blank": False}}


class RejectSerializer(serializers.Serializer):
    reason = serializers.CharField(max_length=400)


class ConsentSerializer(AllowListModelSerializer):
    class Meta:
        model = ConsentRecord
        fields = ["id", "subject_email", "purpose", "granted", "source", "recorded_at", "withdrawn_at"]
        read_only_fields = ["recorded_at", "withdrawn_at"]


class DpiaSerializer(AllowListModelSerializer):
    class Meta:
        model = Dpia
        fields = [
            "id",
            "title",
            "processing",
            "data_categories",
            "risk_level",
            "mitigations",
            "review_due",
            "status",
            "approved_at",
            "created_at",
        ]
        read_only_fields = ["status", "approved_at", "created_at"]


class AssessmentSerializer(AllowListModelSerializer):
    class Meta:
        model = AIRiskAssessment
        fields = [
            "id",
            "risk_class",
            "likelihood",
            "impact",
            "score",
            "rationale",
            "mitigations",
            "assessed_at",
        ]
        read_only_fields = ["score", "assessed_at"]


class AISystemSerializer(AllowListModelSerializer):
    assessments = AssessmentSerializer(many=True, read_only=True)

    class Meta:
        model = AISystem
        fields = [
            "id",
            "name",
            "purpose",
            "provider",
            "risk_class",
            "status",
            "human_oversight",
            "created_at",
            "assessments",
        ]
        read_only_fields = ["risk_class", "created_at"]
        extra_kwargs: dict[str, Any] = {"name": {"validators": []}}


class ReviewSerializer(AllowListModelSerializer):
    system = serializers.PrimaryKeyRelatedField(queryset=AISystem.objects.all())
    reviewer: serializers.Field = serializers.StringRelatedField()

    class Meta:
        model = AIReviewItem
        fields = [
            "id",
            "system",
            "subject",
            "proposed_outcome",
            "model_output",
            "status",
            "submitted_at",
            "reviewer",
            "reviewed_at",
            "review_note",
        ]
        read_only_fields = ["status", "submitted_at", "reviewer", "reviewed_at", "review_note"]


class DecideSerializer(serializers.Serializer):
    decision = serializers.ChoiceField(choices=["approve", "reject"])
    note = serializers.CharField(required=False, allow_blank=True, default="")
