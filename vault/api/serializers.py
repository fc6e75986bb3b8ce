"""Vault API serializers: input serializers validate shape, services validate meaning.

No output serializer has a value field except `RevealOutput`, which only the reveal
endpoints return.
"""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from portal.api import AllowListModelSerializer
from vault.models import RotationPolicy, Secret, SecretType, SecretVersion


def _tags() -> serializers.ListField:
    return serializers.ListField(child=serializers.CharField(max_length=40), required=False, max_length=20)


def _names() -> serializers.ListField:
    return serializers.ListField(child=serializers.CharField(max_length=100), required=False, max_length=50)


class SecretSerializer(AllowListModelSerializer):
    type = serializers.CharField(source="secret_type", read_only=True)
    version = serializers.IntegerField(source="current_version", read_only=True)
    owner = serializers.SerializerMethodField()
    generated = serializers.SerializerMethodField()
    rotation_due_at = serializers.DateTimeField(read_only=True, allow_null=True)

    class Meta:
        model = Secret
        fields = [
            "id",
            "name",
            "type",
            "environment",
            "description",
            "owner",
            "tags",
            "rotation_policy",
            "rotation_due_at",
            "auto_rotate",
            "generated",
            "allowed_roles",
            "allowed_service_accounts",
            "version",
            "rotated_at",
            "created_at",
            "updated_at",
            "deleted_at",
        ]
        read_only_fields = fields

    def get_owner(self, obj: Secret) -> str | None:
        return obj.owner.email if obj.owner else None

    def get_generated(self, obj: Secret) -> bool:
        return bool(obj.generator)


class SecretCreateInput(serializers.Serializer):
    name = serializers.CharField(max_length=400)
    value = serializers.CharField(required=False, allow_blank=True, trim_whitespace=False)
    generate = serializers.IntegerField(
        required=False, min_value=16, max_value=128, help_text="Generate a value of this length instead"
    )
    type = serializers.ChoiceField(choices=SecretType.choices, default=SecretType.GENERIC)
    environment = serializers.CharField(max_length=32, default="development")
    description = serializers.CharField(max_length=2000, required=False, allow_blank=True, default="")
    tags = _tags()
    rotation_policy = serializers.ChoiceField(choices=RotationPolicy.choices, default=RotationPolicy.NONE)
    auto_rotate = serializers.BooleanField(default=False)
    allowed_roles = _names()
    allowed_service_accounts = _names()

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if "value" not in attrs and "generate" not in attrs:
            raise serializers.ValidationError({"value": ["Give a value, or `generate` with a length."]})
        return attrs


class SecretUpdateInput(serializers.Serializer):
    version = serializers.IntegerField(min_value=0, help_text="The version you read (check-and-set)")
    value = serializers.CharField(required=False, allow_blank=True, trim_whitespace=False)
    type = serializers.ChoiceField(choices=SecretType.choices, required=False)
    environment = serializers.CharField(max_length=32, required=False)
    description = serializers.CharField(max_length=2000, required=False, allow_blank=True)
    tags = _tags()
    rotation_policy = serializers.ChoiceField(choices=RotationPolicy.choices, required=False)
    auto_rotate = serializers.BooleanField(required=False)
    allowed_roles = _names()
    allowed_service_accounts = _names()


class RevealInput(serializers.Serializer):
    reason = serializers.CharField(max_length=500, allow_blank=True, required=False, default="")
    version = serializers.IntegerField(required=False, min_value=1)


class FetchInput(serializers.Serializer):
    name = serializers.CharField(max_length=400)
    reason = serializers.CharField(max_length=500, allow_blank=True, required=False, default="")


class RevealOutput(serializers.Serializer):
    name = serializers.CharField()
    version = serializers.IntegerField()
    value = serializers.CharField()


class RotateInput(serializers.Serializer):
    reason = serializers.CharField(max_length=500, allow_blank=True, required=False, default="")
    value = serializers.CharField(required=False, allow_blank=True, trim_whitespace=False)
    version = serializers.IntegerField(required=False, min_value=0, help_text="Check-and-set (optional)")


class VersionSerializer(AllowListModelSerializer):
    created_by = serializers.SerializerMethodField()

    class Meta:
        model = SecretVersion
        fields = ["version", "created_at", "created_by"]
        read_only_fields = fields

    def get_created_by(self, obj: SecretVersion) -> str | None:
        return obj.created_by.email if obj.created_by else None


class StatsSerializer(serializers.Serializer):
    total = serializers.IntegerField()
    deleted = serializers.IntegerField()
    rotation_needed = serializers.IntegerField()
    versions = serializers.IntegerField()
    by_type = serializers.DictField(child=serializers.IntegerField())
    by_environment = serializers.DictField(child=serializers.IntegerField())
