"""Tenant self-service pages of tenants.members, under /members/."""

from __future__ import annotations

from django.urls import URLPattern, URLResolver, path

from tenants.members.views import members, saml, security, sso

app_name = "members"
urlpatterns: list[URLPattern | URLResolver] = [
    path("", members.member_list, name="list"),
    path("<int:pk>/role/", members.member_role, name="role"),
    path("<int:pk>/active/", members.member_active, name="active"),
    path("invitations/<int:pk>/revoke/", members.invitation_revoke, name="invitation-revoke"),
    path("invitations/accept/<str:token>/", members.invitation_accept, name="invitation-accept"),
    path("profile/", members.profile, name="profile"),
    path("tokens/", members.token_list, name="tokens"),
    path("tokens/<int:pk>/revoke/", members.token_revoke, name="token-revoke"),
    path("service-accounts/", members.service_accounts, name="service-accounts"),
    path("service-accounts/<int:pk>/tokens/", members.service_account_token, name="service-account-token"),
    path("policy/", members.policy, name="policy"),
    path("sso/", sso.sso_settings, name="sso"),
    path("sso/saml/", saml.saml_settings, name="sso-saml"),
    path("security/", security.security_home, name="security"),
    path("security/verify/", security.otp_challenge, {"purpose": "verify"}, name="mfa-verify"),
    path("security/step-up/", security.otp_challenge, {"purpose": "step_up"}, name="step-up"),
    path("security/totp/", security.totp_enrol, name="totp"),
    path("security/totp/qr.svg", security.totp_qr, name="totp-qr"),
    path("security/backup-codes/", security.backup_codes_new, name="backup-codes"),
    path("security/remove/", security.mfa_remove, name="mfa-remove"),
    path("security/sessions/end-others/", security.sessions_end_others, name="sessions-end-others"),
]
