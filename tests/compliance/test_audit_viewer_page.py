"""The audit viewer's filter form: browser date-time pickers, errors as a 400, never a 500."""

from __future__ import annotations


def test_the_filter_form_uses_date_time_pickers_read_as_utc(client_for, alice):
    client = client_for(alice)
    page = client.get("/compliance/audit/")
    assert page.status_code == 200
    assert b'type="datetime-local"' in page.content
    assert b'class="form filters"' in page.content
    assert b'aria-current="page">Audit log' in page.content
    # What a datetime-local input submits (no seconds, no zone) filters as UTC.
    # (Filtered by action too: other tests' events may fill the first page of Acme's log.)
    response = client.get(
        "/compliance/audit/?action=member.create&since=2000-01-01T09:30&until=2999-12-31T23:59"
    )
    assert response.status_code == 200
    assert b"member.create" in response.content
    assert b"No events match" in client.get("/compliance/audit/?since=2999-01-01T00:00").content


def test_a_malformed_date_is_a_400_with_the_reason(client_for, alice):
    response = client_for(alice).get("/compliance/audit/?since=yesterday-ish")
    assert response.status_code == 400
    assert b"Not a date/time" in response.content
