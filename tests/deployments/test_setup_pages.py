"""Set-up pages: environments, variables, enrolment tokens, the terminal allow-list."""

from __future__ import annotations

import re

from django.test import Client
from django_tenants.utils import tenant_context

from compliance.models import AuditEvent
from deployments import services
from deployments.models import EnrollmentToken, Environment, EnvironmentVariable, TerminalAllowedCommand


def _env(acme, alice, name):
    with tenant_context(acme):
        return services.environment_create(name=name, actor=alice.user())


def test_alice_creates_an_environment_and_sees_errors_in_place(client_for, acme, alice, unique):
    client = client_for(alice)
    response = client.get("/deployments/environments/")
    assert response.status_code == 200
    assert b"New environment" in response.content
    response = client.post(
        "/deployments/environments/", {"env-name": f"stage-{unique}", "env-approvals_required": 1}
    )
    assert response.status_code == 302
    with tenant_context(acme):
        environment = Environment.objects.get(name=f"stage-{unique}")
    assert response["Location"] == f"/deployments/environments/{environment.pk}/"
    page = client.get(response["Location"])
    assert f"Environment stage-{unique} created" in page.content.decode()
    assert b"No agent in" in page.content  # the empty state says what to do next

    for data, message in (
        ({"env-name": f"stage-{unique}", "env-approvals_required": 0}, "already exists"),
        ({"env-name": "Not a slug!", "env-approvals_required": 0}, "Enter a valid"),
        ({"env-name": "x\x00y", "env-approvals_required": 0}, "Null characters"),
        ({"env-name": f"ok-{unique}", "env-approvals_required": "many"}, "Enter a whole number"),
    ):
        response = client.post("/deployments/environments/", data)
        assert response.status_code == 400, data
        assert message in response.content.decode(), data
        assert b'class="field has-error' in response.content
    with tenant_context(acme):
        assert not Environment.objects.filter(name=f"ok-{unique}").exists()


def test_alice_edits_settings_and_variables_with_vault_references(client_for, acme, alice, unique):
    environment = _env(acme, alice, f"vars-{unique}")
    base = f"/deployments/environments/{environment.pk}"
    client = client_for(alice)
    response = client.post(
        f"{base}/settings/",
        {
            "settings-description": "Customer-facing",
            "settings-is_production": "on",
            "settings-approvals_required": 2,
        },
    )
    assert response.status_code == 302
    response = client.post(f"{base}/settings/", {"settings-approvals_required": 11})
    assert response.status_code == 400
    assert b"less than or equal to 10" in response.content

    reference = "${vault:prod/db/password}"
    response = client.post(f"{base}/variables/", {"var-name": "DB_PASSWORD", "var-value": reference})
    assert response.status_code == 302
    page = client.get(base + "/").content.decode()
    assert "Variable DB_PASSWORD saved" in page
    assert reference in page
    for data, message in (
        ({"var-name": "1BAD", "var-value": "x"}, "starting with a letter"),
        ({"var-name": "TOKEN", "var-value": "${vault:broken"}, "A vault reference looks like"),
        ({"var-name": "", "var-value": "x"}, "This field is required"),
    ):
        response = client.post(f"{base}/variables/", data)
        assert response.status_code == 400, data
        assert message in response.content.decode(), data
    with tenant_context(acme):
        environment.refresh_from_db()
        assert (environment.is_production, environment.approvals_required) == (True, 2)
        variable = EnvironmentVariable.objects.get(environment=environment)
        assert (variable.name, variable.value) == ("DB_PASSWORD", reference)
        # The value (even a reference) never goes into the audit chain.
        event = AuditEvent.objects.filter(action="deployments.environment.variable_set").latest("id")
        assert "vault" not in str(event.payload)

    response = client.post(f"{base}/variables/{variable.pk}/delete/")
    assert response.status_code == 302
    with tenant_context(acme):
        assert not EnvironmentVariable.objects.filter(pk=variable.pk).exists()


