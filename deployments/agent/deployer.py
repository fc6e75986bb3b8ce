# ruff: noqa: ASYNC109, ASYNC210, ASYNC240 — the agent does small, local, deliberate blocking I/O
"""Deploys on the node: validate, backup, apply (stop, unpack, migrate, start), verify,
roll back on failure. A journal on disk makes an interrupted deploy recoverable: an agent
that was killed mid-apply rolls back when it starts again and reports the outcome.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import shutil
import sys
import tarfile
import threading
import urllib.request
from pathlib import Path
from typing import Any

from deployments.agent.connection import Connection
from deployments.agent.identity import http_request, identity_save
from deployments.agent.protocol import is_newer, manifest_problems, release_payload, sha256_file

_PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")


class StepFailed(RuntimeError):
    pass


class Deployer:
    def __init__(self, *, state_dir: Path, conn: Connection, url: str, connect_to: str | None) -> None:
        self.state, self.conn, self.url, self.connect_to = state_dir, conn, url, connect_to
        for sub in ("releases", "data", "backups", "downloads"):
            (state_dir / sub).mkdir(parents=True, exist_ok=True)
        self.lock = asyncio.Lock()

    # --- small persistent files -----------------------------------------------------------
    def _read(self, name: str, default: Any) -> Any:
        path = self.state / name
        return json.loads(path.read_text()) if path.exists() else default

    def _write(self, name: str, value: Any) -> None:
        path = self.state / name
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(value))
        os.replace(tmp, path)

    @property
    def current(self) -> dict | None:
        return self._read("current.json", None)

    def _result(self, run_id: int, status: str, version: str | None, detail: str) -> None:
        result = {"run_id": run_id, "status": status, "version": version, "detail": detail}
        results = self._read("results.json", {})
        results[str(run_id)] = result
        self._write("results.json", dict(list(results.items())[-50:]))
        (self.state / "journal.json").unlink(missing_ok=True)
        self.conn.reliable("result", result)

    def _step(self, run_id: int, step: str, state: str, output: str = "", **extra: Any) -> None:
        self.conn.reliable(
            "step", {"run_id": run_id, "step": step, "state": state, "output": output[-8000:], **extra}
        )

    # --- commands -------------------------------------------------------------------------
    def _context(self, release_dir: Path, variables: dict[str, str], backup_path: str = "") -> dict[str, str]:
        return {
            **variables,
            "release_dir": str(release_dir),
            "data_dir": str(self.state / "data"),
            "state_dir": str(self.state),
            "backup_path": backup_path,
            "python": sys.executable,
        }

    @staticmethod
    def _fill(value: str, context: dict[str, str]) -> str:
        return _PLACEHOLDER.sub(lambda m: context.get(m.group(1), m.group(0)), value)

    async def _run(
        self, argv: list[str], *, context: dict[str, str], run_id: int, cwd: Path, timeout: float = 300
    ) -> str:
        """Run an argument list (never a shell), streaming its output to the run's log."""
        args = [self._fill(arg, context) for arg in argv]
        env = {**os.environ, **{k: v for k, v in context.items() if k.isupper()}}
        proc = await asyncio.create_subprocess_exec(
            *args,
            cwd=cwd,
            env=env,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            start_new_session=True,
        )
        # If the agent dies now, the next start kills this step before rolling back.
        (self.state / "step.pid").write_text(str(proc.pid))
        output: list[str] = []

        async def pump() -> None:
            assert proc.stdout is not None
            async for raw in proc.stdout:
                line = raw.decode(errors="replace").rstrip("\n")
                output.append(line)
                self.conn.log(line, stream="stdout", run_id=run_id)

        try:
            await asyncio.wait_for(asyncio.gather(pump(), proc.wait()), timeout)
        except TimeoutError as exc:
            proc.kill()
            raise StepFailed(f"{args[0]} timed out after {timeout:.0f}s") from exc
        (self.state / "step.pid").unlink(missing_ok=True)
        text = "\n".join(output[-200:])
        if proc.returncode != 0:
            raise StepFailed(f"{' '.join(args)} exited with {proc.returncode}\n{text}")
        return text

    def _start_detached(self, argv: list[str], *, context: dict[str, str], cwd: Path) -> None:
        import subprocess

        args = [self._fill(arg, context) for arg in argv]
        env = {**os.environ, **{k: v for k, v in context.items() if k.isupper()}}
        with (self.state / "app.log").open("ab") as logfile:
            proc = subprocess.Popen(  # noqa: S603 — an argument list from the signed manifest, no shell
                args, cwd=cwd, env=env, stdout=logfile, stderr=subprocess.STDOUT, start_new_session=True
            )
        # The agent is the app's parent: reap it the moment it exits, or it stays a zombie that a
        # manifest's stop command (`kill -0 $pid`) would take for a running app.
        threading.Thread(target=proc.wait, name=f"reap-{proc.pid}", daemon=True).start()

    async def _healthy(self, manifest: dict, context: dict[str, str]) -> tuple[bool, str]:
        health = manifest["health_check"]
        url = self._fill(health["url"], context)
        retries, interval = int(health.get("retries", 5)), float(health.get("interval", 1.0))
        last = ""
        for _ in range(retries):
            await asyncio.sleep(interval)
            try:
                with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310 — the manifest's own URL
                    if 200 <= response.status < 400:
                        return True, f"{url} answered {response.status}"
                    last = f"{url} answered {response.status}"
            except OSError as exc:
                last = f"{url}: {exc}"
        return False, f"health check failed after {retries} tries: {last}"

    # --- the deploy -----------------------------------------------------------------------
    async def handle(self, command: dict) -> None:
        run_id = int(command["run_id"])
        done = self._read("results.json", {}).get(str(run_id))
        if done:  # the portal missed our result: say it again
            self.conn.reliable("result", done)
            return
        if self._read("journal.json", {}).get("run_id") == run_id or self.lock.locked():
            return
        async with self.lock:
            await self._deploy(command)

    def _refusal(self, command: dict) -> tuple[list[str], Path | None]:
        release = command["release"]
        payload = release_payload(
            tenant=self.identity_tenant,
            version=release["version"],
            artifact_sha256=release["artifact_sha256"],
            manifest=release["manifest"],
        )
        identity = self.conn.identity
        if identity.release_keys_learn(command.get("release_keys")):
            identity_save(self.state, identity)
        problems = []
        signature_problem = identity.release_signature_problem(
            key_id=str(release.get("key_id") or ""),
            signature=str(release.get("signature") or ""),
            payload=payload,
            rollback=bool(command.get("rollback")),
        )
        if signature_problem:
            problems.append(signature_problem)
        problems += manifest_problems(release["manifest"])
        current = self.current
        if not command.get("rollback") and current and not is_newer(release["version"], current["version"]):
            problems.append(
                f"release {release['version']} is older than or equal to deployed {current['version']}"
            )
        if problems:
            return problems, None
        target = self.state / "downloads" / f"{release['version']}.tar.gz"
        status, body = http_request(
            self.url.rstrip("/") + command["artifact_url"], connect_to=self.connect_to
        )
        if status != 200:
            return [f"artifact download failed ({status})"], None
        target.write_bytes(body)
        if sha256_file(str(target)) != release["artifact_sha256"]:
            target.unlink()
            return ["artifact does not match the signed hash (corrupted or tampered)"], None
        return [], target

    @property
    def identity_tenant(self) -> str:
        return self.conn.identity.tenant

    async def _deploy(self, command: dict) -> None:
        run_id, release = int(command["run_id"]), command["release"]
        version, manifest = release["version"], release["manifest"]
        problems, artifact = self._refusal(command)
        if problems or artifact is None:
            self._result(
                run_id,
                "failed",
                (self.current or {}).get("version"),
                "Refused before any change: " + "; ".join(problems),
            )
            return
        release_dir = self.state / "releases" / version
        staging = release_dir.with_name(version + ".staging")
        shutil.rmtree(staging, ignore_errors=True)
        with tarfile.open(artifact) as archive:
            archive.extractall(staging, filter="data")
        shutil.rmtree(release_dir, ignore_errors=True)
        staging.rename(release_dir)
        backup_path = str(self.state / "backups" / f"run-{run_id}.bak")
        variables = {k: str(v) for k, v in (command.get("variables") or {}).items()}
        journal = {
            "run_id": run_id,
            "version": version,
            "manifest": manifest,
            "release_dir": str(release_dir),
            "variables": variables,
            "previous": self.current,
            "backup_path": backup_path,
            "migrate_started": False,
            "phase": "backup",
        }
        self._write("journal.json", journal)
        context = self._context(release_dir, variables, backup_path)
        commands = manifest["commands"]
        phase = "backup"
        try:
            self._step(run_id, "backup", "running")
            out = await self._run(commands["backup"], context=context, run_id=run_id, cwd=release_dir)
            name = ""
            if os.path.exists(backup_path) and command.get("backup_url"):
                status, body = http_request(
                    self.url.rstrip("/") + command["backup_url"],
                    "PUT",
                    body=Path(backup_path).read_bytes(),
                    headers={
                        "Content-Disposition": "attachment; filename=backup.bak",
                        "Content-Type": "application/octet-stream",
                    },
                    connect_to=self.connect_to,
                )
                if status != 201:
                    raise StepFailed(f"backup upload refused ({status}): {body[:300]!r}")
                name = json.loads(body).get("name", "")
            self._step(
                run_id, "backup", "succeeded", out + (f"\nstored as {name}" if name else ""), backup_name=name
            )
            phase = "apply"
            journal["phase"] = "apply"
            self._write("journal.json", journal)
            self._step(run_id, "apply", "running")
            previous = journal["previous"]
            if previous:
                prev_ctx = self._context(Path(previous["release_dir"]), previous.get("variables", {}))
                await self._run(
                    previous["manifest"]["commands"]["stop"],
                    context=prev_ctx,
                    run_id=run_id,
                    cwd=Path(previous["release_dir"]),
                )
            else:
                await self._run(commands["stop"], context=context, run_id=run_id, cwd=release_dir)
            refusal = self._migrate_refusal(command)
            if refusal:
                raise StepFailed(refusal)
            journal["migrate_started"] = True
            self._write("journal.json", journal)
            await self._run(commands["migrate"], context=context, run_id=run_id, cwd=release_dir)
            self._start_detached(commands["start"], context=context, cwd=release_dir)
            self._step(run_id, "apply", "succeeded", f"stopped, unpacked, migrated and started {version}")
            phase = "verify"
            self._step(run_id, "verify", "running")
            ok, detail = await self._healthy(manifest, context)
            if not ok:
                raise StepFailed(detail)
            for smoke in manifest.get("smoke", []):
                await self._run(smoke, context=context, run_id=run_id, cwd=release_dir)
            self._step(run_id, "verify", "succeeded", detail)
        except (StepFailed, OSError) as exc:
            self._step(run_id, phase, "failed", str(exc))
            if phase == "backup":
                self._result(
                    run_id,
                    "failed",
                    (self.current or {}).get("version"),
                    f"backup failed, nothing changed: {exc}",
                )
                return
            await self.rollback(journal, f"{phase} failed: {exc}")
            return
        self._write(
            "current.json",
            {
                "version": version,
                "manifest": manifest,
                "release_dir": str(release_dir),
                "variables": variables,
            },
        )
        self._result(run_id, "succeeded", version, f"{version} is live")

    def _migrate_refusal(self, command: dict) -> str:
        """Ask the portal's `deploy.migrate` policies first; "" when migrate may run.

        Fails closed: a portal that offers the check but cannot be asked (OSError) fails the step.
        """
        if not command.get("migrate_url"):
            return ""  # a portal without the check
        status, body = http_request(
            self.url.rstrip("/") + command["migrate_url"],
            "POST",
            body=json.dumps({"backup_step": "succeeded"}).encode(),
            headers={"Content-Type": "application/json"},
            connect_to=self.connect_to,
        )
        if status == 200:
            return ""
        try:
            reason = str(json.loads(body)["error"]["message"])
        except (ValueError, KeyError, TypeError):
            reason = body[:300].decode(errors="replace")
        return f"migrate refused by the portal ({status}): {reason}"

    async def rollback(self, journal: dict, reason: str) -> None:
        run_id, previous = journal["run_id"], journal.get("previous")
        release_dir = Path(journal["release_dir"])
        context = self._context(release_dir, journal.get("variables", {}), journal["backup_path"])
        commands = journal["manifest"]["commands"]
        self._step(run_id, "rollback", "running", reason)
        notes = [reason]
        try:
            try:
                await self._run(commands["stop"], context=context, run_id=run_id, cwd=release_dir, timeout=60)
            except (StepFailed, OSError) as exc:
                notes.append(f"stop of the new release failed: {exc}")
            if journal.get("migrate_started") and os.path.exists(journal["backup_path"]):
                await self._run(commands["restore"], context=context, run_id=run_id, cwd=release_dir)
                notes.append("database restored from the pre-deploy backup")
            if not previous:
                (self.state / "current.json").unlink(missing_ok=True)
                raise StepFailed("no previous release to return to")
            prev_dir = Path(previous["release_dir"])
            prev_ctx = self._context(prev_dir, previous.get("variables", {}))
            self._start_detached(previous["manifest"]["commands"]["start"], context=prev_ctx, cwd=prev_dir)
            ok, detail = await self._healthy(previous["manifest"], prev_ctx)
            if not ok:
                raise StepFailed(f"previous release {previous['version']} is unhealthy too: {detail}")
            self._write("current.json", previous)
        except (StepFailed, OSError) as exc:
            self._step(run_id, "rollback", "failed", "\n".join([*notes, str(exc)]))
            self._result(
                run_id, "failed", (self.current or {}).get("version"), f"{reason}; rollback failed: {exc}"
            )
            return
        notes.append(f"back on {previous['version']}")
        self._step(run_id, "rollback", "succeeded", "\n".join(notes))
        self._result(run_id, "rolled_back", previous["version"], "; ".join(notes))

    def _kill_orphaned_step(self) -> None:
        """A step command left running by a killed agent must not finish after the rollback."""
        import signal

        pidfile = self.state / "step.pid"
        if pidfile.exists():
            with contextlib.suppress(ProcessLookupError, PermissionError, ValueError):
                os.killpg(int(pidfile.read_text()), signal.SIGKILL)
            pidfile.unlink(missing_ok=True)

    async def recover(self) -> None:
        """At start-up: finish what a killed agent left half done by rolling it back."""
        self._kill_orphaned_step()
        journal = self._read("journal.json", None)
        if journal:
            async with self.lock:
                if journal.get("phase") == "backup":
                    self._result(
                        journal["run_id"],
                        "failed",
                        (self.current or {}).get("version"),
                        "agent restarted during backup; nothing changed",
                    )
                else:
                    await self.rollback(journal, "the agent was interrupted mid-deploy")
