from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
import redis
from django.conf import settings
from django.contrib.auth.models import User
from django.test import Client
from django.urls import reverse

from annotation import quality
from annotation.models import (
    Adjudication,
    AnnotatorStanding,
    Campaign,
    CampaignPair,
    Judgment,
    QualitySnapshot,
)
from annotation.roles import ANNOTATOR
from tests.conftest import make_user
from tests.factories import make_campaign, make_pairs

HTMX = {"HTTP_HX_REQUEST": "true"}
CHART_IDS = ("chart-judgments", "chart-grades", "chart-alpha", "chart-gold", "chart-kappa")


def judge(campaign: Campaign, annotator: User, grades: dict[int, int | None]) -> None:
    """Write the annotator's judgments directly: pair id → level (None = a skip, 'unsure')."""
    for pair_id, level in grades.items():
        Judgment.objects.create(
            pair_id=pair_id,
            annotator=annotator,
            campaign=campaign,
            level=level,
            skip_reason="" if level else "unsure",
            skip_note="" if level else "blurry photo",
            seconds_spent=7.5,
        )


def disputed_world(alice: User, bob: User) -> tuple[Campaign, list[CampaignPair]]:
    """Three pairs graded by alice, bob and carol: the first two disagree by ≥ 2 levels, the third does not."""
    carol = make_user("carol", ANNOTATOR)
    dave = make_user("dave", ANNOTATOR)
    pairs = make_pairs(3, label=4)
    campaign = make_campaign(pairs, [alice, bob, carol, dave], name="Disputes")
    ids = [pair.pk for pair in pairs]
    judge(campaign, alice, dict(zip(ids, (1, 2, 4), strict=True)))
    judge(campaign, bob, dict(zip(ids, (3, 4, 4), strict=True)))
    judge(campaign, carol, dict(zip(ids, (5, 4, 5), strict=True)))
    judge(campaign, dave, {ids[0]: None})
    quality.update_consensus(campaign)
    items = list(CampaignPair.objects.filter(campaign=campaign).order_by("position"))
    return campaign, items


