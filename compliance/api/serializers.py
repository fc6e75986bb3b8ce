"""Audit API serializers: explicit field allow-lists, input serializers for writes."""

from __future__ import annotations

from rest_framework import serializers

from compliance.models import AuditCheckpoint, AuditEvent, AuditExport, AuditForwardAttempt, AuditForwarder


class AuditEventSerializer(serializers.ModelSerializer):
    class Meta:
        model = AuditEvent
        fields = [
            "id",
            "seq",
            "occurred_at",
            "tenant",
            "actor_type",
            "actor_id",
            "actor_label",
            "action",
            "target_type",
            "target_id",
            "target_label",
            "ip",
            "user_agent",
            "request_id",
            "payload",
            "prev_hash",
            "hash",
            "chained_at",
        ]
        read_only_fields = fields


class CheckpointSerializer(serializers.ModelSerializer):
    class Meta:
        model = AuditCheckpoint
        fields = ["id", "chain", "seq", "hash", "signed_at", "kind", "key_id", "signature"]
        read_only_fields = fields


class ExportSerializer(serializers.ModelSerializer):
    checkpoint_seq = serializers.IntegerField(source="checkpoint.seq", read_only=True, default=None)

    class Meta:
        model = AuditExport
        fields = [
            "id",
            "format",
            "since",
            "until",
            "filters",
            "status",
            "created_at",
            "finished_at",
            "row_count",
            "first_seq",
            "last_seq",
            "file_sha256",
            "checkpoint_seq",
            "error",
        ]
        read_only_fields = fields


class ExportRequestSerializer(serializers.Serializer):
    format = serializers.ChoiceField(choices=AuditExport.Format.choices)
    since = serializers.DateTimeField()
    until = serializers.DateTimeField()
    filters = serializers.DictField(
        child=serializers.CharField(allow_blank=True), required=False, default=dict
    )


class ForwarderSerializer(serializers.ModelSerializer):
    has_secret = serializers.SerializerMethodField()

    class Meta:
        model = AuditForwarder
        fields = [
            "id",
            "name",
            "kind",
            "url",
            "host",
            "port",
            "bucket",
            "prefix",
            "endpoint_url",
            "is_active",
            "last_seq",
            "failures",
            "last_error",
            "last_error_at",
            "last_success_at",
            "next_attempt_at",
            "has_secret",
        ]
        read_only_fields = fields

    def get_has_secret(self, obj: AuditForwarder) -> bool:
        return bool(obj.secret_sealed)


class ForwarderWriteSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=100, required=False)
    kind = serializers.ChoiceField(choices=AuditForwarder.Kind.choices, required=False)
    url = serializers.CharField(max_length=500, required=False, allow_blank=True)
    host = serializers.CharField(max_length=255, required=False, allow_blank=True)
    port = serializers.IntegerField(required=False, allow_null=True, min_value=1, max_value=65535)
    bucket = serializers.CharField(max_length=255, required=False, allow_blank=True)
    prefix = serializers.CharField(max_length=255, required=False, allow_blank=True)
    endpoint_url = serializers.CharField(max_length=500, required=False, allow_blank=True)
    is_active = serializers.BooleanField(required=False)
    secret = serializers.CharField(max_length=500, required=False, allow_blank=True, write_only=True)


class AttemptSerializer(serializers.ModelSerializer):
    class Meta:
        model = AuditForwardAttempt
        fields = ["id", "at", "ok", "first_seq", "last_seq", "count", "error"]
        read_only_fields = fields


class RetentionSerializer(serializers.Serializer):
    retention_days = serializers.IntegerField()
