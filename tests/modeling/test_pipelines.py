"""Dataset rows become training examples; parameters and metrics are checked before and after training."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from modeling import pipelines
from modeling.models import ModelStatus, RunStatus
from tests.modeling.teacher_data import make_toy_dataset, tiny_backbone  # noqa: F401

pytestmark = pytest.mark.django_db


def test_dataset_items_become_examples_per_split() -> None:
    dataset = make_toy_dataset(sizes={"train": 4, "val": 2, "test": 3})

    splits = pipelines.examples_by_split(dataset)

    assert {split: len(examples) for split, examples in splits.items()} == {"train": 4, "val": 2, "test": 3}
    first = splits["train"][0]
    assert first.label == 5 and first.pair.title.startswith("red ")
    assert first.pair.query.startswith("red ") and first.pair.language == "en"
    assert first.pair.board_titles == ("kitchen",)  # blank board titles are dropped
    assert [example.label for example in splits["val"]] == [5, 2]
    assert pipelines.item_counts(dataset) == {"train": 4, "val": 2, "test": 3}


def test_a_dataset_without_train_items_is_rejected_with_a_clear_error(tiny_backbone: Path) -> None:  # noqa: F811
    dataset = make_toy_dataset(sizes={"val": 2, "test": 2})
    with pytest.raises(pipelines.PipelineError, match="no items in its train split"):
        pipelines.check_trainable(dataset.name, pipelines.item_counts(dataset)["train"])

    params = pipelines.TeacherParams(backbone=str(tiny_backbone), device="cpu")
    run = pipelines.start_teacher_run(dataset, params, enqueue=False)
    run = pipelines.train_teacher_run(run.pk)

    assert run.status == RunStatus.FAILED and "no items in its train split" in run.error
    assert run.model_version is not None and run.model_version.status == ModelStatus.FAILED


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"fields": ["title", "colour"]}, "fields must be"),
        ({"epochs": 0}, "epochs must be at least 1"),
        ({"lr": 0.0}, "lr must be positive"),
        ({"learning_rate": 1e-3}, "unknown teacher parameters: learning_rate"),
    ],
)
def test_bad_teacher_parameters_are_refused(values: dict[str, object], message: str) -> None:
    with pytest.raises(pipelines.PipelineError, match=message):
        pipelines.TeacherParams.from_dict(values)


def test_parameters_round_trip_and_fill_defaults_from_settings(settings: object) -> None:
    params = pipelines.TeacherParams(fields=("description", "title"), epochs=2)

    again = pipelines.TeacherParams.from_dict(params.to_dict())
    resolved = params.resolved()

    assert again == params and again.fields == ("title", "description")  # canonical order
    assert resolved.backbone == str(settings.BACKBONE_DIR) and resolved.device == settings.ML_DEVICE  # type: ignore[attr-defined]


def test_split_metrics_score_levels_at_or_above_each_threshold() -> None:
    labels = np.array([2, 3, 4, 5])
    # Each row puts its mass on its own level, so every threshold ranks perfectly.
    perfect = np.eye(5)[labels - 1]
    # Mass one level too low: accuracy 0; "≥ 5" ranks the level-5 row (p(4)=1) no higher than others.
    shifted = np.eye(5)[labels - 2]

    good = pipelines.split_metrics(perfect, labels)
    bad = pipelines.split_metrics(shifted, labels)

    assert good == {"n": 4, "accuracy": 1.0, "auroc_ge3": 1.0, "auroc_ge4": 1.0, "auroc_ge5": 1.0}
    assert bad["accuracy"] == 0.0 and bad["auroc_ge5"] == 0.5 and bad["auroc_ge3"] == pytest.approx(5 / 6)
    one_class = pipelines.split_metrics(np.full((2, 5), 0.2), np.array([5, 5]))
    assert one_class["auroc_ge3"] is None and one_class["accuracy"] == 0.0
    assert pipelines.split_metrics(np.zeros((0, 5)), np.array([], dtype=int)) == {"n": 0}
