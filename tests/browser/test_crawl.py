"""Every page in the tenant navigation, opened by an owner and a developer: no console
errors, no CSP violations, and no link in the navigation that answers an error."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

pytestmark = [pytest.mark.browser, pytest.mark.slow]


@pytest.mark.parametrize("persona_name", ["alice", "bob"])
def test_every_navigation_link_opens_cleanly(journey, persona_name, request):
    persona = request.getfixturevalue(persona_name)
    with journey(f"crawl-{persona_name}") as j:
        page = j.page(persona)
        page.goto(j.server.tenant_url("acme"))
        links = page.get_by_role("navigation", name="Main").get_by_role("link")
        hrefs = [links.nth(i).get_attribute("href") for i in range(links.count())]
        assert "/" in hrefs
        assert "/vault/" in hrefs
        for href in hrefs:
            response = page.goto(j.server.tenant_url("acme", href))
            assert response is not None, href
            assert response.status == 200, (href, response.status)
            expect(page.get_by_role("heading", level=1).first).to_be_visible()
