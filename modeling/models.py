"""Model registry and run rows; for now the worker heartbeat that shows queues are consumed."""

from __future__ import annotations

from django.db import models
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
