"""Celery tasks: thin adapters that take ids and call one plain function.

Nothing here imports torch at module level: the web process imports this module to enqueue
tasks. Tasks that need the ML core import `modeling.ml` inside their bodies.
"""

from __future__ import annotations

from celery import Task, shared_task

from modeling import workers


@shared_task(bind=True, ignore_result=True)
def ping(self: Task, ping_id: int) -> None:
    """Answer a heartbeat; running it twice keeps the first answer."""
    workers.answer_ping(ping_id, self.request.hostname or "")
