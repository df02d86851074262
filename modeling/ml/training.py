"""Fine-tuning the cross-encoder: AdamW, linear warmup and decay, length-grouped dynamic padding,
gradient accumulation, early stopping on validation accuracy, per-epoch checkpoints and resume.

A checkpoint is written at the end of every epoch (`checkpoint.pt`: model, optimizer, scheduler,
RNG states, counters, history) and the best epoch's weights (`best.safetensors`), each to a
temporary file renamed into place, so a killed process leaves the previous checkpoint intact.
Calling `train` again with the same `checkpoint_dir` continues after the last finished epoch;
batches are a pure function of (seed, epoch), so the resumed run sees what an uninterrupted one
would have seen.
"""

from __future__ import annotations

import dataclasses
import math
import os
import random
import time
from collections.abc import Callable, Sequence
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import load_model, save_model
from torch import nn

from modeling.ml.cross_encoder import CrossEncoder, encode_for, logits_in_order, pad_batch, padding_of, softmax
from modeling.ml.device import resolve_device
from modeling.ml.text import PairText

CHECKPOINT_FILE = "checkpoint.pt"
BEST_FILE = "best.safetensors"
# Examples per shuffled mega-batch, in batches: sorted by length inside, so batches pad little
# while the order across mega-batches stays random.
MEGA_BATCHES = 32


@dataclass(frozen=True)
class Example:
    """One graded pair; `label` is the level 1–5."""

    pair: PairText
    label: int


@dataclass
class TrainConfig:
    epochs: int = 3
    lr: float = 2e-5
    batch_size: int = 16
    grad_accum: int = 1
    warmup_ratio: float = 0.1
    weight_decay: float = 0.01
    class_weights: tuple[float, ...] | None = None
    label_smoothing: float = 0.0
    seed: int = 0
    early_stopping_patience: int | None = 2
    max_steps: int | None = None
    max_grad_norm: float = 1.0
    eval_batch_size: int = 64
    device: str = "auto"
    bf16: bool = True  # autocast, CUDA only
    gradient_checkpointing: bool = True  # CUDA only
    checkpoint_dir: str | None = None


@dataclass(frozen=True)
class ProgressEvent:
    """After each optimizer step: `loss` is the mean training loss of that step."""

    step: int
    total_steps: int
    epoch: int
    loss: float
    examples_per_s: float
    eta_s: float


@dataclass
class EpochRecord:
    epoch: int  # 1-based
    step: int  # optimizer steps done at the end of the epoch
    train_loss: float
    val_accuracy: float | None
    val_loss: float | None


@dataclass
class TrainResult:
    best_val_accuracy: float | None
    history: list[EpochRecord]
    stopped_reason: str  # "completed", "early_stopping", "max_steps" or "cancelled"
    steps: int
    best_epoch: int | None
    resumed_from_epoch: int = 0


@dataclass
class _State:
    epoch: int = 0  # epochs finished
    step: int = 0
    history: list[EpochRecord] = field(default_factory=list)
    best_accuracy: float | None = None
    best_epoch: int | None = None
    bad_epochs: int = 0


class _Cancelled(Exception):
    pass


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def length_grouped_batches(lengths: Sequence[int], batch_size: int, seed: int, epoch: int) -> list[list[int]]:
    """Indices in batches for one epoch: shuffle, sort by length within mega-batches, cut into
    batches, shuffle the batch order. Deterministic in (seed, epoch)."""
    generator = np.random.default_rng([seed, epoch])
    order = generator.permutation(len(lengths)).tolist()
    mega = batch_size * MEGA_BATCHES
    batches: list[list[int]] = []
    for start in range(0, len(order), mega):
        group = sorted(order[start : start + mega], key=lambda index: -lengths[index])
        batches += [group[i : i + batch_size] for i in range(0, len(group), batch_size)]
    return [batches[index] for index in generator.permutation(len(batches)).tolist()]


def steps_per_epoch(n_examples: int, config: TrainConfig) -> int:
    return math.ceil(math.ceil(n_examples / config.batch_size) / config.grad_accum)


def total_steps(n_examples: int, config: TrainConfig) -> int:
    steps = steps_per_epoch(n_examples, config) * config.epochs
    return min(steps, config.max_steps) if config.max_steps is not None else steps


def warmup_then_decay(total: int, warmup_ratio: float) -> Callable[[int], float]:
    """Learning-rate factor per step: linear 0 → 1 over the warmup, then linear 1 → 0."""
    warmup = int(total * warmup_ratio)

    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / (warmup + 1)
        return max(0.0, (total - step) / max(1, total - warmup))

    return factor


def make_optimizer(model: nn.Module, config: TrainConfig) -> torch.optim.AdamW:
    """AdamW over trainable parameters; biases and norms (1-d tensors) get no weight decay."""
    trainable = [param for param in model.parameters() if param.requires_grad]
    decayed = [param for param in trainable if param.ndim >= 2]
    plain = [param for param in trainable if param.ndim < 2]
    groups = [{"params": decayed, "weight_decay": config.weight_decay}, {"params": plain, "weight_decay": 0.0}]
    return torch.optim.AdamW(groups, lr=config.lr)


