"""API views of tenants.members: parse, call one service, return an output serializer.

Every view here is tenant-only: on the public domain they answer 404.
"""

from __future__ import annotations

from typing import Any

from django.db import connection
from drf_spectacular.utils import extend_schema
from rest_framework import exceptions, mixins, status, viewsets
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from portal.accounts.models import User
from tenants.members import permissions, services, tokens
from tenants.members.api import serializers as s
from tenants.members.models import ApiToken, Invitation

FORBIDDEN_MEMBER_FIELDS = frozenset({"is_staff", "is_superuser", "groups", "user_permissions"})


class TenantOnly:
    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        if connection.schema_name == "public":
            raise exceptions.NotFound()
        super().initial(request, *args, **kwargs)  # type: ignore[misc]


class MeView(TenantOnly, APIView):
    """The caller: member or service account, with the token's scopes when a token is used."""

    @extend_schema(responses=s.MeSerializer)
    def get(self, request: Request) -> Response:
        user = request.user
        scopes = permissions.token_scopes(request)
        data = {
            "id": user.pk,
            "email": user.email,
            "name": user.name,
            "role": user.role,
            "is_service_account": user.is_service_account,
            "token_scopes": sorted(scopes) if scopes is not None else None,
        }
        return Response(s.MeSerializer(data).data)


class MemberViewSet(TenantOnly, mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    serializer_class = s.MemberSerializer
    queryset = User.objects.none()  # for the schema; get_queryset is the real one
    permission_classes = [permissions.HasPermission]
    required_permission = {
        "list": "members.read",
        "retrieve": "members.read",
        "partial_update": "members.manage",
    }
    http_method_names = ["get", "patch", "head", "options"]

    def get_queryset(self) -> Any:
        return User.objects.filter(is_service_account=False).order_by("-id")

    @extend_schema(request=s.MemberUpdateSerializer, responses=s.MemberSerializer)
    def partial_update(self, request: Request, pk: str | None = None) -> Response:
        member = self.get_object()
        forbidden = FORBIDDEN_MEMBER_FIELDS & set(request.data)
        if forbidden:
            services.member_staff_refuse(member=member, actor=request.user)
        data = s.MemberUpdateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        if "role" in data.validated_data:
            member = services.member_role_set(
                member=member, role=data.validated_data["role"], actor=request.user
            )
        if "is_active" in data.validated_data:
            member = services.member_active_set(
                member=member, active=data.validated_data["is_active"], actor=request.user
            )
        return Response(s.MemberSerializer(member).data)


class InvitationViewSet(
    TenantOnly,
    mixins.ListModelMixin,
    mixins.CreateModelMixin,
    mixins.DestroyModelMixin,
    viewsets.GenericViewSet,
):
    serializer_class = s.InvitationSerializer
    permission_classes = [permissions.HasPermission]
    required_permission = "members.manage"
    queryset = Invitation.objects.select_related("invited_by").order_by("-id")

    @extend_schema(request=s.InvitationCreateSerializer, responses={201: s.InvitationSerializer})
    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        data = s.InvitationCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        invitation, _ = services.invitation_create(actor=request.user, **data.validated_data)
        return Response(s.InvitationSerializer(invitation).data, status=status.HTTP_201_CREATED)

    def destroy(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        services.invitation_revoke(invitation=self.get_object(), actor=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


class TokenViewSet(
    TenantOnly,
    mixins.ListModelMixin,
    mixins.CreateModelMixin,
    mixins.DestroyModelMixin,
    viewsets.GenericViewSet,
):
    """The caller's own tokens. Creating one needs a browser session: a token cannot mint tokens."""

    serializer_class = s.TokenSerializer
    permission_classes = [permissions.HasPermission]
    required_permission = "tokens.manage_own"
    queryset = ApiToken.objects.none()  # for the schema; get_queryset narrows to the caller

    def get_queryset(self) -> Any:
        return ApiToken.objects.filter(user=self.request.user).order_by("-id")

    @extend_schema(request=s.TokenCreateSerializer, responses={201: s.TokenCreatedSerializer})
    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        if request.auth is not None:
            raise exceptions.PermissionDenied("Create tokens from a signed-in session, not with a token.")
        data = s.TokenCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        token, plaintext = tokens.token_create(owner=request.user, actor=request.user, **data.validated_data)
        token.token = plaintext  # type: ignore[attr-defined]
        return Response(s.TokenCreatedSerializer(token).data, status=status.HTTP_201_CREATED)

    def destroy(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        tokens.token_revoke(token=self.get_object(), actor=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)
