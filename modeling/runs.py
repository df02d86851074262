"""The run state machine: pending → running → succeeded | failed | cancelled.

Every transition is one conditional UPDATE (`filter(status=…).update(…)`), so two workers, a
worker and a cancel click, or a retried message never both win. A worker claims a run with
`start_run`; it may claim a pending run, or a running one whose previous owner is gone: its
heartbeat is older than `STALE_AFTER_S`, or it was this same worker before a restart.

Crash recovery: Celery's `acks_late` + `reject_on_worker_lost` redeliver a killed worker's
message on Redis, but the filesystem broker does not. So a worker also calls
`recover_stale_runs` when it becomes ready (the `worker_ready` handler in `modeling.tasks`):
runs it owned before a restart, and runs whose heartbeat went silent, are enqueued again and
resume from their checkpoint. Enqueueing twice is harmless: the second claim fails.
"""

from __future__ import annotations

import socket
import uuid
from collections.abc import Callable, Mapping
from datetime import timedelta
from typing import Any

from django.db import transaction
from django.db.models import F, Q, Value
from django.db.models.functions import Coalesce
from django.utils import timezone

from modeling.models import ModelStatus, ModelVersion, Run, RunKind, RunStatus

# Seconds without a heartbeat after which a running run counts as abandoned. Heartbeats come
# with training steps (about once a second), but loading a large backbone or tokenizing a big
# dataset before the first step can take minutes.
STALE_AFTER_S = 900.0
LOG_LINES = 200
# Who runs work outside a Celery worker (tests, `train_teacher --inline`).
LOCAL_WORKER = f"local@{socket.gethostname()}"
# The task that carries out each kind of run, by Celery name (routed by CELERY_TASK_ROUTES).
TASKS = {RunKind.TEACHER_TRAINING: "modeling.tasks.train_teacher", RunKind.CAPTION: "modeling.tasks.caption_pins"}


class RunError(Exception):
    """A run cannot do what was asked (unknown kind to enqueue, finished run)."""


def create_run(kind: str, params: Mapping[str, Any], *, model_version: ModelVersion | None = None) -> Run:
    """A new pending run; nothing is enqueued yet (see `enqueue_run`)."""
    return Run.objects.create(kind=kind, params=dict(params), model_version=model_version)


def enqueue_run(run: Run) -> str:
    """Send the run's task once the current transaction commits; returns the Celery task id."""
    if run.kind not in TASKS:
        raise RunError(f"no task carries out {run.kind!r} runs yet")
    task_id = str(uuid.uuid4())
    Run.objects.filter(pk=run.pk).update(celery_task_id=task_id)
    run.celery_task_id = task_id
    transaction.on_commit(lambda: _send(TASKS[RunKind(run.kind)], run.pk, task_id))
    return task_id


def _send(task_name: str, run_id: int, task_id: str) -> None:
    from relevance_site.celery import app

    app.send_task(task_name, args=(run_id,), task_id=task_id)


def _stale_before() -> Any:
    return timezone.now() - timedelta(seconds=STALE_AFTER_S)


def start_run(run_id: int, worker: str = LOCAL_WORKER) -> Run | None:
    """Claim the run for `worker` and mark it running; None when it is finished, cancelled or
    held by another live worker (so the caller does nothing)."""
    now = timezone.now()
    abandoned = Q(status=RunStatus.RUNNING) & (
        Q(heartbeat_at__isnull=True)
        | Q(heartbeat_at__lt=_stale_before())
        | Q(worker_hostname=worker)
        | Q(worker_hostname="")  # released by `recover_stale_runs`
    )
    claimable = Run.objects.filter(Q(status=RunStatus.PENDING) | abandoned, pk=run_id, cancel_requested=False)
    claimed = claimable.update(
        status=RunStatus.RUNNING,
        worker_hostname=worker[:255],
        attempts=F("attempts") + 1,
        heartbeat_at=now,
        started_at=Coalesce(F("started_at"), Value(now)),
        finished_at=None,
        message="starting",
    )
    if not claimed:
        _cancel_if_requested(run_id)
        return None
    run = Run.objects.get(pk=run_id)
    add_log(run_id, f"attempt {run.attempts} started on {worker}")
    return run


def _cancel_if_requested(run_id: int) -> None:
    """A run cancelled while no worker held it ends here instead of waiting forever."""
    open_statuses = [RunStatus.PENDING, RunStatus.RUNNING]
    if Run.objects.filter(pk=run_id, status__in=open_statuses, cancel_requested=True).exists():
        # Only when its holder is gone: a live holder notices the flag at its next step.
        _finish(run_id, RunStatus.CANCELLED, Q(heartbeat_at__isnull=True) | Q(heartbeat_at__lt=_stale_before()))


