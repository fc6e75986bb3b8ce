"""SAML end to end: Acme's org admin configures an IdP; a test IdP (own RSA key and
self-signed certificate, assertions signed by xmlsec) answers the portal's AuthnRequest and
the browser posts its Response to Acme's ACS. A good response signs a new member in with the
mapped role; every bad one is refused with a clear message and an audit event."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

import pytest
from django.test import Client
from django_tenants.utils import schema_context, tenant_context

from portal.accounts.models import User
from tenants.members import saml
from tenants.models import TenantEmail

from .conftest import audit_actions
from .saml_idp import SamlIdp, authn_request_id, key_and_certificate

BASE = f"/accounts/saml/{saml.SLUG}"


@pytest.fixture
def idp() -> SamlIdp:
    return SamlIdp()


def _configure(persona, idp: SamlIdp, **overrides):
    with tenant_context(persona.tenant):
        options = {
            "actor": persona.user(),
            "entity_id": idp.entity_id,
            "sso_url": idp.sso_url,
            "x509cert": idp.cert_pem,
            "email_attribute": "email",
            "name_attribute": "displayName",
            "group_attribute": "groups",
            "role_map": {"ops-team": "operator", "eng": "developer"},
            "default_role": "viewer",
        } | overrides
        return saml.saml_configure(**options)


def _sp(persona) -> dict[str, str]:
    return {
        "acs_url": f"http://{persona.host}{BASE}/acs/",
        "audience": f"http://{persona.host}{BASE}/metadata/",
    }


def _start(host: str, idp: SamlIdp) -> tuple[Client, str]:
    """The member clicks "sign in with SAML": the portal redirects to the IdP."""
    client = Client(HTTP_HOST=host)
    start = client.post(f"{BASE}/login/")
    assert start.status_code == 302, start.content[:300]
    assert start["Location"].startswith(idp.sso_url + "?")
    return client, authn_request_id(start["Location"])


def _post(client: Client, saml_response: str):
    """The browser posts the IdP's answer to the ACS and follows the portal's redirect."""
    posted = client.post(f"{BASE}/acs/", {"SAMLResponse": saml_response, "RelayState": ""})
    assert posted.status_code == 302
    assert urlsplit(posted["Location"]).path == f"{BASE}/acs/finish/"
    return client.get(posted["Location"])


def _refusals(persona) -> list:
    return audit_actions(persona.schema_name, "auth.sso.refused")


def _assert_refused(persona, done, reason: str, text: bytes, client: Client, before: int) -> None:
    assert done.status_code == 403
    assert text in done.content.replace(b"&#x27;", b"'")
    assert client.get("/api/v1/me/").status_code in (401, 403)  # nobody signed in
    refusals = _refusals(persona)
    assert len(refusals) == before + 1
    assert refusals[0].payload["reason"] == reason
    assert refusals[0].payload["provider"] == "saml"


def test_acme_serves_its_own_sp_metadata(alice, idp, db):
    _configure(alice, idp)
    response = Client(HTTP_HOST=alice.host).get(f"{BASE}/metadata/")
    assert response.status_code == 200
    assert b"EntityDescriptor" in response.content
    assert f"{alice.host}{BASE}/acs/".encode() in response.content
    assert audit_actions(alice.schema_name, "sso.saml.configure")


def test_saml_login_sends_an_authn_request_to_the_idp(alice, idp, db):
    _configure(alice, idp)
    _, request_id = _start(alice.host, idp)
    assert request_id


def test_globex_has_no_saml_app(alice, mallory, idp, db):
    _configure(alice, idp)
    assert Client(HTTP_HOST=mallory.host).get(f"{BASE}/metadata/").status_code == 404


def test_disabled_saml_cannot_be_used(alice, idp, db):
    _configure(alice, idp, enabled=False)
    assert Client(HTTP_HOST=alice.host).post(f"{BASE}/login/").status_code == 404


def test_a_signed_response_provisions_dave_with_his_group_role_and_signs_him_in(alice, idp, db):
    _configure(alice, idp)
    client, request_id = _start(alice.host, idp)
    response = idp.response(
        **_sp(alice),
        in_response_to=request_id,
        email="Dave@acme.test",
        groups=("eng", "ops-team"),
        name="Dave",
    )
    done = _post(client, response)
    assert done.status_code == 302, done.content[:500]
    with schema_context(alice.schema_name):
        dave = User.objects.get(email="dave@acme.test")
    assert dave.role == "operator"  # the highest mapped role wins
    assert dave.name == "Dave"
    assert not dave.has_usable_password()
    assert TenantEmail.objects.filter(email="dave@acme.test", tenant__slug="acme").exists()
    assert client.get("/api/v1/me/").json()["email"] == "dave@acme.test"
    login = audit_actions(alice.schema_name, "auth.sso.login")[0]
    assert login.payload["provider"] == "saml"
    assert audit_actions(alice.schema_name, "member.create")[0].payload == {
        "role": "operator",
        "source": "sso",
    }


def test_a_later_saml_login_syncs_the_role_and_unmapped_users_get_the_default(alice, idp, db):
    _configure(alice, idp)
    for groups in (("eng",), ("ops-team",)):
        client, request_id = _start(alice.host, idp)
        done = _post(
            client,
            idp.response(**_sp(alice), in_response_to=request_id, email="erin@acme.test", groups=groups),
        )
        assert done.status_code == 302
    client, request_id = _start(alice.host, idp)
    _post(
        client, idp.response(**_sp(alice), in_response_to=request_id, email="frank@acme.test", groups=("x",))
    )
    with schema_context(alice.schema_name):
        assert User.objects.get(email="erin@acme.test").role == "operator"
        assert User.objects.get(email="frank@acme.test").role == "viewer"


def test_an_unsigned_response_is_refused(alice, idp, db):
    _configure(alice, idp)
    before = len(_refusals(alice))
    client, request_id = _start(alice.host, idp)
    done = _post(
        client, idp.response(**_sp(alice), in_response_to=request_id, email="eve@acme.test", sign=False)
    )
    _assert_refused(alice, done, "unsigned", b"was not signed", client, before)
    with schema_context(alice.schema_name):
        assert not User.objects.filter(email="eve@acme.test").exists()


def test_a_response_signed_with_another_key_is_refused(alice, idp, db):
    _configure(alice, idp)
    before = len(_refusals(alice))
    client, request_id = _start(alice.host, idp)
    forged = idp.response(
        **_sp(alice),
        in_response_to=request_id,
        email="alice@acme.test",
        signing_key=key_and_certificate("evil"),
    )
    done = _post(client, forged)
    _assert_refused(alice, done, "bad_signature", b"does not match the certificate", client, before)


def test_an_expired_response_is_refused(alice, idp, db):
    _configure(alice, idp)
    before = len(_refusals(alice))
    client, request_id = _start(alice.host, idp)
    stale = idp.response(
        **_sp(alice),
        in_response_to=request_id,
        email="eve@acme.test",
        issued_at=datetime.now(UTC) - timedelta(hours=2),
    )
    done = _post(client, stale)
    _assert_refused(alice, done, "expired", b"has expired", client, before)


def test_a_response_for_another_audience_is_refused(alice, idp, db):
    _configure(alice, idp)
    before = len(_refusals(alice))
    client, request_id = _start(alice.host, idp)
    other = idp.response(
        acs_url=_sp(alice)["acs_url"],
        audience="https://some-other-app.test/saml/metadata",
        in_response_to=request_id,
        email="eve@acme.test",
    )
    done = _post(client, other)
    _assert_refused(alice, done, "wrong_audience", b"issued for another service", client, before)


def test_a_replayed_response_is_refused_in_the_same_and_in_another_browser(alice, idp, db):
    _configure(alice, idp)
    client, request_id = _start(alice.host, idp)
    captured = idp.response(**_sp(alice), in_response_to=request_id, email="gus@acme.test")
    assert _post(client, captured).status_code == 302  # the real sign-in
    before = len(_refusals(alice))
    again = _post(client, captured)
    assert again.status_code == 403
    assert b"already used" in again.content
    attacker, _ = _start(alice.host, idp)  # another browser, with a login in flight of its own
    replay = _post(attacker, captured)
    _assert_refused(alice, replay, "replayed", b"already used", attacker, before + 1)
    assert len(_refusals(alice)) == before + 2


def test_an_unsolicited_idp_initiated_response_is_refused(alice, idp, db):
    _configure(alice, idp)
    before = len(_refusals(alice))
    client = Client(HTTP_HOST=alice.host)
    done = _post(client, idp.response(**_sp(alice), in_response_to=None, email="alice@acme.test"))
    _assert_refused(alice, done, "unsolicited", b"did not start this sign-in", client, before)


def test_a_response_without_a_pending_acs_post_is_refused(alice, idp, db):
    _configure(alice, idp)
    before = len(_refusals(alice))
    client = Client(HTTP_HOST=alice.host)
    done = client.get(f"{BASE}/acs/finish/")
    _assert_refused(alice, done, "no_response", b"No sign-in response", client, before)


def test_mallorys_idp_cannot_sign_anyone_into_acme(alice, mallory, idp, db):
    """Globex trusts Mallory's IdP. Its response for Globex's SP, one aimed at Acme's SP, and
    one that even claims to come from Acme's IdP all fail at Acme's ACS: Acme trusts only its
    own IdP's issuer and certificate."""
    _configure(alice, idp)
    mallory_idp = SamlIdp(entity_id="https://idp.globex.test/saml", sso_url="https://idp.globex.test/sso")
    _configure(mallory, mallory_idp)
    impostor = SamlIdp(entity_id=idp.entity_id, key_pem=mallory_idp.key_pem, cert_pem=mallory_idp.cert_pem)
    attempts = (
        (mallory_idp, _sp(mallory), "wrong_destination"),
        (mallory_idp, _sp(alice), "wrong_issuer"),
        (impostor, _sp(alice), "bad_signature"),
    )
    for number, (issuer, sp, reason) in enumerate(attempts):
        before = len(_refusals(alice))
        client, request_id = _start(alice.host, idp)
        done = _post(client, issuer.response(**sp, in_response_to=request_id, email=alice.email))
        assert done.status_code == 403, number
        _assert_refused(alice, done, reason, saml.REASONS[reason].encode(), client, before)


