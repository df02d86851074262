"""Model registry (ModelVersion), long-job rows (Run) and the worker heartbeat (WorkerPing)."""

from __future__ import annotations

from django.db import models
from django.db.models import Q
from django.utils import timezone


class WorkerPing(models.Model):
    """One heartbeat sent to a Celery queue; a worker consuming that queue fills `answered_at`."""

    queue = models.CharField(max_length=100, db_index=True)
    sent_at = models.DateTimeField(default=timezone.now)
    answered_at = models.DateTimeField(null=True, blank=True)
    worker_hostname = models.CharField(max_length=255, blank=True)

    class Meta:
        ordering = ["-sent_at", "-id"]
        indexes = [models.Index(fields=["queue", "-answered_at"], name="workerping_queue_answered")]

    def __str__(self) -> str:
        state = f"answered by {self.worker_hostname}" if self.answered_at else "unanswered"
        return f"ping to {self.queue} at {self.sent_at:%Y-%m-%d %H:%M:%S} ({state})"

    @property
    def latency_s(self) -> float | None:
        """Seconds from sending to answering, None while unanswered."""
        if self.answered_at is None:
            return None
        return (self.answered_at - self.sent_at).total_seconds()


class ModelKind(models.TextChoices):
    TEACHER = "teacher", "Teacher (cross-encoder)"
    STUDENT = "student", "Student (feature network)"


class ModelStatus(models.TextChoices):
    TRAINING = "training", "Training"
    READY = "ready", "Ready"
    FAILED = "failed", "Failed"


class ModelVersion(models.Model):
    """One trained (or training) model: what it was built from, how it scored, where its folder is."""

    kind = models.CharField(max_length=16, choices=ModelKind.choices)
    name = models.CharField(max_length=200, blank=True)
    backbone = models.CharField(max_length=1000, blank=True, help_text="Local Hugging Face folder it started from")
    config = models.JSONField(default=dict, blank=True)
    dataset = models.ForeignKey("annotation.Dataset", on_delete=models.PROTECT, related_name="model_versions")
    parent = models.ForeignKey(
        "self",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="children",
        help_text="A student's teacher",
    )
    metrics = models.JSONField(default=dict, blank=True)
    artifact_path = models.CharField(max_length=1000, blank=True)
    status = models.CharField(max_length=16, choices=ModelStatus.choices, default=ModelStatus.TRAINING)
    deployed = models.BooleanField(default=False)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.kind} #{self.pk} {self.name}".rstrip()


class RunKind(models.TextChoices):
    TEACHER_TRAINING = "teacher_training", "Teacher training"
    PSEUDO_LABEL = "pseudo_label", "Pseudo-labeling"
    DISTILL = "distill", "Distillation"
    EVALUATE = "evaluate", "Evaluation"
    CAPTION = "caption", "Captioning"


class RunStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    RUNNING = "running", "Running"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"
    CANCELLED = "cancelled", "Cancelled"


FINISHED_STATUSES = (RunStatus.SUCCEEDED, RunStatus.FAILED, RunStatus.CANCELLED)


class Run(models.Model):
    """A long job's state, written by the worker and polled by pages; transitions live in `modeling.runs`."""

    kind = models.CharField(max_length=32, choices=RunKind.choices)
    status = models.CharField(max_length=16, choices=RunStatus.choices, default=RunStatus.PENDING, db_index=True)
    progress = models.FloatField(default=0.0, help_text="0–1")
    message = models.CharField(max_length=500, blank=True)
    error = models.TextField(blank=True)
    log = models.TextField(blank=True, help_text="The last lines the run logged")
    loss_history = models.JSONField(default=list, blank=True, help_text="[[step, loss], …]")
    params = models.JSONField(default=dict, blank=True)
    model_version = models.ForeignKey(
        ModelVersion, on_delete=models.SET_NULL, null=True, blank=True, related_name="runs"
    )
    celery_task_id = models.CharField(max_length=255, blank=True)
    worker_hostname = models.CharField(max_length=255, blank=True, help_text="The worker that last claimed the run")
    attempts = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    cancel_requested = models.BooleanField(default=False)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(condition=Q(progress__gte=0.0, progress__lte=1.0), name="run_progress_0_to_1"),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} run #{self.pk} ({self.status})"

    @property
    def is_finished(self) -> bool:
        return self.status in FINISHED_STATUSES
