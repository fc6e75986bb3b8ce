"""Deployments API: thin views over services, pipeline and selectors."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.core.files.storage import default_storage
from django.http import FileResponse, Http404, StreamingHttpResponse
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.parsers import FormParser, JSONParser, MultiPartParser
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response

from deployments import logstore, pipeline, selectors, services
from deployments.api import serializers as s
from deployments.models import (
    Agent,
    DeployRun,
    EnrollmentToken,
    Environment,
    Release,
    TerminalAllowedCommand,
    TerminalSession,
)
from tenants.members.permissions import HasPermission

_READ = "deployments.read"
_LOG_PARAMS = [
    OpenApiParameter("level", str, description="Minimum level: debug, info, warning, error, critical"),
    OpenApiParameter("search", str, description="Case-insensitive text search"),
    OpenApiParameter("export", str, enum=["csv"], description="csv: stream every matching line as CSV"),
    OpenApiParameter("limit", int, description="At most this many lines as JSON (default 1000, max 10000)"),
]


class EnvironmentViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    serializer_class = s.EnvironmentSerializer
    permission_classes = [IsAuthenticated, HasPermission]
    required_permission = {
        "list": _READ,
        "retrieve": _READ,
        "create": "environments.manage",
        "variable": "environments.manage",
    }
    queryset = Environment.objects.prefetch_related("variables").order_by("-id")

    @extend_schema(request=s.EnvironmentSerializer, responses={201: s.EnvironmentSerializer})
    def create(self, request: Request) -> Response:
        data = s.EnvironmentSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        environment = services.environment_create(actor=request.user, **data.validated_data)
        return Response(s.EnvironmentSerializer(environment).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=s.VariableSerializer, responses={200: s.VariableSerializer})
    @action(detail=True, methods=["post"], url_path="variables")
    def variable(self, request: Request, pk: str) -> Response:
        data = s.VariableSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        variable = services.environment_variable_set(
            environment=self.get_object(), actor=request.user, **data.validated_data
        )
        return Response(s.VariableSerializer(variable).data)


class TokenViewSet(mixins.ListModelMixin, viewsets.GenericViewSet):
    serializer_class = s.TokenSerializer
    permission_classes = [IsAuthenticated, HasPermission]
    required_permission = "agents.manage"
    queryset = EnrollmentToken.objects.select_related("environment").order_by("-id")

    @extend_schema(request=s.TokenCreateInput, responses={201: s.TokenCreated})
    def create(self, request: Request) -> Response:
        data = s.TokenCreateInput(data=request.data)
        data.is_valid(raise_exception=True)
        v = data.validated_data
        token, raw = services.enrollment_token_create(
            environment=v["environment"], actor=request.user, max_uses=v["max_uses"],
            expires_in=timedelta(hours=v["expires_in_hours"]),
        )  # fmt: skip
        token.token = raw  # type: ignore[attr-defined]
        return Response(
            s.TokenCreated(token).data, status=status.HTTP_201_CREATED, headers={"Cache-Control": "no-store"}
        )

    @extend_schema(request=None, responses={200: s.TokenSerializer})
    @action(detail=True, methods=["post"])
    def revoke(self, request: Request, pk: str) -> Response:
        token = services.enrollment_token_revoke(token=self.get_object(), actor=request.user)
        return Response(s.TokenSerializer(token).data)


class AgentViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    serializer_class = s.AgentSerializer
    permission_classes = [IsAuthenticated, HasPermission]
    required_permission = {"list": _READ, "retrieve": _READ, "logs": _READ, "revoke": "agents.manage"}
    queryset = Agent.objects.select_related("environment", "deployed_release").order_by("-id")

    @extend_schema(request=None, responses={200: s.AgentSerializer})
    @action(detail=True, methods=["post"])
    def revoke(self, request: Request, pk: str) -> Response:
        return Response(
            s.AgentSerializer(services.agent_revoke(agent=self.get_object(), actor=request.user)).data
        )

    @extend_schema(parameters=_LOG_PARAMS, responses={200: s.LogLinesSerializer})
    @action(detail=True, methods=["get"])
    def logs(self, request: Request, pk: str) -> Any:
        return _logs(request, selectors.log_chunks_for(agent=self.get_object()), f"agent-{pk}")


class ReleaseViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    serializer_class = s.ReleaseSerializer
    permission_classes = [IsAuthenticated, HasPermission]
    required_permission = {"list": _READ, "retrieve": _READ, "create": "releases.manage"}
    queryset = Release.objects.select_related("signing_key").order_by("-id")
    parser_classes = [MultiPartParser, FormParser, JSONParser]

    @extend_schema(
        request={"multipart/form-data": s.ReleaseCreateInput}, responses={201: s.ReleaseSerializer}
    )
    def create(self, request: Request) -> Response:
        data = s.ReleaseCreateInput(data=request.data)
        data.is_valid(raise_exception=True)
        release = services.release_create(actor=request.user, **data.validated_data)
        return Response(s.ReleaseSerializer(release).data, status=status.HTTP_201_CREATED)


class RunViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    serializer_class = s.RunSerializer
    permission_classes = [IsAuthenticated, HasPermission]
    required_permission = {
        "list": _READ, "retrieve": _READ, "logs": _READ, "create": "deploy.run", "cancel": "deploy.run",
        "approve": "deploy.approve", "recheck": "deploy.run",
    }  # fmt: skip
    queryset = (
        DeployRun.objects.select_related("environment", "release")
        .prefetch_related("steps__target__agent")
        .order_by("-id")
    )

    @extend_schema(request=s.RunCreateInput, responses={201: s.RunSerializer})
    def create(self, request: Request) -> Response:
        data = s.RunCreateInput(data=request.data)
        data.is_valid(raise_exception=True)
        v = data.validated_data
        if v["rollback"]:
            run = pipeline.deploy_rollback(
                environment=v["environment"], release=v["release"], actor=request.user, reason=v["reason"]
            )
        else:
            run = pipeline.deploy_request(
                environment=v["environment"], release=v["release"], actor=request.user, reason=v["reason"]
            )
        return Response(s.RunSerializer(run).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=None, responses={200: s.RunSerializer})
    @action(detail=True, methods=["post"])
    def approve(self, request: Request, pk: str) -> Response:
        return Response(
            s.RunSerializer(pipeline.deploy_approve(run=self.get_object(), actor=request.user)).data
        )

    @extend_schema(
        request=None,
        responses={200: s.RunSerializer},
        summary="Check the policies again for a run whose approvals are in but a policy held it",
    )
    @action(detail=True, methods=["post"])
    def recheck(self, request: Request, pk: str) -> Response:
        run = pipeline.deploy_recheck(run=self.get_object(), actor=request.user)
        return Response(s.RunSerializer(run).data)

    @extend_schema(request=None, responses={200: s.RunSerializer})
    @action(detail=True, methods=["post"])
    def cancel(self, request: Request, pk: str) -> Response:
        return Response(s.RunSerializer(pipeline.run_cancel(run=self.get_object(), actor=request.user)).data)

    @extend_schema(parameters=_LOG_PARAMS, responses={200: s.LogLinesSerializer})
    @action(detail=True, methods=["get"])
    def logs(self, request: Request, pk: str) -> Any:
        return _logs(request, selectors.log_chunks_for(run=self.get_object()), f"run-{pk}")


def _logs(request: Request, chunks: Any, name: str) -> Any:
    level, search = request.query_params.get("level", ""), request.query_params.get("search", "")
    if request.query_params.get("export") == "csv":
        response = StreamingHttpResponse(
            logstore.csv_rows(chunks, level=level, search=search), content_type="text/csv"
        )
        response["Content-Disposition"] = f'attachment; filename="logs-{name}.csv"'
        return response
    limit = min(int(request.query_params.get("limit", "1000") or 1000), 10_000)
    lines = [
        {
            "time": line[0],
            "agent": chunk.agent_id,
            "run": chunk.run_id,
            "level": line[1],
            "stream": line[2],
            "text": line[3],
        }
        for chunk, line in logstore.lines_matching(chunks, level=level, search=search, limit=limit)
    ]
    return Response({"lines": lines, "truncated": len(lines) >= limit})


class AllowedCommandViewSet(mixins.ListModelMixin, viewsets.GenericViewSet):
    serializer_class = s.AllowedCommandSerializer
    permission_classes = [IsAuthenticated, HasPermission]
    required_permission = {"list": _READ, "create": "agents.manage"}
    queryset = TerminalAllowedCommand.objects.order_by("-id")

    @extend_schema(request=s.AllowedCommandSerializer, responses={201: s.AllowedCommandSerializer})
    def create(self, request: Request) -> Response:
        data = s.AllowedCommandSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        entry = services.terminal_command_allow(actor=request.user, **data.validated_data)
        return Response(s.AllowedCommandSerializer(entry).data, status=status.HTTP_201_CREATED)


class TerminalSessionViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    serializer_class = s.TerminalSessionSerializer
    permission_classes = [IsAuthenticated, HasPermission]
    required_permission = "terminal.open"
    queryset = TerminalSession.objects.order_by("-id")

    @extend_schema(responses={(200, "application/x-asciicast"): bytes})
    @action(detail=True, methods=["get"])
    def recording(self, request: Request, pk: str) -> FileResponse:
        session = self.get_object()
        if not session.recording:
            raise Http404
        return FileResponse(
            default_storage.open(session.recording, "rb"), content_type="application/x-asciicast"
        )
