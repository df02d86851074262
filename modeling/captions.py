"""Caption Pins with an operator-provided image-to-text model, as a Run (kind `caption`).

Only Pins with an uploaded image file and an empty caption are captioned; Pins that only have a
remote `image_url` are skipped and counted (downloading images is out of scope here). The ML
core is imported inside `caption_pins`, so the web process can start runs without torch.
"""

from __future__ import annotations

import traceback
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.db.models import QuerySet

from annotation.models import Pin
from modeling import runs
from modeling.models import Run, RunKind

if TYPE_CHECKING:
    from modeling.ml.captioning import Captioner

CHUNK_SIZE = 16
DISABLED_MESSAGE = "captioning is disabled until CAPTION_MODEL_DIR points at a model folder"


class CaptioningDisabled(RuntimeError):
    """No captioning model folder is configured."""


def caption_model_dir() -> Path:
    """The configured model folder; raises CaptioningDisabled when the setting is empty."""
    configured = getattr(settings, "CAPTION_MODEL_DIR", None)
    if not configured or not str(configured).strip():
        raise CaptioningDisabled(DISABLED_MESSAGE)
    return Path(configured)


def uncaptioned_pins() -> QuerySet[Pin]:
    """Pins with an uploaded image file and no caption yet, oldest first."""
    return Pin.objects.exclude(image="").filter(caption="").order_by("id")


def remote_only_pins() -> QuerySet[Pin]:
    """Uncaptioned Pins whose image is only a remote URL (skipped)."""
    return Pin.objects.filter(image="", caption="").exclude(image_url="")


def start_caption_run(limit: int | None = None) -> Run:
    """Create and enqueue a captioning run over at most `limit` Pins (all when None)."""
    model_dir = caption_model_dir()
    run = runs.create_run(str(RunKind.CAPTION), {"limit": limit, "model_dir": str(model_dir)})
    runs.enqueue_run(run)
    return run


def caption_pins(run_id: int, worker: str = runs.LOCAL_WORKER) -> None:
    """Claim run `run_id` and caption its Pins chunk by chunk; the run ends succeeded, failed or
    cancelled. A run that cannot be claimed is left alone."""
    run = runs.start_run(run_id, worker)
    if run is None:
        return
    try:
        _caption_run(run, worker)
    except Exception:
        runs.fail_run(run_id, traceback.format_exc())


def _caption_run(run: Run, worker: str) -> None:
    from modeling.ml.captioning import Captioner
    from modeling.ml.device import resolve_device

    limit = run.params.get("limit")
    model_dir = run.params.get("model_dir") or str(caption_model_dir())
    pin_ids = list(uncaptioned_pins().values_list("id", flat=True)[:limit])
    remote = remote_only_pins().count()
    runs.record_progress(run.pk, 0.0, f"loading {model_dir}", worker=worker)
    captioner = Captioner.load(model_dir, resolve_device(settings.ML_DEVICE))
    done = unreadable = 0
    for chunk in _chunks(pin_ids, CHUNK_SIZE):
        if runs.cancel_requested(run.pk):
            runs.mark_cancelled(run.pk)
            return
        captioned, failed = _caption_chunk(captioner, chunk)
        done += captioned
        unreadable += failed
        message = f"captioned {done} of {len(pin_ids)} pins"
        if not runs.record_progress(run.pk, (done + unreadable) / len(pin_ids), message, worker=worker):
            return  # the run was taken from this worker or finished elsewhere
    summary = f"captioned {done} pins; skipped {remote} with only a remote image, {unreadable} unreadable"
    runs.add_log(run.pk, summary)
    runs.succeed_run(run.pk, summary, metrics=None)


def _chunks(ids: list[int], size: int) -> Iterator[list[int]]:
    for start in range(0, len(ids), size):
        yield ids[start : start + size]


def _caption_chunk(captioner: Captioner, ids: list[int]) -> tuple[int, int]:
    """Caption one chunk of Pins; returns (captioned, unreadable)."""
    pins = list(Pin.objects.filter(id__in=ids).order_by("id"))
    readable: list[Pin] = []
    images: list[Any] = []
    for pin in pins:
        image = _open_image(pin)
        if image is not None:
            readable.append(pin)
            images.append(image)
    for pin, text in zip(readable, captioner.caption(images), strict=True):
        pin.caption = text
    Pin.objects.bulk_update(readable, ["caption"])
    return len(readable), len(pins) - len(readable)


def _open_image(pin: Pin) -> Any:
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(pin.image.path) as image:
            return image.convert("RGB")
    except (OSError, UnidentifiedImageError, NotImplementedError, ValueError):
        return None
