"""Twenty annotators judging one campaign at once over HTTP against a live server on PostgreSQL."""

from __future__ import annotations

import json
import random
import threading
import time
import urllib.error
import urllib.request
from collections import Counter

import pytest
from django.db import connection
from rest_framework.authtoken.models import Token

from annotation.models import CampaignPair, Judgment
from tests.conftest import make_user
from tests.factories import make_campaign, make_pairs

ANNOTATORS = 20
PAIRS = 500
N = 3
LEASE_SECONDS = 8
ABANDONERS = 5  # take a pair and walk away, so their leases must expire and return to the pool


def call(base: str, token: str, path: str, body: dict | None = None) -> tuple[int, dict | None]:
    request = urllib.request.Request(
        base + path,
        data=json.dumps(body or {}).encode(),
        headers={"Authorization": f"Token {token}", "Content-Type": "application/json"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            raw = response.read()
            return response.status, json.loads(raw) if raw else None
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"null")


@pytest.mark.django_db(transaction=True)
def test_twenty_annotators_fill_every_pair_exactly_n_times(live_server) -> None:
    assert connection.vendor == "postgresql"
    users = [make_user(f"annotator{i}", "annotator") for i in range(ANNOTATORS)]
    tokens = [Token.objects.create(user=user).key for user in users]
    campaign = make_campaign(make_pairs(PAIRS), users, n=N, lease_seconds=LEASE_SECONDS)
    acknowledged: list[tuple[int, str]] = []
    abandoned: set[int] = set()  # pair ids
    failures: list[str] = []
    lock = threading.Lock()

    def annotator(index: int) -> None:
        rng = random.Random(index)
        api_token, idle_since = tokens[index], None
        walk_away = 3 if index < ABANDONERS else 0
        while True:
            status, lease = call(live_server.url, api_token, f"/api/v1/campaigns/{campaign.pk}/next")
            if status == 204:
                idle_since = idle_since or time.monotonic()
                if time.monotonic() - idle_since > 2 * LEASE_SECONDS + 1:
                    return
                time.sleep(0.3)
                continue
            idle_since = None
            if status != 200:
                failures.append(f"next: {status} {lease}")
                return
            if walk_away:
                walk_away -= 1
                with lock:
                    abandoned.add(lease["pair"])
                # Ask past the abandoned lease, as a closed tab would never come back for it.
                time.sleep(LEASE_SECONDS + 0.5)
                continue
            body = {"token": lease["token"], "level": rng.randint(1, 5), "seconds_spent": rng.random() * 5}
            for _ in range(2 if rng.random() < 0.2 else 1):  # some double submissions
                status, judgment = call(live_server.url, api_token, "/api/v1/judgments/", body)
                if status in (200, 201):
                    with lock:
                        acknowledged.append((index, judgment["token"]))
                elif status != 409:
                    failures.append(f"submit: {status} {judgment}")

    started = time.monotonic()
    threads = [threading.Thread(target=annotator, args=(i,)) for i in range(ANNOTATORS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=600)
    assert not any(t.is_alive() for t in threads)
    print(f"{len(acknowledged)} acknowledged submissions in {time.monotonic() - started:.1f} s")
    assert failures == []

    per_pair = Counter(Judgment.objects.values_list("pair_id", flat=True))
    assert len(per_pair) == PAIRS and set(per_pair.values()) == {N}
    assert set(CampaignPair.objects.values_list("graded_count", flat=True)) == {N}
    pairs_by_annotator = Counter(Judgment.objects.values_list("pair_id", "annotator_id"))
    assert max(pairs_by_annotator.values()) == 1
    # Every acknowledged submission is stored, once.
    stored = set(Judgment.objects.values_list("token", flat=True))
    assert {token for _, token in acknowledged} == {str(t) for t in stored}
    # Pairs whose leases were abandoned came back to the pool when they expired and were completed.
    assert len(abandoned) >= ABANDONERS
    assert all(per_pair[pair_id] == N for pair_id in abandoned)
