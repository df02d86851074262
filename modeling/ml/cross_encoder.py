"""The teacher: a Hugging Face backbone read over `query [SEP] pin text`, pooled, then an MLP → 5 logits.

Pooling is the first token for encoders (their `[CLS]`/`<s>` sees the whole pair) and the last
non-padding token for decoder LLMs (the only position that has attended to everything). A saved
model is one folder: `cross_encoder.json` (our config), the backbone's `config.json`,
`model.safetensors` (backbone and head) and the tokenizer files — loadable with no other files.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import load_model, save_model
from torch import nn

from modeling.ml.text import DEFAULT_BUDGETS, FIELDS, PairText, check_fields, encode_pairs

CONFIG_FILE = "cross_encoder.json"
WEIGHTS_FILE = "model.safetensors"
POOLINGS = ("first", "last", "auto")
LEVELS = np.arange(1, 6, dtype=np.float64)

Features = Mapping[str, Sequence[int]]


@dataclass
class CrossEncoderConfig:
    """How the teacher is built. `backbone` is a local Hugging Face folder; `pooling` "auto" means
    "last" for decoder (causal LM) backbones and "first" otherwise."""

    backbone: str
    pooling: str = "auto"
    head_hidden_size: int = 256
    dropout: float = 0.1
    num_labels: int = 5
    fields: tuple[str, ...] = FIELDS
    field_budgets: dict[str, int] = field(default_factory=lambda: dict(DEFAULT_BUDGETS))
    max_length: int = 256
    # LoRA (peft) on the backbone: 0 trains the whole backbone; > 0 freezes it and trains
    # rank-`lora_rank` adapters (on peft's default modules for the model type, or these).
    lora_rank: int = 0
    lora_alpha: int = 16
    lora_dropout: float = 0.05
    lora_target_modules: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        if self.pooling not in POOLINGS:
            raise ValueError(f"pooling must be one of {', '.join(POOLINGS)}; got {self.pooling!r}")
        self.fields = check_fields(self.fields)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> CrossEncoderConfig:
        known = {item.name for item in dataclasses.fields(cls)}
        settings = {key: value for key, value in values.items() if key in known}
        settings["fields"] = tuple(settings.get("fields", FIELDS))
        if settings.get("lora_target_modules") is not None:
            settings["lora_target_modules"] = tuple(settings["lora_target_modules"])
        return cls(**settings)


def is_decoder(backbone_config: Any) -> bool:
    """True for decoder-only LLM configs (Llama, GPT-2, …): causal LMs that are not masked LMs."""
    from transformers.models.auto.modeling_auto import (
        MODEL_FOR_CAUSAL_LM_MAPPING_NAMES,
        MODEL_FOR_MASKED_LM_MAPPING_NAMES,
    )

    if getattr(backbone_config, "is_encoder_decoder", False):
        return False
    if getattr(backbone_config, "is_decoder", False):
        return True
    model_type = getattr(backbone_config, "model_type", "")
    return model_type in MODEL_FOR_CAUSAL_LM_MAPPING_NAMES and model_type not in MODEL_FOR_MASKED_LM_MAPPING_NAMES


def add_lora(backbone: nn.Module, config: CrossEncoderConfig) -> nn.Module:
    """Insert LoRA adapters into `backbone` in place and freeze everything else in it."""
    from peft import LoraConfig, inject_adapter_in_model

    targets = list(config.lora_target_modules) if config.lora_target_modules else None
    lora = LoraConfig(
        r=config.lora_rank, lora_alpha=config.lora_alpha, lora_dropout=config.lora_dropout, target_modules=targets
    )
    adapted: nn.Module = inject_adapter_in_model(lora, backbone)
    for name, parameter in adapted.named_parameters():
        parameter.requires_grad = "lora_" in name
    return adapted


def resolve_pooling(pooling: str, backbone_config: Any) -> str:
    if pooling != "auto":
        return pooling
    return "last" if is_decoder(backbone_config) else "first"


def pool(hidden: torch.Tensor, attention_mask: torch.Tensor, mode: str) -> torch.Tensor:
    """(batch, length, hidden) → (batch, hidden): position 0, or the last position whose mask is 1
    (right or left padding alike)."""
    if mode == "first":
        return hidden[:, 0]
    positions = torch.arange(attention_mask.shape[1], device=attention_mask.device)
    last = (attention_mask.long() * positions).argmax(dim=1)
    return hidden[torch.arange(hidden.shape[0], device=hidden.device), last]


class CrossEncoder(nn.Module):
    """Backbone + pooling + MLP head; `forward` returns (batch, num_labels) logits."""

    def __init__(self, config: CrossEncoderConfig, backbone: nn.Module | None = None) -> None:
        super().__init__()
        from transformers import AutoModel

        self.config = config
        loaded: Any = backbone if backbone is not None else AutoModel.from_pretrained(config.backbone)
        if config.lora_rank > 0:
            loaded = add_lora(loaded, config)
        self.backbone = loaded
        self.pooling = resolve_pooling(config.pooling, loaded.config)
        hidden = int(loaded.config.hidden_size)
        self.head = nn.Sequential(
            nn.Dropout(config.dropout),
            nn.Linear(hidden, config.head_hidden_size),
            nn.GELU(),
            nn.Dropout(config.dropout),
            nn.Linear(config.head_hidden_size, config.num_labels),
        )

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor,
        token_type_ids: torch.Tensor | None = None,
    ) -> torch.Tensor:
        inputs: dict[str, torch.Tensor] = {"input_ids": input_ids, "attention_mask": attention_mask}
        if token_type_ids is not None:
            inputs["token_type_ids"] = token_type_ids
        if self.pooling == "last":
            # Count positions from the first real token, so left padding does not shift them.
            inputs["position_ids"] = (attention_mask.long().cumsum(dim=1) - 1).clamp(min=0)
        hidden = self.backbone(**inputs).last_hidden_state
        pooled = pool(hidden, attention_mask, self.pooling)
        logits: torch.Tensor = self.head(pooled.to(next(self.head.parameters()).dtype))
        return logits

    def save(self, out_dir: Path | str, tokenizer: Any) -> Path:
        """Write the model folder (config, backbone config, weights, tokenizer); returns it."""
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        (out / CONFIG_FILE).write_text(json.dumps(self.config.to_dict(), indent=2) + "\n")
        self.backbone.config.save_pretrained(str(out))
        save_model(self, str(out / WEIGHTS_FILE))
        tokenizer.save_pretrained(str(out))
        return out

    @classmethod
    def load(cls, model_dir: Path | str, device: torch.device | str = "cpu") -> CrossEncoder:
        """A model saved by `save`, in eval mode on `device`."""
        from transformers import AutoConfig, AutoModel

        folder = Path(model_dir)
        config = CrossEncoderConfig.from_dict(json.loads((folder / CONFIG_FILE).read_text()))
        backbone = AutoModel.from_config(AutoConfig.from_pretrained(str(folder)))  # type: ignore[no-untyped-call]
        model = cls(config, backbone)
        load_model(model, str(folder / WEIGHTS_FILE), device=str(device))
        return model.to(device).eval()


def load_tokenizer(model_dir: Path | str) -> Any:
    """The tokenizer saved in a model (or backbone) folder; padding on its own preferred side."""
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(model_dir))


def pad_batch(features: Sequence[Features], pad_id: int, side: str = "right") -> dict[str, torch.Tensor]:
    """Pad encoded pairs to the longest in the batch (dynamic padding); `side` "left" or "right"."""
    longest = max(len(item["input_ids"]) for item in features)
    batch: dict[str, torch.Tensor] = {}
    for key in features[0]:
        fill = pad_id if key == "input_ids" else 0
        rows = []
        for item in features:
            values = list(item[key])
            padding = [fill] * (longest - len(values))
            rows.append(padding + values if side == "left" else values + padding)
        batch[key] = torch.tensor(rows, dtype=torch.long)
    return batch


def split_features(encoded: Mapping[str, list[list[int]]]) -> list[dict[str, list[int]]]:
    """`encode_pairs` output (columns) → one dict per pair."""
    keys = list(encoded)
    return [dict(zip(keys, row, strict=True)) for row in zip(*(encoded[key] for key in keys), strict=True)]


def encode_for(model: CrossEncoder, tokenizer: Any, pairs: Sequence[PairText]) -> list[dict[str, list[int]]]:
    """Encode pairs with the model's own fields, budgets and maximum length."""
    config = model.config
    encoded = encode_pairs(
        tokenizer, pairs, fields=config.fields, field_budgets=config.field_budgets, max_length=config.max_length
    )
    return split_features(encoded)


