"""Alert pages, mounted at /deployments/alerts/."""

from __future__ import annotations

from django.urls import path

from deployments.alerts import views

app_name = "alerts"
urlpatterns = [
    path("", views.index, name="index"),
    path("channels/new/", views.channel_create, name="channel-create"),
    path("channels/<int:pk>/", views.channel_edit, name="channel"),
    path("channels/<int:pk>/delete/", views.channel_delete, name="channel-delete"),
    path("rules/new/", views.rule_create, name="rule-create"),
    path("rules/<int:pk>/", views.rule_edit, name="rule"),
    path("rules/<int:pk>/delete/", views.rule_delete, name="rule-delete"),
    path("events/<int:pk>/", views.event_detail, name="event"),
]
