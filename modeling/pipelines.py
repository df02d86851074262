"""The one adapter between ORM rows and `modeling.ml`: dataset items become training examples,
a teacher run trains, saves and scores a model, and the results go back into rows.

Torch is imported inside the functions that train, so the web process can import this module
to start runs. Files: checkpoints in ARTIFACTS_DIR/runs/<run id>/checkpoints (removed once the
run succeeded), the finished model in ARTIFACTS_DIR/models/<model version id>/.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import os
import shutil
import time
import traceback
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from django.conf import settings
from django.db import transaction
from django.db.models import Count

from annotation.models import Dataset, DatasetItem, Pair, Split
from modeling import runs
from modeling.ml.text import FIELDS, PairText, check_fields
from modeling.models import ModelKind, ModelVersion, Run, RunKind

if TYPE_CHECKING:
    from modeling.ml.cross_encoder import CrossEncoder, CrossEncoderConfig
    from modeling.ml.training import Example, ProgressEvent, TrainConfig, TrainResult

logger = logging.getLogger(__name__)

# Seconds between progress writes to the run row and between cancel checks.
PROGRESS_INTERVAL_S = 1.0
THRESHOLDS = (3, 4, 5)
SPLITS = (Split.TRAIN, Split.VAL, Split.TEST)


class PipelineError(ValueError):
    """Bad parameters or data for a run; the message says what to fix."""


@dataclass(frozen=True)
class TeacherParams:
    """What a teacher run trains; stored as the run's `params`. An empty `backbone` means
    settings.BACKBONE_DIR and an empty `device` settings.ML_DEVICE."""

    backbone: str = ""
    fields: tuple[str, ...] = FIELDS
    epochs: int = 3
    lr: float = 2e-5
    batch_size: int = 16
    max_length: int = 256
    grad_accum: int = 1
    warmup_ratio: float = 0.1
    early_stopping_patience: int | None = 2
    head_hidden_size: int = 256
    dropout: float = 0.1
    lora_rank: int = 0
    seed: int = 0
    device: str = ""

    def __post_init__(self) -> None:
        try:
            object.__setattr__(self, "fields", check_fields(tuple(self.fields)))
        except ValueError as error:
            raise PipelineError(str(error)) from None
        positive = {"epochs": self.epochs, "batch_size": self.batch_size, "grad_accum": self.grad_accum}
        for name, value in positive.items():
            if value < 1:
                raise PipelineError(f"{name} must be at least 1, got {value}")
        if not self.lr > 0:
            raise PipelineError(f"lr must be positive, got {self.lr}")
        if self.max_length < 8:
            raise PipelineError(f"max_length must be at least 8, got {self.max_length}")

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> TeacherParams:
        known = {item.name for item in dataclasses.fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise PipelineError(f"unknown teacher parameters: {', '.join(unknown)}")
        return cls(**{**values, "fields": tuple(values.get("fields", FIELDS))})

    def to_dict(self) -> dict[str, Any]:
        return {**dataclasses.asdict(self), "fields": list(self.fields)}

    def resolved(self) -> TeacherParams:
        """These parameters with the defaults from settings filled in."""
        return dataclasses.replace(
            self, backbone=self.backbone or str(settings.BACKBONE_DIR), device=self.device or settings.ML_DEVICE
        )

    def model_config(self) -> CrossEncoderConfig:
        from modeling.ml.cross_encoder import CrossEncoderConfig

        return CrossEncoderConfig(
            backbone=self.backbone,
            fields=self.fields,
            max_length=self.max_length,
            head_hidden_size=self.head_hidden_size,
            dropout=self.dropout,
            lora_rank=self.lora_rank,
        )

    def train_config(self, checkpoint_dir: Path) -> TrainConfig:
        from modeling.ml.training import TrainConfig

        return TrainConfig(
            epochs=self.epochs,
            lr=self.lr,
            batch_size=self.batch_size,
            grad_accum=self.grad_accum,
            warmup_ratio=self.warmup_ratio,
            early_stopping_patience=self.early_stopping_patience,
            seed=self.seed,
            device=self.device,
            checkpoint_dir=str(checkpoint_dir),
        )


# Dataset rows → examples --------------------------------------------------------------


def pair_text(pair: Pair) -> PairText:
    """The teacher's view of a pair (its query and pin must be loaded)."""
    pin = pair.pin
    return PairText(
        query=pair.query.text,
        title=pin.title,
        description=pin.description,
        caption=pin.caption,
        link_title=pin.link_title,
        link_description=pin.link_description,
        board_titles=tuple(str(value) for value in pin.board_titles or () if str(value).strip()),
        engaged_queries=tuple(str(value) for value in pin.engaged_queries or () if str(value).strip()),
        language=pair.query.language,
    )


def examples_by_split(dataset: Dataset | int) -> dict[str, list[Example]]:
    """The dataset's items as labelled examples (level 1–5) per split, in item order."""
    from modeling.ml.training import Example

    result: dict[str, list[Example]] = {split: [] for split in SPLITS}
    items = DatasetItem.objects.filter(dataset=dataset).select_related("pair__query", "pair__pin").order_by("id")
    for item in items.iterator(chunk_size=2000):
        result[item.split].append(Example(pair_text(item.pair), item.level))
    return result


