from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from annotation import queue
from annotation.models import Adjudication, CampaignPair, QualitySnapshot
from tests.conftest import make_user
from tests.factories import make_campaign, make_pairs


def client_for(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


@pytest.fixture
def disputed(alice, bob):
    carol = make_user("carol", "annotator")
    campaign = make_campaign(make_pairs(1), [alice, bob, carol], n=3)
    for user, level in ((alice, 1), (bob, 5), (carol, 3)):
        lease = queue.next_lease(campaign, user)
        queue.submit(user, lease.token, level=level)
    CampaignPair.objects.update(needs_review=True, consensus_level=3, spread=4)
    return campaign


def test_review_queue_lists_anonymised_grades(disputed, reviewer) -> None:
    body = client_for(reviewer).get(f"/api/v1/review-queue/?campaign={disputed.pk}").json()
    [item] = body["results"]
    assert [g["annotator"] for g in item["grades"]] == ["Annotator A", "Annotator B", "Annotator C"]
    assert sorted(g["level"] for g in item["grades"]) == [1, 3, 5]
    assert "alice" not in str(body)


def test_adjudication_through_the_api_empties_the_queue(disputed, reviewer) -> None:
    api = client_for(reviewer)
    item = CampaignPair.objects.get()
    assert api.post(f"/api/v1/review-queue/{item.pk}/adjudicate", {"level": 4}, format="json").status_code == 400
    response = api.post(f"/api/v1/review-queue/{item.pk}/adjudicate", {"level": 4, "reason": "boots"}, format="json")
    assert response.status_code == 201
    assert Adjudication.objects.get().level == 4
    assert api.get("/api/v1/review-queue/").json()["results"] == []


def test_quality_summary_is_the_latest_snapshot(disputed, engineer) -> None:
    api = client_for(engineer)
    assert api.get(f"/api/v1/campaigns/{disputed.pk}/quality").status_code == 404
    QualitySnapshot.objects.create(campaign=disputed, judgment_count=3, data={"overall": {"n_units": 1}})
    assert api.get(f"/api/v1/campaigns/{disputed.pk}/quality").json()["data"]["overall"]["n_units"] == 1


def test_annotators_and_anonymous_are_refused(disputed, alice) -> None:
    item = CampaignPair.objects.get()
    for client, code in ((client_for(alice), 403), (APIClient(), 401)):
        assert client.get("/api/v1/review-queue/").status_code == code
        assert client.get(f"/api/v1/campaigns/{disputed.pk}/quality").status_code == code
        assert (
            client.post(f"/api/v1/review-queue/{item.pk}/adjudicate", {"level": 2, "reason": "x"}).status_code == code
        )
    assert not Adjudication.objects.exists()


def test_flagged_annotators_show_in_the_admin_and_engineers_pause_them(alice, engineer, client) -> None:
    from annotation.models import AnnotatorStanding

    campaign = make_campaign(make_pairs(2, prefix="s"), [alice], name="standing")
    standing = AnnotatorStanding.objects.create(
        campaign=campaign, annotator=alice, gold_judged=12, gold_exact=0.3, flagged=True
    )
    client.force_login(engineer)
    page = client.get("/admin/annotation/annotatorstanding/?flagged__exact=1")
    assert page.status_code == 200 and "alice" in page.content.decode()
    assert queue.next_lease(campaign, alice) is not None
    standing.paused = True
    standing.save()
    assert queue.next_lease(campaign, alice) is None
