from __future__ import annotations

from django.test import Client


def test_home_requires_login(client: Client, db: None) -> None:
    response = client.get("/")
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")


def test_engineer_sees_home(client: Client, engineer) -> None:
    client.force_login(engineer)
    assert client.get("/").status_code == 200
