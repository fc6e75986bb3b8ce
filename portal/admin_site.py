"""The operator console's admin site: Django's admin behind django-otp.

`OperatorAdminSite` is installed as *the* default admin site (see
`portal.accounts.apps.OperatorAdminConfig`), so every `@admin.register(...)` in any app
lands on it and `admin.site.admin_view(...)` wraps views with its OTP check. Operators
sign in with password + TOTP; a staff session without a verified device sees only the
login page. Extend this class (e.g. `get_urls`) to add console pages.
"""

from __future__ import annotations

from django.urls import URLPattern, URLResolver
from django_otp.admin import OTPAdminSite


class OperatorAdminSite(OTPAdminSite):
    site_header = "Tenantry operator console"
    site_title = "Tenantry operators"
    index_title = "Platform administration"

    def __init__(self, name: str = "admin") -> None:
        # OTPAdminSite defaults its name (and URL namespace) to "otpadmin"; keep "admin".
        super().__init__(name=name)

    def get_urls(self) -> list[URLPattern | URLResolver]:
        # The console's own pages (platform status, support access), behind the same OTP check.
        from portal.admin_dashboard import console_urls

        return [*console_urls(self), *super().get_urls()]
