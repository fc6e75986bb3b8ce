"""Alert API: channels, rules (read: everyone; write: alerts.manage) and history (read-only)."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from deployments.alerts import services
from deployments.alerts.api import serializers as s
from deployments.alerts.models import AlertChannel, AlertEvent, AlertRule
from tenants.members.permissions import HasPermission

READ_OR_MANAGE = {"list": "deployments.read", "retrieve": "deployments.read", "*": "alerts.manage"}


class ChannelViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.DestroyModelMixin, viewsets.GenericViewSet
):
    queryset = AlertChannel.objects.order_by("id")
    serializer_class = s.ChannelSerializer
    permission_classes = [HasPermission]
    required_permission = READ_OR_MANAGE

    @extend_schema(request=s.ChannelInputSerializer, responses={201: s.ChannelWithSecretSerializer})
    def create(self, request: Request) -> Response:
        data = s.ChannelInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        channel = services.channel_create(actor=request.user, **data.validated_data)
        return Response(s.ChannelWithSecretSerializer(channel).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=s.ChannelUpdateSerializer, responses=s.ChannelSerializer)
    def partial_update(self, request: Request, pk: Any = None) -> Response:
        channel = self.get_object()
        data = s.ChannelUpdateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        channel = services.channel_update(channel=channel, actor=request.user, **data.validated_data)
        return Response(s.ChannelSerializer(channel).data)

    @extend_schema(request=None, responses=s.ChannelWithSecretSerializer)
    @action(detail=True, methods=["post"], url_path="rotate-secret")
    def rotate_secret(self, request: Request, pk: Any = None) -> Response:
        channel = services.channel_rotate_secret(channel=self.get_object(), actor=request.user)
        return Response(s.ChannelWithSecretSerializer(channel).data)

    def perform_destroy(self, instance: AlertChannel) -> None:
        services.channel_delete(channel=instance, actor=self.request.user)


class RuleViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.DestroyModelMixin, viewsets.GenericViewSet
):
    queryset = AlertRule.objects.prefetch_related("channels").order_by("id")
    serializer_class = s.RuleSerializer
    permission_classes = [HasPermission]
    required_permission = READ_OR_MANAGE

    @extend_schema(request=s.RuleInputSerializer, responses={201: s.RuleSerializer})
    def create(self, request: Request) -> Response:
        data = s.RuleInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        rule = services.rule_create(actor=request.user, **data.validated_data)
        return Response(s.RuleSerializer(rule).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=s.RuleUpdateSerializer, responses=s.RuleSerializer)
    def partial_update(self, request: Request, pk: Any = None) -> Response:
        rule = self.get_object()
        data = s.RuleUpdateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        rule = services.rule_update(rule=rule, actor=request.user, **data.validated_data)
        return Response(s.RuleSerializer(rule).data)

    def perform_destroy(self, instance: AlertRule) -> None:
        services.rule_delete(rule=instance, actor=self.request.user)


class EventViewSet(viewsets.ReadOnlyModelViewSet):
    queryset = AlertEvent.objects.prefetch_related("deliveries").order_by("-id")
    serializer_class = s.EventSerializer
    permission_classes = [HasPermission]
    required_permission = "deployments.read"
    filterset_fields = ["kind", "severity", "rule"]
