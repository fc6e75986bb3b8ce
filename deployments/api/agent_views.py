"""Endpoints the agent program calls over HTTP: enrolment, artifact download, backup upload.

They take no session: enrolment is authorised by the one-time token, downloads and uploads
by short-lived signed links that the portal put into a deploy command.
"""

from __future__ import annotations

from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import connection, transaction
from django.http import FileResponse
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.parsers import BaseParser
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.throttling import AnonRateThrottle
from rest_framework.views import APIView

from deployments import conf, pipeline, services, signing
from deployments.models import DeployTarget
from deployments.release_keys import release_key_set


class EnrollIn(serializers.Serializer):
    token = serializers.CharField(max_length=200)
    public_key = serializers.CharField(max_length=64)
    host_fingerprint = serializers.CharField(max_length=128)
    name = serializers.CharField(max_length=100, required=False, default="")
    agent_version = serializers.CharField(max_length=32, required=False, default="")


class ReleaseKeyOut(serializers.Serializer):
    key_id = serializers.CharField()
    public_key = serializers.CharField()
    previous_key_id = serializers.CharField(help_text="Empty for the first key.")
    endorsement = serializers.CharField(help_text="The previous key's signature over this key.")
    active = serializers.BooleanField()
    created_at = serializers.DateTimeField()
    retired_at = serializers.DateTimeField(allow_null=True)


class EnrollOut(serializers.Serializer):
    agent_id = serializers.IntegerField()
    environment = serializers.CharField()
    tenant = serializers.CharField()
    release_public_key = serializers.CharField(help_text="The current signing key (pinned by the agent).")
    release_key_id = serializers.CharField()
    release_keys = ReleaseKeyOut(many=True, help_text="The whole key set; older keys verify rollbacks.")
    heartbeat_seconds = serializers.FloatField()


class AgentEnrollView(APIView):
    authentication_classes: list = []
    permission_classes = [AllowAny]
    throttle_classes = [AnonRateThrottle]

    @extend_schema(request=EnrollIn, responses={201: EnrollOut}, tags=["deployments: agent protocol"])
    def post(self, request: Request) -> Response:
        data = EnrollIn(data=request.data)
        data.is_valid(raise_exception=True)
        with transaction.atomic():  # no release key to pin: the enrolment (and token use) is undone
            agent = services.agent_enroll(
                raw_token=data.validated_data["token"],
                public_key=data.validated_data["public_key"],
                host_fingerprint=data.validated_data["host_fingerprint"],
                name=data.validated_data["name"],
                agent_version=data.validated_data["agent_version"],
            )
            try:
                release_key = signing.release_key_active()
            except signing.NoReleaseKey as exc:
                raise services.EnrollmentRefused(str(exc)) from exc
            key_set = release_key_set()
        body = {
            "agent_id": agent.pk,
            "environment": agent.environment.name,
            "tenant": connection.schema_name,
            "release_public_key": release_key.public_key,
            "release_key_id": release_key.key_id,
            "release_keys": key_set,
            "heartbeat_seconds": conf.get("DEPLOY_HEARTBEAT_SECONDS"),
        }
        return Response(EnrollOut(body).data, status=status.HTTP_201_CREATED)


def _target(token: str, purpose: str) -> DeployTarget:
    from django.core.exceptions import PermissionDenied

    agent_id, run_id = pipeline.link_load(token, purpose=purpose)
    target = (
        DeployTarget.objects.select_related("run__release", "agent")
        .filter(run_id=run_id, agent_id=agent_id, agent__revoked_at__isnull=True)
        .first()
    )
    if target is None:
        raise PermissionDenied("This link is no longer valid.")
    return target


class RawBytesParser(BaseParser):
    media_type = "application/octet-stream"

    def parse(self, stream, media_type=None, parser_context=None):  # type: ignore[no-untyped-def]
        return stream.read() if stream is not None else b""


class AgentArtifactView(APIView):
    """GET the release artifact; PUT the pre-deploy backup (same signed-link scheme)."""

    authentication_classes: list = []
    permission_classes = [AllowAny]
    parser_classes = [RawBytesParser]

    @extend_schema(responses={200: bytes}, tags=["deployments: agent protocol"])
    def get(self, request: Request, token: str) -> FileResponse:
        release = _target(token, "artifact").run.release
        return FileResponse(release.artifact.open("rb"), content_type="application/gzip")

    @extend_schema(request=bytes, responses={201: dict}, tags=["deployments: agent protocol"])
    def put(self, request: Request, token: str) -> Response:
        target = _target(token, "backup")
        body = request.data if isinstance(request.data, bytes) else b""
        name = default_storage.save(
            f"backups/run-{target.run_id}-agent-{target.agent_id}.bak", ContentFile(body)
        )
        target.backup_name = name
        target.save(update_fields=["backup_name"])
        return Response({"name": name}, status=status.HTTP_201_CREATED)


class MigrateCheckIn(serializers.Serializer):
    backup_step = serializers.CharField(max_length=20, required=False, default="")


class AgentMigrateCheckView(APIView):
    """POST before the agent migrates: 200 when the `deploy.migrate` policies allow it, else 403."""

    authentication_classes: list = []
    permission_classes = [AllowAny]

    @extend_schema(request=MigrateCheckIn, responses={200: dict}, tags=["deployments: agent protocol"])
    def post(self, request: Request, token: str) -> Response:
        target = _target(token, "migrate")
        data = MigrateCheckIn(data=request.data)
        data.is_valid(raise_exception=True)
        decision = pipeline.migrate_check(target=target, backup_step=data.validated_data["backup_step"])
        decision.raise_if_blocked()  # after the service committed: the violation is kept
        return Response({"allowed": True, "warnings": decision.warnings})
