"""`${vault:name}` references, as the deployments app renders them."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError
from django_tenants.utils import tenant_context

from compliance.models import AuditEvent
from vault import services


@pytest.fixture
def secrets_in_acme(acme, alice, db):
    with tenant_context(acme):
        actor = alice.user()
        services.secret_create(
            actor=actor, name="prod/db/password", value="pg-pass", environment="production"
        )
        services.secret_create(actor=actor, name="prod/api/key", value="api-key", environment="production")
        services.secret_create(actor=actor, name="staging/db/password", value="stg", environment="staging")
        yield actor


def _resolve_events_after(mark: int):
    # Audit rows are append-only and outlive tests (committed ones too): count only ours.
    return AuditEvent.objects.filter(action="vault.secret.resolve", id__gt=mark)


def _mark() -> int:
    return AuditEvent.objects.order_by("-id").values_list("id", flat=True).first() or 0


def test_references_are_resolved_and_audited(secrets_in_acme, acme):
    text = "DB=${vault:prod/db/password}\nKEY=${vault:prod/api/key}\nAGAIN=${vault:prod/db/password}"
    with tenant_context(acme):
        mark = _mark()
        rendered = services.resolve_references(text, environment="production", actor=secrets_in_acme)
        assert rendered == "DB=pg-pass\nKEY=api-key\nAGAIN=pg-pass"
        events = _resolve_events_after(mark)
        assert events.count() == 2
        assert "pg-pass" not in str(list(events.values_list("payload", flat=True)))


def test_text_without_references_is_untouched(acme, db):
    with tenant_context(acme):
        assert (
            services.resolve_references("plain ${other}", environment="production", actor=None)
            == "plain ${other}"
        )


def test_unknown_or_wrong_environment_fails_the_whole_render(secrets_in_acme, acme):
    with tenant_context(acme):
        mark = _mark()
        with pytest.raises(ValidationError) as error:
            services.resolve_references(
                "${vault:prod/db/password} ${vault:nope/x} ${vault:staging/db/password}",
                environment="production",
                actor=secrets_in_acme,
            )
        messages = " ".join(error.value.message_dict["references"])
        assert "${vault:nope/x}: no such secret" in messages
        assert "belongs to staging" in messages
        assert not _resolve_events_after(mark).exists()


def test_a_developer_cannot_render_production_secrets(secrets_in_acme, acme, bob):
    with tenant_context(acme), pytest.raises(ValidationError):
        services.resolve_references("${vault:prod/db/password}", environment="production", actor=bob.user())


def test_deleted_secrets_do_not_resolve(secrets_in_acme, acme):
    from vault.models import Secret

    with tenant_context(acme):
        services.secret_delete(secret=Secret.objects.get(name="prod/api/key"), actor=secrets_in_acme)
        with pytest.raises(ValidationError):
            services.resolve_references("${vault:prod/api/key}", environment="production", actor=None)
