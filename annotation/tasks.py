"""Celery tasks of the annotation app: thin adapters that take ids and call one plain function.

They run on the default `celery` queue (CELERY_TASK_ROUTES sends only modeling.tasks.* to `gpu`).
"""

from __future__ import annotations

from celery import shared_task
from django.conf import settings
from django.core.cache import cache

from annotation import quality

# A burst of judgments asks for one refresh per window, which runs at the window's end and so
# also covers the judgments that arrived during it. Settings may override it (tests use 0).
DEFAULT_REFRESH_DEBOUNCE_S = 30


@shared_task(ignore_result=True)
def refresh_quality(campaign_id: int) -> None:
    """Recompute consensus, gold standings and the quality snapshot of one campaign (idempotent)."""
    quality.refresh_quality(campaign_id)


def refresh_quality_soon(campaign_id: int) -> bool:
    """Enqueue `refresh_quality` to run in a debounce window unless one is already waiting.

    Returns whether it enqueued. The guard is a cache key that lives as long as the window, so
    each process enqueues at most once per campaign per window (a cache shared by all web
    processes makes that once in all).
    """
    delay = int(getattr(settings, "QUALITY_REFRESH_DEBOUNCE_S", DEFAULT_REFRESH_DEBOUNCE_S))
    if delay > 0 and not cache.add(f"annotation:quality-refresh:{campaign_id}", True, timeout=delay):
        return False
    refresh_quality.apply_async((campaign_id,), countdown=delay)
    return True