def _fingerprint(config: TrainConfig, n_train: int) -> dict[str, Any]:
    values = dataclasses.asdict(config)
    for key in ("checkpoint_dir", "device", "eval_batch_size"):
        values.pop(key)
    values["n_train"] = n_train
    return values


def _atomic_write(path: Path, write: Callable[[str], None]) -> None:
    temporary = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    write(str(temporary))
    os.replace(temporary, path)


def _rng_states() -> dict[str, Any]:
    states: dict[str, Any] = {
        "python": random.getstate(),
        "numpy": np.random.get_state(),
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        states["cuda"] = torch.cuda.get_rng_state_all()
    return states


def _restore_rng(states: dict[str, Any]) -> None:
    random.setstate(states["python"])
    np.random.set_state(states["numpy"])
    torch.set_rng_state(states["torch"])
    if "cuda" in states and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(states["cuda"])


class _Trainer:
    def __init__(
        self,
        model: CrossEncoder,
        tokenizer: Any,
        train_examples: Sequence[Example],
        val_examples: Sequence[Example],
        config: TrainConfig,
        on_progress: Callable[[ProgressEvent], None] | None,
        should_stop: Callable[[], bool] | None,
    ) -> None:
        self.model = model
        self.tokenizer = tokenizer
        self.config = config
        self.device = resolve_device(config.device)
        self.on_progress = on_progress or (lambda event: None)
        self.should_stop = should_stop or (lambda: False)
        self.train_features = encode_for(model, tokenizer, [example.pair for example in train_examples])
        self.train_labels = torch.tensor([example.label - 1 for example in train_examples], dtype=torch.long)
        self.val_features = encode_for(model, tokenizer, [example.pair for example in val_examples])
        self.val_labels = np.array([example.label - 1 for example in val_examples], dtype=np.int64)
        self.lengths = [len(item["input_ids"]) for item in self.train_features]
        self.total = total_steps(len(train_examples), config)
        self.pad_id, self.side = padding_of(tokenizer)
        self.checkpoint_dir = Path(config.checkpoint_dir) if config.checkpoint_dir else None
        self.fingerprint = _fingerprint(config, len(train_examples))
        weights = torch.tensor(config.class_weights, dtype=torch.float32) if config.class_weights else None
        self.class_weights = weights.to(self.device) if weights is not None else None
        self.state = _State()
        self.best_weights: dict[str, torch.Tensor] | None = None

    def prepare(self) -> None:
        seed_everything(self.config.seed)
        self.model.to(self.device).train()
        on_cuda = self.device.type == "cuda"
        if on_cuda and self.config.gradient_checkpointing and self.model.backbone.supports_gradient_checkpointing:
            self.model.backbone.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
        self.optimizer = make_optimizer(self.model, self.config)
        factor = warmup_then_decay(self.total, self.config.warmup_ratio)
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(self.optimizer, factor)
        self.autocast: Any = (
            torch.autocast("cuda", dtype=torch.bfloat16) if on_cuda and self.config.bf16 else nullcontext()
        )
        self.resume()

    def resume(self) -> None:
        if self.checkpoint_dir is None or not (self.checkpoint_dir / CHECKPOINT_FILE).is_file():
            return
        saved = torch.load(self.checkpoint_dir / CHECKPOINT_FILE, map_location=self.device, weights_only=False)
        if saved["fingerprint"] != self.fingerprint:
            raise ValueError(f"{self.checkpoint_dir} holds a checkpoint of a different training run")
        self.model.load_state_dict(saved["model"])
        self.optimizer.load_state_dict(saved["optimizer"])
        self.scheduler.load_state_dict(saved["scheduler"])
        self.state = saved["state"]
        _restore_rng(saved["rng"])
        if (self.checkpoint_dir / BEST_FILE).is_file():
            self.best_weights = _load_weights(self.model, self.checkpoint_dir / BEST_FILE)

    def run(self) -> TrainResult:
        self.prepare()
        resumed_from = self.state.epoch
        reason = "completed"
        self.started = time.monotonic()
        self.examples_seen = 0
        self.steps_this_call = 0
        try:
            reason = self.epochs()
        except _Cancelled:
            reason = "cancelled"
        if reason != "cancelled" and self.best_weights is not None:
            self.model.load_state_dict(self.best_weights)
        state = self.state
        return TrainResult(state.best_accuracy, state.history, reason, state.step, state.best_epoch, resumed_from)

    def epochs(self) -> str:
        while self.state.epoch < self.config.epochs:
            if self.state.step >= self.total:
                return "max_steps"
            train_loss = self.train_epoch(self.state.epoch + 1)
            if self.finish_epoch(train_loss):
                return "early_stopping"
        return "max_steps" if self.config.max_steps is not None and self.state.step >= self.total else "completed"

    def train_epoch(self, epoch: int) -> float:
        batches = length_grouped_batches(self.lengths, self.config.batch_size, self.config.seed, epoch)
        groups = [batches[i : i + self.config.grad_accum] for i in range(0, len(batches), self.config.grad_accum)]
        losses = []
        for group in groups:
            if self.state.step >= self.total:
                break
            if self.should_stop():
                raise _Cancelled
            losses.append(self.optimizer_step(group, epoch))
        return float(np.mean(losses)) if losses else float("nan")

    def optimizer_step(self, group: list[list[int]], epoch: int) -> float:
        total_loss = 0.0
        for indices in group:
            loss = self.loss_of(indices) / len(group)
            loss.backward()  # type: ignore[no-untyped-call]
            total_loss += float(loss.detach())
            self.examples_seen += len(indices)
        torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.config.max_grad_norm)
        self.optimizer.step()
        self.scheduler.step()
        self.optimizer.zero_grad(set_to_none=True)
        self.state.step += 1
        self.steps_this_call += 1
        self.report(epoch, total_loss)
        return total_loss

    def loss_of(self, indices: list[int]) -> torch.Tensor:
        batch = pad_batch([self.train_features[index] for index in indices], self.pad_id, self.side)
        with self.autocast:
            logits = self.model(**{key: value.to(self.device) for key, value in batch.items()})
        targets = self.train_labels[indices].to(self.device)
        return nn.functional.cross_entropy(
            logits.float(), targets, weight=self.class_weights, label_smoothing=self.config.label_smoothing
        )

    def report(self, epoch: int, loss: float) -> None:
        elapsed = max(time.monotonic() - self.started, 1e-9)
        # Rates count only this call's work, so a resumed run's ETA is not skewed by earlier epochs.
        eta = (self.total - self.state.step) * elapsed / self.steps_this_call
        rate = self.examples_seen / elapsed
        self.on_progress(ProgressEvent(self.state.step, self.total, epoch, loss, rate, eta))

    def finish_epoch(self, train_loss: float) -> bool:
        """Validate, track the best epoch, checkpoint; True when early stopping should end training."""
        state = self.state
        state.epoch += 1
        accuracy, val_loss = self.validate()
        state.history.append(EpochRecord(state.epoch, state.step, train_loss, accuracy, val_loss))
        improved = accuracy is not None and (state.best_accuracy is None or accuracy > state.best_accuracy)
        if improved or accuracy is None:
            state.best_accuracy, state.best_epoch, state.bad_epochs = accuracy, state.epoch, 0
            self.best_weights = {key: value.detach().clone() for key, value in self.model.state_dict().items()}
        else:
            state.bad_epochs += 1
        self.checkpoint(improved or accuracy is None)
        patience = self.config.early_stopping_patience
        return patience is not None and state.bad_epochs >= patience

    def validate(self) -> tuple[float | None, float | None]:
        if not self.val_features:
            return None, None
        logits = logits_in_order(self.model, self.val_features, self.tokenizer, self.config.eval_batch_size)
        probabilities = softmax(logits)
        accuracy = float((probabilities.argmax(axis=1) == self.val_labels).mean())
        picked = probabilities[np.arange(len(self.val_labels)), self.val_labels]
        return accuracy, float(-np.log(np.clip(picked, 1e-12, None)).mean())

    def checkpoint(self, best_changed: bool) -> None:
        if self.checkpoint_dir is None:
            return
        self.checkpoint_dir.mkdir(parents=True, exist_ok=True)
        if best_changed:
            _atomic_write(self.checkpoint_dir / BEST_FILE, lambda path: save_model(self.model, path))
        saved = {
            "fingerprint": self.fingerprint,
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "state": self.state,
            "rng": _rng_states(),
        }
        _atomic_write(self.checkpoint_dir / CHECKPOINT_FILE, lambda path: torch.save(saved, path))


def _load_weights(model: CrossEncoder, path: Path) -> dict[str, torch.Tensor]:
    """The weights in `path` as a state dict, leaving `model`'s own weights as they were."""
    current = {key: value.detach().clone() for key, value in model.state_dict().items()}
    load_model(model, str(path), device=str(model.device))
    loaded = {key: value.detach().clone() for key, value in model.state_dict().items()}
    model.load_state_dict(current)
    return loaded


def train(
    model: CrossEncoder,
    tokenizer: Any,
    train_examples: Sequence[Example],
    val_examples: Sequence[Example],
    config: TrainConfig,
    *,
    on_progress: Callable[[ProgressEvent], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> TrainResult:
    """Fine-tune `model` in place; ends with the best validation epoch's weights loaded (the last
    epoch's when there is no validation set). `should_stop` is polled before every optimizer step;
    when it returns True training stops with `stopped_reason="cancelled"` and no new checkpoint.
    With `config.checkpoint_dir` set, resumes after the last checkpointed epoch found there."""
    if not train_examples:
        raise ValueError("no training examples")
    trainer = _Trainer(model, tokenizer, train_examples, val_examples, config, on_progress, should_stop)
    return trainer.run()
