"""Alert API serializers: explicit field allow-lists; input serializers only parse."""

from __future__ import annotations

from rest_framework import serializers

from deployments.alerts.models import AlertChannel, AlertDelivery, AlertEvent, AlertRule
from portal.api import AllowListModelSerializer


class ChannelSerializer(AllowListModelSerializer):
    class Meta:
        model = AlertChannel
        fields = ["id", "name", "kind", "recipients", "url", "is_active", "created_at"]
        read_only_fields = fields


class ChannelWithSecretSerializer(ChannelSerializer):
    """Returned on create and on secret rotation only: the HMAC key for generic webhooks."""

    class Meta(ChannelSerializer.Meta):
        fields = [*ChannelSerializer.Meta.fields, "signing_secret"]
        read_only_fields = fields


class ChannelInputSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=100)
    kind = serializers.ChoiceField(choices=AlertChannel.Kind.choices)
    recipients = serializers.ListField(
        child=serializers.CharField(max_length=254), required=False, default=list
    )
    url = serializers.CharField(max_length=500, required=False, allow_blank=True, default="")


class ChannelUpdateSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=100, required=False)
    recipients = serializers.ListField(child=serializers.CharField(max_length=254), required=False)
    url = serializers.CharField(max_length=500, required=False, allow_blank=True)
    is_active = serializers.BooleanField(required=False)


class RuleSerializer(AllowListModelSerializer):
    channels = serializers.PrimaryKeyRelatedField(many=True, read_only=True)  # type: ignore[var-annotated]

    class Meta:
        model = AlertRule
        fields = [
            "id",
            "name",
            "kind",
            "severity",
            "params",
            "channels",
            "cooldown_seconds",
            "is_active",
            "last_evaluated_at",
            "last_fired_at",
            "created_at",
        ]
        read_only_fields = fields


class RuleInputSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=100)
    kind = serializers.ChoiceField(choices=AlertRule.Kind.choices)
    severity = serializers.ChoiceField(choices=AlertRule.Severity.choices, default=AlertRule.Severity.WARNING)
    params = serializers.DictField(required=False, default=dict)
    channels = serializers.PrimaryKeyRelatedField(
        many=True, queryset=AlertChannel.objects.all(), required=False, default=list
    )
    cooldown_seconds = serializers.IntegerField(min_value=0, default=900)
    is_active = serializers.BooleanField(default=True)


class RuleUpdateSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=100, required=False)
    severity = serializers.ChoiceField(choices=AlertRule.Severity.choices, required=False)
    params = serializers.DictField(required=False)
    channels = serializers.PrimaryKeyRelatedField(
        many=True, queryset=AlertChannel.objects.all(), required=False
    )
    cooldown_seconds = serializers.IntegerField(min_value=0, required=False)
    is_active = serializers.BooleanField(required=False)


class DeliverySerializer(AllowListModelSerializer):
    class Meta:
        model = AlertDelivery
        fields = [
            "id",
            "channel",
            "channel_name",
            "status",
            "attempts",
            "last_error",
            "response_code",
            "sent_at",
        ]
        read_only_fields = fields


class EventSerializer(AllowListModelSerializer):
    deliveries = DeliverySerializer(many=True, read_only=True)

    class Meta:
        model = AlertEvent
        fields = [
            "id",
            "rule",
            "rule_name",
            "kind",
            "severity",
            "title",
            "findings",
            "fired_at",
            "deliveries",
        ]
        read_only_fields = fields
