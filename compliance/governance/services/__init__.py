"""Governance writes, one module per area; import them from here."""

from compliance.governance.services.ai import (
    ai_review_decide,
    ai_review_submit,
    ai_risk_assess,
    ai_system_save,
)
from compliance.governance.services.policies import (
    policy_create,
    policy_delete,
    policy_install_template,
    policy_update,
    violation_resolve,
)
from compliance.governance.services.privacy import (
    consent_record,
    consent_withdraw,
    dpia_approve,
    dpia_save,
    dsr_create,
    dsr_fulfil,
    dsr_reject,
    subject_digest,
)
from compliance.governance.services.reports import report_export_pdf

__all__ = [
    "ai_review_decide",
    "ai_review_submit",
    "ai_risk_assess",
    "ai_system_save",
    "consent_record",
    "consent_withdraw",
    "dpia_approve",
    "dpia_save",
    "dsr_create",
    "dsr_fulfil",
    "dsr_reject",
    "policy_create",
    "policy_delete",
    "policy_install_template",
    "policy_update",
    "report_export_pdf",
    "subject_digest",
    "violation_resolve",
]
