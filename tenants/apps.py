from django.apps import AppConfig


class TenantsConfig(AppConfig):
    name = "tenants"
    verbose_name = "Tenants"

    def ready(self) -> None:
        from django.db.models.signals import post_delete, post_save

        from tenants import routing
        from tenants.models import Domain, Tenant

        for model in (Domain, Tenant):
            post_save.connect(routing.invalidate, sender=model, dispatch_uid=f"routing-save-{model.__name__}")
            post_delete.connect(
                routing.invalidate, sender=model, dispatch_uid=f"routing-del-{model.__name__}"
            )
