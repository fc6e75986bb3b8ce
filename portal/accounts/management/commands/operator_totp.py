"""Give a platform operator (public-schema staff user) an authenticator app.

    python manage.py operator_totp oscar@example.com

The operator console (OTPAdminSite) only admits staff users who pass a TOTP check, so the
first device of each operator is created here, out of band, and printed as an otpauth URL.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError
from django_otp.plugins.otp_totp.models import TOTPDevice
from django_tenants.utils import schema_context

from compliance import audit
from portal.accounts.models import User


class Command(BaseCommand):
    help = "Create (or replace) the TOTP device of a platform operator and print its otpauth URL."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("email")

    def handle(self, *args: Any, email: str, **options: Any) -> None:
        with schema_context("public"):
            user = User.objects.filter(email=email.lower(), is_staff=True).first()
            if user is None:
                raise CommandError(f"No platform operator {email}.")
            TOTPDevice.objects.filter(user=user).delete()
            device = TOTPDevice.objects.create(user=user, name="operator console", confirmed=True)
            audit.record(action="mfa.totp.added", actor=None, target=user, payload={"via": "operator_totp"})
        self.stdout.write(device.config_url)
