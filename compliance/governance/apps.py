from django.apps import AppConfig


class GovernanceConfig(AppConfig):
    name = "compliance.governance"
    label = "governance"
    verbose_name = "Governance (policies, privacy, AI register, reports)"

    def ready(self) -> None:
        from celery.signals import task_postrun
        from django.core.signals import request_finished

        from compliance.governance.engine import flush_rolled_back

        # Violations of blocked actions survive the rollback of the action that caused them.
        request_finished.connect(flush_rolled_back, dispatch_uid="governance.flush_violations")
        task_postrun.connect(flush_rolled_back, dispatch_uid="governance.flush_violations", weak=False)