def record_progress(
    run_id: int,
    progress: float,
    message: str,
    *,
    loss_history: list[list[float]] | None = None,
    worker: str | None = None,
) -> bool:
    """Write progress (clamped to 0–1), message and heartbeat; False when the run is no longer
    running (or, with `worker`, no longer held by that worker)."""
    values: dict[str, Any] = {
        "progress": min(max(progress, 0.0), 1.0),
        "message": message[:500],
        "heartbeat_at": timezone.now(),
    }
    if loss_history is not None:
        values["loss_history"] = loss_history
    running = Run.objects.filter(pk=run_id, status=RunStatus.RUNNING)
    if worker is not None:
        running = running.filter(worker_hostname=worker)
    return running.update(**values) == 1


def add_log(run_id: int, line: str) -> None:
    """Append one timestamped line to the run's log, keeping the last LOG_LINES lines."""
    stamped = f"{timezone.now():%Y-%m-%d %H:%M:%S} {line}"
    with transaction.atomic():
        run = Run.objects.select_for_update().only("log").get(pk=run_id)
        lines = [*run.log.splitlines(), stamped][-LOG_LINES:]
        Run.objects.filter(pk=run_id).update(log="\n".join(lines))


def cancel_requested(run_id: int) -> bool:
    return Run.objects.filter(pk=run_id, cancel_requested=True).exists()


def request_cancel(run_id: int) -> bool:
    """Ask a run to stop: a pending run is cancelled at once, a running one at its next step.
    False when the run had already finished."""
    open_run = Run.objects.filter(pk=run_id, status__in=[RunStatus.PENDING, RunStatus.RUNNING])
    if not open_run.update(cancel_requested=True):
        return False
    _finish(run_id, RunStatus.CANCELLED, Q(status=RunStatus.PENDING), message="cancelled before it started")
    return True


def succeed_run(run_id: int, message: str = "done", *, metrics: Mapping[str, Any] | None = None) -> bool:
    """running → succeeded (progress 1); the run's model version becomes ready with `metrics`."""
    return _finish(run_id, RunStatus.SUCCEEDED, message=message, metrics=metrics)


def fail_run(run_id: int, error: str) -> bool:
    """pending/running → failed with `error`; its model version is marked failed."""
    return _finish(run_id, RunStatus.FAILED, message="failed", error=error)


def mark_cancelled(run_id: int) -> bool:
    """running → cancelled, after the worker stopped at a cancel request."""
    return _finish(run_id, RunStatus.CANCELLED, message="cancelled")


MODEL_STATUS_AFTER = {
    RunStatus.SUCCEEDED: ModelStatus.READY,
    RunStatus.FAILED: ModelStatus.FAILED,
    RunStatus.CANCELLED: ModelStatus.FAILED,
}


def _finish(
    run_id: int,
    status: RunStatus,
    condition: Q | None = None,
    *,
    message: str = "",
    error: str = "",
    metrics: Mapping[str, Any] | None = None,
) -> bool:
    values: dict[str, Any] = {"status": status, "finished_at": timezone.now(), "message": message or status.label}
    if error:
        values["error"] = error
    if status == RunStatus.SUCCEEDED:
        values["progress"] = 1.0
    open_run = Run.objects.filter(pk=run_id, status__in=[RunStatus.PENDING, RunStatus.RUNNING])
    with transaction.atomic():
        if not open_run.filter(condition or Q()).update(**values):
            return False
        version_id = Run.objects.filter(pk=run_id).values_list("model_version_id", flat=True).get()
        version_values: dict[str, Any] = {"status": MODEL_STATUS_AFTER[status]}
        if metrics is not None:
            version_values["metrics"] = dict(metrics)
        ModelVersion.objects.filter(pk=version_id, status=ModelStatus.TRAINING).update(**version_values)
    add_log(run_id, f"{status.label.lower()}: {values['message']}" + (f"\n{error.strip()}" if error else ""))
    return True


def recover_stale_runs(
    worker: str = "", *, max_silence_s: float = STALE_AFTER_S, send: Callable[[Run], str] | None = None
) -> list[int]:
    """Enqueue again the running runs whose heartbeat is older than `max_silence_s` seconds, and
    those `worker` held before it restarted; returns their ids. Each recovery is claimed by
    bumping the heartbeat conditionally, so workers starting together enqueue a run once."""
    silent_since = timezone.now() - timedelta(seconds=max_silence_s)
    orphaned = Q(heartbeat_at__isnull=True) | Q(heartbeat_at__lt=silent_since)
    if worker:
        orphaned |= Q(worker_hostname=worker)
    candidates = Run.objects.filter(orphaned, status=RunStatus.RUNNING, kind__in=list(TASKS))
    recovered = []
    for run in candidates:
        claimed = Run.objects.filter(pk=run.pk, status=RunStatus.RUNNING, heartbeat_at=run.heartbeat_at)
        # No owner lets any worker claim the run; a fresh heartbeat keeps it from being recovered
        # again until another `max_silence_s` passes without a claim.
        released = {
            "worker_hostname": "",
            "heartbeat_at": timezone.now(),
            "message": "re-enqueued after its worker stopped",
        }
        if claimed.update(**released):
            with transaction.atomic():
                (send or enqueue_run)(run)
            recovered.append(run.pk)
    return recovered