def test_a_response_for_globex_from_a_shared_idp_is_refused_by_acme(alice, mallory, idp, db):
    """Both tenants use the same IdP (same certificate). A response it issued for Globex's SP
    is still refused at Acme: wrong destination and audience."""
    _configure(alice, idp)
    _configure(mallory, idp)
    before = len(_refusals(alice))
    client, request_id = _start(alice.host, idp)
    for_globex = idp.response(**_sp(mallory), in_response_to=request_id, email="mallory@globex.test")
    done = _post(client, for_globex)
    assert done.status_code == 403
    assert _refusals(alice)[0].payload["reason"] in ("wrong_destination", "wrong_audience")
    assert len(_refusals(alice)) == before + 1
    with schema_context(alice.schema_name):
        assert not User.objects.filter(email="mallory@globex.test").exists()


def _form(idp: SamlIdp, **overrides) -> dict[str, str]:
    return {
        "enabled": "on",
        "entity_id": idp.entity_id,
        "sso_url": idp.sso_url,
        "x509cert": idp.cert_pem,
        "email_attribute": "mail",
        "name_attribute": "displayName",
        "uid_attribute": "",
        "group_attribute": "memberOf",
        "role_map": "ops = operator\nauditors = auditor",
        "default_role": "viewer",
        "jit_provisioning": "on",
    } | overrides


