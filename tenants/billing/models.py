"""Public-schema billing models (subscriptions, Stripe webhook events)."""
