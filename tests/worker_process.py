"""A real Celery worker in a subprocess, for integration tests.

`celery_worker_process` is a session fixture: one worker consuming the `celery` and `gpu`
queues against the pytest-django test database and the broker in CELERY_BROKER_URL. Import
it into an app's conftest.py to use it there. Tests that need the worker to see their rows
must commit them: mark them `@pytest.mark.django_db(transaction=True)`.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import pytest
from django.conf import settings
from django.db import connection

REPO_ROOT = Path(__file__).resolve().parent.parent
QUEUES = ("celery", "gpu")
READY_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 30.0


@dataclass
class WorkerProcess:
    process: subprocess.Popen[bytes]
    hostname: str
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def wait_ready(self, timeout_s: float = READY_TIMEOUT_S) -> None:
        """Block until the worker logs that it is consuming; fail with its log if it dies or stalls."""
        deadline = time.monotonic() + timeout_s
        while " ready." not in self.log():
            if self.process.poll() is not None:
                pytest.fail(f"celery worker exited with {self.process.returncode}:\n{self.log()}")
            if time.monotonic() > deadline:
                self.stop()
                pytest.fail(f"celery worker not ready after {timeout_s:g} s:\n{self.log()}")
            time.sleep(0.2)

    def stop(self) -> int:
        """Warm shutdown (SIGTERM: finish the current task, then exit); returns the exit code."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return self.process.returncode


def start_worker(env: Mapping[str, str], log_path: Path, queues: tuple[str, ...] = QUEUES) -> WorkerProcess:
    """Start `celery -A relevance_site worker` (solo pool) with `env`; waits until it is ready."""
    hostname = f"test-{uuid.uuid4().hex[:8]}@%h"
    command = [
        sys.executable, "-m", "celery", "-A", "relevance_site", "worker",
        "-Q", ",".join(queues), "--pool=solo", "--concurrency=1", "--loglevel=INFO",
        "--without-heartbeat", "--without-gossip", "--without-mingle", "-n", hostname,
    ]  # fmt: skip
    with log_path.open("wb") as log:
        process = subprocess.Popen(command, cwd=REPO_ROOT, env=dict(env), stdout=log, stderr=subprocess.STDOUT)
    worker = WorkerProcess(process, hostname.split("@")[0], log_path)
    worker.wait_ready()
    return worker


def session_database_url() -> str:
    """A DATABASE_URL for the database this test session uses (the test database once set up)."""
    db = connection.settings_dict
    if db["ENGINE"] == "django.db.backends.sqlite3":
        return f"sqlite:///{db['NAME']}"
    credentials = quote(db["USER"] or "", safe="")
    if db["PASSWORD"]:
        credentials += ":" + quote(db["PASSWORD"], safe="")
    host = f"{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}"
    return f"postgres://{credentials}@{host}/{quote(db['NAME'], safe='')}"


def purge_queues(queues: tuple[str, ...] = QUEUES) -> None:
    """Drop messages left in the broker by earlier runs, so the worker sees only this session's."""
    from relevance_site.celery import app

    with app.connection_for_write() as conn:
        for queue in queues:
            conn.default_channel.queue_purge(queue)


@pytest.fixture(scope="session")
def celery_worker_process(django_db_setup: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[WorkerProcess]:
    # The test database is dropped after this fixture ends, so the worker must not keep
    # connections open between tasks (DB_CONN_MAX_AGE=0) and is stopped first.
    env = {
        **os.environ,
        "DATABASE_URL": session_database_url(),
        "DB_CONN_MAX_AGE": "0",
        "CELERY_BROKER_URL": settings.CELERY_BROKER_URL,
    }
    purge_queues()
    worker = start_worker(env, tmp_path_factory.mktemp("celery") / "worker.log")
    yield worker
    worker.stop()
