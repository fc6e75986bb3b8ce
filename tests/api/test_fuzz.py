"""Schemathesis drives every operation of the OpenAPI schema as Alice: nothing returns a 500.

Requests go through the real middleware stack (tenant routing, sessions, auth) via Django's
test client, inside the test's transaction, so whatever the fuzzer creates or deletes is rolled
back afterwards.
"""

from __future__ import annotations

import json
import os
from urllib.parse import urlencode

import schemathesis
from django.test import Client
from drf_spectacular.generators import SchemaGenerator
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from schemathesis.core import NotSet

EXAMPLES = int(os.environ.get("API_FUZZ_EXAMPLES", "8"))


def _send(client: Client, case: schemathesis.Case) -> int:
    path = case.formatted_path
    if case.query:
        path += "?" + urlencode(case.query, doseq=True)
    headers = {k: str(v) for k, v in (case.headers or {}).items() if k.lower() not in {"host", "cookie"}}
    body = None if isinstance(case.body, NotSet) else case.body
    if body is not None and case.media_type == "application/json":
        response = client.generic(
            case.method, path, json.dumps(body), content_type="application/json", headers=headers
        )
    elif isinstance(body, dict) and case.method.upper() == "POST":
        form = {k: v if isinstance(v, bytes) else str(v) for k, v in body.items() if v is not None}
        response = client.post(path, data=form, headers=headers)
    else:
        response = client.generic(case.method, path, headers=headers)
    return response.status_code


def test_no_operation_answers_500(client_for, alice):
    document = SchemaGenerator(urlconf="portal.urls_tenant").get_schema(request=None, public=True)
    schema = schemathesis.openapi.from_dict(json.loads(json.dumps(document, default=str)))
    client = client_for(alice)
    client.raise_request_exception = False
    failures: list[str] = []
    operations = 0
    for result in schema.get_all_operations():
        operation = result.ok()
        operations += 1

        @given(case=operation.as_strategy())
        @hypothesis_settings(
            max_examples=EXAMPLES,
            deadline=None,
            database=None,
            derandomize=True,
            suppress_health_check=list(HealthCheck),
        )
        def call(case: schemathesis.Case) -> None:
            status = _send(client, case)
            if status >= 500:
                failures.append(
                    f"{case.method} {case.formatted_path} {case.query} {case.body!r:.300} → {status}"
                )

        call()
    print(f"fuzzed {operations} operations × up to {EXAMPLES} examples")
    assert operations > 0
    assert failures == [], "\n".join(failures[:20])
