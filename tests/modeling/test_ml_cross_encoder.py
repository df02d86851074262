from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from modeling.ml.cross_encoder import (
    CrossEncoder,
    CrossEncoderConfig,
    expected_relevance,
    load_tokenizer,
    pool,
    predict,
)
from modeling.ml.text import PairText
from tests.modeling.tiny_models import tiny_bert_dir, tiny_llama_dir

PAIRS = [
    PairText("red shoe", title="red shoes", description="vintage red shoes for summer with a big city dress"),
    PairText("cake", title="cake"),
    PairText("garden chair", title="wooden chair", caption="a garden chair", board_titles=("garden", "summer")),
    PairText("lamp", title="modern lamp for the kitchen table"),
    PairText("beach travel", title="summer beach", engaged_queries=("beach", "travel", "summer beach")),
]


@pytest.fixture(scope="module")
def backbones(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("tiny")
    return {"bert": tiny_bert_dir(root / "bert"), "llama": tiny_llama_dir(root / "llama")}


def build(backbones: dict[str, Path], kind: str, **settings: object) -> CrossEncoder:
    torch.manual_seed(1)
    model = CrossEncoder(CrossEncoderConfig(backbone=str(backbones[kind]), **settings))  # type: ignore[arg-type]
    return model.eval()


def test_first_pooling_picks_position_zero() -> None:
    hidden = torch.randn(2, 4, 3)
    mask = torch.tensor([[1, 1, 0, 0], [1, 1, 1, 1]])
    assert torch.equal(pool(hidden, mask, "first"), hidden[:, 0])


@pytest.mark.parametrize(
    ("mask", "expected"),
    [
        ([[1, 1, 0, 0], [1, 1, 1, 1], [1, 0, 0, 0]], [1, 3, 0]),  # right padding
        ([[0, 0, 1, 1], [1, 1, 1, 1], [0, 0, 0, 1]], [3, 3, 3]),  # left padding
        ([[0, 1, 1, 0], [0, 0, 1, 0], [1, 1, 1, 0]], [2, 2, 2]),  # both
    ],
)
def test_last_pooling_picks_the_last_real_token(mask: list[list[int]], expected: list[int]) -> None:
    hidden = torch.randn(3, 4, 5)
    pooled = pool(hidden, torch.tensor(mask), "last")
    assert torch.equal(pooled, hidden[torch.arange(3), torch.tensor(expected)])


def test_auto_pooling_is_first_for_encoders_and_last_for_decoders(backbones: dict[str, Path]) -> None:
    assert build(backbones, "bert").pooling == "first"
    assert build(backbones, "llama").pooling == "last"
    assert build(backbones, "llama", pooling="first").pooling == "first"
    with pytest.raises(ValueError, match="pooling"):
        CrossEncoderConfig(backbone="x", pooling="mean")


@pytest.mark.parametrize("kind", ["bert", "llama"])
def test_padded_batches_predict_what_each_pair_predicts_alone_in_input_order(
    backbones: dict[str, Path], kind: str
) -> None:
    # The llama tokenizer pads on the left, the bert one on the right; batch_size 2 over
    # length-sorted pairs mixes long and short ones in different orders than given.
    model, tokenizer = build(backbones, kind), load_tokenizer(backbones[kind])
    batched = predict(model, tokenizer, PAIRS, batch_size=2)
    alone = np.concatenate([predict(model, tokenizer, [pair]) for pair in PAIRS])
    assert batched.shape == (5, 5)
    np.testing.assert_allclose(batched, alone, atol=1e-5)
    np.testing.assert_allclose(batched.sum(axis=1), 1.0, atol=1e-5)
    assert len({tuple(np.round(row, 5)) for row in batched}) == len(PAIRS)


def test_decoder_reads_the_last_real_token(backbones: dict[str, Path]) -> None:
    # Changing only the final token of a short pair must change its prediction even when it
    # is left-padded next to a longer one.
    model, tokenizer = build(backbones, "llama"), load_tokenizer(backbones["llama"])
    long_pair = PAIRS[0]
    first = predict(model, tokenizer, [long_pair, PairText("cake", title="cake")])[1]
    second = predict(model, tokenizer, [long_pair, PairText("cake", title="bread")])[1]
    assert np.abs(first - second).max() > 1e-4


@pytest.mark.parametrize(("kind", "lora_rank"), [("bert", 0), ("llama", 0), ("llama", 4)])
def test_save_then_load_gives_identical_probabilities(
    backbones: dict[str, Path], kind: str, lora_rank: int, tmp_path: Path
) -> None:
    model, tokenizer = (
        build(backbones, kind, fields=("title", "caption"), max_length=24, lora_rank=lora_rank),
        load_tokenizer(backbones[kind]),
    )
    with torch.no_grad():
        model.head[-1].bias.add_(torch.tensor([0.0, 0.5, 1.0, -0.5, 0.2]))  # not the fresh init
        for name, parameter in model.named_parameters():
            if "lora_B" in name:  # zero at init: make the adapters matter
                parameter.add_(0.1)
    before = predict(model, tokenizer, PAIRS)
    folder = model.save(tmp_path / "teacher", tokenizer)
    loaded = CrossEncoder.load(folder, "cpu")
    after = predict(loaded, load_tokenizer(folder), PAIRS)
    np.testing.assert_array_equal(before, after)
    assert loaded.config == model.config
    assert not loaded.training


def test_expected_relevance_weights_levels_one_to_five() -> None:
    probabilities = np.array([[0, 0, 0, 0, 1.0], [0.2] * 5, [0.5, 0.5, 0, 0, 0]])
    np.testing.assert_allclose(expected_relevance(probabilities), [5.0, 3.0, 1.5])
