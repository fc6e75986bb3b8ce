from django.apps import AppConfig
from django.db.models.signals import post_migrate


class VaultConfig(AppConfig):
    name = "vault"
    verbose_name = "Vault"

    def ready(self) -> None:
        from vault import beat, rules  # noqa: F401 - registers the object rules

        post_migrate.connect(beat.schedule_ensure, sender=self, dispatch_uid="vault-beat-schedule")
