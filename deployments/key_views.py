"""The release-keys page: the tenant's key set and the rotate button (owner/org_admin)."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from deployments import release_keys
from deployments.models import ReleaseKey
from tenants.members.mfa import step_up_fresh, step_up_url
from tenants.members.permissions import has_perm, permission_required


@permission_required("deployments.read")
def release_key_list(request: HttpRequest) -> HttpResponse:
    keys = ReleaseKey.objects.select_related("previous").order_by("-id")
    return render(
        request,
        "deployments/release_keys.html",
        {"keys": keys, "can_rotate": has_perm(request.user, "releases.rotate_key")},
    )


@require_POST
@permission_required("releases.rotate_key")
def release_key_rotate(request: HttpRequest) -> HttpResponse:
    here = reverse("deployments:release_keys")
    if not step_up_fresh(request.session):
        messages.info(request, "Enter a one-time code, then rotate the key again.")
        return redirect(step_up_url(here))
    try:
        key = release_keys.release_key_rotate(actor=request.user, reason=request.POST.get("reason", "")[:500])
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
        return redirect(here)
    messages.success(
        request,
        f"New release key {key.key_id} is active. Agents learn it now; releases signed with older "
        "keys can still be rolled back to.",
    )
    return redirect(here)
