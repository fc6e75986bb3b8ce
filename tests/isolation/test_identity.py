"""Mallory (Globex owner) attacks Acme with her own credentials: session cookie, API token and
invitation link, over HTTP pages, the API and the websocket. Each must fail."""

from __future__ import annotations

import re

from channels.testing import WebsocketCommunicator
from django.conf import settings
from django.core import mail
from django.test import Client
from django_tenants.utils import schema_context

from portal.asgi import application
from tests.conftest import session_for
from tests.members.conftest import audit_actions
from tests.members.conftest import make_token as make_token


def _mallory_token(mallory) -> str:
    from django.db import connection

    from tenants.members.tokens import token_create

    user = mallory.user()
    with schema_context(mallory.schema_name):
        connection.tenant = mallory.tenant
        _, plaintext = token_create(owner=user, actor=user, name="attack", scopes=["read", "write"])
    return plaintext


def test_mallorys_session_cookie_gets_nothing_from_acme_pages_or_api(client_for, mallory, alice):
    client = client_for(mallory)
    assert client.get("/members/").status_code == 200  # valid at home
    client.defaults["HTTP_HOST"] = alice.host
    page = client.get("/members/")
    assert page.status_code == 302
    assert "/accounts/login/" in page["Location"]
    assert client.get("/api/v1/me/").status_code in (401, 403)
    assert client.get("/api/v1/members/").status_code in (401, 403)


def test_mallorys_api_token_is_refused_by_acme(make_token, mallory, alice):
    token = make_token(mallory, ["read", "write"])
    home = Client(HTTP_HOST=mallory.host, HTTP_AUTHORIZATION=f"Bearer {token}")
    assert home.get("/api/v1/me/").status_code == 200
    attack = Client(HTTP_HOST=alice.host, HTTP_AUTHORIZATION=f"Bearer {token}")
    for path in ("/api/v1/me/", "/api/v1/members/", "/api/v1/tokens/"):
        assert attack.get(path).status_code == 401, path
    assert attack.post("/api/v1/invitations/", {"email": "m@evil.test", "role": "owner"},
                       content_type="application/json").status_code == 401  # fmt: skip
    rejected = audit_actions(alice.schema_name, "auth.token.rejected")
    assert rejected
    assert rejected[0].payload["prefix"] == token[:12]


def test_mallorys_invitation_link_does_not_open_acme(
    client_for, mallory, alice, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        assert (
            client_for(mallory).post("/members/", {"email": "eve@evil.test", "role": "owner"}).status_code
            == 302
        )
    token = re.search(r"/members/invitations/accept/([^/\s]+)/", mail.outbox[-1].body).group(1)
    attack = Client(HTTP_HOST=alice.host)
    assert attack.get(f"/members/invitations/accept/{token}/").status_code == 404
    response = attack.post(
        f"/members/invitations/accept/{token}/",
        {"password1": "a-long-unusual-passphrase", "password2": "a-long-unusual-passphrase"},
    )
    assert response.status_code == 404
    from portal.accounts.models import User

    with schema_context(alice.schema_name):
        assert not User.objects.filter(email="eve@evil.test").exists()
    assert audit_actions(alice.schema_name, "invitation.accept.refused")


async def _whoami(host: str, headers: list[tuple[bytes, bytes]]) -> tuple[bool, object]:
    communicator = WebsocketCommunicator(
        application,
        "/ws/whoami/",
        headers=[(b"host", host.encode()), (b"origin", f"http://{host}".encode()), *headers],
    )
    connected, code = await communicator.connect()
    payload = await communicator.receive_json_from() if connected else code
    await communicator.disconnect()
    return connected, payload


async def test_mallorys_cookie_and_token_do_not_open_acmes_websocket(committed_db, mallory, alice):
    from asgiref.sync import sync_to_async

    key = await sync_to_async(session_for)(mallory)
    cookie = [(b"cookie", f"{settings.SESSION_COOKIE_NAME}={key}".encode())]
    connected, payload = await _whoami(mallory.host, cookie)
    assert connected
    assert payload["tenant"] == "t_globex"
    connected, _ = await _whoami(alice.host, cookie)
    assert not connected
    token = await sync_to_async(_mallory_token)(mallory)
    connected, _ = await _whoami(alice.host, [(b"authorization", f"Bearer {token}".encode())])
    assert not connected


def test_alices_token_is_useless_on_globex_too(make_token, alice, mallory):
    token = make_token(alice, ["read"])
    assert (
        Client(HTTP_HOST=mallory.host, HTTP_AUTHORIZATION=f"Bearer {token}").get("/api/v1/me/").status_code
        == 401
    )


def test_mallorys_saml_idp_and_session_get_nothing_from_acme(client_for, alice, mallory, db):
    """Globex's SAML IdP (Mallory's key) answers a sign-in Acme started: Acme's ACS refuses
    it and audits the refusal; Mallory's session cookie does not open Acme's SAML settings."""
    from tests.members.saml_idp import SamlIdp
    from tests.members.test_saml import _configure, _post, _sp, _start

    acme_idp = SamlIdp()
    mallory_idp = SamlIdp(entity_id="https://idp.globex.test/saml", sso_url="https://idp.globex.test/sso")
    _configure(alice, acme_idp)
    _configure(mallory, mallory_idp)
    client, request_id = _start(alice.host, acme_idp)
    for_globex = mallory_idp.response(**_sp(mallory), in_response_to=request_id, email=alice.email)
    refused = _post(client, for_globex)
    assert refused.status_code == 403
    assert client.get("/api/v1/me/").status_code in (401, 403)
    assert audit_actions(alice.schema_name, "auth.sso.refused")
    with schema_context(alice.schema_name):
        from portal.accounts.models import User

        assert not User.objects.filter(email=mallory.email).exists()
    attacker = client_for(mallory)
    attacker.defaults["HTTP_HOST"] = alice.host
    page = attacker.get("/members/sso/saml/")
    assert page.status_code == 302
    assert "/accounts/login/" in page["Location"]
