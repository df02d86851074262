from __future__ import annotations

from datetime import timedelta

from django.contrib.auth.models import User
from django.test import Client
from django.utils import timezone

from modeling import workers
from modeling.models import WorkerPing


def test_answer_ping_keeps_the_first_answer(db: None) -> None:
    ping = WorkerPing.objects.create(queue="gpu")
    assert workers.answer_ping(ping.pk, "first@host") is True
    assert workers.answer_ping(ping.pk, "second@host") is False
    ping.refresh_from_db()
    assert ping.worker_hostname == "first@host"
    assert ping.latency_s is not None and ping.latency_s >= 0


def test_answer_ping_for_a_deleted_row_does_nothing(db: None) -> None:
    assert workers.answer_ping(987654, "w@host") is False


def test_queue_status_reports_recent_answers_as_online(db: None) -> None:
    now = timezone.now()
    WorkerPing.objects.create(queue="celery", sent_at=now, answered_at=now, worker_hostname="w1@host")
    old = now - timedelta(hours=2)
    WorkerPing.objects.create(queue="gpu", sent_at=old, answered_at=old, worker_hostname="g1@host")
    WorkerPing.objects.create(queue="gpu", sent_at=now)  # sent, never answered

    status = workers.queue_status(max_age_s=60)

    assert status["celery"]["online"] is True
    assert status["celery"]["worker"] == "w1@host"
    assert status["gpu"]["online"] is False
    assert status["gpu"]["worker"] == "g1@host"
    assert workers.queue_status(max_age_s=3 * 3600)["gpu"]["online"] is True


def test_queue_status_without_any_ping_is_offline(db: None) -> None:
    assert workers.queue_status() == {
        queue: {"online": False, "answered_at": None, "worker": "", "latency_s": None} for queue in workers.QUEUES
    }


def test_wait_for_answers_gives_up_after_the_timeout(db: None) -> None:
    ping = WorkerPing.objects.create(queue="nobody-listens")
    started = timezone.now()
    [fresh] = workers.wait_for_answers([ping], timeout_s=0.3, poll_s=0.05)
    assert fresh.answered_at is None
    assert (timezone.now() - started).total_seconds() < 5


def test_admin_lists_pings_read_only(client: Client, engineer: User) -> None:
    WorkerPing.objects.create(queue="gpu", answered_at=timezone.now(), worker_hostname="gpu-box@host")
    client.force_login(engineer)
    listing = client.get("/admin/modeling/workerping/")
    assert listing.status_code == 200
    assert "gpu-box@host" in listing.content.decode()
    assert client.get("/admin/modeling/workerping/add/").status_code == 403
