from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from annotation.models import Judgment
from tests.factories import make_campaign, make_pairs


@pytest.fixture
def api(alice) -> APIClient:
    client = APIClient()
    client.force_authenticate(alice)
    return client


def test_next_submit_and_idempotent_resubmit(api, alice) -> None:
    campaign = make_campaign(make_pairs(2, label=5), [alice])
    lease = api.post(f"/api/v1/campaigns/{campaign.pk}/next", {}, format="json").json()
    assert lease["query"] == "query 0"
    assert "label" not in str(lease)  # annotators never see known grades
    body = {"token": lease["token"], "level": 4, "seconds_spent": 2.5}
    assert api.post("/api/v1/judgments/", body, format="json").status_code == 201
    assert api.post("/api/v1/judgments/", body, format="json").status_code == 200
    assert Judgment.objects.count() == 1


def test_prefetch_with_exclude_and_done_is_204(api, alice) -> None:
    campaign = make_campaign(make_pairs(2), [alice])
    url = f"/api/v1/campaigns/{campaign.pk}/next"
    first = api.post(url, {}, format="json").json()["token"]
    second = api.post(url, {"exclude": [first]}, format="json").json()["token"]
    assert first != second
    for token in (first, second):
        api.post("/api/v1/judgments/", {"token": token, "skip_reason": "unsure"}, format="json")
    assert api.post(url, {}, format="json").status_code == 204


def test_bad_submission_is_400_and_writes_nothing(api, alice) -> None:
    campaign = make_campaign(make_pairs(1), [alice])
    token = api.post(f"/api/v1/campaigns/{campaign.pk}/next", {}, format="json").json()["token"]
    for body in ({"token": token, "level": 9}, {"token": token}, {"token": token, "level": 2, "skip_reason": "other"}):
        assert api.post("/api/v1/judgments/", body, format="json").status_code == 400
    assert Judgment.objects.count() == 0


def test_undo_returns_the_pair(api, alice) -> None:
    campaign = make_campaign(make_pairs(1), [alice])
    lease = api.post(f"/api/v1/campaigns/{campaign.pk}/next", {}, format="json").json()
    api.post("/api/v1/judgments/", {"token": lease["token"], "level": 1}, format="json")
    again = api.post(f"/api/v1/campaigns/{campaign.pk}/undo").json()
    assert again["pair"] == lease["pair"]
    assert Judgment.objects.count() == 0


def test_annotators_see_only_their_campaigns_and_judgments(api, alice, bob, reviewer) -> None:
    make_campaign(make_pairs(1, prefix="a"), [alice], name="mine")
    theirs = make_campaign(make_pairs(1, prefix="b"), [bob], name="theirs")
    assert [c["name"] for c in api.get("/api/v1/campaigns/").json()["results"]] == ["mine"]
    assert api.post(f"/api/v1/campaigns/{theirs.pk}/next", {}, format="json").status_code == 404
    bob_client = APIClient()
    bob_client.force_authenticate(bob)
    token = bob_client.post(f"/api/v1/campaigns/{theirs.pk}/next", {}, format="json").json()["token"]
    bob_client.post("/api/v1/judgments/", {"token": token, "level": 3}, format="json")
    assert api.get("/api/v1/judgments/").json()["results"] == []
    # Replaying another annotator's token neither reveals nor changes their judgment.
    assert api.post("/api/v1/judgments/", {"token": token, "level": 5}, format="json").status_code == 404
    assert Judgment.objects.get().level == 3
    staff = APIClient()
    staff.force_authenticate(reviewer)
    assert len(staff.get("/api/v1/judgments/").json()["results"]) == 1


def test_someone_elses_token_is_404(api, alice, bob) -> None:
    campaign = make_campaign(make_pairs(1), [alice, bob])
    bob_client = APIClient()
    bob_client.force_authenticate(bob)
    token = bob_client.post(f"/api/v1/campaigns/{campaign.pk}/next", {}, format="json").json()["token"]
    assert api.post("/api/v1/judgments/", {"token": token, "level": 5}, format="json").status_code == 404
    assert Judgment.objects.count() == 0


def test_anonymous_is_refused(db) -> None:
    client = APIClient()
    assert client.get("/api/v1/judgments/").status_code == 401
    assert client.post("/api/v1/campaigns/1/next", {}, format="json").status_code == 401
