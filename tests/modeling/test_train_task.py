"""The train_teacher task: pending → running → succeeded with a loadable model, cancel, resume
after an interrupted attempt, and the same through a real Celery worker process."""

from __future__ import annotations

import io
import json
import shutil
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from django.conf import settings
from django.core.management import call_command
from django.core.management.base import CommandError

from modeling import pipelines, runs, tasks
from modeling.ml.cross_encoder import CrossEncoder, load_tokenizer, predict
from modeling.ml.training import ProgressEvent
from modeling.models import ModelStatus, Run, RunStatus
from tests.modeling.teacher_data import make_toy_dataset, tiny_backbone  # noqa: F401
from tests.worker_process import WorkerProcess

STEPS_PER_EPOCH = 4  # 32 train examples, batch size 8


class WorkerKilled(BaseException):
    """Stands in for a worker process dying: not an Exception, so the run is not marked failed."""


@pytest.fixture
def artifacts(settings: Any, tmp_path: Path) -> Path:
    settings.ARTIFACTS_DIR = tmp_path / "artifacts"
    return Path(settings.ARTIFACTS_DIR)


def teacher_params(backbone: Path, **values: Any) -> pipelines.TeacherParams:
    defaults: dict[str, Any] = {
        "backbone": str(backbone),
        "fields": ("title",),
        "epochs": 3,
        "lr": 3e-3,
        "batch_size": 8,
        "max_length": 32,
        "head_hidden_size": 32,
        "dropout": 0.0,
        "early_stopping_patience": None,
        "device": "cpu",
    }
    return pipelines.TeacherParams(**{**defaults, **values})


