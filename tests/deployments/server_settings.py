"""Settings for the daphne server the deployment tests start: the real ones, faster clocks."""

from portal.settings import *  # noqa: F403

DEPLOY_HEARTBEAT_SECONDS = 0.5
DEPLOY_AUTH_TIMEOUT_SECONDS = 5.0
DEPLOY_VIEWER_FLUSH_SECONDS = 0.02
DEPLOY_TERMINAL_IDLE_SECONDS = 3.0
