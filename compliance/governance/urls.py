"""Governance pages, mounted under /compliance/ (namespace compliance:governance)."""

from __future__ import annotations

from django.urls import path

from compliance.governance.views import ai, policies, privacy, reports

app_name = "governance"
urlpatterns = [
    path("", reports.compliance_home, name="home"),
    path("overview/", reports.dashboard, name="dashboard"),
    path("reports/", reports.report_index, name="report-index"),
    path("reports/<str:key>/", reports.report_detail, name="report"),
    path("reports/<str:key>/pdf/", reports.report_pdf, name="report-pdf"),
    path("policies/", policies.policy_list, name="policy-list"),
    path("policies/new/", policies.policy_edit, name="policy-create"),
    path("policies/<int:pk>/", policies.policy_edit, name="policy-edit"),
    path("policies/<int:pk>/delete/", policies.policy_delete, name="policy-delete"),
    path("policies/templates/<str:key>/install/", policies.template_install, name="template-install"),
    path("violations/", policies.violation_list, name="violation-list"),
    path("violations/<int:pk>/resolve/", policies.violation_resolve, name="violation-resolve"),
    path("privacy/requests/", privacy.dsr_list, name="dsr-list"),
    path("privacy/requests/<int:pk>/", privacy.dsr_detail, name="dsr-detail"),
    path("privacy/requests/<int:pk>/fulfil/", privacy.dsr_fulfil, name="dsr-fulfil"),
    path("privacy/requests/<int:pk>/reject/", privacy.dsr_reject, name="dsr-reject"),
    path("privacy/requests/<int:pk>/download/", privacy.dsr_download, name="dsr-download"),
    path("privacy/consent/", privacy.consent_list, name="consent-list"),
    path("privacy/consent/<int:pk>/withdraw/", privacy.consent_withdraw, name="consent-withdraw"),
    path("privacy/dpia/", privacy.dpia_list, name="dpia-list"),
    path("privacy/dpia/new/", privacy.dpia_edit, name="dpia-create"),
    path("privacy/dpia/<int:pk>/", privacy.dpia_edit, name="dpia-edit"),
    path("privacy/dpia/<int:pk>/approve/", privacy.dpia_approve, name="dpia-approve"),
    path("ai/", ai.system_list, name="ai-list"),
    path("ai/reviews/", ai.review_queue, name="ai-reviews"),
    path("ai/reviews/<int:pk>/decide/", ai.review_decide, name="ai-review-decide"),
    path("ai/<int:pk>/", ai.system_detail, name="ai-detail"),
    path("ai/<int:pk>/reviews/", ai.review_submit, name="ai-review-submit"),
]
