"""Environment settings, variable removal and allow-list removal: the services behind the pages."""

from __future__ import annotations

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django_tenants.utils import tenant_context

from compliance.models import AuditEvent
from deployments import services
from deployments.models import EnvironmentVariable, TerminalAllowedCommand


def test_an_admin_updates_an_environment_and_the_change_is_audited(db, acme, alice, bob, unique):
    with tenant_context(acme):
        env = services.environment_create(name=f"stage-{unique}", actor=alice.user())
        services.environment_update(
            environment=env,
            actor=alice.user(),
            description="Staging",
            is_production=True,
            approvals_required=2,
        )
        env.refresh_from_db()
        assert (env.description, env.is_production, env.approvals_required) == ("Staging", True, 2)
        event = AuditEvent.objects.filter(action="deployments.environment.updated").latest("id")
        assert event.payload["approvals_required"] == [0, 2]
        with pytest.raises(ValidationError):
            services.environment_update(
                environment=env,
                actor=alice.user(),
                description="",
                is_production=False,
                approvals_required=99,
            )
        with pytest.raises(PermissionDenied):
            services.environment_update(
                environment=env, actor=bob.user(), description="", is_production=False, approvals_required=0
            )


def test_variables_and_allowed_commands_are_removed_only_by_admins(db, acme, alice, bob, unique):
    with tenant_context(acme):
        env = services.environment_create(name=f"rm-{unique}", actor=alice.user())
        variable = services.environment_variable_set(
            environment=env, name="DB_PASSWORD", value="${vault:db/password}", actor=alice.user()
        )
        entry = services.terminal_command_allow(program=f"uptime{unique}", actor=alice.user())
        with pytest.raises(PermissionDenied):
            services.environment_variable_delete(variable=variable, actor=bob.user())
        with pytest.raises(PermissionDenied):
            services.terminal_command_disallow(entry=entry, actor=bob.user())
        services.environment_variable_delete(variable=variable, actor=alice.user())
        services.terminal_command_disallow(entry=entry, actor=alice.user())
        assert not EnvironmentVariable.objects.filter(pk=variable.pk).exists()
        assert not TerminalAllowedCommand.objects.filter(pk=entry.pk).exists()
        actions = set(AuditEvent.objects.values_list("action", flat=True))
        assert {"deployments.environment.variable_deleted", "deployments.terminal.disallow"} <= actions
