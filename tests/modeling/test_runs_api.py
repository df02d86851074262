"""The runs API: engineers start and cancel teacher runs; reviewers and engineers read runs and models."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from rest_framework.test import APIClient

from annotation.models import Dataset
from modeling.models import ModelStatus, ModelVersion, Run, RunKind, RunStatus
from modeling.pipelines import TeacherParams, start_teacher_run

pytestmark = pytest.mark.django_db


def make_dataset(name: str = "seed-v1") -> Dataset:
    return Dataset.objects.create(name=name, split_fractions={"train": 0.8, "val": 0.1, "test": 0.1})


def api(user: User | None = None) -> APIClient:
    client = APIClient()
    if user is not None:
        client.force_authenticate(user)
    return client


def test_an_engineer_starts_a_teacher_run_by_dataset_name_with_params(engineer: User) -> None:
    dataset = make_dataset()
    body = {"dataset": "seed-v1", "params": {"epochs": 2, "lr": 1e-4, "fields": ["title", "caption"]}}

    response = api(engineer).post("/api/v1/runs/teacher", body, format="json")

    assert response.status_code == 201, response.content
    run = Run.objects.get(pk=response.json()["id"])
    assert run.kind == RunKind.TEACHER_TRAINING and run.status == RunStatus.PENDING
    assert run.params["epochs"] == 2 and run.params["lr"] == 1e-4
    assert run.params["fields"] == ["title", "caption"] and run.params["batch_size"] == TeacherParams().batch_size
    assert run.model_version.dataset == dataset and run.celery_task_id
    assert response.json()["params"] == run.params


def test_a_dataset_may_be_named_by_id(engineer: User) -> None:
    dataset = make_dataset()
    response = api(engineer).post("/api/v1/runs/teacher", {"dataset": str(dataset.pk)}, format="json")
    assert response.status_code == 201
    assert Run.objects.get().model_version.dataset_id == dataset.pk


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"dataset": "nope"}, "no dataset named or numbered 'nope'"),
        ({"dataset": "seed-v1", "params": {"epochs": 0}}, "epochs must be at least 1"),
        ({"dataset": "seed-v1", "params": {"learning_rate": 1}}, "unknown teacher parameters: learning_rate"),
        ({"dataset": "seed-v1", "params": {"fields": ["smell"]}}, "smell"),
    ],
)
def test_bad_input_is_a_400_with_a_message_and_creates_nothing(engineer: User, body: dict, message: str) -> None:
    make_dataset()
    response = api(engineer).post("/api/v1/runs/teacher", body, format="json")
    assert response.status_code == 400
    assert message in response.json()["detail"]
    assert not Run.objects.exists() and not ModelVersion.objects.exists()


def test_only_engineers_start_runs(alice: User, reviewer: User) -> None:
    make_dataset()
    assert api().post("/api/v1/runs/teacher", {"dataset": "seed-v1"}, format="json").status_code == 401
    for user in (alice, reviewer):
        assert api(user).post("/api/v1/runs/teacher", {"dataset": "seed-v1"}, format="json").status_code == 403
    assert not Run.objects.exists()


def test_reviewers_list_and_read_runs_and_model_versions(reviewer: User) -> None:
    run = start_teacher_run(make_dataset(), TeacherParams(epochs=1), enqueue=False)
    Run.objects.filter(pk=run.pk).update(progress=0.25, loss_history=[[1, 1.5], [2, 1.2]])
    client = api(reviewer)

    listed = client.get("/api/v1/runs/").json()
    detail = client.get(f"/api/v1/runs/{run.pk}/").json()
    versions = client.get("/api/v1/model-versions/").json()

    assert [row["id"] for row in listed["results"]] == [run.pk]
    assert detail["progress"] == 0.25 and detail["loss_history"] == [[1, 1.5], [2, 1.2]]
    assert [row["id"] for row in versions["results"]] == [run.model_version_id]
    assert versions["results"][0]["status"] == ModelStatus.TRAINING


@pytest.mark.parametrize("url", ["/api/v1/runs/", "/api/v1/model-versions/"])
def test_annotators_and_anonymous_may_not_read_runs(alice: User, url: str) -> None:
    assert api().get(url).status_code == 401
    assert api(alice).get(url).status_code == 403


def test_an_engineer_cancels_a_pending_run_once(engineer: User, reviewer: User) -> None:
    run = start_teacher_run(make_dataset(), TeacherParams(), enqueue=False)

    assert api(reviewer).post(f"/api/v1/runs/{run.pk}/cancel").status_code == 403
    response = api(engineer).post(f"/api/v1/runs/{run.pk}/cancel")
    again = api(engineer).post(f"/api/v1/runs/{run.pk}/cancel")

    assert response.status_code == 200 and response.json()["status"] == RunStatus.CANCELLED
    assert again.status_code == 409 and "already finished" in again.json()["detail"]
    run.refresh_from_db()
    assert run.status == RunStatus.CANCELLED and run.model_version.status == ModelStatus.FAILED
    assert api(engineer).post("/api/v1/runs/999999/cancel").status_code == 404
