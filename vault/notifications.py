"""Emails the vault sends. Never a value: names, dates and a link."""

from __future__ import annotations

from django.core.mail import send_mail

from vault.models import Secret


def send_rotation_reminder(*, secret_id: int) -> None:
    secret = Secret.objects.select_related("owner").filter(pk=secret_id).first()
    if secret is None or secret.owner is None or not secret.owner.email:
        return
    due = secret.rotation_due_at
    send_mail(
        subject=f"Secret {secret.name} is due for rotation",
        message=(
            f"The secret {secret.name} ({secret.environment}) has a {secret.rotation_policy} rotation "
            f"policy and was due on {due:%Y-%m-%d}.\n"
            f"Rotate it from the Vault page: /vault/{secret.pk}/rotate/\n"
        ),
        from_email=None,
        recipient_list=[secret.owner.email],
        fail_silently=True,
    )
