"""Tenant self-service pages of vault, mounted at /vault/."""

from __future__ import annotations

from django.urls import URLPattern, URLResolver, path

from vault import views

app_name = "vault"
urlpatterns: list[URLPattern | URLResolver] = [
    path("", views.secret_list, name="list"),
    path("new/", views.secret_create, name="create"),
    path("<int:pk>/", views.secret_detail, name="detail"),
    path("<int:pk>/versions/", views.secret_versions, name="versions"),
    path("<int:pk>/reveal/", views.secret_reveal, name="reveal"),
    path("<int:pk>/rotate/", views.secret_rotate, name="rotate"),
    path("<int:pk>/delete/", views.secret_delete, name="delete"),
    path("<int:pk>/restore/", views.secret_restore, name="restore"),
    path("<int:pk>/destroy/", views.secret_destroy, name="destroy"),
]
