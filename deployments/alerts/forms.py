"""Page forms for alerts: they parse input; the services validate and write."""

from __future__ import annotations

import re
from typing import Any

from django import forms

from deployments.alerts import evaluators
from deployments.alerts.models import AlertChannel, AlertRule


class ChannelForm(forms.Form):
    name = forms.CharField(max_length=100)
    kind = forms.ChoiceField(choices=AlertChannel.Kind.choices)
    recipients = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="Email channels: addresses, one per line or comma-separated.",
    )
    url = forms.URLField(
        required=False, max_length=500, assume_scheme="https", help_text="Slack or generic webhook URL."
    )

    def clean_recipients(self) -> list[str]:
        return [part for part in re.split(r"[\s,;]+", self.cleaned_data.get("recipients") or "") if part]


class ChannelEditForm(ChannelForm):
    is_active = forms.BooleanField(required=False, initial=True)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["kind"].disabled = True


class RuleForm(forms.Form):
    name = forms.CharField(max_length=100)
    kind = forms.ChoiceField(choices=AlertRule.Kind.choices)
    severity = forms.ChoiceField(choices=AlertRule.Severity.choices, initial=AlertRule.Severity.WARNING)
    channels = forms.ModelMultipleChoiceField(queryset=AlertChannel.objects.none(), required=False)
    cooldown_seconds = forms.IntegerField(min_value=0, max_value=7 * 86400, initial=900)
    is_active = forms.BooleanField(required=False, initial=True)
    days = forms.IntegerField(required=False, min_value=0, max_value=365, help_text="Expiring: days ahead.")
    keyword = forms.CharField(required=False, max_length=100, help_text="Log rule: keyword or level.")
    threshold = forms.IntegerField(required=False, min_value=1, help_text="Log rule: lines in the window.")
    window_minutes = forms.IntegerField(required=False, min_value=1, max_value=1440)

    def __init__(self, *args: Any, editing: bool = False, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["channels"].queryset = AlertChannel.objects.order_by("name")  # type: ignore[attr-defined]
        if editing:
            self.fields["kind"].disabled = True

    def params(self) -> dict[str, Any]:
        kind = self.cleaned_data["kind"]
        return {
            name: self.cleaned_data[name]
            for name in evaluators.PARAMS.get(kind, {})
            if self.cleaned_data.get(name) not in (None, "")
        }

    @staticmethod
    def initial_for(rule: AlertRule) -> dict[str, Any]:
        return {
            "name": rule.name,
            "kind": rule.kind,
            "severity": rule.severity,
            "channels": list(rule.channels.all()),
            "cooldown_seconds": rule.cooldown_seconds,
            "is_active": rule.is_active,
            **(rule.params or {}),
        }