def test_alice_configures_saml_on_the_settings_page_with_step_up(client_for, alice, idp):
    stale = client_for(alice, otp=False).post("/members/sso/saml/", _form(idp))
    assert stale["Location"].startswith("/members/security/step-up/")
    client = client_for(alice)
    page = client.get("/members/sso/saml/")
    assert page.status_code == 200
    assert f"http://{alice.host}{BASE}/acs/".encode() in page.content
    assert client.post("/members/sso/saml/", _form(idp)).status_code == 302
    with tenant_context(alice.tenant):
        app = saml.saml_app()
        mapping = saml.saml_mapping(app)
    assert app.settings["idp"]["entity_id"] == idp.entity_id
    assert app.settings["attribute_mapping"] == {"email": "mail"}
    assert mapping.enabled
    assert mapping.group_claim == "memberOf"
    assert mapping.role_map == {"ops": "operator", "auditors": "auditor"}
    event = audit_actions(alice.schema_name, "sso.saml.configure")[0]
    assert event.payload["role_map"] == {"ops": "operator", "auditors": "auditor"}
    again = client.get("/members/sso/saml/").content
    assert b"memberOf" in again  # the saved values come back
    assert b"-----BEGIN CERTIFICATE-----" in again  # as the PEM an admin pasted


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        (
            "x509cert",
            "-----BEGIN CERTIFICATE-----\nnot a certificate\n-----END CERTIFICATE-----",
            b"not an X.509",
        ),
        ("x509cert", "", b"This field is required"),
        ("sso_url", "http://idp.test/sso", b"must be an https://"),
        ("sso_url", "javascript:alert(1)", b"Enter a valid URL"),
        ("role_map", "admins = owner", b"Line 1"),
        ("entity_id", "", b"This field is required"),
    ],
)
def test_bad_saml_settings_show_errors_in_the_form(client_for, alice, idp, field, value, message):
    response = client_for(alice).post("/members/sso/saml/", _form(idp, **{field: value}))
    assert response.status_code == 400
    assert message in response.content
    assert b'class="field has-error' in response.content
    with tenant_context(alice.tenant):
        assert saml.saml_app() is None


