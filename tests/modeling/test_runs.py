"""The run state machine: claims, progress, cancel, finish and recovery are conditional updates."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from django.utils import timezone

from modeling import runs
from modeling.models import ModelKind, ModelStatus, ModelVersion, Run, RunKind, RunStatus
from tests.modeling.teacher_data import make_toy_dataset

pytestmark = pytest.mark.django_db


def make_run() -> Run:
    dataset = make_toy_dataset(f"toy-{uuid.uuid4().hex[:8]}", sizes={"train": 2})
    version = ModelVersion.objects.create(kind=ModelKind.TEACHER, dataset=dataset)
    return runs.create_run(RunKind.TEACHER_TRAINING, {"epochs": 1}, model_version=version)


def test_a_pending_run_is_claimed_once_and_a_live_holder_keeps_it() -> None:
    run = make_run()

    claimed = runs.start_run(run.pk, "w1@host")

    assert claimed is not None and claimed.status == RunStatus.RUNNING and claimed.attempts == 1
    assert claimed.started_at is not None and claimed.heartbeat_at is not None
    assert runs.start_run(run.pk, "w2@host") is None
    again = runs.start_run(run.pk, "w1@host")  # the same worker after a restart
    assert again is not None and again.attempts == 2 and again.started_at == claimed.started_at


def test_a_run_whose_heartbeat_went_silent_can_be_claimed_by_another_worker() -> None:
    run = make_run()
    runs.start_run(run.pk, "w1@host")
    silent = timezone.now() - timedelta(seconds=runs.STALE_AFTER_S + 5)
    Run.objects.filter(pk=run.pk).update(heartbeat_at=silent)

    claimed = runs.start_run(run.pk, "w2@host")

    assert claimed is not None and claimed.worker_hostname == "w2@host"
    assert not runs.record_progress(run.pk, 0.5, "old holder", worker="w1@host")
    assert runs.record_progress(run.pk, 0.5, "new holder", worker="w2@host")


def test_progress_is_clamped_and_only_written_while_running() -> None:
    run = make_run()
    assert not runs.record_progress(run.pk, 0.3, "not started")

    runs.start_run(run.pk)
    assert runs.record_progress(run.pk, 1.7, "step 3/3", loss_history=[[1, 0.9], [2, 0.5]])

    run.refresh_from_db()
    assert (run.progress, run.message, run.loss_history) == (1.0, "step 3/3", [[1, 0.9], [2, 0.5]])


def test_cancelling_a_pending_run_ends_it_at_once() -> None:
    run = make_run()

    assert runs.request_cancel(run.pk)

    run.refresh_from_db()
    assert run.status == RunStatus.CANCELLED and run.finished_at is not None
    assert ModelVersion.objects.get(pk=run.model_version_id).status == ModelStatus.FAILED
    assert runs.start_run(run.pk) is None
    assert not runs.request_cancel(run.pk)


def test_cancelling_a_running_run_sets_the_flag_its_worker_reads() -> None:
    run = make_run()
    runs.start_run(run.pk)

    assert runs.request_cancel(run.pk)

    assert runs.cancel_requested(run.pk)
    assert Run.objects.get(pk=run.pk).status == RunStatus.RUNNING
    assert runs.mark_cancelled(run.pk)
    assert Run.objects.get(pk=run.pk).status == RunStatus.CANCELLED


def test_only_the_first_finish_wins_and_the_model_version_follows_it() -> None:
    run = make_run()
    runs.start_run(run.pk)

    assert runs.succeed_run(run.pk, "done", metrics={"val": {"accuracy": 0.75}})
    assert not runs.fail_run(run.pk, "late error")
    assert not runs.mark_cancelled(run.pk)

    run.refresh_from_db()
    version = ModelVersion.objects.get(pk=run.model_version_id)
    assert (run.status, run.progress, run.error) == (RunStatus.SUCCEEDED, 1.0, "")
    assert (version.status, version.metrics) == (ModelStatus.READY, {"val": {"accuracy": 0.75}})
    assert runs.start_run(run.pk) is None


def test_a_failed_run_keeps_its_error_and_fails_its_model_version() -> None:
    run = make_run()
    runs.start_run(run.pk)

    assert runs.fail_run(run.pk, "Traceback …\nValueError: boom")

    run.refresh_from_db()
    assert run.status == RunStatus.FAILED and run.error.endswith("ValueError: boom")
    assert "ValueError: boom" in run.log
    assert ModelVersion.objects.get(pk=run.model_version_id).status == ModelStatus.FAILED


def test_the_log_keeps_the_last_lines() -> None:
    run = make_run()
    for index in range(runs.LOG_LINES + 5):
        runs.add_log(run.pk, f"line {index}")

    lines = Run.objects.get(pk=run.pk).log.splitlines()

    assert len(lines) == runs.LOG_LINES
    assert lines[0].endswith("line 5") and lines[-1].endswith(f"line {runs.LOG_LINES + 4}")


def test_recovery_reenqueues_silent_and_own_runs_once() -> None:
    silent, own, live, pending = make_run(), make_run(), make_run(), make_run()
    for run, worker in ((silent, "gone@host"), (own, "me@host"), (live, "other@host")):
        runs.start_run(run.pk, worker)
    old = timezone.now() - timedelta(seconds=120)
    Run.objects.filter(pk=silent.pk).update(heartbeat_at=old)
    sent: list[int] = []

    recovered = runs.recover_stale_runs("me@host", max_silence_s=60, send=lambda run: str(sent.append(run.pk)))
    again = runs.recover_stale_runs("other2@host", max_silence_s=60, send=lambda run: str(sent.append(run.pk)))

    assert sorted(recovered) == sorted(sent) == sorted([silent.pk, own.pk])
    assert again == []
    claimed = runs.start_run(silent.pk, "new@host")
    assert claimed is not None and claimed.attempts == 2
    assert Run.objects.get(pk=pending.pk).status == RunStatus.PENDING


def test_enqueueing_records_the_task_id() -> None:
    run = make_run()

    task_id = runs.enqueue_run(run)

    assert Run.objects.get(pk=run.pk).celery_task_id == task_id != ""