def padding_of(tokenizer: Any) -> tuple[int, str]:
    """(pad id, side) for a tokenizer; decoders without a pad token pad with EOS."""
    pad_id = tokenizer.pad_token_id
    if pad_id is None:
        pad_id = tokenizer.eos_token_id if tokenizer.eos_token_id is not None else 0
    return int(pad_id), str(tokenizer.padding_side)


def logits_in_order(model: CrossEncoder, features: Sequence[Features], tokenizer: Any, batch_size: int) -> np.ndarray:
    """(n, num_labels) float32 logits in input order; batches are formed from length-sorted inputs
    so each pads little. Runs in eval mode under `torch.inference_mode`."""
    pad_id, side = padding_of(tokenizer)
    order = sorted(range(len(features)), key=lambda index: len(features[index]["input_ids"]))
    out = np.zeros((len(features), model.config.num_labels), dtype=np.float32)
    was_training = model.training
    model.eval()
    try:
        with torch.inference_mode():
            for start in range(0, len(order), batch_size):
                chunk = order[start : start + batch_size]
                batch = pad_batch([features[index] for index in chunk], pad_id, side)
                logits = model(**{key: value.to(model.device) for key, value in batch.items()})
                out[chunk] = logits.float().cpu().numpy()
    finally:
        model.train(was_training)
    return out


def softmax(logits: np.ndarray) -> np.ndarray:
    shifted = np.exp(logits - logits.max(axis=1, keepdims=True))
    result: np.ndarray = shifted / shifted.sum(axis=1, keepdims=True)
    return result


def predict(model: CrossEncoder, tokenizer: Any, pairs: Sequence[PairText], batch_size: int = 32) -> np.ndarray:
    """(n, 5) probabilities of levels 1–5 (column 0 is level 1), rows in the order of `pairs`."""
    if not pairs:
        return np.zeros((0, model.config.num_labels), dtype=np.float32)
    return softmax(logits_in_order(model, encode_for(model, tokenizer, pairs), tokenizer, batch_size))


def expected_relevance(probabilities: np.ndarray) -> np.ndarray:
    """Σ l·p(l) per row for (n, 5) probabilities of levels 1–5: scores in [1, 5], shape (n,)."""
    result: np.ndarray = probabilities @ LEVELS[: probabilities.shape[1]]
    return result