def item_counts(dataset: Dataset | int) -> dict[str, int]:
    """Items per split (every split present, 0 when empty)."""
    rows = DatasetItem.objects.filter(dataset=dataset).values("split").annotate(n=Count("id")).order_by()
    found = {row["split"]: row["n"] for row in rows}
    return {str(split): found.get(split, 0) for split in SPLITS}


def check_trainable(dataset_name: str, train_items: int) -> None:
    """Raise PipelineError when there is nothing to train on."""
    if train_items == 0:
        raise PipelineError(f"dataset {dataset_name!r} has no items in its train split; freeze one with training data")


# Starting a run ----------------------------------------------------------------------


def start_teacher_run(dataset: Dataset, params: TeacherParams, *, name: str = "", enqueue: bool = True) -> Run:
    """Register a teacher ModelVersion (status training) and its pending Run, and enqueue the
    run on the gpu queue after commit unless `enqueue` is False (the caller then runs it)."""
    params = params.resolved()
    with transaction.atomic():
        version = ModelVersion.objects.create(
            kind=ModelKind.TEACHER,
            name=name or f"teacher on {dataset.name}",
            backbone=params.backbone,
            config=params.to_dict(),
            dataset=dataset,
        )
        run = runs.create_run(RunKind.TEACHER_TRAINING, params.to_dict(), model_version=version)
        if enqueue:
            runs.enqueue_run(run)
    return run


def run_dir(run_id: int) -> Path:
    return Path(settings.ARTIFACTS_DIR) / "runs" / str(run_id)


def checkpoint_dir(run_id: int) -> Path:
    return run_dir(run_id) / "checkpoints"


def model_dir(version_id: int) -> Path:
    return Path(settings.ARTIFACTS_DIR) / "models" / str(version_id)


# Training a run ----------------------------------------------------------------------


class RunReporter:
    """Training callbacks that write to the run row: `__call__` records progress, heartbeat and
    the loss curve at most every `interval_s`; `should_stop` checks for a cancel at most as often.
    `lost` turns True when the row is no longer this worker's running run."""

    def __init__(
        self,
        run: Run,
        on_event: Callable[[ProgressEvent], None] | None = None,
        interval_s: float | None = None,
    ) -> None:
        self.run_id = run.pk
        self.worker = run.worker_hostname
        self.history: list[list[float]] = [list(point) for point in run.loss_history]
        self.on_event = on_event
        self.interval_s = PROGRESS_INTERVAL_S if interval_s is None else interval_s
        self.last_write = self.last_check = -math.inf
        self.first_event = True
        self.cancelled = False
        self.lost = False

    def __call__(self, event: ProgressEvent) -> None:
        if self.first_event:
            # A resumed attempt repeats the steps after the last checkpoint: drop their old points.
            self.history = [point for point in self.history if point[0] < event.step]
            self.first_event = False
        self.history.append([event.step, _finite(round(event.loss, 6))])
        if self.on_event is not None:
            self.on_event(event)
        if time.monotonic() - self.last_write >= self.interval_s or event.step == event.total_steps:
            self.write(event)

    def write(self, event: ProgressEvent) -> None:
        self.last_write = time.monotonic()
        message = (
            f"epoch {event.epoch}, step {event.step}/{event.total_steps}, loss {event.loss:.4f}, "
            f"{event.examples_per_s:.1f} examples/s, ETA {event.eta_s:.0f} s"
        )
        progress = event.step / max(event.total_steps, 1)
        if not runs.record_progress(self.run_id, progress, message, loss_history=self.history, worker=self.worker):
            self.lost = True

    def should_stop(self) -> bool:
        if self.lost or self.cancelled:
            return True
        if time.monotonic() - self.last_check >= self.interval_s:
            self.last_check = time.monotonic()
            self.cancelled = runs.cancel_requested(self.run_id)
        return self.cancelled


def train_teacher_run(
    run_id: int, *, worker: str = runs.LOCAL_WORKER, on_event: Callable[[ProgressEvent], None] | None = None
) -> Run:
    """Carry out a teacher run: claim it, train (resuming from its checkpoint), save the model,
    store its metrics. Safe to call again: a finished run, or one another live worker holds, is
    left alone. Errors mark the run failed; returns the run as it is afterwards."""
    run = runs.start_run(run_id, worker)
    if run is not None:
        try:
            _train_claimed(run, on_event)
        except Exception:
            logger.exception("teacher run %s failed", run_id)
            runs.fail_run(run_id, traceback.format_exc(limit=20))
    return Run.objects.get(pk=run_id)


