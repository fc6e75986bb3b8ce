"""Page forms. They parse input only; the services validate the rules and save."""

from __future__ import annotations

import json
from typing import Any

from django import forms
from django.core.exceptions import ValidationError

from compliance.governance.models import AISystem, DataSubjectRequest, Dpia, Policy
from compliance.policies import ACTIONS


class PolicyForm(forms.Form):
    name = forms.CharField(max_length=120)
    description = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 2}))
    applies_to = forms.CharField(
        label="Applies to (actions)",
        help_text=f"Comma-separated. Known actions: {', '.join(ACTIONS)}; a family: deploy.*",
    )
    conditions = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 8, "spellcheck": "false"}),
        help_text="JSON; the policy is violated when it matches, e.g. "
        '{"all": [{"field": "environment", "op": "eq", "value": "production"}]}',
    )
    action = forms.ChoiceField(choices=Policy.Outcome.choices, label="When violated")
    enabled = forms.BooleanField(required=False, initial=True)

    def clean_conditions(self) -> Any:
        raw = self.cleaned_data["conditions"]
        try:
            return json.loads(raw)
        except json.JSONDecodeError as exc:
            raise ValidationError(f"Conditions are not valid JSON: {exc.msg} (line {exc.lineno}).") from exc

    @classmethod
    def initial_for(cls, policy: Policy) -> dict[str, Any]:
        return {
            "name": policy.name,
            "description": policy.description,
            "applies_to": ", ".join(policy.applies_to),
            "conditions": json.dumps(policy.conditions, indent=2),
            "action": policy.action,
            "enabled": policy.enabled,
        }


class ResolveForm(forms.Form):
    note = forms.CharField(max_length=400, required=False, label="Resolution note")


class PeriodForm(forms.Form):
    start = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}))
    end = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}))


class DsrForm(forms.Form):
    kind = forms.ChoiceField(choices=DataSubjectRequest.Kind.choices, label="Request type")
    subject_email = forms.EmailField(label="Email of the person")
    notes = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 2}))


class RejectForm(forms.Form):
    reason = forms.CharField(max_length=400)


class ConsentForm(forms.Form):
    subject_email = forms.EmailField(label="Email of the person")
    purpose = forms.CharField(max_length=120)
    granted = forms.BooleanField(required=False, initial=True, label="Consent given")
    source = forms.CharField(
        max_length=120, required=False, help_text="Where it was given, e.g. signup form v3."
    )


class DpiaForm(forms.ModelForm):
    class Meta:
        model = Dpia
        fields = ["title", "processing", "data_categories", "risk_level", "mitigations", "review_due"]
        widgets = {
            "processing": forms.Textarea(attrs={"rows": 3}),
            "mitigations": forms.Textarea(attrs={"rows": 3}),
            "review_due": forms.DateInput(attrs={"type": "date"}),
        }


class AISystemForm(forms.ModelForm):
    class Meta:
        model = AISystem
        fields = ["name", "purpose", "provider", "status", "human_oversight"]
        widgets = {
            "purpose": forms.Textarea(attrs={"rows": 3}),
            "human_oversight": forms.Textarea(attrs={"rows": 3}),
        }

    def validate_unique(self) -> None:
        """The service reports a duplicate name with a clearer message."""


class AssessmentForm(forms.Form):
    risk_class = forms.ChoiceField(
        choices=[c for c in AISystem.RiskClass.choices if c[0] != AISystem.RiskClass.UNCLASSIFIED]
    )
    likelihood = forms.IntegerField(min_value=1, max_value=5, help_text="1 (rare) to 5 (almost certain)")
    impact = forms.IntegerField(min_value=1, max_value=5, help_text="1 (negligible) to 5 (severe)")
    rationale = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}))
    mitigations = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 2}))


class ReviewSubmitForm(forms.Form):
    subject = forms.CharField(max_length=200, help_text="What the decision is about; no personal data.")
    proposed_outcome = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}))


class ReviewDecideForm(forms.Form):
    decision = forms.ChoiceField(choices=[("approve", "Approve"), ("reject", "Reject")])
    note = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 2}))