def watch_progress(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """Record every progress value written to run rows (the real write still happens)."""
    seen: list[float] = []
    real = runs.record_progress

    def recording(run_id: int, progress: float, message: str, **kwargs: Any) -> bool:
        seen.append(progress)
        return real(run_id, progress, message, **kwargs)

    monkeypatch.setattr(runs, "record_progress", recording)
    return seen


def on_step(monkeypatch: pytest.MonkeyPatch, hook: Any) -> list[int]:
    """Call `hook(run_id, event)` after each step's own reporting; returns the steps seen."""
    steps: list[int] = []
    real = pipelines.RunReporter.__call__

    def reporting(self: pipelines.RunReporter, event: ProgressEvent) -> None:
        real(self, event)
        steps.append(event.step)
        hook(self.run_id, event)

    monkeypatch.setattr(pipelines.RunReporter, "__call__", reporting)
    return steps


@pytest.mark.django_db
def test_a_run_trains_stores_metrics_and_saves_a_loadable_model(
    tiny_backbone: Path,  # noqa: F811
    artifacts: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(pipelines, "PROGRESS_INTERVAL_S", 0.0)
    seen = watch_progress(monkeypatch)
    dataset = make_toy_dataset()
    run = pipelines.start_teacher_run(dataset, teacher_params(tiny_backbone, epochs=15), enqueue=False)
    assert run.status == RunStatus.PENDING

    tasks.train_teacher(run.pk)

    run.refresh_from_db()
    version = run.model_version
    assert version is not None
    assert (run.status, run.progress, run.attempts) == (RunStatus.SUCCEEDED, 1.0, 1)
    total = 15 * STEPS_PER_EPOCH
    assert seen[:total] == [step / total for step in range(1, total + 1)]
    assert [point[0] for point in run.loss_history] == list(range(1, total + 1))
    assert version.status == ModelStatus.READY
    assert version.metrics["val"]["n"] == 16 and version.metrics["test"]["n"] == 16
    assert version.metrics["best_epoch"] is not None and len(version.metrics["history"]) == 15
    assert set(version.metrics["test"]) >= {"accuracy", "auroc_ge3", "auroc_ge4", "auroc_ge5"}
    assert Path(version.artifact_path) == artifacts / "models" / str(version.pk)
    assert not pipelines.checkpoint_dir(run.pk).exists()
    model = CrossEncoder.load(version.artifact_path)
    val = pipelines.examples_by_split(dataset)["val"]
    probabilities = predict(model, load_tokenizer(version.artifact_path), [example.pair for example in val])
    labels = np.array([example.label for example in val])
    # The stored metrics describe the saved model, which learnt something from 32 examples.
    assert pipelines.split_metrics(probabilities, labels) == version.metrics["val"]
    assert version.metrics["val"]["accuracy"] > 0.5 and probabilities.sum(axis=1) == pytest.approx(1.0, abs=1e-5)
    tasks.train_teacher(run.pk)  # a redelivered message for a finished run does nothing
    assert Run.objects.get(pk=run.pk).attempts == 1


@pytest.mark.django_db
def test_a_cancel_request_stops_the_run_at_the_next_step(
    tiny_backbone: Path,  # noqa: F811
    artifacts: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(pipelines, "PROGRESS_INTERVAL_S", 0.0)
    steps = on_step(monkeypatch, lambda run_id, event: event.step == 2 and runs.request_cancel(run_id))
    run = pipelines.start_teacher_run(make_toy_dataset(), teacher_params(tiny_backbone), enqueue=False)

    run = pipelines.train_teacher_run(run.pk)

    assert run.status == RunStatus.CANCELLED and steps == [1, 2]
    assert run.model_version is not None and run.model_version.status == ModelStatus.FAILED
    assert run.model_version.artifact_path == ""


@pytest.mark.django_db
def test_an_interrupted_run_resumes_from_its_checkpoint(
    tiny_backbone: Path,  # noqa: F811
    artifacts: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    killed: list[int] = []

    def die_in_second_epoch(run_id: int, event: ProgressEvent) -> None:
        if event.step == STEPS_PER_EPOCH + 2 and not killed:
            killed.append(event.step)
            raise WorkerKilled

    monkeypatch.setattr(pipelines, "PROGRESS_INTERVAL_S", 0.0)
    steps = on_step(monkeypatch, die_in_second_epoch)
    run = pipelines.start_teacher_run(make_toy_dataset(), teacher_params(tiny_backbone), enqueue=False)
    with pytest.raises(WorkerKilled):
        tasks.train_teacher(run.pk)
    assert Run.objects.get(pk=run.pk).status == RunStatus.RUNNING
    assert (pipelines.checkpoint_dir(run.pk) / "checkpoint.pt").is_file()
    steps.clear()

    tasks.train_teacher(run.pk)  # the same worker after its restart

    run.refresh_from_db()
    assert run.status == RunStatus.SUCCEEDED and run.attempts == 2
    assert steps == list(range(STEPS_PER_EPOCH + 1, 3 * STEPS_PER_EPOCH + 1))  # epochs 2 and 3 only
    assert run.model_version is not None and run.model_version.metrics["resumed_from_epoch"] == 1
    # The repeated steps 5–6 replace the killed attempt's points instead of doubling them.
    assert [point[0] for point in run.loss_history] == list(range(1, 3 * STEPS_PER_EPOCH + 1))


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_a_real_worker_trains_an_enqueued_run(
    celery_worker_process: WorkerProcess,
    tiny_backbone: Path,  # noqa: F811
) -> None:
    # The worker writes under its own ARTIFACTS_DIR (the default from its environment), which is
    # this process's setting too; the run's folders are removed afterwards.
    params = teacher_params(tiny_backbone, epochs=40, batch_size=2)  # ~640 steps: a few seconds
    run = pipelines.start_teacher_run(make_toy_dataset("toy-worker"), params)
    seen: list[float] = []
    deadline = time.monotonic() + 90
    try:
        while not run.is_finished:
            assert time.monotonic() < deadline, f"run still {run.status}:\n{celery_worker_process.log()}"
            time.sleep(0.05)
            run.refresh_from_db()
            if not seen or seen[-1] != run.progress:
                seen.append(run.progress)
        version = run.model_version
        assert run.status == RunStatus.SUCCEEDED, run.error + celery_worker_process.log()
        assert run.worker_hostname.startswith(celery_worker_process.hostname + "@")
        assert seen == sorted(seen) and len([value for value in seen if 0 < value < 1]) >= 2
        assert version is not None and version.status == ModelStatus.READY
        assert (Path(version.artifact_path) / "model.safetensors").is_file()
        assert Path(version.artifact_path).parent == Path(settings.ARTIFACTS_DIR) / "models"
    finally:
        shutil.rmtree(pipelines.run_dir(run.pk), ignore_errors=True)
        if run.model_version_id is not None:
            shutil.rmtree(pipelines.model_dir(run.model_version_id), ignore_errors=True)


@pytest.mark.django_db
def test_the_command_trains_inline_and_prints_the_run_as_json(
    tiny_backbone: Path,  # noqa: F811
    artifacts: Path,
) -> None:
    dataset = make_toy_dataset("toy-cli")
    out, err = io.StringIO(), io.StringIO()
    options = ["--backbone", str(tiny_backbone), "--fields", "title", "--epochs", "2", "--lr", "0.003"]
    options += ["--batch-size", "8", "--max-length", "32", "--device", "cpu", "--inline"]

    call_command("train_teacher", "--dataset", dataset.name, *options, stdout=out, stderr=err)

    summary = json.loads(out.getvalue().strip().splitlines()[-1])
    run = Run.objects.get(pk=summary["run"])
    assert summary["status"] == run.status == RunStatus.SUCCEEDED
    assert run.params["epochs"] == 2 and run.params["fields"] == ["title"]
    assert summary["metrics"]["val"]["n"] == 16 and Path(summary["artifact_path"]).is_dir()
    assert "8/8" in err.getvalue()  # the tqdm bar reached the last step


@pytest.mark.django_db
def test_the_command_refuses_a_dataset_without_training_items() -> None:
    dataset = make_toy_dataset("toy-empty", sizes={"val": 2})

    with pytest.raises(CommandError, match="no items in its train split"):
        call_command("train_teacher", "--dataset", dataset.name, stdout=io.StringIO(), stderr=io.StringIO())
    with pytest.raises(CommandError, match="no dataset named"):
        call_command("train_teacher", "--dataset", "missing", stdout=io.StringIO(), stderr=io.StringIO())
    assert not Run.objects.exists()
