"""The only module that talks to Stripe's API. Everything returns plain dicts.

One `StripeClient` per call site, built from settings (`STRIPE_SECRET_KEY`,
`STRIPE_API_BASE`), so tests and the benchmark point it at a local server and no global
state of stripe-python is changed. Network and server faults become `StripeUnavailable`
with a message fit for a user; Stripe's 4xx answers stay `stripe.StripeError`.
"""

from __future__ import annotations

from typing import Any

import stripe
from django.conf import settings

TIMEOUT_SECONDS = 15


class BillingDisabled(RuntimeError):
    """Billing is off (no STRIPE_SECRET_KEY, or the community edition)."""


class StripeUnavailable(RuntimeError):
    """Stripe could not be reached or failed on its side; nothing was changed locally."""


def billing_enabled() -> bool:
    return bool(settings.BILLING_ENABLED and settings.STRIPE_SECRET_KEY)


def client() -> stripe.StripeClient:
    if not billing_enabled():
        raise BillingDisabled("Billing is turned off on this installation.")
    base = settings.STRIPE_API_BASE
    return stripe.StripeClient(
        settings.STRIPE_SECRET_KEY,
        base_addresses={"api": base} if base else None,
        max_network_retries=1,
        http_client=stripe.RequestsClient(timeout=TIMEOUT_SECONDS),
    )


def _plain(obj: Any) -> dict[str, Any]:
    return obj.to_dict() if hasattr(obj, "to_dict") else dict(obj)


def _call(fn: Any, *args: Any, **kwargs: Any) -> dict[str, Any]:
    try:
        return _plain(fn(*args, **kwargs))
    except (stripe.APIConnectionError, stripe.APIError, stripe.RateLimitError) as exc:
        raise StripeUnavailable(
            "We could not reach our payment provider (Stripe). Nothing was changed; please try again "
            "in a few minutes."
        ) from exc


def _options(idempotency_key: str | None) -> dict[str, Any]:
    return {"idempotency_key": idempotency_key} if idempotency_key else {}


def customer_create(*, params: dict[str, Any], idempotency_key: str) -> dict[str, Any]:
    return _call(client().v1.customers.create, params, _options(idempotency_key))


def checkout_session_create(*, params: dict[str, Any], idempotency_key: str) -> dict[str, Any]:
    return _call(client().v1.checkout.sessions.create, params, _options(idempotency_key))


def portal_session_create(*, params: dict[str, Any]) -> dict[str, Any]:
    return _call(client().v1.billing_portal.sessions.create, params)


def subscription_retrieve(subscription_id: str) -> dict[str, Any] | None:
    """The subscription as Stripe has it now, or None when Stripe does not know it."""
    try:
        return _call(client().v1.subscriptions.retrieve, subscription_id)
    except stripe.InvalidRequestError as exc:
        if exc.http_status == 404:
            return None
        raise


def subscription_list(*, status: str = "all", limit: int = 100) -> list[dict[str, Any]]:
    page = _call(client().v1.subscriptions.list, {"status": status, "limit": limit})
    return list(page.get("data", []))


def subscription_modify(
    subscription_id: str, *, params: dict[str, Any], idempotency_key: str | None = None
) -> dict[str, Any]:
    return _call(client().v1.subscriptions.update, subscription_id, params, _options(idempotency_key))


def subscription_item_modify(
    item_id: str, *, params: dict[str, Any], idempotency_key: str | None = None
) -> dict[str, Any]:
    return _call(client().v1.subscription_items.update, item_id, params, _options(idempotency_key))


def meter_event_create(*, event_name: str, customer_id: str, value: int, identifier: str) -> dict[str, Any]:
    params = {
        "event_name": event_name,
        "identifier": identifier,
        "payload": {"stripe_customer_id": customer_id, "value": str(value)},
    }
    return _call(client().v1.billing.meter_events.create, params, _options(identifier))


def product_create(*, params: dict[str, Any], idempotency_key: str) -> dict[str, Any]:
    return _call(client().v1.products.create, params, _options(idempotency_key))


def product_update(product_id: str, *, params: dict[str, Any]) -> dict[str, Any]:
    return _call(client().v1.products.update, product_id, params)


def price_create(*, params: dict[str, Any], idempotency_key: str) -> dict[str, Any]:
    return _call(client().v1.prices.create, params, _options(idempotency_key))


def price_retrieve(price_id: str) -> dict[str, Any] | None:
    try:
        return _call(client().v1.prices.retrieve, price_id)
    except stripe.InvalidRequestError as exc:
        if exc.http_status == 404:
            return None
        raise


def price_update(price_id: str, *, params: dict[str, Any]) -> dict[str, Any]:
    return _call(client().v1.prices.update, price_id, params)


def item_price_id(item: dict[str, Any]) -> str:
    """A subscription item's price id (older API objects carry it as `plan`)."""
    price = item.get("price") or item.get("plan") or {}
    return price.get("id", "") if isinstance(price, dict) else str(price)
