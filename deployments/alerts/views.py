"""Alert pages: rules, channels and history (read: everyone; write: alerts.manage)."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from deployments.alerts import selectors, services
from deployments.alerts.forms import ChannelEditForm, ChannelForm, RuleForm
from deployments.alerts.models import AlertChannel, AlertEvent, AlertRule
from tenants.members.permissions import has_perm, permission_required


def _errors_to_form(form: Any, exc: ValidationError) -> None:
    for field, errors in getattr(exc, "message_dict", {"__all__": exc.messages}).items():
        form.add_error(field if field in form.fields else None, errors)


@permission_required("deployments.read")
def index(request: HttpRequest) -> HttpResponse:
    return render(
        request,
        "deployments/alerts/index.html",
        {
            "rules": AlertRule.objects.prefetch_related("channels"),
            "channels": AlertChannel.objects.all(),
            "events": selectors.events_recent(50),
            "can_manage": has_perm(request.user, "alerts.manage"),
        },
    )


@permission_required("alerts.manage")
def channel_create(request: HttpRequest) -> HttpResponse:
    form = ChannelForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            channel = services.channel_create(actor=request.user, **form.cleaned_data)
        except ValidationError as exc:
            _errors_to_form(form, exc)
        else:
            messages.success(request, f"Channel {channel.name} created.")
            return redirect("deployments:alerts:channel", pk=channel.pk)
    return render(request, "deployments/alerts/channel_form.html", {"form": form, "channel": None})


@permission_required("alerts.manage")
def channel_edit(request: HttpRequest, pk: int) -> HttpResponse:
    channel = get_object_or_404(AlertChannel, pk=pk)
    initial = {
        "name": channel.name,
        "kind": channel.kind,
        "recipients": "\n".join(channel.recipients),
        "url": channel.url,
        "is_active": channel.is_active,
    }
    form = ChannelEditForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            services.channel_update(
                channel=channel,
                actor=request.user,
                name=data["name"],
                recipients=data["recipients"],
                url=data["url"],
                is_active=data["is_active"],
            )
        except ValidationError as exc:
            _errors_to_form(form, exc)
        else:
            messages.success(request, "Channel saved.")
            return redirect("deployments:alerts:index")
    return render(request, "deployments/alerts/channel_form.html", {"form": form, "channel": channel})


@require_POST
@permission_required("alerts.manage")
def channel_delete(request: HttpRequest, pk: int) -> HttpResponse:
    channel = get_object_or_404(AlertChannel, pk=pk)
    services.channel_delete(channel=channel, actor=request.user)
    messages.success(request, "Channel deleted.")
    return redirect("deployments:alerts:index")


def _rule_save(request: HttpRequest, form: RuleForm, rule: AlertRule | None) -> AlertRule | None:
    data = form.cleaned_data
    common = {
        "name": data["name"],
        "channels": data["channels"],
        "severity": data["severity"],
        "params": form.params(),
        "cooldown_seconds": data["cooldown_seconds"],
        "is_active": data["is_active"],
    }
    try:
        if rule is None:
            return services.rule_create(actor=request.user, kind=data["kind"], **common)
        return services.rule_update(rule=rule, actor=request.user, **common)
    except ValidationError as exc:
        _errors_to_form(form, exc)
        return None


@permission_required("alerts.manage")
def rule_create(request: HttpRequest) -> HttpResponse:
    form = RuleForm(request.POST or None)
    if request.method == "POST" and form.is_valid() and _rule_save(request, form, None):
        messages.success(request, "Rule created; it is evaluated every 30 seconds.")
        return redirect("deployments:alerts:index")
    return render(request, "deployments/alerts/rule_form.html", {"form": form, "rule": None})


@permission_required("alerts.manage")
def rule_edit(request: HttpRequest, pk: int) -> HttpResponse:
    rule = get_object_or_404(AlertRule, pk=pk)
    form = RuleForm(request.POST or None, initial=RuleForm.initial_for(rule), editing=True)
    if request.method == "POST" and form.is_valid() and _rule_save(request, form, rule):
        messages.success(request, "Rule saved.")
        return redirect("deployments:alerts:index")
    return render(request, "deployments/alerts/rule_form.html", {"form": form, "rule": rule})


@require_POST
@permission_required("alerts.manage")
def rule_delete(request: HttpRequest, pk: int) -> HttpResponse:
    rule = get_object_or_404(AlertRule, pk=pk)
    services.rule_delete(rule=rule, actor=request.user)
    messages.success(request, "Rule deleted; its history is kept.")
    return redirect("deployments:alerts:index")


@permission_required("deployments.read")
def event_detail(request: HttpRequest, pk: int) -> HttpResponse:
    event = get_object_or_404(AlertEvent, pk=pk)
    return render(
        request,
        "deployments/alerts/event_detail.html",
        {"event": event, "deliveries": selectors.deliveries_of(event)},
    )
