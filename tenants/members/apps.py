from django.apps import AppConfig


class MembersConfig(AppConfig):
    name = "tenants.members"
    label = "members"
    verbose_name = "Members"

    def ready(self) -> None:
        from tenants.members import signals  # noqa: F401
        from tenants.members.api import authentication  # noqa: F401  (OpenAPI auth schemes)
