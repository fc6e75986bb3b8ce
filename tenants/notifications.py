from __future__ import annotations

from django.core.mail import send_mail
from django.template.loader import render_to_string


def send_login_links(*, email: str, links: list[tuple[str, str, str]]) -> None:
    body = render_to_string("tenants/email/login_links.txt", {"links": links})
    send_mail("Your Tenantry sign-in links", body, None, [email])
