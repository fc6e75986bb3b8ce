from django.apps import AppConfig


class GovernanceConfig(AppConfig):
    name = "compliance.governance"
    label = "governance"
    verbose_name = "Governance (policies, privacy, AI register, reports)"
