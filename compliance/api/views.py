"""Audit API (/api/v1/compliance/audit/…): thin views over compliance.services/selectors."""

from __future__ import annotations

from typing import Any

from django.http import FileResponse, Http404
from django.shortcuts import get_object_or_404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.exceptions import ValidationError
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from compliance import archive, selectors, services
from compliance.api import serializers as s
from compliance.models import AuditExport, AuditForwarder
from tenants.members.permissions import HasPermission, TokenScope

PAGING = ("before", "page_size")
_FILTERS = [
    OpenApiParameter(name, str, description=text)
    for name, text in (
        ("actor", "actor id, or part of the actor's label"),
        ("action", "exact action, or a dotted prefix (vault → vault.*)"),
        ("target", "type:id, or part of the target's label"),
        ("since", "ISO 8601, inclusive"),
        ("until", "ISO 8601, exclusive"),
        ("q", "text in action, labels or payload"),
    )
] + [
    OpenApiParameter("before", int, description="keyset cursor: next_before of the previous page"),
    OpenApiParameter("page_size", int, description="1–200, default 50"),
]
_EVENT_PAGE = inline_serializer(
    "AuditEventPage",
    {"results": s.AuditEventSerializer(many=True), "next_before": serializers.IntegerField(allow_null=True)},
)


class _AuditView(APIView):
    permission_classes = [IsAuthenticated, TokenScope, HasPermission]
    required_permission: Any = "audit.read"


class EventListView(_AuditView):
    """Events newest first. Filters: actor, action, target (type:id or text), since, until, q.
    Keyset pagination: pass `before` = `next_before` of the previous page."""

    @extend_schema(
        summary="Audit events, newest first (keyset pagination)",
        parameters=_FILTERS,
        responses={200: _EVENT_PAGE},
    )
    def get(self, request: Request) -> Response:
        filters = selectors.clean_filters(request.query_params, allow=PAGING)
        try:
            before = int(request.query_params["before"]) if request.query_params.get("before") else None
            size = int(request.query_params.get("page_size") or selectors.PAGE_SIZE)
        except ValueError:
            raise ValidationError({"before": ["before and page_size must be whole numbers."]}) from None
        page = selectors.audit_events(filters=filters, before=before, limit=size)
        return Response(
            {"results": s.AuditEventSerializer(page.events, many=True).data, "next_before": page.next_before}
        )


class EventDetailView(_AuditView):
    @extend_schema(summary="One audit event", responses={200: s.AuditEventSerializer})
    def get(self, request: Request, pk: int) -> Response:
        return Response(s.AuditEventSerializer(get_object_or_404(selectors.AuditEvent, pk=pk)).data)


class StatusView(_AuditView):
    @extend_schema(
        summary="Chain head, pending events, last checkpoint", responses={200: OpenApiTypes.OBJECT}
    )
    def get(self, request: Request) -> Response:
        return Response(selectors.chain_status())


class VerifyView(_AuditView):
    @extend_schema(
        summary="Verify the chain; names the first bad seq",
        request=None,
        responses={200: OpenApiTypes.OBJECT},
    )
    def post(self, request: Request) -> Response:
        result = services.chain_verify(actor=request.user)
        return Response(result.as_dict())


class CheckpointListView(_AuditView):
    required_permission = {"get": "audit.read", "post": "audit.export"}

    @extend_schema(
        summary="Recent signed checkpoints",
        responses={
            200: inline_serializer("AuditCheckpointList", {"results": s.CheckpointSerializer(many=True)})
        },
    )
    def get(self, request: Request) -> Response:
        return Response({"results": s.CheckpointSerializer(selectors.checkpoints_recent(), many=True).data})

    @extend_schema(summary="Sign the chain head now", request=None, responses={201: s.CheckpointSerializer})
    def post(self, request: Request) -> Response:
        checkpoint = services.checkpoint_sign(actor=request.user)
        return Response(s.CheckpointSerializer(checkpoint).data, status=status.HTTP_201_CREATED)


class ExportListView(_AuditView):
    required_permission = "audit.export"

    @extend_schema(
        summary="Recent exports",
        responses={200: inline_serializer("AuditExportList", {"results": s.ExportSerializer(many=True)})},
    )
    def get(self, request: Request) -> Response:
        return Response({"results": s.ExportSerializer(selectors.exports_recent(), many=True).data})

    @extend_schema(
        summary="Request an export (built in the background)",
        request=s.ExportRequestSerializer,
        responses={202: s.ExportSerializer},
    )
    def post(self, request: Request) -> Response:
        data = s.ExportRequestSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        export = services.export_request(actor=request.user, **data.validated_data)
        return Response(s.ExportSerializer(export).data, status=status.HTTP_202_ACCEPTED)


