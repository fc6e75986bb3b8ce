"""Forms of the audit pages (parse input only; services validate the rules)."""

from __future__ import annotations

from django import forms

from compliance.models import AuditExport, AuditForwarder


class EventFilterForm(forms.Form):
    actor = forms.CharField(required=False, max_length=200, help_text="email or name")
    action = forms.CharField(required=False, max_length=200, help_text="e.g. vault.secret.reveal")
    target = forms.CharField(required=False, max_length=200, help_text="type:id or text")
    # A browser date-time picker; the value (2026-01-31T09:30) is read as UTC by the selector.
    since = forms.DateTimeField(
        required=False, label="Since (UTC)", widget=forms.DateTimeInput(attrs={"type": "datetime-local"})
    )
    until = forms.DateTimeField(
        required=False, label="Until (UTC)", widget=forms.DateTimeInput(attrs={"type": "datetime-local"})
    )
    q = forms.CharField(required=False, max_length=200, label="Text", help_text="anywhere in the event")


class ExportForm(forms.Form):
    format = forms.ChoiceField(choices=AuditExport.Format.choices)
    since = forms.DateTimeField()
    until = forms.DateTimeField()
    actor = forms.CharField(required=False, max_length=200)
    action = forms.CharField(required=False, max_length=200)
    target = forms.CharField(required=False, max_length=200)
    q = forms.CharField(required=False, max_length=200, label="Text")


class ForwarderForm(forms.Form):
    name = forms.CharField(max_length=100)
    kind = forms.ChoiceField(choices=AuditForwarder.Kind.choices)
    url = forms.CharField(required=False, max_length=500, label="Webhook URL")
    host = forms.CharField(required=False, max_length=255)
    port = forms.IntegerField(required=False, min_value=1, max_value=65535)
    bucket = forms.CharField(required=False, max_length=255)
    prefix = forms.CharField(required=False, max_length=255)
    endpoint_url = forms.CharField(required=False, max_length=500, label="S3 endpoint URL")
    secret = forms.CharField(
        required=False,
        max_length=500,
        widget=forms.PasswordInput,
        help_text="Webhook HMAC secret, or access-key:secret-key for S3.",
    )


class RetentionForm(forms.Form):
    retention_days = forms.IntegerField(label="Keep audit events for (days)")
