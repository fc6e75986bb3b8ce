from __future__ import annotations

from django import forms
from django.contrib.auth import password_validation
from django.core.exceptions import ValidationError

from tenants.models import Plan


class SignupForm(forms.Form):
    name = forms.CharField(label="Organisation name", max_length=100)
    slug = forms.CharField(
        label="Portal address",
        max_length=40,
        help_text="Lower-case letters, digits and hyphens. Your portal will be at <address>.<domain>.",
    )
    email = forms.EmailField(label="Your work email")
    password = forms.CharField(label="Password", widget=forms.PasswordInput, min_length=12, strip=False)
    plan = forms.ModelChoiceField(
        queryset=Plan.objects.filter(is_public=True), required=False, empty_label=None
    )

    def clean_slug(self) -> str:
        from tenants.services import slug_validate

        slug = self.cleaned_data["slug"].strip().lower()
        try:
            slug_validate(slug)
        except ValidationError as exc:
            raise ValidationError(exc.message_dict["slug"]) from exc
        return slug

    def clean_password(self) -> str:
        password = self.cleaned_data["password"]
        password_validation.validate_password(password)
        return password


class FindWorkspaceForm(forms.Form):
    email = forms.EmailField(label="Work email")
