"""Captioning: the real transformers path with a tiny random BLIP, and Pins captioned as a Run."""

from __future__ import annotations

import io
import time
from pathlib import Path
from typing import Any

import pytest
import torch
from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import Image
from transformers import BlipConfig, BlipForConditionalGeneration, BlipImageProcessorPil, BlipProcessor

from annotation.models import Pin
from modeling import captions
from modeling.ml.captioning import Captioner
from modeling.models import Run, RunKind, RunStatus
from tests.modeling.tiny_models import encoder_tokenizer
from tests.worker_process import WorkerProcess


@pytest.fixture(scope="module")
def tiny_blip_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 1-layer, 32-wide BLIP captioner with a word-level BERT tokenizer, saved as a folder."""
    out_dir = tmp_path_factory.mktemp("blip")
    tokenizer = encoder_tokenizer()
    vision = {"hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 1, "num_attention_heads": 2}
    text = {
        "vocab_size": len(tokenizer),
        "hidden_size": 32,
        "intermediate_size": 64,
        "num_hidden_layers": 1,
        "num_attention_heads": 2,
        "max_position_embeddings": 64,
        "encoder_hidden_size": 32,
        "pad_token_id": tokenizer.pad_token_id,
        "bos_token_id": tokenizer.cls_token_id,
        "sep_token_id": tokenizer.sep_token_id,
        "eos_token_id": tokenizer.sep_token_id,
    }
    config = BlipConfig(
        vision_config={**vision, "image_size": 32, "patch_size": 16}, text_config=text, projection_dim=32
    )
    torch.manual_seed(0)
    BlipForConditionalGeneration(config).save_pretrained(str(out_dir))
    image_processor = BlipImageProcessorPil(size={"height": 32, "width": 32})
    processor = BlipProcessor(image_processor=image_processor, tokenizer=tokenizer)  # type: ignore[no-untyped-call]
    processor.save_pretrained(str(out_dir))
    return out_dir


def png_bytes(color: tuple[int, int, int], size: tuple[int, int] = (40, 30)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, color).save(buffer, format="PNG")
    return buffer.getvalue()


def test_captioner_loads_a_blip_folder_and_captions_a_batch(tiny_blip_dir: Path) -> None:
    captioner = Captioner.load(tiny_blip_dir, "cpu")
    images = [Image.new("RGB", (40, 30), (255, 0, 0)), Image.new("L", (20, 50), 128)]

    texts = captioner.caption(images, max_new_tokens=5)

    assert type(captioner.model).__name__ == "BlipForConditionalGeneration"
    assert len(texts) == 2
    assert all(isinstance(text, str) and text for text in texts)
    assert all(len(text.split()) <= 5 for text in texts)
    assert captioner.caption([]) == []


def test_captioner_load_names_a_folder_without_a_model(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="config.json"):
        Captioner.load(tmp_path, "cpu")


@pytest.mark.django_db
def test_caption_run_writes_captions_on_pins_with_uploaded_images(
    tiny_blip_dir: Path, settings: Any, tmp_path: Path
) -> None:
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.CAPTION_MODEL_DIR = tiny_blip_dir
    settings.ML_DEVICE = "cpu"
    uploaded = [
        Pin.objects.create(external_id=f"up-{i}", image=SimpleUploadedFile(f"p{i}.png", png_bytes((i * 40, 0, 0))))
        for i in range(3)
    ]
    remote = Pin.objects.create(external_id="remote", image_url="https://example.com/a.jpg")
    kept = Pin.objects.create(
        external_id="kept", caption="hand written", image=SimpleUploadedFile("k.png", png_bytes((0, 9, 0)))
    )
    broken = Pin.objects.create(external_id="broken", image=SimpleUploadedFile("b.png", b"not an image"))

    run = captions.start_caption_run()
    assert run.kind == RunKind.CAPTION and run.status == RunStatus.PENDING and run.celery_task_id
    captions.caption_pins(run.pk)

    run.refresh_from_db()
    assert run.status == RunStatus.SUCCEEDED, run.error
    assert run.progress == 1.0
    assert "captioned 3 pins" in run.message and "1 with only a remote image" in run.message
    assert "1 unreadable" in run.message
    for pin in uploaded:
        pin.refresh_from_db()
        assert isinstance(pin.caption, str) and pin.caption.strip()
    for pin, expected in ((remote, ""), (kept, "hand written"), (broken, "")):
        pin.refresh_from_db()
        assert pin.caption == expected


@pytest.mark.django_db
def test_caption_run_respects_the_limit(tiny_blip_dir: Path, settings: Any, tmp_path: Path) -> None:
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.CAPTION_MODEL_DIR = tiny_blip_dir
    settings.ML_DEVICE = "cpu"
    for i in range(3):
        Pin.objects.create(external_id=f"up-{i}", image=SimpleUploadedFile(f"p{i}.png", png_bytes((0, 0, i))))

    run = captions.start_caption_run(limit=2)
    captions.caption_pins(run.pk)

    run.refresh_from_db()
    assert run.status == RunStatus.SUCCEEDED, run.error
    assert Pin.objects.exclude(caption="").count() == 2


@pytest.mark.django_db
def test_a_missing_model_folder_fails_the_run_with_the_reason(settings: Any, tmp_path: Path) -> None:
    settings.CAPTION_MODEL_DIR = tmp_path / "nowhere"
    settings.ML_DEVICE = "cpu"

    run = captions.start_caption_run()
    captions.caption_pins(run.pk)

    run.refresh_from_db()
    assert run.status == RunStatus.FAILED
    assert "config.json missing" in run.error


@pytest.mark.django_db
@pytest.mark.parametrize("configured", [None, ""])
def test_disabled_captioning_raises_a_clear_error_and_creates_no_run(settings: Any, configured: Any) -> None:
    settings.CAPTION_MODEL_DIR = configured

    with pytest.raises(captions.CaptioningDisabled, match="disabled until CAPTION_MODEL_DIR points at a model"):
        captions.start_caption_run()

    assert not Run.objects.exists()


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_a_real_worker_captions_an_enqueued_run(
    celery_worker_process: WorkerProcess, tiny_blip_dir: Path, settings: Any
) -> None:
    # The worker reads images under its own MEDIA_ROOT, the default both processes share; the run
    # carries the model folder, so the worker needs no CAPTION_MODEL_DIR of its own.
    settings.CAPTION_MODEL_DIR = tiny_blip_dir
    pins = [
        Pin.objects.create(external_id=f"w-{i}", image=SimpleUploadedFile(f"w{i}.png", png_bytes((0, i * 60, 0))))
        for i in range(3)
    ]
    try:
        run = captions.start_caption_run()
        deadline = time.monotonic() + 60
        while not run.is_finished:
            assert time.monotonic() < deadline, f"run still {run.status}:\n{celery_worker_process.log()}"
            time.sleep(0.05)
            run.refresh_from_db()
        assert run.status == RunStatus.SUCCEEDED, run.error + celery_worker_process.log()
        assert run.progress == 1.0
        assert run.worker_hostname.startswith(celery_worker_process.hostname + "@")
        assert all(pin.caption.strip() for pin in Pin.objects.filter(pk__in=[pin.pk for pin in pins]))
    finally:
        for pin in pins:
            pin.image.delete(save=False)