def _train_claimed(run: Run, on_event: Callable[[ProgressEvent], None] | None) -> None:
    from modeling.ml.cross_encoder import CrossEncoder, load_tokenizer
    from modeling.ml.training import seed_everything, train

    params = TeacherParams.from_dict(run.params).resolved()
    version = _version_of(run)
    splits = examples_by_split(version.dataset_id)
    check_trainable(version.dataset.name, len(splits[Split.TRAIN]))
    if run.attempts == 1:
        # A first attempt starts from scratch whatever an older run with this id left behind.
        shutil.rmtree(checkpoint_dir(run.pk), ignore_errors=True)
    sizes = ", ".join(f"{len(splits[split])} {split}" for split in SPLITS)
    runs.add_log(run.pk, f"examples: {sizes}; backbone {params.backbone}; device {params.device}")
    tokenizer = load_tokenizer(params.backbone)
    seed_everything(params.seed)
    model = CrossEncoder(params.model_config())
    reporter = RunReporter(run, on_event)
    config = params.train_config(checkpoint_dir(run.pk))
    result = train(model, tokenizer, splits[Split.TRAIN], splits[Split.VAL], config, **_callbacks(reporter))
    if reporter.lost:
        logger.warning("teacher run %s was taken over or finished elsewhere; dropping this attempt", run.pk)
    elif result.stopped_reason == "cancelled":
        runs.mark_cancelled(run.pk)
    else:
        _finish_teacher(run, version, model, tokenizer, splits, result)


def _callbacks(reporter: RunReporter) -> dict[str, Any]:
    return {"on_progress": reporter, "should_stop": reporter.should_stop}


def _version_of(run: Run) -> ModelVersion:
    if run.model_version_id is None:
        raise PipelineError(f"run {run.pk} has no model version to train")
    return ModelVersion.objects.select_related("dataset").get(pk=run.model_version_id)


def _finish_teacher(
    run: Run,
    version: ModelVersion,
    model: CrossEncoder,
    tokenizer: Any,
    splits: Mapping[str, Sequence[Example]],
    result: TrainResult,
) -> None:
    runs.record_progress(run.pk, 1.0, "saving and evaluating", worker=run.worker_hostname)
    artifact = save_model_atomically(model, tokenizer, model_dir(version.pk))
    ModelVersion.objects.filter(pk=version.pk).update(artifact_path=str(artifact))
    metrics = {**teacher_metrics(model, tokenizer, splits), **training_summary(result)}
    summary = ", ".join(f"{split} accuracy {metrics[split].get('accuracy')}" for split in ("val", "test"))
    if runs.succeed_run(run.pk, f"done: {summary}", metrics=metrics):
        shutil.rmtree(checkpoint_dir(run.pk), ignore_errors=True)


def save_model_atomically(model: CrossEncoder, tokenizer: Any, out_dir: Path) -> Path:
    """Save into a temporary sibling folder, then swap it in, so readers never see half a model."""
    temporary = out_dir.with_name(f".{out_dir.name}.tmp-{os.getpid()}")
    shutil.rmtree(temporary, ignore_errors=True)
    model.save(temporary, tokenizer)
    shutil.rmtree(out_dir, ignore_errors=True)
    os.replace(temporary, out_dir)
    return out_dir


# Metrics ------------------------------------------------------------------------------


def split_metrics(probabilities: np.ndarray, labels: np.ndarray) -> dict[str, Any]:
    """Accuracy of the arg-max level and, per threshold t in 3/4/5, AUROC of the score
    Σ_{l≥t} p(l) against "label ≥ t" (None when only one class is present). `probabilities` is
    (n, 5) for levels 1–5; `labels` holds levels 1–5."""
    from sklearn.metrics import roc_auc_score

    metrics: dict[str, Any] = {"n": len(labels)}
    if len(labels) == 0:
        return metrics
    metrics["accuracy"] = float(np.mean(probabilities.argmax(axis=1) + 1 == labels))
    for threshold in THRESHOLDS:
        positive = labels >= threshold
        score = probabilities[:, threshold - 1 :].sum(axis=1)
        both = 0 < positive.sum() < len(labels)
        metrics[f"auroc_ge{threshold}"] = float(roc_auc_score(positive, score)) if both else None
    return metrics


def teacher_metrics(model: CrossEncoder, tokenizer: Any, splits: Mapping[str, Sequence[Example]]) -> dict[str, Any]:
    """`split_metrics` for the validation and test splits."""
    from modeling.ml.cross_encoder import predict

    metrics = {}
    for split in (Split.VAL, Split.TEST):
        examples = splits[split]
        probabilities = predict(model, tokenizer, [example.pair for example in examples])
        labels = np.array([example.label for example in examples], dtype=np.int64)
        metrics[str(split)] = split_metrics(probabilities, labels)
    metrics["train"] = {"n": len(splits[Split.TRAIN])}
    return metrics


def training_summary(result: TrainResult) -> dict[str, Any]:
    history = [{key: _finite(value) for key, value in dataclasses.asdict(record).items()} for record in result.history]
    return {
        "best_epoch": result.best_epoch,
        "best_val_accuracy": _finite(result.best_val_accuracy),
        "stopped_reason": result.stopped_reason,
        "steps": result.steps,
        "resumed_from_epoch": result.resumed_from_epoch,
        "history": history,
    }


def _finite(value: Any) -> Any:
    """JSON in PostgreSQL has no NaN or infinity: those become None."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value
