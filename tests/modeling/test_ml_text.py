from __future__ import annotations

from typing import Any

import pytest

from modeling.ml.text import FIELDS, PairText, encode_pairs, safe_cut
from tests.modeling.tiny_models import byte_level_tokenizer, decoder_tokenizer, encoder_tokenizer

LONG = " ".join(["vintage red wooden chair"] * 50)


def tokens(tokenizer: Any, ids: list[int]) -> list[str]:
    return list(tokenizer.convert_ids_to_tokens(ids))


def segment(found: list[str], label: list[str], stop: str) -> list[str]:
    """The tokens after `label` up to the next `stop` token."""
    for start in range(len(found)):
        if found[start : start + len(label)] == label:
            rest = found[start + len(label) :]
            return rest[: rest.index(stop)] if stop in rest else rest
    raise AssertionError(f"label {label} not in {found}")


def test_each_field_is_cut_to_its_own_budget() -> None:
    tokenizer = encoder_tokenizer()
    pair = PairText("red chair", title="red wooden chair for the garden", description=LONG)
    ids = encode_pairs(tokenizer, [pair], field_budgets={"title": 3, "description": 5}, max_length=128)["input_ids"]
    found = tokens(tokenizer, ids[0])
    assert segment(found, ["title", ":"], "description") == ["red", "wooden", "chair"]
    assert segment(found, ["description", ":"], "[SEP]") == ["vintage", "red", "wooden", "chair", "vintage"]
    assert found[:5] == ["[CLS]", "query", ":", "red", "chair"]


def test_a_long_description_does_not_remove_the_title() -> None:
    tokenizer = encoder_tokenizer()
    pair = PairText("lamp", title="modern lamp", description=LONG, caption="a cozy lamp")
    budgets = {"description": 500}
    ids = encode_pairs(tokenizer, [pair], field_budgets=budgets, max_length=30)["input_ids"][0]
    found = tokens(tokenizer, ids)
    assert len(ids) == 30
    assert segment(found, ["title", ":"], "description") == ["modern", "lamp"]
    assert found[-1] == "[SEP]"


def test_fields_are_selectable_and_empty_fields_leave_no_label() -> None:
    tokenizer = encoder_tokenizer()
    pair = PairText("cake", title="cake recipe", description="bread", board_titles=("kitchen", " ", "summer"))
    ids = encode_pairs(tokenizer, [pair], fields=("board_titles", "title"))["input_ids"][0]
    found = tokens(tokenizer, ids)
    assert found[found.index("[SEP]") + 1 :] == [
        "title",
        ":",
        "cake",
        "recipe",
        "boards",
        ":",
        "kitchen",
        "|",
        "summer",
        "[SEP]",
    ]
    full = tokens(tokenizer, encode_pairs(tokenizer, [pair], fields=FIELDS)["input_ids"][0])
    assert "description" in full and "caption" not in full and "searched" not in full


def test_unknown_field_is_rejected() -> None:
    with pytest.raises(ValueError, match="fields"):
        encode_pairs(encoder_tokenizer(), [PairText("a")], fields=("title", "price"))


def test_encoder_pairs_get_segment_ids_and_decoder_pairs_bos_eos() -> None:
    pair = PairText("red shoe", title="red shoes")
    encoded = encode_pairs(encoder_tokenizer(), [pair])
    assert encoded["token_type_ids"][0] == [0] * 6 + [1] * 5
    assert encoded["attention_mask"][0] == [1] * 11
    decoder = decoder_tokenizer()
    found = tokens(decoder, encode_pairs(decoder, [pair])["input_ids"][0])
    assert found == ["<s>", "query", ":", "red", "shoe", "title", ":", "red", "shoes", "</s>"]


@pytest.mark.parametrize("budget", range(1, 14))
def test_a_cut_never_splits_a_multibyte_character(budget: int) -> None:
    backend = byte_level_tokenizer().backend_tokenizer
    text = "赤い靴 red 日本語のタイトル"
    encoding = backend.encode(text, add_special_tokens=False)
    assert len(encoding.ids) > 13
    keep = safe_cut(encoding, budget)
    assert budget - 3 <= keep <= budget
    assert text.startswith(backend.decode(encoding.ids[:keep]))


def test_multilingual_field_truncation_keeps_whole_characters() -> None:
    tokenizer = byte_level_tokenizer()
    pair = PairText("靴", title="赤い靴と青いドレス", description="日本語の説明" * 20)
    ids = encode_pairs(tokenizer, [pair], field_budgets={"title": 7, "description": 10})["input_ids"][0]
    text = tokenizer.backend_tokenizer.decode(ids)
    assert "\ufffd" not in text
    assert "title:赤い" in text.replace(" ", "")
