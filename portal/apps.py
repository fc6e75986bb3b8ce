from django.apps import AppConfig


class PortalConfig(AppConfig):
    name = "portal"
    verbose_name = "Portal"

    def ready(self) -> None:
        from django.core.signals import request_finished

        from portal.context import clear_request_meta

        request_finished.connect(clear_request_meta, dispatch_uid="portal-clear-request-meta")
