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
