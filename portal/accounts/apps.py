from django.apps import AppConfig
from django.contrib.admin import apps as admin_apps


class AccountsConfig(AppConfig):
    default = True
    name = "portal.accounts"
    label = "accounts"
    verbose_name = "Accounts"


class OperatorAdminConfig(admin_apps.AdminConfig):
    """django.contrib.admin with the OTP-protected operator site as `admin.site`
    (listed in INSTALLED_APPS instead of "django.contrib.admin")."""

    default = False
    default_site = "portal.admin_site.OperatorAdminSite"
