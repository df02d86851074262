from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import pytest
import torch

from modeling.ml.cross_encoder import CrossEncoder, CrossEncoderConfig, load_tokenizer, predict
from modeling.ml.text import PairText
from modeling.ml.training import (
    Example,
    ProgressEvent,
    TrainConfig,
    length_grouped_batches,
    steps_per_epoch,
    train,
)
from tests.modeling.tiny_models import tiny_bert_dir, tiny_llama_dir

NOUNS = ["shoe", "dress", "lamp", "chair", "table", "cake", "bread", "soup", "cat", "dog", "beach", "mountain"]
ADJECTIVES = ["red", "blue", "green", "wooden", "vintage", "modern", "cozy", "small", "big"]


def toy_examples(count: int, seed: int) -> list[Example]:
    """Separable: every query asks for something red; a pin whose title shares the keyword "red"
    is level 5, one without it level 2. Titles vary in nouns, other adjectives and length."""
    generator = random.Random(seed)
    examples = []
    for index in range(count):
        match = index % 2 == 0
        words = [generator.choice(ADJECTIVES[1:]) for _ in range(generator.randint(0, 3))]
        if match:
            words.insert(generator.randint(0, len(words)), "red")
        pair = PairText(f"red {generator.choice(NOUNS)}", title=" ".join([*words, generator.choice(NOUNS)]))
        examples.append(Example(pair, 5 if match else 2))
    return examples


TRAIN = toy_examples(96, seed=1)
VAL = toy_examples(48, seed=2)


