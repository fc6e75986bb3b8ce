"""Forms of the vault pages. They parse input; vault.services validates meaning."""

from __future__ import annotations

from typing import Any

from django import forms

from portal.accounts.models import Role
from vault.models import RotationPolicy, SecretType


def _split(raw: str) -> list[str]:
    return [part.strip() for part in (raw or "").replace("\n", ",").split(",") if part.strip()]


class SecretCreateForm(forms.Form):
    name = forms.CharField(max_length=200, help_text="A path, e.g. prod/db/password")
    value = forms.CharField(
        required=False, strip=False, widget=forms.Textarea(attrs={"rows": 4, "autocomplete": "off"})
    )
    generate_length = forms.IntegerField(
        required=False,
        min_value=16,
        max_value=128,
        label="Or generate a value of length",
        help_text="Passwords and API keys only; leave the value empty.",
    )
    secret_type = forms.ChoiceField(label="Type", choices=SecretType.choices, initial=SecretType.GENERIC)
    environment = forms.CharField(max_length=32, initial="development")
    description = forms.CharField(required=False, max_length=2000, widget=forms.Textarea(attrs={"rows": 2}))
    tags = forms.CharField(required=False, help_text="Comma-separated")
    rotation_policy = forms.ChoiceField(choices=RotationPolicy.choices, initial=RotationPolicy.NONE)
    auto_rotate = forms.BooleanField(required=False, help_text="Generated secrets only")
    allowed_roles = forms.MultipleChoiceField(
        required=False,
        choices=Role.choices,
        widget=forms.CheckboxSelectMultiple,
        help_text="Only these roles may reveal it (none ticked: every role that may reveal).",
    )
    allowed_service_accounts = forms.CharField(required=False, help_text="Comma-separated names")

    def service_kwargs(self) -> dict[str, Any]:
        data = dict(self.cleaned_data)
        data["tags"] = _split(data.get("tags", ""))
        data["allowed_service_accounts"] = _split(data.get("allowed_service_accounts", ""))
        if data.get("generate_length"):
            data["value"] = None
        else:
            data["generate_length"] = None
        return data


class RevealForm(forms.Form):
    reason = forms.CharField(max_length=500, help_text="Recorded in the audit log, e.g. an incident number.")
    version = forms.IntegerField(required=False, min_value=1, widget=forms.HiddenInput)


class RotateForm(forms.Form):
    value = forms.CharField(
        required=False,
        strip=False,
        widget=forms.Textarea(attrs={"rows": 4, "autocomplete": "off"}),
        help_text="Leave empty to generate a new value (generated secrets only).",
    )
    reason = forms.CharField(max_length=500, required=False)
    version = forms.IntegerField(widget=forms.HiddenInput)
