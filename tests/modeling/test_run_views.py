"""The run page (progress, loss curve, log, metrics, htmx polling) and the admin page that starts a teacher run."""

from __future__ import annotations

import json

import pytest
from django.contrib.auth.models import User
from django.test import Client

from annotation.models import Dataset
from modeling import runs
from modeling.models import ModelStatus, Run, RunKind, RunStatus
from modeling.pipelines import TeacherParams, start_teacher_run
from modeling.views import STOP_POLLING

pytestmark = pytest.mark.django_db

START_URL = "/admin/modeling/run/start-teacher/"


def make_dataset(name: str = "seed-v1") -> Dataset:
    return Dataset.objects.create(name=name, split_fractions={"train": 0.8, "val": 0.1, "test": 0.1})


def running_run() -> Run:
    run = start_teacher_run(make_dataset(), TeacherParams(epochs=1), enqueue=False)
    runs.start_run(run.pk)
    runs.record_progress(run.pk, 0.42, "epoch 1/1 · step 21/50", loss_history=[[10, 1.61], [20, 1.25]])
    runs.add_log(run.pk, "step 20 loss 1.2500")
    return Run.objects.get(pk=run.pk)


def logged_in(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_the_run_page_shows_progress_loss_curve_log_and_polls(reviewer: User) -> None:
    run = running_run()

    response = logged_in(reviewer).get(f"/runs/{run.pk}/")

    assert response.status_code == 200
    html = response.content.decode()
    assert 'value="42.0"' in html and "epoch 1/1 · step 21/50" in html
    assert f'hx-get="/runs/{run.pk}/status"' in html and 'hx-trigger="every 2s"' in html
    assert "step 20 loss 1.2500" in html and "vendor/plotly.min.js" in html
    assert response.context["loss_curve"] == {"steps": [10, 20], "losses": [1.61, 1.25]}
    curve = html.split('<script id="loss-curve" type="application/json">')[1].split("</script>")[0]
    assert json.loads(curve) == {"steps": [10, 20], "losses": [1.61, 1.25]}
    assert 'data-action="cancel"' not in html  # reviewers may not cancel


def test_the_polled_status_answers_the_panel_then_286_once_finished(engineer: User) -> None:
    run = running_run()
    client = logged_in(engineer)

    polling = client.get(f"/runs/{run.pk}/status", HTTP_HX_REQUEST="true")
    runs.record_progress(run.pk, 0.9, "almost")
    later = client.get(f"/runs/{run.pk}/status", HTTP_HX_REQUEST="true")
    runs.succeed_run(run.pk, metrics={"val": {"accuracy": 0.875}, "test": {"accuracy": 0.8125}})
    done = client.get(f"/runs/{run.pk}/status", HTTP_HX_REQUEST="true")

    assert polling.status_code == 200 and 'id="run-status"' in polling.content.decode()
    assert "<html" not in polling.content.decode()
    assert 'value="90.0"' in later.content.decode()
    assert done.status_code == STOP_POLLING == 286 and done["HX-Refresh"] == "true"
    page = client.get(f"/runs/{run.pk}/").content.decode()
    assert "hx-trigger" not in page and "0.8750" in page and "0.8125" in page
    assert 'data-action="cancel"' not in page


def test_an_engineer_cancels_from_the_run_page(engineer: User) -> None:
    run = running_run()
    client = logged_in(engineer)
    assert 'data-action="cancel"' in client.get(f"/runs/{run.pk}/").content.decode()

    response = client.post(f"/runs/{run.pk}/cancel")

    assert response.status_code == 302 and response["Location"] == f"/runs/{run.pk}/"
    assert Run.objects.get(pk=run.pk).cancel_requested


@pytest.mark.parametrize("url", ["/runs/{pk}/", "/runs/{pk}/status"])
def test_annotators_get_403_and_anonymous_users_the_login_page(alice: User, url: str) -> None:
    run = running_run()
    anonymous = Client().get(url.format(pk=run.pk))
    assert anonymous.status_code == 302 and anonymous["Location"].startswith("/accounts/login/")
    assert logged_in(alice).get(url.format(pk=run.pk)).status_code == 403


def test_reviewers_may_not_cancel(reviewer: User) -> None:
    run = running_run()
    assert logged_in(reviewer).post(f"/runs/{run.pk}/cancel").status_code == 403
    assert not Run.objects.get(pk=run.pk).cancel_requested


def test_the_run_changelist_links_to_the_start_page(engineer: User) -> None:
    html = logged_in(engineer).get("/admin/modeling/run/").content.decode()
    assert f'href="{START_URL}"' in html


def test_the_start_form_has_defaults_from_teacher_params(engineer: User, settings: object) -> None:
    response = logged_in(engineer).get(START_URL)
    assert response.status_code == 200
    form = response.context["form"]
    defaults = TeacherParams()
    assert form["backbone"].initial == str(settings.BACKBONE_DIR)  # type: ignore[attr-defined]
    assert form["epochs"].initial == defaults.epochs and form["lr"].initial == defaults.lr
    assert form["batch_size"].initial == defaults.batch_size and form["max_length"].initial == defaults.max_length
    assert list(form["pin_fields"].initial) == list(defaults.fields)


def test_the_admin_form_starts_a_teacher_run_and_goes_to_its_page(engineer: User) -> None:
    dataset = make_dataset()
    form = {
        "dataset": dataset.pk,
        "backbone": "/models/tiny",
        "pin_fields": ["title", "description"],
        "epochs": 4,
        "lr": "0.0003",
        "batch_size": 8,
        "max_length": 64,
    }

    response = logged_in(engineer).post(START_URL, form)

    run = Run.objects.get()
    assert response.status_code == 302 and response["Location"] == f"/runs/{run.pk}/"
    assert run.kind == RunKind.TEACHER_TRAINING and run.status == RunStatus.PENDING and run.celery_task_id
    assert run.params["epochs"] == 4 and run.params["lr"] == 0.0003 and run.params["batch_size"] == 8
    assert run.params["max_length"] == 64 and run.params["fields"] == ["title", "description"]
    assert run.params["backbone"] == "/models/tiny"
    assert run.model_version.dataset == dataset and run.model_version.status == ModelStatus.TRAINING


def test_a_refused_form_creates_nothing(engineer: User) -> None:
    dataset = make_dataset()
    form = {"dataset": dataset.pk, "backbone": "/m", "pin_fields": [], "epochs": 0, "lr": "0.1", "batch_size": 8}
    response = logged_in(engineer).post(START_URL, {**form, "max_length": 64})
    assert response.status_code == 400 and not Run.objects.exists()
    assert set(response.context["form"].errors) == {"pin_fields", "epochs"}


def test_only_engineers_open_the_start_page(reviewer: User, alice: User) -> None:
    assert logged_in(reviewer).get(START_URL).status_code == 403
    assert logged_in(alice).get(START_URL).status_code == 302  # not staff: the admin login page
    anonymous = Client().get(START_URL)
    assert anonymous.status_code == 302 and "/admin/login/" in anonymous["Location"]
    dataset = make_dataset()
    logged_in(reviewer).post(START_URL, {"dataset": dataset.pk, "backbone": "/m", "epochs": 1})
    assert not Run.objects.exists()