@pytest.fixture(scope="module")
def backbones(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("tiny")
    return {"bert": tiny_bert_dir(root / "bert"), "llama": tiny_llama_dir(root / "llama")}


def build(backbone: Path) -> CrossEncoder:
    torch.manual_seed(3)
    return CrossEncoder(CrossEncoderConfig(backbone=str(backbone), fields=("title",), head_hidden_size=32, dropout=0.0))


def quick_config(**settings: object) -> TrainConfig:
    values: dict[str, object] = {"epochs": 3, "lr": 3e-3, "batch_size": 16, "warmup_ratio": 0.1, "device": "cpu"}
    values.update(settings)
    return TrainConfig(**values)  # type: ignore[arg-type]


def accuracy(model: CrossEncoder, backbone: Path, examples: list[Example]) -> float:
    probabilities = predict(model, load_tokenizer(backbone), [example.pair for example in examples])
    return float(np.mean(probabilities.argmax(axis=1) + 1 == np.array([example.label for example in examples])))


@pytest.mark.parametrize("kind", ["bert", "llama"])
def test_loss_falls_and_validation_accuracy_rises_on_a_separable_set(backbones: dict[str, Path], kind: str) -> None:
    model = build(backbones[kind])
    before = accuracy(model, backbones[kind], VAL)
    events: list[ProgressEvent] = []
    config = quick_config(epochs=25, lr=1e-3, early_stopping_patience=None)
    result = train(model, load_tokenizer(backbones[kind]), TRAIN, VAL, config, on_progress=events.append)
    losses = [event.loss for event in events]
    assert result.stopped_reason == "completed"
    assert np.mean(losses[-4:]) < 0.5 * np.mean(losses[:4])
    assert result.best_val_accuracy is not None and result.best_val_accuracy >= 0.9 > before + 0.2
    assert accuracy(model, backbones[kind], VAL) == result.best_val_accuracy  # best epoch restored
    assert [event.step for event in events] == list(range(1, len(events) + 1))
    assert all(event.total_steps == 6 * 25 and event.examples_per_s > 0 for event in events)
    assert events[-1].eta_s == 0 < events[0].eta_s


def test_resume_continues_from_the_last_epoch_checkpoint(backbones: dict[str, Path], tmp_path: Path) -> None:
    bert, tokenizer = backbones["bert"], load_tokenizer(backbones["bert"])
    per_epoch = steps_per_epoch(len(TRAIN), quick_config())
    straight = build(bert)
    full = train(
        straight, tokenizer, TRAIN, VAL, quick_config(early_stopping_patience=None, checkpoint_dir=str(tmp_path / "a"))
    )

    config = quick_config(early_stopping_patience=None, checkpoint_dir=str(tmp_path / "b"))
    seen: list[ProgressEvent] = []
    interrupted = train(
        build(bert),
        tokenizer,
        TRAIN,
        VAL,
        config,
        on_progress=seen.append,
        should_stop=lambda: len(seen) >= per_epoch + 2,
    )
    assert interrupted.stopped_reason == "cancelled" and interrupted.steps == per_epoch + 2

    again: list[ProgressEvent] = []
    resumed_model = build(bert)
    resumed = train(resumed_model, tokenizer, TRAIN, VAL, config, on_progress=again.append)
    assert resumed.resumed_from_epoch == 1
    assert again[0].step == per_epoch + 1 and again[0].epoch == 2  # epoch 1 was not redone
    assert len(again) == 2 * per_epoch
    assert resumed.steps == full.steps == 3 * per_epoch
    assert [record.epoch for record in resumed.history] == [1, 2, 3]
    for ours, theirs in zip(resumed.history, full.history, strict=True):
        assert ours.train_loss == pytest.approx(theirs.train_loss, rel=1e-4)
        assert ours.val_accuracy == theirs.val_accuracy
    pairs = [example.pair for example in VAL]
    np.testing.assert_allclose(predict(resumed_model, tokenizer, pairs), predict(straight, tokenizer, pairs), atol=1e-5)


def test_a_finished_run_is_not_trained_again(backbones: dict[str, Path], tmp_path: Path) -> None:
    bert, tokenizer = backbones["bert"], load_tokenizer(backbones["bert"])
    config = quick_config(epochs=1, checkpoint_dir=str(tmp_path))
    train(build(bert), tokenizer, TRAIN, VAL, config)
    events: list[ProgressEvent] = []
    again = train(build(bert), tokenizer, TRAIN, VAL, config, on_progress=events.append)
    assert events == [] and again.resumed_from_epoch == 1 and again.stopped_reason == "completed"
    with pytest.raises(ValueError, match="different training run"):
        train(build(bert), tokenizer, TRAIN, VAL, quick_config(epochs=1, lr=1e-3, checkpoint_dir=str(tmp_path)))


def test_cancel_stops_before_the_next_step(backbones: dict[str, Path]) -> None:
    model = build(backbones["bert"])
    before = {key: value.clone() for key, value in model.state_dict().items()}
    result = train(model, load_tokenizer(backbones["bert"]), TRAIN, VAL, quick_config(), should_stop=lambda: True)
    assert result.stopped_reason == "cancelled" and result.steps == 0 and result.history == []
    assert all(torch.equal(before[key], value) for key, value in model.state_dict().items())


def test_max_steps_and_gradient_accumulation_count_optimizer_steps(backbones: dict[str, Path]) -> None:
    events: list[ProgressEvent] = []
    config = quick_config(batch_size=8, grad_accum=3, max_steps=5)
    result = train(
        build(backbones["bert"]), load_tokenizer(backbones["bert"]), TRAIN, VAL, config, on_progress=events.append
    )
    assert result.stopped_reason == "max_steps" and result.steps == 5
    assert [(event.step, event.epoch) for event in events] == [(1, 1), (2, 1), (3, 1), (4, 1), (5, 2)]


def test_early_stopping_when_validation_accuracy_stops_improving(backbones: dict[str, Path]) -> None:
    config = quick_config(epochs=5, lr=0.0, early_stopping_patience=2)
    result = train(build(backbones["bert"]), load_tokenizer(backbones["bert"]), TRAIN, VAL, config)
    assert result.stopped_reason == "early_stopping"
    assert [record.epoch for record in result.history] == [1, 2, 3] and result.best_epoch == 1


def test_length_grouped_batches_cover_every_index_once_with_similar_lengths() -> None:
    lengths = [random.Random(index).randint(5, 200) for index in range(1000)]
    batches = length_grouped_batches(lengths, 10, seed=7, epoch=1)
    assert sorted(index for batch in batches for index in batch) == list(range(1000))
    assert batches == length_grouped_batches(lengths, 10, seed=7, epoch=1)
    assert batches != length_grouped_batches(lengths, 10, seed=7, epoch=2)
    spread = np.mean([max(lengths[i] for i in batch) - min(lengths[i] for i in batch) for batch in batches])
    assert spread < 10  # random batches of 10 would spread ~150


def test_lora_trains_only_the_adapters_and_the_head(backbones: dict[str, Path]) -> None:
    llama = backbones["llama"]
    torch.manual_seed(3)
    model = CrossEncoder(CrossEncoderConfig(backbone=str(llama), fields=("title",), head_hidden_size=32, lora_rank=4))
    trainable = {name for name, parameter in model.named_parameters() if parameter.requires_grad}
    assert trainable and all("lora_" in name or name.startswith("head.") for name in trainable)
    assert any("q_proj.lora_A" in name for name in trainable)
    before = {name: value.clone() for name, value in model.state_dict().items()}
    events: list[ProgressEvent] = []
    train(model, load_tokenizer(llama), TRAIN, VAL, quick_config(epochs=3, lr=1e-2), on_progress=events.append)
    changed = {name for name, value in model.state_dict().items() if not torch.equal(before[name], value)}
    assert changed == trainable
    assert np.mean([event.loss for event in events[-3:]]) < np.mean([event.loss for event in events[:3]])
