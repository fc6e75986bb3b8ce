"""Audit API (/api/v1/compliance/audit/…): thin views over compliance.services/selectors."""

from __future__ import annotations

from typing import Any

from django.http import FileResponse, Http404
from django.shortcuts import get_object_or_404
from rest_framework import status
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


class _AuditView(APIView):
    permission_classes = [IsAuthenticated, TokenScope, HasPermission]
    required_permission: Any = "audit.read"


class EventListView(_AuditView):
    """Events newest first. Filters: actor, action, target (type:id or text), since, until, q.
    Keyset pagination: pass `before` = `next_before` of the previous page."""

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
    def get(self, request: Request, pk: int) -> Response:
        return Response(s.AuditEventSerializer(get_object_or_404(selectors.AuditEvent, pk=pk)).data)


class StatusView(_AuditView):
    def get(self, request: Request) -> Response:
        return Response(selectors.chain_status())


class VerifyView(_AuditView):
    def post(self, request: Request) -> Response:
        result = services.chain_verify(actor=request.user)
        return Response(result.as_dict())


class CheckpointListView(_AuditView):
    required_permission = {"get": "audit.read", "post": "audit.export"}

    def get(self, request: Request) -> Response:
        return Response({"results": s.CheckpointSerializer(selectors.checkpoints_recent(), many=True).data})

    def post(self, request: Request) -> Response:
        checkpoint = services.checkpoint_sign(actor=request.user)
        return Response(s.CheckpointSerializer(checkpoint).data, status=status.HTTP_201_CREATED)


class ExportListView(_AuditView):
    required_permission = "audit.export"

    def get(self, request: Request) -> Response:
        return Response({"results": s.ExportSerializer(selectors.exports_recent(), many=True).data})

    def post(self, request: Request) -> Response:
        data = s.ExportRequestSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        export = services.export_request(actor=request.user, **data.validated_data)
        return Response(s.ExportSerializer(export).data, status=status.HTTP_202_ACCEPTED)


class ExportDetailView(_AuditView):
    required_permission = "audit.export"

    def get(self, request: Request, pk: int) -> Response:
        return Response(s.ExportSerializer(get_object_or_404(AuditExport, pk=pk)).data)


class ExportFileView(_AuditView):
    """The export file (`which=file`), its manifest or its checkpoint, streamed from storage."""

    required_permission = "audit.export"

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

    def get(self, request: Request) -> Response:
        return Response({"results": s.ForwarderSerializer(selectors.forwarders(), many=True).data})

    def post(self, request: Request) -> Response:
        data = s.ForwarderWriteSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        forwarder = services.forwarder_create(actor=request.user, **data.validated_data)
        return Response(s.ForwarderSerializer(forwarder).data, status=status.HTTP_201_CREATED)


class ForwarderDetailView(_AuditView):
    required_permission = {"get": "audit.read", "patch": "audit.export", "delete": "audit.export"}

    def get(self, request: Request, pk: int) -> Response:
        forwarder = get_object_or_404(AuditForwarder, pk=pk)
        attempts = forwarder.attempts.order_by("-id")[:50]
        return Response(
            s.ForwarderSerializer(forwarder).data
            | {"attempts": s.AttemptSerializer(attempts, many=True).data}
        )

    def patch(self, request: Request, pk: int) -> Response:
        forwarder = get_object_or_404(AuditForwarder, pk=pk)
        data = s.ForwarderWriteSerializer(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        forwarder = services.forwarder_update(actor=request.user, forwarder=forwarder, **data.validated_data)
        return Response(s.ForwarderSerializer(forwarder).data)

    def delete(self, request: Request, pk: int) -> Response:
        services.forwarder_delete(actor=request.user, forwarder=get_object_or_404(AuditForwarder, pk=pk))
        return Response(status=status.HTTP_204_NO_CONTENT)


class ForwarderRetryView(_AuditView):
    required_permission = "audit.export"

    def post(self, request: Request, pk: int) -> Response:
        forwarder = services.forwarder_retry_now(
            actor=request.user, forwarder=get_object_or_404(AuditForwarder, pk=pk)
        )
        return Response(s.ForwarderSerializer(forwarder).data, status=status.HTTP_202_ACCEPTED)


class RetentionView(_AuditView):
    required_permission = {"get": "audit.read", "put": "audit.export"}

    def get(self, request: Request) -> Response:
        return Response(
            {
                "retention_days": selectors.audit_settings().retention_days,
                "plan_max_days": selectors.plan_retention_cap(),
                "min_days": services.RETENTION_MIN_DAYS,
                "max_days": services.RETENTION_MAX_DAYS,
            }
        )

    def put(self, request: Request) -> Response:
        data = s.RetentionSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        current = services.retention_set(actor=request.user, days=data.validated_data["retention_days"])
        return Response({"retention_days": current.retention_days})
