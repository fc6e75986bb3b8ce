"""API serializers of deployments: explicit field allow-lists, input serializers for writes."""

from __future__ import annotations

import json
from typing import Any

from rest_framework import serializers

from deployments.models import (
    Agent,
    DeployRun,
    DeployStep,
    EnrollmentToken,
    Environment,
    EnvironmentVariable,
    Release,
    TerminalAllowedCommand,
    TerminalSession,
)
from portal.api import AllowListModelSerializer
from tenants.members.permissions import has_perm


class VariableSerializer(AllowListModelSerializer):
    class Meta:
        model = EnvironmentVariable
        fields = ["name", "value"]
        # The service sets name and value together; a missing value is a 400, not a TypeError.
        extra_kwargs = {"value": {"required": True, "allow_blank": True}}
        validators: list = []  # (environment, name) is an upsert, not a uniqueness error


class VariableReadSerializer(AllowListModelSerializer):
    """A variable as listed with its environment: the value only for roles that manage environments
    (the pages show the same), since a value may be a literal credential rather than a reference."""

    value = serializers.SerializerMethodField()

    class Meta:
        model = EnvironmentVariable
        fields = ["name", "value"]

    def get_value(self, variable: EnvironmentVariable) -> str | None:
        request = self.context.get("request")
        if request is None or not has_perm(request.user, "environments.manage"):
            return None
        return variable.value


class EnvironmentSerializer(AllowListModelSerializer):
    variables = VariableReadSerializer(many=True, read_only=True)

    class Meta:
        model = Environment
        fields = [
            "id",
            "name",
            "description",
            "is_production",
            "approvals_required",
            "created_at",
            "variables",
        ]
        read_only_fields = ["created_at"]


class TokenSerializer(AllowListModelSerializer):
    environment = serializers.SlugRelatedField(slug_field="name", read_only=True)

    class Meta:
        model = EnrollmentToken
        fields = ["id", "prefix", "environment", "expires_at", "max_uses", "uses", "revoked_at", "created_at"]
        read_only_fields = fields


class TokenCreateInput(serializers.Serializer):
    environment = serializers.SlugRelatedField(slug_field="name", queryset=Environment.objects.all())
    expires_in_hours = serializers.IntegerField(min_value=1, max_value=24 * 30, default=24)
    max_uses = serializers.IntegerField(min_value=1, max_value=1000, default=1)


class TokenCreated(TokenSerializer):
    token = serializers.CharField(read_only=True, help_text="Shown once; only its hash is stored.")

    class Meta(TokenSerializer.Meta):
        fields = [*TokenSerializer.Meta.fields, "token"]
        read_only_fields = fields


class AgentSerializer(AllowListModelSerializer):
    environment = serializers.SlugRelatedField(slug_field="name", read_only=True)
    deployed_version = serializers.CharField(source="deployed_release.version", default=None, read_only=True)

    class Meta:
        model = Agent
        fields = [
            "id", "name", "environment", "status", "last_seen", "agent_version", "host_fingerprint",
            "key_fingerprint", "enrolled_at", "revoked_at", "deployed_version",
        ]  # fmt: skip
        read_only_fields = fields


class ReleaseSerializer(AllowListModelSerializer):
    key_id = serializers.CharField(read_only=True, help_text="Id of the release key that signed it.")

    class Meta:
        model = Release
        fields = [
            "id",
            "version",
            "artifact_sha256",
            "artifact_size",
            "manifest",
            "signature",
            "key_id",
            "notes",
            "created_at",
        ]
        read_only_fields = fields


class JSONTextField(serializers.JSONField):
    """Accepts a JSON object, or JSON text in a multipart form field."""

    def to_internal_value(self, data: Any) -> Any:
        if isinstance(data, str):
            try:
                data = json.loads(data)
            except ValueError as exc:
                raise serializers.ValidationError("Not valid JSON.") from exc
        return super().to_internal_value(data)


class ReleaseCreateInput(serializers.Serializer):
    version = serializers.CharField(max_length=64)
    artifact = serializers.FileField()
    manifest = JSONTextField()
    notes = serializers.CharField(required=False, default="", allow_blank=True)


class StepSerializer(AllowListModelSerializer):
    agent = serializers.CharField(source="target.agent.name", default=None, read_only=True)

    class Meta:
        model = DeployStep
        fields = ["id", "name", "state", "agent", "started_at", "finished_at", "duration_ms", "output"]
        read_only_fields = fields


class RunSerializer(AllowListModelSerializer):
    environment = serializers.SlugRelatedField(slug_field="name", read_only=True)
    release = serializers.SlugRelatedField(slug_field="version", read_only=True)
    steps = StepSerializer(many=True, read_only=True)

    class Meta:
        model = DeployRun
        fields = [
            "id", "environment", "release", "kind", "status", "reason", "error", "created_at", "started_at",
            "finished_at", "steps",
        ]  # fmt: skip
        read_only_fields = fields


class RunCreateInput(serializers.Serializer):
    environment = serializers.SlugRelatedField(slug_field="name", queryset=Environment.objects.all())
    release = serializers.SlugRelatedField(slug_field="version", queryset=Release.objects.all())
    rollback = serializers.BooleanField(default=False)
    reason = serializers.CharField(required=False, default="", allow_blank=True, max_length=300)


class LogLineSerializer(serializers.Serializer):
    time = serializers.FloatField()
    agent = serializers.IntegerField()
    run = serializers.IntegerField(allow_null=True)
    level = serializers.CharField()
    stream = serializers.CharField()
    text = serializers.CharField()


class LogLinesSerializer(serializers.Serializer):
    lines = LogLineSerializer(many=True)
    truncated = serializers.BooleanField(
        help_text="More lines matched than `limit`; narrow the filter or export CSV."
    )


class AllowedCommandSerializer(AllowListModelSerializer):
    class Meta:
        model = TerminalAllowedCommand
        fields = ["id", "program", "description"]


class TerminalSessionSerializer(AllowListModelSerializer):
    class Meta:
        model = TerminalSession
        fields = [
            "id", "agent", "started_at", "ended_at", "end_reason", "commands_run", "commands_refused",
            "recording_sha256",
        ]  # fmt: skip
        read_only_fields = fields