def test_a_token_is_shown_once_with_the_command_and_can_be_revoked(client_for, acme, alice, unique):
    environment = _env(acme, alice, f"tok-{unique}")
    base = f"/deployments/environments/{environment.pk}"
    client = client_for(alice)
    response = client.post(f"{base}/tokens/", {"token-expires_in_hours": 2, "token-max_uses": 3})
    assert response.status_code == 200
    assert response["Cache-Control"] == "no-store"
    html = response.content.decode()
    found = re.search(r"python -m deployments\.agent --url (\S+) --token (tte_[\w-]+)", html)
    assert found, html
    assert found.group(1) == f"http://{alice.host}"
    raw = found.group(2)
    with tenant_context(acme):
        token = EnrollmentToken.objects.get(token_hash=EnrollmentToken.hash(raw))
        assert (token.environment, token.max_uses) == (environment, 3)
    # Shown once: a reload of the answer goes back to the page, which lists the prefix only.
    assert client.get(f"{base}/tokens/")["Location"] == f"{base}/"
    assert raw not in client.get(base + "/").content.decode()
    assert token.prefix in client.get(base + "/").content.decode()

    for data in (
        {"token-expires_in_hours": 0, "token-max_uses": 1},
        {"token-expires_in_hours": 24 * 31, "token-max_uses": 1},
        {"token-expires_in_hours": 1, "token-max_uses": 0},
        {"token-expires_in_hours": "soon", "token-max_uses": 1},
    ):
        assert client.post(f"{base}/tokens/", data).status_code == 400, data

    response = client.post(f"/deployments/tokens/{token.pk}/revoke/")
    assert response.status_code == 302
    assert "revoked" in client.get(response["Location"]).content.decode()
    with tenant_context(acme):
        token.refresh_from_db()
        assert token.revoked_at is not None
        assert EnrollmentToken.objects.filter(environment=environment).count() == 1


def test_the_terminal_allow_list_page(client_for, acme, alice, bob, unique):
    client = client_for(alice)
    program = f"uptime{unique}"
    response = client.post("/deployments/terminal-commands/", {"program": program, "description": "load"})
    assert response.status_code == 302
    assert f"{program} is on the allow-list" in client.get("/deployments/terminal-commands/").content.decode()
    for bad in ("rm -rf", "/bin/sh", "", "a\x00b"):
        response = client.post("/deployments/terminal-commands/", {"program": bad})
        assert response.status_code == 400, bad
        assert b'class="field has-error' in response.content
    with tenant_context(acme):
        entry = TerminalAllowedCommand.objects.get(program=program)
    # Bob (developer) reads the list but cannot change it.
    bob_client = client_for(bob)
    page = bob_client.get("/deployments/terminal-commands/")
    assert page.status_code == 200
    assert b"Allow a program" not in page.content
    assert bob_client.post("/deployments/terminal-commands/", {"program": "df"}).status_code == 403
    assert bob_client.post(f"/deployments/terminal-commands/{entry.pk}/delete/").status_code == 403
    assert client.post(f"/deployments/terminal-commands/{entry.pk}/delete/").status_code == 302
    with tenant_context(acme):
        assert not TerminalAllowedCommand.objects.filter(program__in=[program, "df"]).exists()


def test_bob_sees_environments_but_cannot_change_them(client_for, acme, alice, bob, unique):
    environment = _env(acme, alice, f"bob-{unique}")
    with tenant_context(acme):
        services.environment_variable_set(
            environment=environment, name="API_KEY", value="plain", actor=alice.user()
        )
        token, _ = services.enrollment_token_create(environment=environment, actor=alice.user())
    base = f"/deployments/environments/{environment.pk}"
    client = client_for(bob)
    page = client.get(base + "/")
    assert page.status_code == 200
    assert b"API_KEY" in page.content
    assert b"plain" not in page.content  # values are for those who manage the environment
    assert b"Create enrolment token" not in page.content
    assert b"style=" not in page.content  # strict CSP
    assert b"<script>" not in page.content
    assert client.get("/deployments/environments/").status_code == 200
    for url, data in (
        ("/deployments/environments/", {"env-name": f"b-{unique}"}),
        (f"{base}/settings/", {"settings-approvals_required": 0}),
        (f"{base}/variables/", {"var-name": "X", "var-value": "1"}),
        (f"{base}/tokens/", {"token-expires_in_hours": 1, "token-max_uses": 1}),
        (f"/deployments/tokens/{token.pk}/revoke/", {}),
    ):
        assert client.post(url, data).status_code == 403, url
    with tenant_context(acme):
        token.refresh_from_db()
        assert token.revoked_at is None
        assert EnrollmentToken.objects.filter(environment=environment).count() == 1
        assert not Environment.objects.filter(name=f"b-{unique}").exists()


