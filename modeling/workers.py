"""Worker heartbeat: are Celery workers consuming each queue?

`send_pings` puts one WorkerPing row per queue and enqueues a `ping` task to that queue; a
worker that consumes the queue marks the row answered. `queue_status` reads the rows back.
"""

from __future__ import annotations

import time
from datetime import timedelta

from django.db import transaction
from django.utils import timezone

from modeling.models import WorkerPing

# "celery" takes light work (imports, evaluation); "gpu" takes training and labeling.
QUEUES = ("celery", "gpu")


def send_pings(queues: tuple[str, ...] = QUEUES) -> list[WorkerPing]:
    """Create one ping row per queue and enqueue its task once the rows are committed."""
    from modeling.tasks import ping

    with transaction.atomic():
        pings = [WorkerPing.objects.create(queue=queue) for queue in queues]
        for row in pings:
            transaction.on_commit(lambda row=row: ping.apply_async(args=(row.pk,), queue=row.queue))
    return pings


def answer_ping(ping_id: int, hostname: str) -> bool:
    """Mark a ping answered by `hostname`; False when it was already answered or is gone."""
    unanswered = WorkerPing.objects.filter(pk=ping_id, answered_at__isnull=True)
    return unanswered.update(answered_at=timezone.now(), worker_hostname=hostname[:255]) == 1


def wait_for_answers(pings: list[WorkerPing], timeout_s: float, poll_s: float = 0.2) -> list[WorkerPing]:
    """Re-read `pings` until all are answered or `timeout_s` seconds pass; returns fresh rows."""
    ids = [row.pk for row in pings]
    deadline = time.monotonic() + timeout_s
    while True:
        fresh = list(WorkerPing.objects.filter(pk__in=ids).order_by("pk"))
        if all(row.answered_at for row in fresh) or time.monotonic() >= deadline:
            return fresh
        time.sleep(poll_s)


def queue_status(max_age_s: float = 300, queues: tuple[str, ...] = QUEUES) -> dict[str, dict[str, object]]:
    """Per queue: `online` when a ping was answered within `max_age_s` seconds, with when,
    by which worker and how many seconds the answer took."""
    since = timezone.now() - timedelta(seconds=max_age_s)
    status: dict[str, dict[str, object]] = {}
    for queue in queues:
        latest = WorkerPing.objects.filter(queue=queue, answered_at__isnull=False).order_by("-answered_at").first()
        online = latest is not None and latest.answered_at is not None and latest.answered_at >= since
        status[queue] = {
            "online": online,
            "answered_at": latest.answered_at.isoformat() if latest and latest.answered_at else None,
            "worker": latest.worker_hostname if latest else "",
            "latency_s": latest.latency_s if latest else None,
        }
    return status
