"""Forms of the identity pages. They parse input only; the services decide."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib.auth.password_validation import validate_password

from portal.accounts.models import Role
from tenants.members import permissions
from tenants.members.sso import SSO_ROLES
from tenants.members.tokens import SERVICE_ACCOUNT_ROLES

EXPIRY_CHOICES = [("30", "30 days"), ("90", "90 days"), ("365", "1 year"), ("", "Never")]


class OtpCodeForm(forms.Form):
    code = forms.CharField(
        label="One-time code",
        max_length=16,
        help_text="The 6-digit code from your authenticator app, or one of your backup codes.",
        widget=forms.TextInput(
            attrs={"autocomplete": "one-time-code", "inputmode": "text", "autofocus": True}
        ),
    )


class ProfileForm(forms.Form):
    name = forms.CharField(label="Name", max_length=150, required=False)


class InvitationForm(forms.Form):
    email = forms.EmailField(label="Email address")
    role = forms.ChoiceField(label="Role", choices=Role.choices, initial=Role.VIEWER)


class RoleForm(forms.Form):
    role = forms.ChoiceField(label="Role", choices=Role.choices)


class InvitationAcceptForm(forms.Form):
    name = forms.CharField(label="Your name", max_length=150, required=False)
    password1 = forms.CharField(
        label="Password",
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
        help_text="At least 12 characters, not a common password.",
    )
    password2 = forms.CharField(
        label="Password (again)", widget=forms.PasswordInput(attrs={"autocomplete": "new-password"})
    )

    def __init__(self, *args: Any, email: str = "", **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.email = email

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        if data.get("password1") and data.get("password1") != data.get("password2"):
            self.add_error("password2", "The two passwords differ.")
        elif data.get("password1"):
            from portal.accounts.models import User

            try:
                validate_password(data["password1"], User(email=self.email, name=data.get("name", "")))
            except forms.ValidationError as exc:
                self.add_error("password1", exc)
        return data


class TokenForm(forms.Form):
    name = forms.CharField(
        label="Name", max_length=100, help_text="What the token is for, e.g. “CI pipeline”."
    )
    scopes = forms.MultipleChoiceField(
        label="Scopes",
        choices=[(scope, scope) for scope in permissions.SCOPES],
        widget=forms.CheckboxSelectMultiple,
        initial=["read"],
    )
    expires_in_days = forms.ChoiceField(label="Expires", choices=EXPIRY_CHOICES, initial="90", required=False)


class ServiceAccountForm(forms.Form):
    name = forms.CharField(label="Name", max_length=100)
    role = forms.ChoiceField(label="Role", choices=[(str(r), r.label) for r in SERVICE_ACCOUNT_ROLES])
    description = forms.CharField(label="Description", max_length=300, required=False)
    allowed_ips = forms.CharField(
        label="Allowed addresses",
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="One IP address or network (CIDR) per line. Empty: any address.",
    )

    def clean_allowed_ips(self) -> list[str]:
        return [line.strip() for line in self.cleaned_data["allowed_ips"].splitlines() if line.strip()]


class SsoForm(forms.Form):
    enabled = forms.BooleanField(label="Enable single sign-on", required=False)
    server_url = forms.URLField(
        label="Issuer URL",
        assume_scheme="https",
        required=False,
        help_text="The OpenID Connect issuer; /.well-known/openid-configuration is read from it.",
    )
    client_id = forms.CharField(label="Client ID", max_length=191, required=False)
    client_secret = forms.CharField(
        label="Client secret",
        required=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "off"}),
        help_text="Leave empty to keep the stored secret.",
    )
    jit_provisioning = forms.BooleanField(
        label="Create members on first sign-in", required=False, initial=True
    )
    group_claim = forms.CharField(label="Group claim", max_length=64, initial="groups")
    role_map = forms.CharField(
        label="Group → role mapping",
        required=False,
        widget=forms.Textarea(attrs={"rows": 4}),
        help_text="One “group = role” per line; roles: " + ", ".join(SSO_ROLES) + ".",
    )
    default_role = forms.ChoiceField(
        label="Role when no group matches", choices=[(r, r) for r in SSO_ROLES], initial=Role.VIEWER
    )

    def clean_role_map(self) -> dict[str, str]:
        return parse_role_map(self.cleaned_data["role_map"])


def parse_role_map(text: str) -> dict[str, str]:
    """“group = role” lines → {group: role}."""
    mapping = {}
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        group, sep, role = line.partition("=")
        if not sep or not group.strip() or role.strip() not in SSO_ROLES:
            raise forms.ValidationError(
                f"Line {number}: write “group = role” with a role of {', '.join(SSO_ROLES)}."
            )
        mapping[group.strip()] = role.strip()
    return mapping


class SamlForm(forms.Form):
    """The tenant's SAML identity provider. The service validates the certificate and URL."""

    enabled = forms.BooleanField(label="Enable SAML sign-in", required=False)
    entity_id = forms.CharField(
        label="IdP entity ID",
        max_length=1024,
        help_text="The identity provider's issuer, often its metadata URL.",
    )
    sso_url = forms.URLField(
        label="IdP single sign-on URL",
        assume_scheme="https",
        max_length=1024,
        help_text="Where members are sent to sign in (HTTP-Redirect binding); https only.",
    )
    x509cert = forms.CharField(
        label="IdP signing certificate",
        max_length=16_000,
        widget=forms.Textarea(attrs={"rows": 8, "spellcheck": "false"}),
        help_text="PEM text (-----BEGIN CERTIFICATE----- …). Responses must be signed with its key.",
    )
    email_attribute = forms.CharField(label="Email attribute", max_length=256, initial="email")
    name_attribute = forms.CharField(label="Name attribute", max_length=256, required=False)
    uid_attribute = forms.CharField(
        label="User ID attribute",
        max_length=256,
        required=False,
        help_text="Empty: the NameID identifies the user.",
    )
    group_attribute = forms.CharField(label="Group attribute", max_length=256, initial="groups")
    role_map = forms.CharField(
        label="Group → role mapping",
        required=False,
        widget=forms.Textarea(attrs={"rows": 4}),
        help_text="One “group = role” per line; roles: " + ", ".join(SSO_ROLES) + ".",
    )
    default_role = forms.ChoiceField(
        label="Role when no group matches", choices=[(r, r) for r in SSO_ROLES], initial=Role.VIEWER
    )
    jit_provisioning = forms.BooleanField(
        label="Create members on first sign-in", required=False, initial=True
    )

    def clean_role_map(self) -> dict[str, str]:
        return parse_role_map(self.cleaned_data["role_map"])


class PolicyForm(forms.Form):
    require_mfa_for_all = forms.BooleanField(label="Require a second factor for every member", required=False)
