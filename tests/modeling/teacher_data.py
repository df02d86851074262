"""A small frozen dataset the tiny teacher can learn, and a tiny BERT folder to train from."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from annotation.models import Dataset, DatasetItem, LabelSource, Pair, Pin, Query
from tests.modeling.tiny_models import tiny_bert_dir

NOUNS = ["shoe", "dress", "lamp", "chair", "table", "cake", "bread", "soup", "cat", "dog"]
ADJECTIVES = ["blue", "green", "wooden", "vintage", "modern", "cozy", "small", "big"]


def make_toy_dataset(name: str = "toy", sizes: dict[str, int] | None = None, seed: int = 0) -> Dataset:
    """Queries ask for something red; a pin whose title says "red" is level 5, else level 2."""
    sizes = sizes if sizes is not None else {"train": 32, "val": 16, "test": 16}
    generator = random.Random(seed)
    dataset = Dataset.objects.create(name=name, split_fractions={"train": 0.5, "val": 0.25, "test": 0.25})
    items = []
    for split, count in sizes.items():
        for index in range(count):
            match = index % 2 == 0
            noun = generator.choice(NOUNS)
            words = [generator.choice(ADJECTIVES) for _ in range(generator.randint(0, 2))]
            title = " ".join([*(["red"] if match else []), *words, noun])
            key = f"{name}-{split}-{index}"
            query = Query.objects.create(external_id=key, text=f"red {noun}", language="en")
            pin = Pin.objects.create(external_id=key, title=title, board_titles=["kitchen", " "], language="en")
            pair = Pair.objects.create(query=query, pin=pin)
            level = 5 if match else 2
            items.append(DatasetItem(dataset=dataset, pair=pair, level=level, split=split, source=LabelSource.IMPORTED))
    DatasetItem.objects.bulk_create(items)
    return dataset


@pytest.fixture(scope="session")
def tiny_backbone(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tiny_bert_dir(tmp_path_factory.mktemp("teacher") / "bert")