class ExportDetailView(_AuditView):
    required_permission = "audit.export"

    @extend_schema(summary="One export", responses={200: s.ExportSerializer})
    def get(self, request: Request, pk: int) -> Response:
        return Response(s.ExportSerializer(get_object_or_404(AuditExport, pk=pk)).data)


class ExportFileView(_AuditView):
    """The export file (`which=file`), its manifest or its checkpoint, streamed from storage."""

    required_permission = "audit.export"

    @extend_schema(
        summary="Download the export file, manifest or checkpoint", responses={200: OpenApiTypes.BINARY}
    )
    def get(self, request: Request, pk: int, which: str) -> FileResponse:
        export = get_object_or_404(AuditExport, pk=pk, status=AuditExport.Status.DONE)
        names = {
            "file": export.file_name,
            "manifest": export.manifest_name,
            "checkpoint": export.file_name.rsplit("/", 1)[0] + "/checkpoint.json",
        }
        if which not in names:
            raise Http404
        name = names[which]
        return FileResponse(archive.open_stream(name), as_attachment=True, filename=name.rsplit("/", 1)[-1])


class ForwarderListView(_AuditView):
    required_permission = {"get": "audit.read", "post": "audit.export"}

    @extend_schema(
        summary="Forwarding destinations",
        responses={
            200: inline_serializer("AuditForwarderList", {"results": s.ForwarderSerializer(many=True)})
        },
    )
    def get(self, request: Request) -> Response:
        return Response({"results": s.ForwarderSerializer(selectors.forwarders(), many=True).data})

    @extend_schema(
        summary="Add a destination",
        request=s.ForwarderWriteSerializer,
        responses={201: s.ForwarderSerializer},
    )
    def post(self, request: Request) -> Response:
        data = s.ForwarderWriteSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        forwarder = services.forwarder_create(actor=request.user, **data.validated_data)
        return Response(s.ForwarderSerializer(forwarder).data, status=status.HTTP_201_CREATED)


class ForwarderDetailView(_AuditView):
    required_permission = {"get": "audit.read", "patch": "audit.export", "delete": "audit.export"}

    @extend_schema(summary="A destination and its recent attempts", responses={200: s.ForwarderSerializer})
    def get(self, request: Request, pk: int) -> Response:
        forwarder = get_object_or_404(AuditForwarder, pk=pk)
        attempts = forwarder.attempts.order_by("-id")[:50]
        return Response(
            s.ForwarderSerializer(forwarder).data
            | {"attempts": s.AttemptSerializer(attempts, many=True).data}
        )

    @extend_schema(
        summary="Change a destination",
        request=s.ForwarderWriteSerializer,
        responses={200: s.ForwarderSerializer},
    )
    def patch(self, request: Request, pk: int) -> Response:
        forwarder = get_object_or_404(AuditForwarder, pk=pk)
        data = s.ForwarderWriteSerializer(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        forwarder = services.forwarder_update(actor=request.user, forwarder=forwarder, **data.validated_data)
        return Response(s.ForwarderSerializer(forwarder).data)

    @extend_schema(summary="Remove a destination", responses={204: None})
    def delete(self, request: Request, pk: int) -> Response:
        services.forwarder_delete(actor=request.user, forwarder=get_object_or_404(AuditForwarder, pk=pk))
        return Response(status=status.HTTP_204_NO_CONTENT)


class ForwarderRetryView(_AuditView):
    required_permission = "audit.export"

    @extend_schema(summary="Deliver now", request=None, responses={202: s.ForwarderSerializer})
    def post(self, request: Request, pk: int) -> Response:
        forwarder = services.forwarder_retry_now(
            actor=request.user, forwarder=get_object_or_404(AuditForwarder, pk=pk)
        )
        return Response(s.ForwarderSerializer(forwarder).data, status=status.HTTP_202_ACCEPTED)


class RetentionView(_AuditView):
    required_permission = {"get": "audit.read", "put": "audit.export"}

    @extend_schema(summary="Retention and the plan's limit", responses={200: OpenApiTypes.OBJECT})
    def get(self, request: Request) -> Response:
        return Response(
            {
                "retention_days": selectors.audit_settings().retention_days,
                "plan_max_days": selectors.plan_retention_cap(),
                "min_days": services.RETENTION_MIN_DAYS,
                "max_days": services.RETENTION_MAX_DAYS,
            }
        )

    @extend_schema(
        summary="Set retention (30–365 days, capped by plan)",
        request=s.RetentionSerializer,
        responses={200: s.RetentionSerializer},
    )
    def put(self, request: Request) -> Response:
        data = s.RetentionSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        current = services.retention_set(actor=request.user, days=data.validated_data["retention_days"])
        return Response({"retention_days": current.retention_days})