def test_mallory_cannot_reach_acmes_environments_tokens_or_allow_list(
    client_for, acme, alice, mallory, unique
):
    environment = _env(acme, alice, f"mal-{unique}")
    with tenant_context(acme):
        variable = services.environment_variable_set(
            environment=environment, name="SECRET_URL", value="${vault:acme/url}", actor=alice.user()
        )
        token, _ = services.enrollment_token_create(environment=environment, actor=alice.user())
        entry = services.terminal_command_allow(program=f"acme{unique}", actor=alice.user())
    base = f"/deployments/environments/{environment.pk}"
    # Mallory's own session, on her own host: Acme's ids name nothing of Acme's there.
    client = client_for(mallory)
    for url, data in (
        (f"{base}/settings/", {"settings-approvals_required": 0}),
        (f"{base}/variables/{variable.pk}/delete/", {}),
        (f"/deployments/tokens/{token.pk}/revoke/", {}),
        (f"/deployments/terminal-commands/{entry.pk}/delete/", {}),
    ):
        assert client.post(url, data).status_code in (302, 404), url
    page = client.get(base + "/")
    assert page.status_code in (200, 404)
    assert b"SECRET_URL" not in page.content
    # Her cookie sent to Acme's host is no session there.
    stolen = Client(HTTP_HOST=alice.host)
    stolen.cookies = client.cookies
    response = stolen.post(f"{base}/tokens/", {"token-expires_in_hours": 1, "token-max_uses": 5})
    assert response.status_code == 302
    assert "/accounts/login/" in response["Location"]
    with tenant_context(acme):
        token.refresh_from_db()
        assert token.revoked_at is None
        assert EnvironmentVariable.objects.filter(pk=variable.pk).exists()
        assert TerminalAllowedCommand.objects.filter(pk=entry.pk).exists()
        assert EnrollmentToken.objects.filter(environment=environment).count() == 1


def test_anonymous_visitors_are_sent_to_sign_in(anon_client, acme, alice):
    client = anon_client(alice.host)
    for url in (
        "/deployments/environments/",
        "/deployments/terminal-commands/",
        "/deployments/environments/1/",
    ):
        response = client.get(url)
        assert response.status_code == 302
        assert "/accounts/login/" in response["Location"]


def test_the_page_flags_vault_references_a_deploy_would_refuse(client_for, acme, alice, unique):
    from vault import services as vault

    environment = _env(acme, alice, f"refs-{unique}")
    with tenant_context(acme):
        user = alice.user()
        vault.secret_create(
            actor=user, name=f"refs-{unique}/db", value="s3cr3t-db", environment=environment.name
        )
        vault.secret_create(actor=user, name=f"other-{unique}/db", value="s3cr3t-other", environment="other")
        for name, value in (
            ("GOOD", f"${{vault:refs-{unique}/db}}"),
            ("MISSING", f"${{vault:refs-{unique}/nope}}"),
            ("ELSEWHERE", f"${{vault:other-{unique}/db}}"),
        ):
            services.environment_variable_set(environment=environment, name=name, value=value, actor=user)
    html = client_for(alice).get(f"/deployments/environments/{environment.pk}/").content.decode()
    assert f"${{vault:refs-{unique}/nope}}: no such secret" in html
    assert f"${{vault:other-{unique}/db}}: belongs to other, not refs-{unique}" in html
    assert html.count("a deploy here would be refused") == 2
    assert "s3cr3t" not in html  # names only, never a value


def test_a_plan_limit_is_a_form_error_with_the_upgrade_message(client_for, acme, alice, unique):
    from tenants.models import Plan, Tenant

    with tenant_context(acme):
        count = Environment.objects.count()
    plan_id = Tenant.objects.get(pk=acme.pk).plan_id
    Plan.objects.filter(pk=plan_id).update(max_environments=count)  # rolled back with the test
    response = client_for(alice).post(
        "/deployments/environments/", {"env-name": f"over-{unique}", "env-approvals_required": 0}
    )
    assert response.status_code == 400
    assert "Upgrade your plan" in response.content.decode()
    assert b'class="form-errors"' in response.content
    with tenant_context(acme):
        assert not Environment.objects.filter(name=f"over-{unique}").exists()
