from __future__ import annotations

import json
import struct
from io import StringIO
from pathlib import Path

import numpy as np
import pytest
import torch
from django.core.management import call_command
from django.test import override_settings
from transformers import AutoModel, AutoTokenizer

from modeling.ml import backbone
from modeling.ml.device import resolve_device


def test_resolve_device_cpu() -> None:
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device(" CPU ") == torch.device("cpu")


def test_resolve_device_auto_prefers_an_accelerator() -> None:
    expected = "cuda" if torch.cuda.is_available() else "mps" if torch.backends.mps.is_available() else "cpu"
    assert resolve_device("auto").type == expected


@pytest.mark.parametrize("name", ["tpu", "gpu", "cuda:", "cuda:x", "cuda:-1", ""])
def test_resolve_device_rejects_unknown_names(name: str) -> None:
    with pytest.raises(ValueError, match="unknown device"):
        resolve_device(name)


def test_resolve_device_rejects_a_missing_cuda_index() -> None:
    with pytest.raises(ValueError, match="(?i)cuda"):
        resolve_device(f"cuda:{torch.cuda.device_count()}")


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the CPU-only machine's message")
def test_resolve_device_explains_missing_cuda() -> None:
    with pytest.raises(ValueError, match="CUDA is not available"):
        resolve_device("cuda")


def test_dequantize_q4_0_reads_low_then_high_nibbles() -> None:
    # One block: scale 0.5; byte j holds value j in the low nibble and 15 − j in the high one.
    nibbles = bytes((15 - j) << 4 | j for j in range(16))
    block = np.float16(0.5).tobytes() + nibbles
    values = backbone.dequantize_q4_0(block, 1, 32)
    expected = [(j - 8) * 0.5 for j in range(16)] + [(15 - j - 8) * 0.5 for j in range(16)]
    assert values.shape == (1, 32)
    assert values[0].tolist() == expected


def test_parse_rejects_a_file_that_is_not_a_packed_model() -> None:
    with pytest.raises(backbone.BackboneError, match="magic"):
        backbone.parse_packed_model(b"GGUF" + struct.pack("<I", 1) + bytes(64))


def test_interrupted_build_leaves_no_folder(tmp_path: Path) -> None:
    def stop_midway(message: str) -> None:
        if message.startswith("weights: layer 2"):
            raise KeyboardInterrupt

    out_dir = tmp_path / "me5-small"
    with pytest.raises(KeyboardInterrupt):
        backbone.build_me5_small(out_dir, progress=stop_midway)
    assert list(tmp_path.iterdir()) == []
    assert not backbone.is_complete(out_dir)


def test_build_refuses_to_replace_a_folder_it_did_not_write(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(backbone.BackboneError, match="notes.txt"):
        backbone.build_me5_small(tmp_path)
    assert (tmp_path / "notes.txt").read_text() == "mine"


def _never_called(message: str) -> None:
    raise AssertionError(f"ensure_backbone rebuilt a complete folder: {message}")


@pytest.mark.slow
def test_ensure_backbone_is_a_noop_when_complete(me5_small_dir: Path) -> None:
    before = {path.name: path.stat().st_mtime_ns for path in me5_small_dir.iterdir()}
    assert backbone.ensure_backbone(me5_small_dir, progress=_never_called) == me5_small_dir.resolve()
    assert {path.name: path.stat().st_mtime_ns for path in me5_small_dir.iterdir()} == before


@pytest.mark.slow
def test_build_backbone_command_reports_a_present_backbone(me5_small_dir: Path) -> None:
    out = StringIO()
    with override_settings(BACKBONE_DIR=me5_small_dir):
        call_command("build_backbone", stdout=out)
    lines = out.getvalue().strip().splitlines()
    assert "already present" in lines[0]
    result = json.loads(lines[-1])
    assert result["backbone"] == str(me5_small_dir)
    assert result["built"] is False


def _embed(model: torch.nn.Module, tokenizer: object, texts: list[str]) -> torch.Tensor:
    """Mean-pooled, L2-normalised embeddings, as e5 is meant to be used."""
    batch = tokenizer(texts, padding=True, return_tensors="pt")  # type: ignore[operator]
    with torch.no_grad():
        hidden = model(**batch).last_hidden_state
    mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
    return torch.nn.functional.normalize((hidden * mask).sum(1) / mask.sum(1), dim=-1)


RANKING_CASES = [
    (
        "how much protein should a woman eat",
        "The recommended daily protein intake for adult women is about 46 grams.",
        "The stock market closed higher on Friday after strong earnings reports.",
    ),
    (
        "receta de tortilla de patatas",
        "Para hacer una tortilla de patatas necesitas huevos, patatas, aceite y cebolla.",
        "El partido de fútbol terminó con un empate a dos goles.",
    ),
    ("東京の天気", "今日の東京は晴れで、最高気温は25度の予報です。", "このレシピではカレーの作り方を説明します。"),
]


@pytest.mark.slow
def test_real_backbone_loads_and_ranks_related_passages_first(me5_small_dir: Path) -> None:
    marker = backbone.read_marker(me5_small_dir)
    assert marker is not None and marker["source"]["version"] == "0.3.0"  # type: ignore[index]
    tokenizer = AutoTokenizer.from_pretrained(me5_small_dir)
    model = AutoModel.from_pretrained(me5_small_dir).eval()
    assert model.config.hidden_size == 384
    assert round(sum(p.numel() for p in model.parameters()) / 1e6, 1) == 117.7  # with the unused pooler

    pair = tokenizer("red shoes", "running shoes in red")
    tokens = tokenizer.convert_ids_to_tokens(pair["input_ids"])
    assert tokens[0] == "<s>" and tokens[-1] == "</s>"
    assert tokens.count("</s>") == 3 and tokens[tokens.index("</s>") + 1] == "</s>"
    assert set(pair.get("token_type_ids", [0])) == {0}
    # SentencePiece's map turns tabs into spaces (NFKC alone would leave an unknown token).
    assert tokenizer("a\tb")["input_ids"] == tokenizer("a b")["input_ids"]

    for query, related, unrelated in RANKING_CASES:
        vectors = _embed(model, tokenizer, [f"query: {query}", f"passage: {related}", f"passage: {unrelated}"])
        related_score, unrelated_score = float(vectors[0] @ vectors[1]), float(vectors[0] @ vectors[2])
        assert related_score > unrelated_score + 0.05, (query, related_score, unrelated_score)
