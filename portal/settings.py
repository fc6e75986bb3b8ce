"""Tenantry settings: one file, driven by environment variables.

Every variable is listed in README.md ("Configuration"). Production
(`PORTAL_ENV=production`) refuses to start when a required one is missing.
Variables may also be given as `NAME_FILE=/run/secrets/name` (Docker secrets).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from urllib.parse import urlsplit

import environ
from csp.constants import NONCE, NONE, SELF
from django.core.exceptions import ImproperlyConfigured

from portal import redis_url

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(os.environ.get("PORTAL_VAR_DIR", BASE_DIR / "var"))

env = environ.Env()
environ.Env.smart_cast = True


# Variables that may instead be given as NAME_FILE=/path (Docker / Kubernetes secrets).
SECRET_VARIABLES = (
    "SECRET_KEY",
    "DATABASE_URL",
    "REDIS_URL",
    "VAULT_KEK",
    "AUDIT_SIGNING_KEY",
    "STRIPE_SECRET_KEY",
    "STRIPE_WEBHOOK_SECRET",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "EMAIL_URL",
)


def _read_file_vars() -> None:
    for name in SECRET_VARIABLES:
        path = os.environ.get(f"{name}_FILE")
        if path and name not in os.environ:
            os.environ[name] = Path(path).read_text().strip()


def _read_embedded_env() -> None:
    """Adopt the URLs of the embedded services that `make run` started.

    The `up` runner writes them to var/embedded.env so that `manage.py shell`
    in another terminal reaches the same PostgreSQL and Redis. Real variables
    always win.
    """
    path = VAR_DIR / "embedded.env"
    if path.is_file():
        for line in path.read_text().splitlines():
            key, _, value = line.partition("=")
            os.environ.setdefault(key.strip(), value.strip())


_read_file_vars()

PORTAL_ENV = env.str("PORTAL_ENV", default="development")
PRODUCTION = PORTAL_ENV == "production"
TESTING = "pytest" in sys.modules or PORTAL_ENV == "test"

if not PRODUCTION:
    _read_embedded_env()

REQUIRED_IN_PRODUCTION = ("SECRET_KEY", "DATABASE_URL", "REDIS_URL", "PORTAL_DOMAIN", "VAULT_KEK")
if PRODUCTION:
    missing = [name for name in REQUIRED_IN_PRODUCTION if not os.environ.get(name)]
    if missing:
        raise ImproperlyConfigured(
            "PORTAL_ENV=production needs these environment variables: " + ", ".join(missing)
        )

# --- Core -------------------------------------------------------------------------------
SECRET_KEY = env.str("SECRET_KEY", default="dev-insecure-key-never-use-in-production-0123456789")
DEBUG = env.bool("DEBUG", default=not PRODUCTION and not TESTING)
PORTAL_DOMAIN = env.str("PORTAL_DOMAIN", default="localhost")
PORTAL_SCHEME = env.str("PORTAL_SCHEME", default="https" if PRODUCTION else "http")
PORTAL_PORT = env.int("WEB_PORT", default=8000)
PORTAL_EDITION = env.str("PORTAL_EDITION", default="saas")
if PORTAL_EDITION not in ("saas", "community"):
    raise ImproperlyConfigured("PORTAL_EDITION must be 'saas' or 'community'")
# Unknown hosts are refused by the tenant router (Domain table is the allow-list),
# so Django's own host check only needs to exclude nothing further.
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["*"])
CSRF_TRUSTED_ORIGINS = env.list(
    "CSRF_TRUSTED_ORIGINS",
    default=[f"{PORTAL_SCHEME}://{PORTAL_DOMAIN}", f"{PORTAL_SCHEME}://*.{PORTAL_DOMAIN}"]
    + (
        [f"http://{PORTAL_DOMAIN}:{PORTAL_PORT}", f"http://*.{PORTAL_DOMAIN}:{PORTAL_PORT}"]
        if not PRODUCTION
        else []
    ),
)

SHARED_APPS = [
    "django_tenants",
    "daphne",
    "portal",
    "tenants",
    "tenants.billing",
    "portal.accounts",
    "django.contrib.contenttypes",
    "django.contrib.auth",
    "django.contrib.sessions",
    "django.contrib.messages",
    "portal.accounts.apps.OperatorAdminConfig",  # admin.site = OTP-protected operator site
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "django_otp.plugins.otp_static",
    "allauth",
    "allauth.account",
    "allauth.socialaccount",
    "allauth.socialaccount.providers.openid_connect",
    "allauth.socialaccount.providers.saml",
    "axes",
    "django_celery_beat",
    "rest_framework",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",  # Swagger UI / Redoc served from our static files, not a CDN
    "django_htmx",
    "channels",
    "compliance",
]
TENANT_APPS = [
    "django.contrib.contenttypes",
    "django.contrib.auth",
    "django.contrib.sessions",
    "django.contrib.messages",
    "portal.accounts.apps.OperatorAdminConfig",  # admin.site = OTP-protected operator site
    "portal.accounts",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "django_otp.plugins.otp_static",
    "allauth",
    "allauth.account",
    "allauth.socialaccount",
    "axes",
    "tenants.members",
    "compliance",
    "compliance.governance",
    "vault",
    "deployments",
    "deployments.alerts",
]
INSTALLED_APPS = list(SHARED_APPS) + [app for app in TENANT_APPS if app not in SHARED_APPS]

TENANT_MODEL = "tenants.Tenant"
TENANT_DOMAIN_MODEL = "tenants.Domain"
PUBLIC_SCHEMA_URLCONF = "portal.urls_public"
ROOT_URLCONF = "portal.urls_tenant"
DATABASE_ROUTERS = ["django_tenants.routers.TenantSyncRouter"]
# One `SET search_path` per connection and tenant switch, not one per cursor. Safe because
# every switch goes through set_tenant() (routing middleware, schema_context, TenantTask),
# which forgets the cached path, and django-tenants 4.0.1 also forgets it on close(),
# rollback() and savepoint_rollback() (#1262, fixed there). Tested: tests/isolation/test_search_path.py.
TENANT_LIMIT_SET_CALLS = True
TENANT_POOL_SIZE = env.int("TENANT_POOL_SIZE", default=2)
TENANT_ROUTING_CACHE_SECONDS = env.float("TENANT_ROUTING_CACHE_SECONDS", default=5.0)
# Process-local caches (routing above, a tenant's enabled policies) are cleared in every
# process at once through Redis pub/sub (portal.invalidation); their TTLs are the bound only
# while a process is cut off from Redis.
LOCAL_CACHE_PUBSUB = env.bool("LOCAL_CACHE_PUBSUB", default=True)
GOVERNANCE_POLICY_CACHE_SECONDS = env.float("GOVERNANCE_POLICY_CACHE_SECONDS", default=5.0)
AUTH_USER_MODEL = "accounts.User"

MIDDLEWARE = [
    "portal.middleware.RequestIDMiddleware",
    "portal.middleware.HealthMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "tenants.middleware.TenantRoutingMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "tenants.members.middleware.OTPMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "portal.middleware.CSPMiddleware",  # django-csp's; a fixed strict policy on JSON
    "django_htmx.middleware.HtmxMiddleware",
    "allauth.account.middleware.AccountMiddleware",
    "tenants.members.middleware.SessionSecurityMiddleware",
    "tenants.middleware.TenantStatusMiddleware",
    "axes.middleware.AxesMiddleware",
]

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "portal.context_processors.portal",
            ],
        },
    },
]

WSGI_APPLICATION = None
ASGI_APPLICATION = "portal.asgi.application"


# --- Database ---------------------------------------------------------------------------
def _database() -> dict:
    url = os.environ.get("DATABASE_URL")
    if not url:
        # Commands that never touch the database (check, ruff hooks) still work;
        # anything that does gets a clear error from the connection.
        url = "postgres://invalid-set-DATABASE_URL-or-use-make-run@127.0.0.1:1/tenantry"
    config = env.db_url_config(url)
    config["ENGINE"] = "django_tenants.postgresql_backend"
    # `postgres://user@/db?host=/socket/dir` (the embedded PostgreSQL): django-environ leaves
    # the socket directory in OPTIONS. As HOST, everything that reads HOST (libpq connection
    # strings for the webhook pool, pg_dump, test servers) reaches the same server.
    if not config.get("HOST") and (config.get("OPTIONS") or {}).get("host"):
        config["HOST"] = config["OPTIONS"].pop("host")
    # Under ASGI every request's sync code runs in a thread of its own, so persistent
    # per-thread connections (CONN_MAX_AGE) would pile up; a psycopg pool per process is
    # the right shape. Each borrowed connection gets its search_path set by django-tenants
    # on its first cursor (close() forgets the cached path, see TENANT_LIMIT_SET_CALLS), so a
    # pooled connection never carries another tenant's schema.
    if env.bool("DB_POOL", default=True):
        config.setdefault("OPTIONS", {})["pool"] = {
            "min_size": env.int("DB_POOL_MIN", default=1),
            "max_size": env.int("DB_POOL_MAX", default=20),
            "timeout": env.float("DB_POOL_TIMEOUT", default=10.0),
        }
        config["CONN_MAX_AGE"] = 0
    else:
        config["CONN_MAX_AGE"] = env.int("DB_CONN_MAX_AGE", default=0)
        config["CONN_HEALTH_CHECKS"] = True
    # Server-side parameters, and psycopg prepares a statement once a connection has run it 5
    # times: PostgreSQL then skips parsing and planning (a reveal's PostgreSQL CPU went from
    # 1.2 to 0.85 ms, benchmarks/vault.py). Safe with schema-per-tenant: PostgreSQL re-parses
    # a prepared statement when search_path changes (tests/isolation/test_search_path.py).
    # Behind a transaction-mode pooler that cannot keep prepared statements, set
    # DB_PREPARE_THRESHOLD=none.
    if env.bool("DB_SERVER_SIDE_BINDING", default=True):
        options = config.setdefault("OPTIONS", {})
        options["server_side_binding"] = True
        threshold = env.str("DB_PREPARE_THRESHOLD", default="5").strip().lower()
        options["prepare_threshold"] = None if threshold in ("", "none") else int(threshold)
    config.setdefault("TEST", {})
    return config


DATABASES = {"default": _database()}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"


# --- Redis: cache, Celery broker, channel layer -----------------------------------------
REDIS_URL = env.str("REDIS_URL", default="redis://127.0.0.1:6379/0")
_xdist_worker = os.environ.get("PYTEST_XDIST_WORKER", "")
if TESTING and _xdist_worker.startswith("gw"):
    # Each xdist worker has its own test database; give it its own Redis database too,
    # so two workers' "acme" tenants never share cache keys, queues or groups.
    REDIS_URL = redis_url.with_db(REDIS_URL, 1 + int(_xdist_worker[2:]) % 15)


def _celery_broker(url: str) -> str:
    parts = urlsplit(url)
    if parts.scheme == "unix":
        return f"redis+socket://{parts.path}" + (f"?{parts.query}" if parts.query else "")
    return url


REDIS_KEY_PREFIX = env.str("REDIS_KEY_PREFIX", default="tenantry")
CACHES = {
    "default": {
        # Django's Redis backend; pools shared by the process, one redis-py client per pool.
        "BACKEND": "portal.cache.RedisCache",
        "LOCATION": REDIS_URL,
        "KEY_PREFIX": REDIS_KEY_PREFIX,
        # Cache keys carry the schema name: tenant A can never read tenant B's entries.
        "KEY_FUNCTION": "django_tenants.cache.make_key",
        "REVERSE_KEY_FUNCTION": "django_tenants.cache.reverse_key",
    }
}
CHANNEL_LAYERS = {
    "default": {
        "BACKEND": "channels_redis.core.RedisChannelLayer",
        "CONFIG": {
            "hosts": [REDIS_URL],
            "prefix": f"{REDIS_KEY_PREFIX}:asgi",
            "capacity": 1000,
            "expiry": 30,
        },
    }
}

CELERY_BROKER_URL = _celery_broker(REDIS_URL)
CELERY_RESULT_BACKEND = None
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
CELERY_TASK_DEFAULT_QUEUE = f"{REDIS_KEY_PREFIX}"
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=False)
CELERY_WORKER_HIJACK_ROOT_LOGGER = False  # workers log JSON lines through LOGGING below
# Periodic jobs. django-celery-beat's DatabaseScheduler copies these into its tables at
# start-up, where the operator can pause or re-time them in the admin. Apps add entries.
CELERY_BEAT_SCHEDULE: dict[str, dict] = {
    "tenants.pool_refill": {"task": "tenants.tasks.pool_refill", "schedule": 300.0},
}

# --- Sessions, auth, security -----------------------------------------------------------
SECURE_COOKIES = env.bool("SECURE_COOKIES", default=PRODUCTION)
SESSION_COOKIE_SECURE = SECURE_COOKIES
CSRF_COOKIE_SECURE = SECURE_COOKIES
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
SESSION_COOKIE_AGE = 12 * 3600  # absolute cap; the idle limit is enforced by middleware
SESSION_IDLE_SECONDS = env.int("SESSION_IDLE_SECONDS", default=30 * 60)
# Sessions are read from Redis and written through to PostgreSQL (one Redis GET instead of a
# query per request; a cache miss or eviction falls back to the row). Code that deletes
# session rows must drop them from the cache too: tenants.members.services.sessions_delete.
SESSION_ENGINE = "django.contrib.sessions.backends.cached_db"
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=31536000 if PRODUCTION else 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = True
SECURE_HSTS_PRELOAD = PRODUCTION
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=PRODUCTION)
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if PRODUCTION else None
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_REDIRECT_EXEMPT = [r"^health/$"]
X_FRAME_OPTIONS = "DENY"

# Signup ends with a redirect from the public domain to the new tenant's subdomain, and
# browsers apply form-action to redirects that follow a form post: allow our own subdomains.
_TENANT_ORIGINS = [f"{PORTAL_SCHEME}://*.{PORTAL_DOMAIN}"] + (
    [f"{PORTAL_SCHEME}://*.{PORTAL_DOMAIN}:*"] if not PRODUCTION else []
)
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF, NONCE],
        "style-src": [SELF, NONCE],
        "img-src": [SELF, "data:"],
        "font-src": [SELF, "data:"],
        "connect-src": [SELF, "ws:", "wss:"] if not PRODUCTION else [SELF, "wss:"],
        "frame-ancestors": [NONE],
        "form-action": [
            SELF,
            *_TENANT_ORIGINS,
            "https://checkout.stripe.com",
            "https://billing.stripe.com",
        ],
        "base-uri": [SELF],
        "object-src": [NONE],
    }
}

AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    # Django's and allauth's backends, reading the session's user without the ORM compiler.
    "portal.accounts.backends.ModelBackend",
    "portal.accounts.backends.AuthenticationBackend",
]
PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
]
if TESTING:
    # Argon2 on purpose costs ~50 ms a hash; the suite hashes thousands of passwords.
    PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher", *PASSWORD_HASHERS]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {
        "NAME": "django.contrib.auth.password_validation.MinimumLengthValidator",
        "OPTIONS": {"min_length": 12},
    },
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "account_login"
LOGIN_REDIRECT_URL = "/"

# allauth: email is the login.
ACCOUNT_LOGIN_METHODS = {"email"}
ACCOUNT_SIGNUP_FIELDS = ["email*", "password1*", "password2*"]
ACCOUNT_EMAIL_VERIFICATION = env.str("ACCOUNT_EMAIL_VERIFICATION", default="optional")
ACCOUNT_USER_MODEL_USERNAME_FIELD = None
ACCOUNT_SESSION_REMEMBER = False
ACCOUNT_LOGOUT_ON_PASSWORD_CHANGE = False
ACCOUNT_PASSWORD_MIN_LENGTH = 12
# Lockout is axes' job (5 per username+IP / 15 min); allauth keeps its other rate limits.
ACCOUNT_RATE_LIMITS = {"login_failed": False}
SOCIALACCOUNT_ADAPTER = "tenants.members.sso.SocialAccountAdapter"
SOCIALACCOUNT_AUTO_SIGNUP = True
SOCIALACCOUNT_EMAIL_VERIFICATION = "none"
SOCIALACCOUNT_EMAIL_AUTHENTICATION = True
SOCIALACCOUNT_EMAIL_AUTHENTICATION_AUTO_CONNECT = True
SOCIALACCOUNT_LOGIN_ON_GET = False
SOCIALACCOUNT_STORE_TOKENS = False
ACCOUNT_ADAPTER = "portal.accounts.adapter.AccountAdapter"
SOCIALACCOUNT_ONLY = False

# django-axes: 5 failures per (username, IP) lock for 15 minutes.
AXES_FAILURE_LIMIT = 5
AXES_COOLOFF_TIME = 0.25  # hours
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_USERNAME_FORM_FIELD = "login"
AXES_IPWARE_META_PRECEDENCE_ORDER = ["HTTP_X_FORWARDED_FOR", "REMOTE_ADDR"]
AXES_IPWARE_PROXY_COUNT = env.int("PROXY_COUNT", default=0)
AXES_RESET_ON_SUCCESS = True
AXES_ENABLED = env.bool("AXES_ENABLED", default=True)
AXES_USERNAME_CALLABLE = "tenants.members.lockout.axes_username"
AXES_CLIENT_IP_CALLABLE = "tenants.members.lockout.axes_client_ip"
AXES_LOCKOUT_TEMPLATE = "account/lockout.html"

OTP_TOTP_ISSUER = env.str("OTP_TOTP_ISSUER", default="Tenantry")
STEP_UP_SECONDS = 300

# --- API --------------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_PARSER_CLASSES": [
        "portal.parsers.StrictJSONParser",
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "tenants.members.api.authentication.ApiTokenAuthentication",
        "tenants.members.api.authentication.CsrfSessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": [
        "rest_framework.permissions.IsAuthenticated",
        "tenants.members.permissions.TokenScope",
    ],
    "DEFAULT_PAGINATION_CLASS": "portal.api.CursorPagination",
    "PAGE_SIZE": 50,
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "portal.api.exception_handler",
    # DRF's scopes and rates, counted with O(1) sliding-window counters (portal/throttling.py).
    "DEFAULT_THROTTLE_CLASSES": [
        "portal.throttling.AnonRateThrottle",
        "portal.throttling.UserRateThrottle",
    ],
    "DEFAULT_THROTTLE_RATES": {
        "anon": env.str("API_THROTTLE_ANON", default="60/min"),
        "user": env.str("API_THROTTLE_USER", default="1200/min" if not TESTING else "100000/min"),
    },
}
# SAML responses per client IP and tenant at the ACS (each refusal is an audit event).
SSO_ACS_RATE = env.str("SSO_ACS_RATE", default="30/min" if not TESTING else "100000/min")
SPECTACULAR_SETTINGS = {
    "TITLE": "Tenantry API",
    "DESCRIPTION": "Operations portal for multi-tenant SaaS: vault, deployments, compliance, members.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,
    "SCHEMA_PATH_PREFIX": r"/api/v1",
    # No CDN: the docs work offline and under our CSP (see portal/api_docs.py).
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
}

# --- Static files and storage -----------------------------------------------------------
STATIC_URL = "/static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
WHITENOISE_USE_FINDERS = not PRODUCTION
MEDIA_ROOT = Path(env.str("STORAGE_ROOT", default=str(VAR_DIR / "storage")))
MEDIA_URL = "/media/"
S3_BUCKET = env.str("S3_BUCKET", default="")
S3_ENDPOINT_URL = env.str("S3_ENDPOINT_URL", default="") or None
S3_REGION = env.str("S3_REGION", default="us-east-1")
AWS_ACCESS_KEY_ID = env.str("AWS_ACCESS_KEY_ID", default="") or None
AWS_SECRET_ACCESS_KEY = env.str("AWS_SECRET_ACCESS_KEY", default="") or None

STORAGES = {
    "default": {
        "BACKEND": "portal.storage.TenantS3Storage" if S3_BUCKET else "portal.storage.TenantFileStorage",
    },
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if PRODUCTION
        else "django.contrib.staticfiles.storage.StaticFilesStorage",
    },
}

# --- Email ------------------------------------------------------------------------------
if os.environ.get("EMAIL_URL"):
    vars().update(env.email_url("EMAIL_URL"))
elif TESTING:
    EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
else:
    EMAIL_BACKEND = "django.core.mail.backends.console.EmailBackend"
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default=f"Tenantry <no-reply@{PORTAL_DOMAIN}>")

# --- Vault ------------------------------------------------------------------------------
VAULT_KEK = env.str("VAULT_KEK", default="")
VAULT_KMS_KEY_ID = env.str("VAULT_KMS_KEY_ID", default="")
VAULT_KMS_ENDPOINT_URL = env.str("VAULT_KMS_ENDPOINT_URL", default="") or None
VAULT_MAX_VERSIONS = env.int("VAULT_MAX_VERSIONS", default=10)
# VAULT_KEK: comma-separated base64 keys of 32 bytes; the first wraps, all unwrap (KEK rotation).
# Outside production an empty VAULT_KEK means a development key derived from SECRET_KEY.
VAULT_DEK_CACHE_SECONDS = env.float("VAULT_DEK_CACHE_SECONDS", default=60.0)
VAULT_KMS_REGION = env.str("VAULT_KMS_REGION", default=S3_REGION)

# --- Billing ----------------------------------------------------------------------------
STRIPE_SECRET_KEY = env.str("STRIPE_SECRET_KEY", default="")
STRIPE_WEBHOOK_SECRETS = env.list("STRIPE_WEBHOOK_SECRET", default=[])
STRIPE_API_BASE = env.str("STRIPE_API_BASE", default="") or None
BILLING_ENABLED = bool(STRIPE_SECRET_KEY) and PORTAL_EDITION == "saas"
BILLING_GRACE_DAYS = env.int("BILLING_GRACE_DAYS", default=7)

# --- Audit ------------------------------------------------------------------------------
AUDIT_SIGNING_KEY = env.str("AUDIT_SIGNING_KEY", default="")
# Old checkpoint public keys (base64, comma-separated) that stay trusted after a key rotation.
AUDIT_TRUSTED_PUBLIC_KEYS = env.list("AUDIT_TRUSTED_PUBLIC_KEYS", default=[])
# How events are chained after the writer commits: "thread" (a background chainer per
# process), "inline" (in the writer's thread) or "celery" (the audit_chain task).
# Tests default to "inline": deterministic, and no background thread touches the test database.
AUDIT_CHAIN_MODE = env.str("AUDIT_CHAIN_MODE", default="inline" if TESTING else "thread")
# The thread chainer gathers kicks this long, so one chaining transaction (~8 statements)
# covers many events. 200 ms keeps the chain lag p99 at ~200 ms, under its 1 s target, and
# under load takes ~0.6 ms of CPU per request off the web processes compared with 5 ms
# (benchmarks/vault.py, benchmarks/audit.py).
AUDIT_CHAIN_BATCH_DELAY = env.float("AUDIT_CHAIN_BATCH_DELAY", default=0.2)
# S3 Object Lock on checkpoint copies, applied when the bucket was created with Object Lock
# (0 turns it off). COMPLIANCE retention cannot be shortened or removed, not even by the
# bucket's owner; the default outlives the longest event retention (365 days).
AUDIT_OBJECT_LOCK_DAYS = env.int("AUDIT_OBJECT_LOCK_DAYS", default=400)
AUDIT_OBJECT_LOCK_MODE = env.str("AUDIT_OBJECT_LOCK_MODE", default="COMPLIANCE")
if AUDIT_OBJECT_LOCK_MODE not in ("COMPLIANCE", "GOVERNANCE"):
    raise ImproperlyConfigured("AUDIT_OBJECT_LOCK_MODE must be COMPLIANCE or GOVERNANCE")

# --- I18N -------------------------------------------------------------------------------
LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

# --- Logging: JSON lines with tenant and request id -------------------------------------
LOG_LEVEL = env.str("LOG_LEVEL", default="INFO")
LOG_FORMAT = env.str("LOG_FORMAT", default="json")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"context": {"()": "portal.logging.ContextFilter"}},
    "formatters": {
        "json": {"()": "portal.logging.JSONFormatter"},
        "plain": {"format": "%(asctime)s %(levelname)s [%(tenant)s %(request_id)s] %(name)s: %(message)s"},
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "filters": ["context"],
            "formatter": "json" if LOG_FORMAT == "json" else "plain",
        }
    },
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        "django.db.backends": {"level": "WARNING"},
        "daphne": {"level": "WARNING"},
        "axes": {"level": "WARNING"},
        "django.channels.server": {"level": "WARNING"},
    },
}
