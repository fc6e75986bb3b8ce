"""Vault errors. They are DRF exceptions, so the API renders them in the one error body."""

from __future__ import annotations

from rest_framework.exceptions import APIException


class VaultConflict(APIException):
    status_code = 409
    default_code = "conflict"
    default_detail = "The secret is not in a state that allows this."


class StaleVersion(VaultConflict):
    default_code = "version_conflict"
    default_detail = "The secret changed since you read it; reload it and try again."


class StepUpRequired(APIException):
    status_code = 403
    default_code = "step_up_required"
    default_detail = "Confirm your identity with a fresh MFA code first."


class AuditUnavailable(APIException):
    status_code = 503
    default_code = "audit_unavailable"
    default_detail = "The audit log could not record this reveal, so the value was not returned."


class ScopeMissing(APIException):
    status_code = 403
    default_code = "scope_missing"
    default_detail = "This token lacks the `vault` scope."


class VaultIntegrityError(VaultConflict):
    default_code = "integrity_error"
    default_detail = (
        "The stored value does not authenticate for this secret and version (moved or tampered); "
        "it cannot be revealed."
    )
