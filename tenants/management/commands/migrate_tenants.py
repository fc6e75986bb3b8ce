"""`manage.py migrate_tenants`: the platform's own rollout (see tenants/rollout.py).

    manage.py migrate_tenants                 # start, or resume the unfinished rollout
    manage.py migrate_tenants --new           # start a fresh rollout
    manage.py migrate_tenants --batch-size 50 --workers 2
    manage.py migrate_tenants --dry-run       # only report which schemas need migrating
    manage.py migrate_tenants --schema t_acme --schema t_globex   # a hand-picked wave

`--worker <rollout id> <schema>…` is internal: the rollout's worker processes.
"""

from __future__ import annotations

import json
import time
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from tenants import rollout as rollouts
from tenants.selectors import serving_tenants


class Command(BaseCommand):
    help = "Migrate every tenant schema: canaries first, backups first, resumable, skipping current ones."
    requires_system_checks: list[str] = []

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--batch-size", type=int, default=25)
        parser.add_argument("--workers", type=int, default=2, help="Parallel worker processes.")
        parser.add_argument("--new", action="store_true", help="Do not resume; start a new rollout.")
        parser.add_argument("--dry-run", action="store_true", help="Report what would be migrated.")
        parser.add_argument(
            "--schema", action="append", dest="only", help="Only this tenant schema (repeatable)."
        )
        parser.add_argument(
            "--worker", type=int, default=None, help="internal: run as a worker of this rollout"
        )
        parser.add_argument("schemas", nargs="*", help="internal: the worker's batch")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["worker"] is not None:
            result = rollouts.worker_run(rollout_id=options["worker"], schemas=options["schemas"])
            self.stdout.write(json.dumps(result))
            return
        if options["batch_size"] < 1 or options["workers"] < 1:
            raise CommandError("--batch-size and --workers must be at least 1")
        started = time.monotonic()
        if options["dry_run"]:
            schemas = list(serving_tenants().values_list("schema_name", flat=True))
            missing = rollouts.schemas_missing_counts(["public", *schemas])
            behind = {schema: n for schema, n in missing.items() if n}
            self.stdout.write(json.dumps({"schemas": len(missing), "behind": behind}))
            return
        rollout, resumed = rollouts.rollout_start(
            batch_size=options["batch_size"], workers=options["workers"], new=options["new"]
        )
        self.stdout.write(f"{'resuming' if resumed else 'starting'} rollout #{rollout.pk}")
        try:
            rollout = rollouts.rollout_execute(rollout=rollout, say=self.stdout.write, only=options["only"])
        except rollouts.RolloutBusy as exc:
            raise CommandError(str(exc)) from exc
        counts = rollouts.rollout_counts(rollout)
        elapsed = time.monotonic() - started
        self.stdout.write(f"rollout #{rollout.pk} {rollout.status} in {elapsed:.1f}s: {json.dumps(counts)}")
        if rollout.status != rollout.Status.DONE:
            raise CommandError(f"rollout #{rollout.pk} {rollout.status}: {rollout.error}")
