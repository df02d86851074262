"""The shared fixture world: annotators Alice and Bob, an outsider, an engineer and a reviewer."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.models import Group, User

from annotation.roles import ANNOTATOR, ENGINEER, REVIEWER

# One definition of the session-wide Celery worker fixture: importing it into several test
# modules would start one worker per module, all consuming the same queues.
pytest_plugins = ["tests.worker_process"]


@pytest.fixture(autouse=True)
def fast_passwords(settings: Any) -> None:
    """Tests make many users; hashing their passwords the production way costs ~0.2 s each."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def empty_cache() -> None:
    """Cached figures (e.g. campaign progress) are keyed by row id; ids can repeat across rolled-back tests."""
    from django.core.cache import cache

    cache.clear()


def make_user(username: str, role: str | None = None, *, staff: bool = False) -> User:
    user = User.objects.create_user(username=username, password="pw-" + username, is_staff=staff)
    if role:
        user.groups.add(Group.objects.get(name=role))
    return user


@pytest.fixture
def alice(db: None) -> User:
    return make_user("alice", ANNOTATOR)


@pytest.fixture
def bob(db: None) -> User:
    return make_user("bob", ANNOTATOR)


@pytest.fixture
def outsider(db: None) -> User:
    return make_user("outsider")


@pytest.fixture
def engineer(db: None) -> User:
    return make_user("erin", ENGINEER, staff=True)


@pytest.fixture
def reviewer(db: None) -> User:
    return make_user("rita", REVIEWER, staff=True)
