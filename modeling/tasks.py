"""Celery tasks: thin adapters that take ids and call one plain function.

Nothing here imports torch at module level: the web process imports this module to enqueue
tasks. Tasks that need the ML core import `modeling.ml` inside their bodies.
"""

from __future__ import annotations

import logging
from typing import Any

from celery import Task, shared_task
from celery.signals import worker_ready

from modeling import runs, workers

logger = logging.getLogger(__name__)


@shared_task(bind=True, ignore_result=True)
def ping(self: Task, ping_id: int) -> None:
    """Answer a heartbeat; running it twice keeps the first answer."""
    workers.answer_ping(ping_id, self.request.hostname or "")


@shared_task(bind=True, ignore_result=True, acks_late=True, reject_on_worker_lost=True)
def train_teacher(self: Task, run_id: int) -> None:
    """Train the teacher of run `run_id`; a finished run or one held by a live worker is left alone."""
    from modeling import pipelines

    pipelines.train_teacher_run(run_id, worker=self.request.hostname or runs.LOCAL_WORKER)


@shared_task(bind=True, ignore_result=True, acks_late=True, reject_on_worker_lost=True)
def caption_pins(self: Task, run_id: int) -> None:
    """Caption the Pins of run `run_id`; a finished run or one held by a live worker is left alone."""
    from modeling import captions

    captions.caption_pins(run_id, worker=self.request.hostname or runs.LOCAL_WORKER)


@worker_ready.connect
def recover_runs_on_start(sender: Any = None, **kwargs: Any) -> None:
    """Re-enqueue runs this worker held before a restart and runs whose worker went silent: the
    filesystem broker never redelivers a killed worker's message (see `modeling.runs`)."""
    try:
        recovered = runs.recover_stale_runs(getattr(sender, "hostname", "") or "")
    except Exception:  # a worker must start even when the database is not reachable yet
        logger.exception("could not look for interrupted runs")
        return
    if recovered:
        logger.warning("re-enqueued interrupted runs %s", recovered)
