"""Release keys: the key set (read) and rotation (owner/org_admin, fresh step-up MFA)."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.permissions import BasePermission, IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response

from deployments import release_keys
from deployments.models import ReleaseKey
from portal.api import AllowListModelSerializer
from tenants.members.mfa import RequiresStepUp
from tenants.members.permissions import HasPermission


class ReleaseKeySerializer(AllowListModelSerializer):
    key_id = serializers.CharField(read_only=True)
    previous_key_id = serializers.SerializerMethodField()

    class Meta:
        model = ReleaseKey
        fields = [
            "key_id",
            "public_key",
            "previous_key_id",
            "endorsement",
            "is_active",
            "created_at",
            "retired_at",
        ]
        read_only_fields = fields

    def get_previous_key_id(self, key: ReleaseKey) -> str:
        return key.previous.key_id if key.previous else ""


class RotateInput(serializers.Serializer):
    reason = serializers.CharField(max_length=500, required=False, default="", allow_blank=True)


class ReleaseKeyViewSet(mixins.ListModelMixin, viewsets.GenericViewSet):
    """Newest first. Retired keys stay listed: agents keep them to verify rollbacks."""

    serializer_class = ReleaseKeySerializer
    permission_classes = [IsAuthenticated, HasPermission]
    required_permission = {"list": "deployments.read", "rotate": "releases.rotate_key"}
    queryset = ReleaseKey.objects.select_related("previous").order_by("-id")

    def get_permissions(self) -> list[BasePermission]:
        extra: list[Any] = [RequiresStepUp()] if self.action == "rotate" else []
        return [*super().get_permissions(), *extra]

    @extend_schema(request=RotateInput, responses={201: ReleaseKeySerializer})
    @action(detail=False, methods=["post"])
    def rotate(self, request: Request) -> Response:
        data = RotateInput(data=request.data)
        data.is_valid(raise_exception=True)
        key = release_keys.release_key_rotate(actor=request.user, reason=data.validated_data["reason"])
        return Response(ReleaseKeySerializer(key).data, status=status.HTTP_201_CREATED)