def client_for(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


def review_urls(campaign: Campaign, item: CampaignPair) -> list[tuple[str, str]]:
    return [
        ("get", reverse("review:queue")),
        ("get", reverse("review:item", args=[item.pk])),
        ("post", reverse("review:adjudicate", args=[item.pk])),
        ("get", reverse("review:quality", args=[campaign.pk])),
        ("get", reverse("review:refresh_status", args=[campaign.pk])),
        ("post", reverse("review:refresh", args=[campaign.pk])),
    ]


def test_annotators_are_refused_every_review_page(alice: User, bob: User) -> None:
    campaign, items = disputed_world(alice, bob)
    client = client_for(alice)
    for method, url in review_urls(campaign, items[0]):
        assert getattr(client, method)(url, {"level": 3, "reason": "x"}).status_code == 403, url
    assert not Adjudication.objects.exists()


def test_anonymous_visitors_are_sent_to_log_in(alice: User, bob: User) -> None:
    campaign, items = disputed_world(alice, bob)
    for method, url in review_urls(campaign, items[0]):
        response = getattr(Client(), method)(url)
        assert response.status_code == 302, url
        assert response["Location"].startswith(settings.LOGIN_URL)


def test_the_queue_lists_each_campaign_with_its_waiting_count(alice: User, bob: User, reviewer: User) -> None:
    campaign, items = disputed_world(alice, bob)
    make_campaign(make_pairs(2, prefix="calm"), [alice], name="Calm")
    html = client_for(reviewer).get(reverse("review:queue")).content.decode()
    assert 'data-role="waiting">2<' in html
    assert 'data-role="waiting">0<' in html
    assert reverse("review:item", args=[items[0].pk]) in html
    assert reverse("review:quality", args=[campaign.pk]) in html


def test_the_adjudication_page_shows_every_grade_but_never_who_gave_it(alice: User, bob: User, reviewer: User) -> None:
    _, items = disputed_world(alice, bob)
    html = client_for(reviewer).get(reverse("review:item", args=[items[0].pk])).content.decode()
    for name in ("Annotator A", "Annotator B", "Annotator C", "Annotator D"):
        assert name in html
    for username in ("alice", "bob", "carol", "dave"):
        assert username not in html
    assert [f'data-level="{level}"' in html for level in (1, 3, 5)] == [True, True, True]
    assert "Unsure" in html and "blurry photo" in html  # the skip, with its reason and note
    assert 'data-role="spread">4 levels<' in html
    facts = html.split("Consensus (median)")[1].split("Spread")[0]
    assert "L3" in facts  # the median of 1, 3, 5


def test_the_first_annotator_letter_stays_with_the_first_judgment(alice: User, bob: User, reviewer: User) -> None:
    _, items = disputed_world(alice, bob)
    client = client_for(reviewer)
    first = client.get(reverse("review:item", args=[items[0].pk])).content.decode()
    again = client.get(reverse("review:item", args=[items[0].pk])).content.decode()
    assert first.index("Annotator A") < first.index('data-level="1"') < first.index("Annotator B")
    grades = [html.split('<ol class="grades">')[1].split("</ol>")[0] for html in (first, again)]
    assert grades[0] == grades[1]


def test_a_final_grade_without_a_reason_is_refused_and_nothing_is_stored(
    alice: User, bob: User, reviewer: User
) -> None:
    _, items = disputed_world(alice, bob)
    url = reverse("review:adjudicate", args=[items[0].pk])
    response = client_for(reviewer).post(url, {"level": 4, "reason": "   "}, **HTMX)
    assert response.status_code == 422
    html = response.content.decode()
    assert "Write why this grade is the right one." in html
    assert 'value="4" checked' in html  # the chosen grade survives the round trip
    assert not Adjudication.objects.exists()
    assert quality.review_queue().filter(pk=items[0].pk).exists()


def test_a_final_grade_outside_one_to_five_is_refused(alice: User, bob: User, reviewer: User) -> None:
    _, items = disputed_world(alice, bob)
    url = reverse("review:adjudicate", args=[items[0].pk])
    response = client_for(reviewer).post(url, {"level": 7, "reason": "sure"}, **HTMX)
    assert response.status_code == 422
    assert not Adjudication.objects.exists()


def test_a_final_grade_with_a_reason_is_stored_and_the_next_pair_follows(
    alice: User, bob: User, reviewer: User
) -> None:
    _, items = disputed_world(alice, bob)
    url = reverse("review:adjudicate", args=[items[0].pk])
    response = client_for(reviewer).post(url, {"level": 4, "reason": "the cake is the query"}, **HTMX)
    assert response.status_code == 200
    decision = Adjudication.objects.get()
    assert (decision.campaign_pair_id, decision.reviewer, decision.level) == (items[0].pk, reviewer, 4)
    assert decision.reason == "the cake is the query"
    assert decision.created_at is not None
    assert list(quality.review_queue()) == [items[1]]
    assert f'data-item="{items[1].pk}"' in response.content.decode()
    assert response["HX-Push-Url"] == reverse("review:item", args=[items[1].pk])


def test_resolving_the_last_pair_says_the_queue_is_empty(alice: User, bob: User, engineer: User) -> None:
    _, items = disputed_world(alice, bob)
    client = client_for(engineer)
    for item in items[:2]:
        client.post(reverse("review:adjudicate", args=[item.pk]), {"level": 4, "reason": "ok"}, **HTMX)
    last = client.post(reverse("review:adjudicate", args=[items[1].pk]), {"level": 5, "reason": "on second thought"})
    assert Adjudication.objects.count() == 3
    assert last.status_code == 302 and last["Location"] == reverse("review:queue")
    response = client.post(reverse("review:adjudicate", args=[items[0].pk]), {"level": 3, "reason": "again"}, **HTMX)
    assert "The review queue is empty" in response.content.decode()
    assert not quality.review_queue().exists()


def test_without_htmx_a_decision_redirects_to_the_next_pair(alice: User, bob: User, reviewer: User) -> None:
    _, items = disputed_world(alice, bob)
    url = reverse("review:adjudicate", args=[items[0].pk])
    response = client_for(reviewer).post(url, {"level": 2, "reason": "not a cake"})
    assert response.status_code == 302
    assert response["Location"] == reverse("review:item", args=[items[1].pk])


# ---- quality dashboard -------------------------------------------------------------------------


def cell(value: float | None, low: float | None = None, high: float | None = None) -> dict[str, float | None]:
    return {"value": value, "low": low, "high": high}


def summary(alpha: float) -> dict[str, Any]:
    return {
        "alpha_ordinal": cell(alpha, alpha - 0.1, alpha + 0.05),
        "alpha_interval": cell(alpha + 0.02, alpha - 0.08, alpha + 0.07),
        "alpha_nominal": cell(None),
        "exact": cell(0.5, 0.4, 0.6),
        "within_one": cell(0.9, 0.85, 0.95),
        "n_units": 40,
    }


def snapshot_data() -> dict[str, Any]:
    return {
        "overall": summary(0.612),
        "per_language": {"en": summary(0.655), "es": summary(0.433)},
        "per_annotator": [
            {
                "annotator": "alice",
                "judgments": 30,
                "alpha_vs_rest": cell(0.7, 0.6, 0.8),
                "gold_judged": 12,
                "gold_exact": 0.75,
                "gold_within_one": 1.0,
                "flagged": False,
                "median_seconds": 8.0,
            },
            {
                "annotator": "bob",
                "judgments": 28,
                "alpha_vs_rest": cell(None),
                "gold_judged": 11,
                "gold_exact": 0.27,
                "gold_within_one": 0.6,
                "flagged": True,
                "median_seconds": 3.5,
            },
        ],  # fmt: skip
        "kappas": [{"a": "alice", "b": "bob", "kappa": 0.58, "n": 25, "low": 0.4, "high": 0.7}],
        "judgments_per_day": [{"day": "2025-11-20", "count": 20}, {"day": "2025-11-21", "count": 38}],
        "median_seconds": 6.4,
        "grade_distribution": {"1": 3, "2": 5, "3": 10, "4": 20, "5": 18, "skip": 2},
        "review_queue": 7,
        "pairs_complete": 15,
        "pairs_total": 20,
    }


def test_the_dashboard_renders_the_latest_snapshot_and_only_counts_newer_judgments(
    alice: User, bob: User, reviewer: User, django_assert_max_num_queries: Any
) -> None:
    campaign, _ = disputed_world(alice, bob)
    QualitySnapshot.objects.create(campaign=campaign, judgment_count=1, data={"overall": summary(0.1)})
    QualitySnapshot.objects.create(campaign=campaign, judgment_count=10, data=snapshot_data())
    judge(campaign, make_user("erik", ANNOTATOR), {items.pair_id: 3 for items in campaign.campaign_pairs.all()})
    client = client_for(reviewer)
    with django_assert_max_num_queries(10) as captured:
        response = client.get(reverse("review:quality", args=[campaign.pk]))
    assert response.status_code == 200
    on_judgments = [q["sql"] for q in captured.captured_queries if "annotation_judgment" in q["sql"]]
    assert len(on_judgments) == 1 and on_judgments[0].startswith("SELECT COUNT(*)")
    html = response.content.decode()
    assert '<span data-role="since">3</span> judgments since' in html
    assert "0.655" in html and "0.433" in html and "[0.555, 0.705]" in html  # α per language with its interval
    assert 'data-role="review-queue">7<' in html and "6.4 s" in html
    figures = json.loads(html.split('id="quality-figures" type="application/json">')[1].split("</script>")[0])
    assert sorted(figures) == sorted(CHART_IDS)
    alpha = figures["chart-alpha"]["data"][0]
    assert alpha["x"] == ["all", "en", "es"] and alpha["y"] == [0.612, 0.655, 0.433]
    assert [round(v, 6) for v in alpha["error_y"]["arrayminus"]] == [0.1, 0.1, 0.1]
    assert figures["chart-gold"]["data"][0]["marker"]["color"][1] == "#c8102e"  # bob is flagged
    assert figures["chart-kappa"]["data"][0]["z"] == [[None, 0.58], [0.58, None]]
    assert "/static/vendor/plotly.min.js" in html
    for chart_id in CHART_IDS:
        assert f'id="{chart_id}"' in html


def test_a_dashboard_with_thin_data_still_renders(alice: User, bob: User, reviewer: User) -> None:
    campaign, _ = disputed_world(alice, bob)
    thin = dict.fromkeys(snapshot_data()) | {"per_language": {"en": {"alpha_ordinal": cell(None)}}}
    QualitySnapshot.objects.create(campaign=campaign, judgment_count=0, data=thin)
    response = client_for(reviewer).get(reverse("review:quality", args=[campaign.pk]))
    assert response.status_code == 200
    assert "Not enough judgments yet" in response.content.decode()


def test_the_dashboard_of_a_campaign_never_computed_offers_engineers_a_refresh(
    alice: User, bob: User, reviewer: User, engineer: User
) -> None:
    campaign, _ = disputed_world(alice, bob)
    url = reverse("review:quality", args=[campaign.pk])
    for_reviewer = client_for(reviewer).get(url).content.decode()
    for_engineer = client_for(engineer).get(url).content.decode()
    assert "No quality numbers have been computed" in for_reviewer
    assert 'data-action="refresh"' not in for_reviewer
    assert 'data-action="refresh"' in for_engineer
    assert "quality-figures" not in for_engineer and "plotly.min.js" not in for_engineer


@pytest.fixture
def broker() -> Iterator[redis.Redis]:
    """The real Redis broker of the test settings, its default queue emptied."""
    client = redis.Redis.from_url(settings.CELERY_BROKER_URL)
    client.delete("celery")
    yield client
    client.delete("celery")


def enqueued(broker: redis.Redis) -> list[tuple[str, Any]]:
    messages = [json.loads(raw) for raw in broker.lrange("celery", 0, -1)]
    return [(m["headers"]["task"], m["headers"]["argsrepr"]) for m in messages]


def test_only_engineers_can_enqueue_a_refresh(alice: User, bob: User, reviewer: User, broker: redis.Redis) -> None:
    campaign, _ = disputed_world(alice, bob)
    response = client_for(reviewer).post(reverse("review:refresh", args=[campaign.pk]), **HTMX)
    assert response.status_code == 403
    assert enqueued(broker) == []


def test_the_refresh_button_enqueues_the_task_and_starts_polling(
    alice: User, bob: User, engineer: User, broker: redis.Redis
) -> None:
    campaign, _ = disputed_world(alice, bob)
    old = QualitySnapshot.objects.create(campaign=campaign, judgment_count=0, data={})
    response = client_for(engineer).post(reverse("review:refresh", args=[campaign.pk]), **HTMX)
    assert response.status_code == 200
    assert enqueued(broker) == [("annotation.tasks.refresh_quality", f"({campaign.pk},)")]
    html = response.content.decode()
    assert 'hx-trigger="every 2s"' in html
    assert f"{reverse('review:refresh_status', args=[campaign.pk])}?after={old.pk}" in html


def test_polling_stops_with_286_once_a_newer_snapshot_exists(alice: User, bob: User, reviewer: User) -> None:
    campaign, _ = disputed_world(alice, bob)
    old = QualitySnapshot.objects.create(campaign=campaign, judgment_count=0, data={})
    status_url = reverse("review:refresh_status", args=[campaign.pk])
    client = client_for(reviewer)
    waiting = client.get(status_url, {"after": old.pk}, **HTMX)
    assert waiting.status_code == 200 and 'hx-trigger="every 2s"' in waiting.content.decode()
    quality.compute_snapshot(campaign, n_boot=20)
    done = client.get(status_url, {"after": old.pk}, **HTMX)
    assert done.status_code == 286
    assert done["HX-Refresh"] == "true"


def test_engineers_pause_and_resume_a_flagged_annotator(alice: User, bob: User, reviewer: User, engineer: User) -> None:
    campaign, _ = disputed_world(alice, bob)
    AnnotatorStanding.objects.create(campaign=campaign, annotator=bob, gold_judged=12, gold_exact=0.25, flagged=True)
    AnnotatorStanding.objects.create(campaign=campaign, annotator=alice, gold_judged=12, gold_exact=0.9)
    page = client_for(reviewer).get(reverse("review:quality", args=[campaign.pk])).content.decode()
    assert f'id="standing-{bob.pk}"' in page and f'id="standing-{alice.pk}"' not in page
    assert 'data-action="pause"' not in page  # reviewers see the list, engineers act on it
    url = reverse("review:pause", args=[campaign.pk, bob.pk])
    assert client_for(reviewer).post(url, {"paused": "1"}).status_code == 403
    client = client_for(engineer)
    paused = client.post(url, {"paused": "1"}, **HTMX)
    assert 'data-action="resume"' in paused.content.decode()
    assert AnnotatorStanding.objects.get(annotator=bob).paused
    client.post(url, {"paused": "0"}, **HTMX)
    assert not AnnotatorStanding.objects.get(annotator=bob).paused