def test_an_expired_idp_certificate_is_refused_in_the_form(client_for, alice, idp):
    _, expired = key_and_certificate("old-idp", expired=True)
    response = client_for(alice).post("/members/sso/saml/", _form(idp, x509cert=expired))
    assert response.status_code == 400
    assert b"This certificate expired on" in response.content


def test_only_owners_and_org_admins_open_saml_settings(client_for, bob, mallory, alice):
    assert client_for(bob).get("/members/sso/saml/").status_code == 403
    mallory_client = client_for(mallory)
    assert mallory_client.get("/members/sso/saml/").status_code == 200  # her own tenant
    mallory_client.defaults["HTTP_HOST"] = alice.host
    response = mallory_client.get("/members/sso/saml/")
    assert response.status_code == 302
    assert "/accounts/login/" in response["Location"]


def test_an_existing_member_signs_in_by_saml_and_keeps_one_account(alice, bob, idp, db):
    _configure(alice, idp)
    client, request_id = _start(alice.host, idp)
    done = _post(
        client, idp.response(**_sp(alice), in_response_to=request_id, email=bob.email, groups=("ops-team",))
    )
    assert done.status_code == 302, done.content[:500]
    with schema_context(alice.schema_name):
        assert User.objects.filter(email=bob.email).count() == 1
    assert client.get("/api/v1/me/").json()["email"] == bob.email


def test_the_login_page_offers_saml_only_when_enabled(alice, idp, db):
    _configure(alice, idp)
    page = Client(HTTP_HOST=alice.host).get("/accounts/login/")
    assert f"{BASE}/login/".encode() in page.content
    _configure(alice, idp, enabled=False)
    assert f"{BASE}/login/".encode() not in Client(HTTP_HOST=alice.host).get("/accounts/login/").content


def test_saml_never_signs_in_as_an_owner_by_email(alice, idp, db):
    """Org admins control the IdP settings; an assertion naming the owner's email must not
    become the owner's session."""
    _configure(alice, idp)
    before = len(_refusals(alice))
    client, request_id = _start(alice.host, idp)
    done = _post(client, idp.response(**_sp(alice), in_response_to=request_id, email=alice.email))
    _assert_refused(alice, done, "owner_by_email", b"Owners sign in with their password", client, before)


def test_only_the_sso_start_page_may_post_on_to_the_tenants_idp(alice, idp, db):
    """Browsers check form-action against the redirect that answers a form post: the SAML
    "continue" page allows Acme's IdP origin, other pages do not."""
    _configure(alice, idp)
    client = Client(HTTP_HOST=alice.host)
    start = client.get(f"{BASE}/login/")
    assert start.status_code == 200
    form_action = next(
        d for d in start["Content-Security-Policy"].split(";") if d.strip().startswith("form-action")
    )
    assert "https://idp.test" in form_action
    assert "'self'" in form_action
    assert "https://idp.test" not in client.get("/accounts/login/")["Content-Security-Policy"]


