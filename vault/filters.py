"""django-filter sets for the secret list (API and page)."""

from __future__ import annotations

import django_filters
from django.db.models import QuerySet

from vault.models import Secret, SecretType


class SecretFilter(django_filters.FilterSet):
    environment = django_filters.CharFilter(field_name="environment", help_text="Environment scope")
    type = django_filters.ChoiceFilter(field_name="secret_type", choices=SecretType.choices)
    tag = django_filters.CharFilter(method="filter_tag", help_text="Secrets carrying this tag")
    prefix = django_filters.CharFilter(
        field_name="name", lookup_expr="startswith", help_text="Path prefix, e.g. prod/db/"
    )

    class Meta:
        model = Secret
        fields = ["environment", "type", "tag", "prefix"]

    def filter_tag(self, queryset: QuerySet[Secret], name: str, value: str) -> QuerySet[Secret]:
        return queryset.filter(tags__contains=[value]) if value else queryset
