"""Vault API: thin views over vault.services and vault.selectors."""

from __future__ import annotations

from typing import Any

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import generics, mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound, PermissionDenied, ValidationError
from rest_framework.permissions import IsAuthenticated
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from portal.api import CursorPagination
from tenants.members.permissions import HasPermission, authorize
from vault import access, rules, selectors, services
from vault.api import serializers as s
from vault.filters import SecretFilter
from vault.models import Secret

_ERRORS = {
    400: OpenApiResponse(description="Validation error (one error body)"),
    403: OpenApiResponse(description="Role, object rule, step-up or scope refused"),
    404: OpenApiResponse(description="No such secret in this tenant"),
}
_NO_STORE = {"Cache-Control": "no-store"}


def _metadata(data: dict[str, Any]) -> dict[str, Any]:
    """Input serializer names → service keyword names."""
    out = {k: v for k, v in data.items() if k not in ("type", "value", "version", "generate", "name")}
    if "type" in data:
        out["secret_type"] = data["type"]
    return out


@extend_schema_view(
    list=extend_schema(
        summary="List secrets (metadata only)",
        parameters=[OpenApiParameter("deleted", bool, description="Show soft-deleted secrets instead")],
    ),
    retrieve=extend_schema(
        summary="Secret metadata (never the value)", responses={200: s.SecretSerializer, **_ERRORS}
    ),
    destroy=extend_schema(summary="Soft-delete a secret", responses={204: None, **_ERRORS}),
)
class SecretViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    serializer_class = s.SecretSerializer
    filterset_class = SecretFilter
    permission_classes = [IsAuthenticated, HasPermission]
    required_permission = {
        "list": "vault.read",
        "retrieve": "vault.read",
        "versions": "vault.read",
        "create": "vault.write",
        "partial_update": "vault.write",
        "rotate": "vault.write",
        "destroy": "vault.write",
        "restore": "vault.write",
        "destroy_permanently": "vault.destroy",
    }

    def get_queryset(self) -> Any:
        if self.action == "list":
            deleted = self.request.query_params.get("deleted", "").lower() in ("1", "true", "yes")
            base = selectors.secrets_all().filter(deleted_at__isnull=not deleted)
            return base.order_by("-id")
        return selectors.secrets_all()

    @extend_schema(
        summary="Create a secret", request=s.SecretCreateInput, responses={201: s.SecretSerializer, **_ERRORS}
    )
    def create(self, request: Request) -> Response:
        data = s.SecretCreateInput(data=request.data)
        data.is_valid(raise_exception=True)
        v = data.validated_data
        secret = services.secret_create(
            actor=request.user,
            name=v["name"],
            value=v.get("value"),
            generate_length=v.get("generate"),
            **_metadata(v),
        )
        return Response(s.SecretSerializer(secret).data, status=status.HTTP_201_CREATED)

    @extend_schema(
        summary="Update metadata and/or the value (check-and-set on `version`)",
        request=s.SecretUpdateInput,
        responses={200: s.SecretSerializer, 409: OpenApiResponse(description="Stale version"), **_ERRORS},
    )
    def partial_update(self, request: Request, pk: str) -> Response:
        secret = self.get_object()
        data = s.SecretUpdateInput(data=request.data)
        data.is_valid(raise_exception=True)
        v = data.validated_data
        secret = services.secret_update(
            secret=secret,
            actor=request.user,
            expected_version=v["version"],
            value=v.get("value"),
            **_metadata(v),
        )
        return Response(s.SecretSerializer(secret).data)

    def destroy(self, request: Request, pk: str) -> Response:
        services.secret_delete(secret=self.get_object(), actor=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(
        summary="Restore a soft-deleted secret", request=None, responses={200: s.SecretSerializer, **_ERRORS}
    )
    @action(detail=True, methods=["post"])
    def restore(self, request: Request, pk: str) -> Response:
        return Response(
            s.SecretSerializer(services.secret_restore(secret=self.get_object(), actor=request.user)).data
        )

    @extend_schema(
        summary="Destroy a deleted secret permanently (all versions)",
        request=None,
        responses={204: None, **_ERRORS},
    )
    @action(detail=True, methods=["post"], url_path="destroy")
    def destroy_permanently(self, request: Request, pk: str) -> Response:
        services.secret_destroy(secret=self.get_object(), actor=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(
        summary="Rotate: a new version (given, or generated for generated secrets)",
        request=s.RotateInput,
        responses={200: s.SecretSerializer, 409: OpenApiResponse(description="Stale version"), **_ERRORS},
    )
    @action(detail=True, methods=["post"])
    def rotate(self, request: Request, pk: str) -> Response:
        secret = self.get_object()
        data = s.RotateInput(data=request.data)
        data.is_valid(raise_exception=True)
        v = data.validated_data
        secret = services.secret_rotate(
            secret=secret,
            actor=request.user,
            reason=v["reason"],
            value=v.get("value"),
            expected_version=v.get("version"),
        )
        return Response(s.SecretSerializer(secret).data)

    @extend_schema(
        summary="Versions kept (metadata only)", responses={200: s.VersionSerializer(many=True), **_ERRORS}
    )
    @action(detail=True, methods=["get"], pagination_class=None, filterset_class=None)
    def versions(self, request: Request, pk: str) -> Response:
        versions = selectors.secret_versions(self.get_object())
        return Response(s.VersionSerializer(versions, many=True).data)


class RevealView(APIView):
    """POST /secrets/<id>/reveal/: members need step-up MFA and a reason; service accounts `vault` scope.

    JSON only: a value is never rendered into the browsable API's HTML page, and the request
    skips negotiating among renderers (406 before anything is read or audited).
    """

    permission_classes = [IsAuthenticated]
    renderer_classes = [JSONRenderer]

    @extend_schema(
        summary="Reveal a secret's value (audited before it is returned)",
        request=s.RevealInput,
        responses={200: s.RevealOutput, 503: OpenApiResponse(description="Audit write failed"), **_ERRORS},
    )
    def post(self, request: Request, pk: int) -> Response:
        secret = selectors.secret_for_reveal(pk)
        if secret is None:
            raise NotFound()
        data = s.RevealInput(data=request.data)
        data.is_valid(raise_exception=True)
        return _reveal(
            request, secret, reason=data.validated_data["reason"], version=data.validated_data.get("version")
        )


class FetchView(APIView):
    """POST /fetch/: the same reveal, by path name (what service accounts use). JSON only."""

    permission_classes = [IsAuthenticated]
    renderer_classes = [JSONRenderer]

    @extend_schema(
        summary="Reveal a secret's value by name (service accounts with the `vault` scope, or members)",
        request=s.FetchInput,
        responses={200: s.RevealOutput, 503: OpenApiResponse(description="Audit write failed"), **_ERRORS},
    )
    def post(self, request: Request) -> Response:
        data = s.FetchInput(data=request.data)
        data.is_valid(raise_exception=True)
        secret = get_object_or_404(selectors.secrets_all(), name=data.validated_data["name"])
        return _reveal(request, secret, reason=data.validated_data["reason"], version=None)


def _reveal(request: Request, secret: Secret, *, reason: str, version: int | None) -> Response:
    authorize(request.user, "vault.reveal")  # the role rule first: "your role does not allow…"
    refusal = rules.reveal_refusal(request.user, secret)
    if refusal:
        raise PermissionDenied(refusal)
    authorize(request.user, "vault.reveal", secret)
    if access.is_service_account(request):
        access.require_vault_scope(request)
        reason = reason.strip() or "service account fetch"
    else:
        if not reason.strip():
            raise ValidationError({"reason": ["Say why you need to see this value."]})
        access.require_step_up(request)
    value = services.secret_reveal(secret=secret, actor=request.user, reason=reason, version=version)
    number = version or secret.current_version
    return Response({"name": secret.name, "version": number, "value": value}, headers=_NO_STORE)


class StatsView(APIView):
    permission_classes = [IsAuthenticated, HasPermission]
    required_permission = "vault.read"

    @extend_schema(summary="Counts of this tenant's secrets", responses={200: s.StatsSerializer})
    def get(self, request: Request) -> Response:
        return Response(selectors.vault_stats())


class RotationNeededPagination(CursorPagination):
    ordering = "id"


@extend_schema(summary="Secrets due or overdue for rotation")
class RotationNeededView(generics.ListAPIView):
    """Paginated like every list (a tenant can have thousands of overdue secrets)."""

    permission_classes = [IsAuthenticated, HasPermission]
    required_permission = "vault.read"
    serializer_class = s.SecretSerializer
    pagination_class = RotationNeededPagination
    filter_backends: list = []

    def get_queryset(self):  # type: ignore[no-untyped-def]
        return selectors.rotation_needed()
