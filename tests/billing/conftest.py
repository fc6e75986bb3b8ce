from tests.billing.fixtures import (  # noqa: F401
    celery_eager,
    fake_stripe,
    localstripe_url,
    stripe_on,
    synced_plans,
)