@pytest.mark.parametrize(
    "garbage",
    [
        "not base64 at all!",
        "PGZvbw==",  # "<foo" — not XML
        "PGZvby8+",  # "<foo/>" — XML, not SAML
        '<!DOCTYPE x [<!ENTITY a "aaaa">]><x>&a;</x>',
        "",
    ],
)
def test_garbage_at_the_acs_is_a_clear_refusal_not_a_500(alice, idp, db, garbage):
    import base64

    _configure(alice, idp)
    client, _ = _start(alice.host, idp)
    payload = garbage if not garbage.startswith("<") else base64.b64encode(garbage.encode()).decode()
    done = _post(client, payload)
    assert done.status_code == 403
    assert b"Single sign-on refused" in done.content


def test_the_acs_is_rate_limited_per_address_and_throttled_posts_write_no_audit(
    alice, idp, db, settings, unique
):
    settings.SSO_ACS_RATE = "2/min"
    _configure(alice, idp)
    before = len(_refusals(alice))
    client = Client(HTTP_HOST=alice.host, REMOTE_ADDR=f"2001:db8::{unique[:4]}:{unique[4:]}")
    statuses = [_post(client, "not base64 at all!") for _ in range(3)]
    assert [done.status_code for done in statuses] == [403, 403, 429]
    assert int(statuses[-1]["Retry-After"]) >= 1
    assert b"Too many sign-in attempts" in statuses[-1].content
    assert len(_refusals(alice)) == before + 2  # the throttled post parsed nothing, audited nothing
    other = Client(HTTP_HOST=alice.host, REMOTE_ADDR=f"2001:db8::1:{unique[:4]}")
    assert _post(other, "not base64 at all!").status_code == 403  # another address is not held back


def test_without_jit_an_unknown_saml_user_is_not_created(alice, idp, db):
    _configure(alice, idp, jit_provisioning=False)
    client, request_id = _start(alice.host, idp)
    done = _post(client, idp.response(**_sp(alice), in_response_to=request_id, email="gina@acme.test"))
    assert done.status_code == 200
    assert b"Sign Up Closed" in done.content or b"closed" in done.content.lower()
    assert client.get("/api/v1/me/").status_code in (401, 403)
    with schema_context(alice.schema_name):
        assert not User.objects.filter(email="gina@acme.test").exists()


def test_jit_over_the_plans_member_limit_is_a_clear_refusal(alice, idp, db):
    from tenants.models import Plan

    _configure(alice, idp)
    with schema_context(alice.schema_name):
        members = User.objects.filter(is_active=True).count()
    Plan.objects.filter(tenants__schema_name=alice.schema_name).update(max_members=members)
    before = len(_refusals(alice))
    client, request_id = _start(alice.host, idp)
    done = _post(client, idp.response(**_sp(alice), in_response_to=request_id, email="ivan@acme.test"))
    _assert_refused(alice, done, "plan_limit", b"member limit", client, before)
    with schema_context(alice.schema_name):
        assert not User.objects.filter(email="ivan@acme.test").exists()


def test_an_invited_member_keeps_her_password_after_her_first_saml_sign_in(alice, idp, db):
    """The invitation proved Hana's address, so allauth's email authentication has no reason
    to wipe her password when the tenant's IdP later signs her in."""
    from tenants.members.services import invitation_accept, invitation_create

    with tenant_context(alice.tenant):
        _, token = invitation_create(email="hana@acme.test", role="developer", actor=alice.user())
        invitation_accept(token=token, password="a-long-enough-passphrase", name="Hana")
    _configure(alice, idp)
    client, request_id = _start(alice.host, idp)
    done = _post(client, idp.response(**_sp(alice), in_response_to=request_id, email="hana@acme.test"))
    assert done.status_code == 302
    assert client.get("/api/v1/me/").json()["email"] == "hana@acme.test"
    with schema_context(alice.schema_name):
        assert User.objects.get(email="hana@acme.test").check_password("a-long-enough-passphrase")
