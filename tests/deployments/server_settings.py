"""Settings for the daphne server the deployment tests start: the real ones, faster clocks."""

from portal.settings import *  # noqa: F403

DEPLOY_HEARTBEAT_SECONDS = 0.5
DEPLOY_AUTH_TIMEOUT_SECONDS = 5.0
DEPLOY_VIEWER_FLUSH_SECONDS = 0.02
DEPLOY_TERMINAL_IDLE_SECONDS = 3.0
# No Celery worker runs in these tests: a run the server queues next (when the run ahead of
# it ends) executes inline, as the test process does for the runs it requests.
CELERY_TASK_ALWAYS_EAGER = True
