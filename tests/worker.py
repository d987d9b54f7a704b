"""Run the real ``db_worker``: in the test process (every queued task, then return), or as a
process of its own against the test database (crash tests, PostgreSQL)."""

import signal
import subprocess
import sys
from pathlib import Path

from django.conf import settings
from django.core.management import call_command

# settings.TASKS for a test: run each task when it is enqueued, or keep it in the database.
IMMEDIATE_TASKS = {
    "default": {
        "BACKEND": "django_tasks.backends.immediate.ImmediateBackend",
        "QUEUES": ["default"],
    }
}
DATABASE_TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend", "QUEUES": ["default"]}}


def run_worker_once() -> None:
    """``db_worker --batch``; the worker installs signal handlers, which are put back after."""
    signals = (signal.SIGINT, signal.SIGTERM, signal.SIGQUIT)
    handlers = {sig: signal.getsignal(sig) for sig in signals}
    try:
        call_command(
            "db_worker",
            "--batch",
            "--no-startup-delay",
            "--interval",
            "0",
            "--no-reload",
            verbosity=0,
        )
    finally:
        for sig, handler in handlers.items():
            signal.signal(sig, handler)


def database_url() -> str:
    """The test database as ``DATABASE_URL`` for a worker process (PostgreSQL)."""
    db = settings.DATABASES["default"]
    auth = db["USER"] + (f":{db['PASSWORD']}" if db.get("PASSWORD") else "")
    return f"postgres://{auth}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


def worker_process(
    env: dict[str, str], log: Path, *, interval: float = 0.1
) -> subprocess.Popen[bytes]:
    """A real ``mandant db_worker`` with ``env``, its output in ``log``."""
    return subprocess.Popen(  # noqa: S603 - our own command line
        [
            str(Path(sys.executable).with_name("mandant")),
            "db_worker",
            "--no-startup-delay",
            "--no-reload",
            "--interval",
            str(interval),
        ],
        env=env,
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
    )


def kill_all(workers: list[subprocess.Popen[bytes]], logs: Path) -> dict[str, str]:
    """SIGKILL the worker processes still running; the end of each ``*.log`` in ``logs``, for
    the failure message."""
    for worker in workers:
        if worker.poll() is None:
            worker.send_signal(signal.SIGKILL)
            worker.wait(5)
    return {p.name: p.read_text(errors="replace")[-2000:] for p in logs.glob("*.log")}
