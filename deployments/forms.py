"""Forms of the deployments pages (input parsing only; services do the work)."""

from __future__ import annotations

import json

from django import forms

from deployments.models import Environment, Release


class DeployForm(forms.Form):
    environment = forms.ModelChoiceField(queryset=Environment.objects.all(), to_field_name="name")
    release = forms.ModelChoiceField(queryset=Release.objects.all(), to_field_name="version")
    reason = forms.CharField(required=False, max_length=300)


class ReleaseForm(forms.Form):
    version = forms.CharField(max_length=64)
    artifact = forms.FileField(help_text="A .tar.gz of the application")
    manifest = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 10}), help_text="JSON: commands + health_check"
    )
    notes = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 2}))

    def clean_manifest(self) -> dict:
        try:
            return json.loads(self.cleaned_data["manifest"])
        except ValueError as exc:
            raise forms.ValidationError("The manifest is not valid JSON.") from exc


# --- Self-service set-up: environments, variables, enrolment tokens, terminal allow-list ----
class EnvironmentSettingsForm(forms.Form):
    description = forms.CharField(max_length=200, required=False)
    is_production = forms.BooleanField(
        required=False,
        label="Production",
        help_text="Developers may not use production secrets; policies can treat production deploys apart.",
    )
    approvals_required = forms.IntegerField(
        min_value=0,
        max_value=10,
        initial=0,
        label="Approvals required",
        help_text="How many other members (deploy.approve) must approve a run before it starts.",
    )


class EnvironmentCreateForm(EnvironmentSettingsForm):
    name = forms.SlugField(
        max_length=64,
        help_text="Lower-case letters, digits and dashes, e.g. staging. It cannot be changed later.",
    )
    field_order = ["name", "description", "is_production", "approvals_required"]


class VariableForm(forms.Form):
    name = forms.CharField(
        max_length=64, help_text="e.g. DATABASE_URL. Setting an existing name replaces its value."
    )
    value = forms.CharField(
        required=False,
        strip=False,
        max_length=4000,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="Plain text, or a vault reference such as ${vault:prod/db/password}: "
        "the secret's value is fetched at deploy time and never stored here.",
    )

    def clean_name(self) -> str:
        # The service refuses the same; checked here too so every error shows at once.
        name = self.cleaned_data["name"]
        if not name.replace("_", "").isalnum() or not name[:1].isalpha():
            raise forms.ValidationError("Use letters, digits and underscores, starting with a letter.")
        return name

    def clean_value(self) -> str:
        from vault.services import REFERENCE_RE  # the vault app's reference syntax

        value = self.cleaned_data["value"]
        if value.count("${vault:") != len(REFERENCE_RE.findall(value)):
            raise forms.ValidationError(
                "A vault reference looks like ${vault:name}: a secret name without spaces, closed by }."
            )
        return value


class EnrollmentTokenForm(forms.Form):
    expires_in_hours = forms.IntegerField(
        min_value=1, max_value=24 * 30, initial=24, label="Valid for (hours)", help_text="1 to 720 hours."
    )
    max_uses = forms.IntegerField(
        min_value=1,
        max_value=1000,
        initial=1,
        label="Number of agents",
        help_text="How many nodes may enrol with this token.",
    )


class AllowedCommandForm(forms.Form):
    program = forms.CharField(
        max_length=100, help_text="A bare program name found on the node's PATH, e.g. uptime or df."
    )
    description = forms.CharField(max_length=200, required=False)
