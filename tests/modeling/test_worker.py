"""A real Celery worker process answers heartbeats on each queue (Redis, then the embedded broker)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from modeling import workers
from tests.worker_process import REPO_ROOT, WorkerProcess, start_worker

pytestmark = pytest.mark.worker


@pytest.mark.django_db(transaction=True)
def test_worker_answers_pings_on_both_queues(celery_worker_process: WorkerProcess) -> None:
    pings = workers.wait_for_answers(workers.send_pings(), timeout_s=30)

    assert {row.queue: row.answered_at is not None for row in pings} == {"celery": True, "gpu": True}
    assert all(row.worker_hostname.startswith(celery_worker_process.hostname + "@") for row in pings)
    status = workers.queue_status(max_age_s=60)
    assert status["celery"]["online"] and status["gpu"]["online"]


def _manage(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=120
    )


def test_embedded_broker_with_sqlite_serves_only_the_consumed_queues(tmp_path: Path) -> None:
    # The embedded run mode end to end: SQLite and the filesystem broker under VAR_DIR, with
    # the migrate → worker → worker_status steps an operator would run.
    env = {
        **os.environ,
        "VAR_DIR": str(tmp_path / "var"),
        "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
        "CELERY_BROKER_URL": "filesystem://",
    }
    assert _manage(env, "migrate", "--noinput").returncode == 0

    worker = start_worker(env, tmp_path / "celery-only.log", queues=("celery",))
    partial = _manage(env, "worker_status", "--wait", "5")
    assert worker.stop() == 0, worker.log()
    assert partial.returncode == 1
    assert "celery: online" in partial.stdout and "gpu: offline" in partial.stdout

    worker = start_worker(env, tmp_path / "both.log")
    full = _manage(env, "worker_status", "--wait", "30")
    assert worker.stop() == 0, worker.log()
    assert full.returncode == 0, full.stdout + full.stderr
    assert "celery: online" in full.stdout and "gpu: online" in full.stdout
