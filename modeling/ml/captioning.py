"""Image captioning with a local transformers image-to-text folder (BLIP-class); no Django here."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from PIL import Image
from transformers import AutoModelForImageTextToText, AutoProcessor, BlipForConditionalGeneration

MAX_NEW_TOKENS = 30


@dataclass
class Captioner:
    """A processor and a captioning model on one device."""

    processor: Any
    model: Any
    device: torch.device
    max_new_tokens: int = MAX_NEW_TOKENS

    @classmethod
    def load(cls, model_dir: Path | str, device: torch.device | str = "cpu") -> Captioner:
        """Load the folder's processor and model; BLIP folders get `BlipForConditionalGeneration`."""
        folder = Path(model_dir)
        if not (folder / "config.json").is_file():
            raise FileNotFoundError(f"no captioning model in {folder} (config.json missing)")
        processor = AutoProcessor.from_pretrained(str(folder))  # type: ignore[no-untyped-call]
        model = _load_model(folder)
        target = torch.device(device)
        model.to(target)
        model.eval()
        return cls(processor=processor, model=model, device=target)

    def caption(self, images: list[Image.Image], *, max_new_tokens: int | None = None) -> list[str]:
        """One caption per image, generated as one batch."""
        if not images:
            return []
        rgb = [image.convert("RGB") for image in images]
        inputs = self.processor(images=rgb, return_tensors="pt").to(self.device)
        with torch.inference_mode():
            tokens = self.model.generate(**inputs, max_new_tokens=max_new_tokens or self.max_new_tokens)
        texts: list[str] = self.processor.batch_decode(tokens, skip_special_tokens=True)
        return [text.strip() for text in texts]


def _load_model(folder: Path) -> Any:
    try:
        return BlipForConditionalGeneration.from_pretrained(str(folder))
    except (ValueError, OSError, KeyError):
        return AutoModelForImageTextToText.from_pretrained(str(folder))
