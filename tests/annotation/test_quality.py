from __future__ import annotations

import json
import time
from datetime import date
from io import StringIO

import pytest
from django.contrib.auth.models import User
from django.core.cache import cache
from django.core.management import CommandError, call_command
from django.db.models import F
from django.utils import timezone

from annotation import quality, queue, tasks
from annotation.models import (
    Adjudication,
    AnnotatorStanding,
    Campaign,
    CampaignPair,
    Judgment,
    LabelSource,
    Pair,
    QualitySnapshot,
)
from annotation.roles import ANNOTATOR
from tests.conftest import make_user
from tests.factories import make_campaign, make_pairs
from tests.worker_process import WorkerProcess

CELL_KEYS = {"value", "low", "high"}
SUMMARY_KEYS = {"alpha_ordinal", "alpha_interval", "alpha_nominal", "exact", "within_one", "n_units"}


@pytest.fixture
def carol(db: None) -> User:
    return make_user("carol", ANNOTATOR)


def judge(campaign: Campaign, annotator: User, pair: Pair, level: int | None, seconds: float = 2.0) -> Judgment:
    """A judgment written the way the queue writes it (graded_count kept), without the lease dance."""
    judgment = Judgment.objects.create(
        pair=pair,
        annotator=annotator,
        campaign=campaign,
        level=level,
        skip_reason="" if level else "unsure",
        seconds_spent=seconds,
    )
    if level is not None:
        CampaignPair.objects.filter(campaign=campaign, pair=pair).update(graded_count=F("graded_count") + 1)
    return judgment


def judge_all(campaign: Campaign, pair: Pair, grades: dict[User, int]) -> None:
    for annotator, level in grades.items():
        judge(campaign, annotator, pair, level)


def row(campaign: Campaign, pair: Pair) -> CampaignPair:
    return CampaignPair.objects.get(campaign=campaign, pair=pair)


# ---- consensus and review routing --------------------------------------------------------------


def test_consensus_waits_for_n_grades_and_takes_the_lower_middle_on_ties(alice, bob) -> None:
    pairs = make_pairs(3)
    campaign = make_campaign(pairs, [alice, bob], n=2)
    judge_all(campaign, pairs[0], {alice: 3, bob: 4})
    judge_all(campaign, pairs[1], {alice: 5})
    judge(campaign, bob, pairs[1], None)  # a skip is not a grade

    assert quality.update_consensus(campaign) == 1

    tied = row(campaign, pairs[0])
    assert (tied.consensus_level, tied.spread, tied.needs_review) == (3, 1, False)
    waiting = row(campaign, pairs[1])
    assert (waiting.consensus_level, waiting.spread, waiting.needs_review) == (None, None, False)


def test_update_consensus_is_idempotent_and_follows_new_grades(alice, bob, carol) -> None:
    pairs = make_pairs(2)
    campaign = make_campaign(pairs, [alice, bob, carol], n=3)
    judge_all(campaign, pairs[0], {alice: 2, bob: 4, carol: 5})
    assert quality.update_consensus(campaign) == 1
    assert quality.update_consensus(campaign) == 0
    judge_all(campaign, pairs[1], {alice: 1, bob: 1, carol: 2})
    assert quality.update_consensus(campaign) == 1
    assert (row(campaign, pairs[0]).consensus_level, row(campaign, pairs[1]).consensus_level) == (4, 1)


@pytest.mark.parametrize(
    ("grades", "needs_review"),
    [((3, 4, 4), False), ((3, 4, 5), True), ((1, 3, 3), True), ((2, 3, 3), False), ((5, 5, 5), False)],
)
def test_a_spread_of_two_levels_goes_to_review(alice, bob, carol, grades, needs_review) -> None:
    pair = make_pairs(1)[0]
    campaign = make_campaign([pair], [alice, bob, carol], n=3)
    judge_all(campaign, pair, dict(zip((alice, bob, carol), grades, strict=True)))
    quality.update_consensus(campaign)
    assert row(campaign, pair).needs_review is needs_review
    assert list(quality.review_queue(campaign)) == ([row(campaign, pair)] if needs_review else [])


@pytest.mark.parametrize(("gold_level", "needs_review"), [(5, True), (1, True), (4, False), (2, False)])
def test_a_consensus_two_levels_from_gold_goes_to_review(alice, bob, carol, gold_level, needs_review) -> None:
    pair = make_pairs(1)[0]
    campaign = make_campaign([pair], [alice, bob, carol], n=3, gold={pair.pk: gold_level})
    judge_all(campaign, pair, {alice: 3, bob: 3, carol: 3})
    quality.update_consensus(campaign)
    assert row(campaign, pair).spread == 0
    assert row(campaign, pair).needs_review is needs_review


def test_review_queue_spans_campaigns_and_puts_the_widest_disagreement_first(alice, bob) -> None:
    first, second = make_pairs(2, prefix="a"), make_pairs(1, prefix="b")
    one = make_campaign(first, [alice, bob], n=2, name="one")
    two = make_campaign(second, [alice, bob], n=2, name="two")
    judge_all(one, first[0], {alice: 3, bob: 5})
    judge_all(one, first[1], {alice: 1, bob: 5})
    judge_all(two, second[0], {alice: 2, bob: 4})
    for campaign in (one, two):
        quality.update_consensus(campaign)

    assert [cp.pair_id for cp in quality.review_queue(one)] == [first[1].pk, first[0].pk]
    assert quality.review_queue().count() == 3


# ---- adjudication and final grades -------------------------------------------------------------


def test_adjudication_overrides_consensus_and_leaves_the_queue_for_good(alice, bob, carol, reviewer) -> None:
    pairs = make_pairs(2)
    campaign = make_campaign(pairs, [alice, bob, carol], n=3)
    judge_all(campaign, pairs[0], {alice: 1, bob: 3, carol: 5})
    judge_all(campaign, pairs[1], {alice: 4, bob: 4, carol: 5})
    quality.update_consensus(campaign)
    disputed = row(campaign, pairs[0])
    assert quality.final_level(disputed) == (3, LabelSource.CONSENSUS)

    decision = quality.adjudicate(disputed, reviewer, 2, "  The pin shows a related product only.  ")

    assert (decision.reviewer, decision.level, decision.reason) == (
        reviewer,
        2,
        "The pin shows a related product only.",
    )
    assert not quality.review_queue(campaign).exists()
    assert quality.update_consensus(campaign) == 0  # not re-queued
    assert row(campaign, pairs[0]).needs_review is False
    assert quality.final_level(row(campaign, pairs[0])) == (2, LabelSource.ADJUDICATED)
    levels = quality.final_levels(CampaignPair.objects.filter(campaign=campaign))
    assert levels == {pairs[0].pk: (2, "adjudicated"), pairs[1].pk: (4, "consensus")}

    quality.adjudicate(disputed, reviewer, 1, "Second look: off topic.")
    assert quality.final_levels(CampaignPair.objects.filter(campaign=campaign))[pairs[0].pk] == (1, "adjudicated")


def test_final_grade_annotation_and_pairs_without_one(alice, reviewer) -> None:
    pairs = make_pairs(2)
    campaign = make_campaign(pairs, [alice], n=1)
    judge(campaign, alice, pairs[0], 5)
    quality.update_consensus(campaign)
    rows = quality.with_final_level(CampaignPair.objects.filter(campaign=campaign)).order_by("position")
    assert [(r.final_level, r.final_source, r.adjudicated_at) for r in rows] == [
        (5, "consensus", None),
        (None, None, None),
    ]
    assert quality.final_level(row(campaign, pairs[1])) is None
    assert quality.final_levels(CampaignPair.objects.filter(campaign=campaign)) == {pairs[0].pk: (5, "consensus")}


def test_a_pair_in_two_campaigns_takes_the_adjudication_else_the_newest_campaign(alice, bob, reviewer) -> None:
    pair = make_pairs(1)[0]
    older = make_campaign([pair], [alice, bob], n=1, name="older")
    newer = make_campaign([pair], [alice, bob], n=1, name="newer")
    judge(older, alice, pair, 2)
    judge(newer, bob, pair, 4)
    for campaign in (older, newer):
        quality.update_consensus(campaign)
    both = CampaignPair.objects.filter(pair=pair)
    assert quality.final_levels(both) == {pair.pk: (4, "consensus")}
    quality.adjudicate(row(older, pair), reviewer, 3, "Checked the landing page.")
    assert quality.final_levels(both) == {pair.pk: (3, "adjudicated")}


@pytest.mark.parametrize(
    ("level", "reason", "message"),
    [
        (0, "why", "level from 1 to 5"),
        (6, "why", "level from 1 to 5"),
        (True, "why", "level from 1 to 5"),
        ("3", "why", "level from 1 to 5"),
        (3, "   ", "reason"),
    ],
)
def test_adjudication_refuses_bad_input_with_a_clear_message(alice, reviewer, level, reason, message) -> None:
    pair = make_pairs(1)[0]
    campaign = make_campaign([pair], [alice], n=1)
    with pytest.raises(quality.AdjudicationError, match=message):
        quality.adjudicate(row(campaign, pair), reviewer, level, reason)
    assert not Adjudication.objects.exists()


def test_only_reviewers_and_engineers_adjudicate(alice, engineer) -> None:
    pair = make_pairs(1)[0]
    campaign = make_campaign([pair], [alice], n=1)
    with pytest.raises(quality.AdjudicationError, match="Only reviewers and engineers"):
        quality.adjudicate(row(campaign, pair), alice, 3, "I know best")
    assert quality.adjudicate(row(campaign, pair), engineer, 3, "Engineers may").level == 3


# ---- gold standings and pausing ----------------------------------------------------------------


def gold_campaign(annotators: list[User], count: int = 12, level: int = 4) -> tuple[Campaign, list[Pair]]:
    pairs = make_pairs(count, prefix="g")
    campaign = make_campaign(pairs, annotators, n=3, gold={pair.pk: level for pair in pairs})
    return campaign, pairs


def test_standings_flag_annotators_below_the_gold_threshold(alice, bob, carol) -> None:
    campaign, pairs = gold_campaign([alice, bob, carol])
    for i, pair in enumerate(pairs):
        judge(campaign, alice, pair, 4 if i else 3)  # 11/12 exact
        judge(campaign, bob, pair, 4 if i < 4 else (3 if i % 2 else 1))  # 4/12 exact, 8/12 within one
    for pair in pairs[:5]:
        judge(campaign, carol, pair, 1)  # all wrong, but too few gold judgments to flag
    AnnotatorStanding.objects.create(campaign=campaign, annotator=bob, paused=True)

    standings = {s.annotator: s for s in quality.update_standings(campaign)}

    assert (standings[alice].gold_judged, standings[alice].gold_exact, standings[alice].flagged) == (12, 11 / 12, False)
    assert (standings[bob].gold_exact, standings[bob].gold_within_one, standings[bob].flagged) == (4 / 12, 8 / 12, True)
    assert standings[bob].paused is True  # kept as the engineer set it
    assert (standings[carol].gold_judged, standings[carol].gold_exact, standings[carol].flagged) == (5, 0.0, False)


def test_standings_use_the_latest_gold_judgments_only(alice) -> None:
    campaign, pairs = gold_campaign([alice], count=14)
    for i, pair in enumerate(pairs):
        judge(campaign, alice, pair, 1 if i < 10 else 4)  # early mistakes, then right

    rolling = quality.update_standings(campaign, window=4)[0]
    assert (rolling.gold_judged, rolling.gold_exact, rolling.flagged) == (14, 1.0, False)
    everything = quality.update_standings(campaign, window=50)[0]
    assert (everything.gold_exact, everything.flagged) == (4 / 14, True)
    assert AnnotatorStanding.objects.count() == 1


def test_annotators_without_gold_get_a_standing_without_accuracy(alice) -> None:
    pair = make_pairs(1)[0]
    campaign = make_campaign([pair], [alice], n=1)
    judge(campaign, alice, pair, 3)
    (standing,) = quality.update_standings(campaign)
    assert (standing.gold_judged, standing.gold_exact, standing.gold_within_one, standing.flagged) == (
        0,
        None,
        None,
        False,
    )


def test_a_paused_annotator_is_served_no_pairs(alice, bob) -> None:
    campaign = make_campaign(make_pairs(3), [alice, bob], n=2)
    held = queue.next_lease(campaign, alice)
    standing = AnnotatorStanding.objects.create(campaign=campaign, annotator=alice, paused=True)

    assert queue.next_lease(campaign, alice) is None  # not even the lease already held
    assert queue.next_lease(campaign, bob) is not None  # others carry on
    standing.paused = False
    standing.save()
    assert queue.next_lease(campaign, alice).token == held.token


# ---- the snapshot ------------------------------------------------------------------------------


def three_annotator_campaign(alice: User, bob: User, carol: User) -> tuple[Campaign, list[Pair]]:
    """12 pairs (8 English, 4 German): Alice and Bob agree everywhere, Carol is one level off."""
    pairs = make_pairs(8, prefix="en") + make_pairs(4, prefix="de", language="de")
    extra = make_pairs(1, prefix="x")
    campaign = make_campaign(pairs + extra, [alice, bob, carol], n=3)
    for i, pair in enumerate(pairs):
        level = 1 + i % 4
        judge(campaign, alice, pair, level, seconds=2.0)
        judge(campaign, bob, pair, level, seconds=4.0)
        judge(campaign, carol, pair, level + 1, seconds=6.0)
    judge(campaign, carol, extra[0], None, seconds=1.0)
    return campaign, pairs


def test_snapshot_of_a_small_campaign_with_three_annotators(alice, bob, carol) -> None:
    campaign, pairs = three_annotator_campaign(alice, bob, carol)
    snapshot = quality.refresh_quality(campaign.pk)
    snapshot.refresh_from_db()  # what the dashboard reads: through the JSON column
    data = snapshot.data

    assert set(data) == {
        "overall", "per_language", "per_annotator", "kappas", "judgments_per_day", "median_seconds",
        "grade_distribution", "review_queue", "pairs_complete", "pairs_total",
    }  # fmt: skip
    assert snapshot.judgment_count == 37
    overall = data["overall"]
    assert set(overall) == SUMMARY_KEYS and all(set(overall[key]) == CELL_KEYS for key in SUMMARY_KEYS - {"n_units"})
    assert overall["n_units"] == 12
    # Per pair: (alice, bob) agree, both other pairs are one level apart.
    assert overall["exact"]["value"] == pytest.approx(1 / 3)
    assert overall["within_one"] == {"value": pytest.approx(1.0), "low": pytest.approx(1.0), "high": pytest.approx(1.0)}
    for key in ("alpha_ordinal", "alpha_interval", "alpha_nominal", "exact"):
        cell = overall[key]
        assert cell["low"] <= cell["value"] <= cell["high"]
    assert 0.3 < overall["alpha_interval"]["value"] < 1
    assert set(data["per_language"]) == {"en", "de"}
    assert (data["per_language"]["en"]["n_units"], data["per_language"]["de"]["n_units"]) == (8, 4)

    annotators = data["per_annotator"]
    assert [a["annotator"] for a in annotators] == ["alice", "bob", "carol"]
    assert [a["judgments"] for a in annotators] == [12, 12, 13]
    assert [a["median_seconds"] for a in annotators] == [2.0, 4.0, 6.0]
    assert all(set(a["alpha_vs_rest"]) == CELL_KEYS for a in annotators)
    # Alice's and Bob's grade equals the others' lower median on every pair; Carol's never does.
    assert annotators[0]["alpha_vs_rest"]["value"] == pytest.approx(1.0)
    assert annotators[2]["alpha_vs_rest"]["value"] < annotators[0]["alpha_vs_rest"]["value"]
    assert annotators[0]["gold_judged"] == 0 and annotators[0]["flagged"] is False

    kappas = {(k["a"], k["b"]): k for k in data["kappas"]}
    assert set(kappas) == {("alice", "bob"), ("alice", "carol"), ("bob", "carol")}
    assert kappas[("alice", "bob")]["kappa"] == pytest.approx(1.0) and kappas[("alice", "bob")]["n"] == 12
    assert kappas[("alice", "carol")]["kappa"] < 1

    assert data["judgments_per_day"] == [{"day": timezone.now().date().isoformat(), "count": 37}]
    assert data["median_seconds"] == 4.0
    assert data["grade_distribution"] == {"1": 6, "2": 9, "3": 9, "4": 9, "5": 3, "skip": 1}
    assert (data["review_queue"], data["pairs_complete"], data["pairs_total"]) == (0, 12, 13)
    json.dumps(data, allow_nan=False)
    date.fromisoformat(data["judgments_per_day"][0]["day"])


def test_snapshot_with_too_little_data_holds_nulls(alice) -> None:
    pair = make_pairs(1)[0]
    campaign = make_campaign([pair], [alice], n=1)
    judge(campaign, alice, pair, 4)
    data = quality.compute_snapshot(campaign, n_boot=50).data
    assert data["overall"]["n_units"] == 0
    assert data["overall"]["alpha_ordinal"] == {"value": None, "low": None, "high": None}
    assert data["per_annotator"][0]["alpha_vs_rest"] == {"value": None, "low": None, "high": None}
    assert data["kappas"] == []
    json.dumps(data, allow_nan=False)


def test_snapshots_are_reproducible_and_old_ones_are_pruned(alice, bob, carol, monkeypatch) -> None:
    campaign, _ = three_annotator_campaign(alice, bob, carol)
    monkeypatch.setattr(quality, "KEEP_SNAPSHOTS", 2)
    first = quality.compute_snapshot(campaign, n_boot=100)
    second = quality.compute_snapshot(campaign, n_boot=100)
    third = quality.compute_snapshot(campaign, n_boot=100)
    assert first.data == second.data == third.data
    assert list(QualitySnapshot.objects.values_list("pk", flat=True).order_by("pk")) == [second.pk, third.pk]


def test_refresh_of_a_missing_campaign_does_nothing(db) -> None:
    assert quality.refresh_quality(987654) is None


def test_refresh_quality_command(alice, bob, carol) -> None:
    campaign, _ = three_annotator_campaign(alice, bob, carol)
    idle = make_campaign([], name="idle")
    Campaign.objects.filter(pk=idle.pk).update(is_active=False)
    out = StringIO()
    call_command("refresh_quality", campaign=campaign.pk, stdout=out)
    assert "Campaign: 37 judgments, 12 pairs with 2+ grades" in out.getvalue()
    assert QualitySnapshot.objects.filter(campaign=campaign).count() == 1
    call_command("refresh_quality", stdout=StringIO())  # every active campaign
    assert QualitySnapshot.objects.filter(campaign=campaign).count() == 2
    assert not QualitySnapshot.objects.filter(campaign__name="idle").exists()
    with pytest.raises(CommandError, match="No campaign"):
        call_command("refresh_quality", campaign=987654)


# ---- the refresh after judgments ---------------------------------------------------------------


def test_refresh_requests_are_debounced_per_campaign(db, settings) -> None:
    settings.QUALITY_REFRESH_DEBOUNCE_S = 30
    cache.clear()
    # Campaign ids that do not exist: a worker that picks these up does nothing.
    assert tasks.refresh_quality_soon(-1) is True
    assert tasks.refresh_quality_soon(-1) is False
    assert tasks.refresh_quality_soon(-2) is True
    cache.clear()
    assert tasks.refresh_quality_soon(-1) is True


def test_a_new_judgment_asks_for_a_refresh_once_committed(alice, django_capture_on_commit_callbacks, settings) -> None:
    settings.QUALITY_REFRESH_DEBOUNCE_S = 30
    cache.clear()
    campaign = make_campaign(make_pairs(2), [alice], n=1)
    lease = queue.next_lease(campaign, alice)
    with django_capture_on_commit_callbacks() as callbacks:
        queue.submit(alice, lease.token, level=4)
        queue.submit(alice, lease.token, level=4)  # a resubmission writes nothing, asks nothing
    assert len(callbacks) == 1
    with django_capture_on_commit_callbacks(execute=True):
        queue.submit(alice, queue.next_lease(campaign, alice).token, level=2)
    assert cache.get(f"annotation:quality-refresh:{campaign.pk}") is True
    assert tasks.refresh_quality_soon(campaign.pk) is False  # already waiting


def test_the_task_is_routed_to_the_default_queue() -> None:
    from relevance_site.celery import app

    route = app.amqp.router.route({}, tasks.refresh_quality.name)
    assert route["queue"].name == "celery"


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_judgments_submitted_through_the_queue_reach_a_snapshot_via_a_real_worker(
    celery_worker_process: WorkerProcess,  # noqa: F811
    settings,
) -> None:
    settings.QUALITY_REFRESH_DEBOUNCE_S = 0
    annotators = [make_user(name, ANNOTATOR) for name in ("ann", "ben", "cat")]
    campaign = make_campaign(make_pairs(4), annotators, n=3)
    submitted = 0
    for offset, annotator in enumerate(annotators):
        while (lease := queue.next_lease(campaign, annotator)) is not None:
            queue.submit(annotator, lease.token, level=1 + (lease.campaign_pair.position + offset) % 5)
            submitted += 1
    assert submitted == 12

    deadline = time.monotonic() + 60
    while not QualitySnapshot.objects.filter(campaign=campaign, judgment_count=12).exists():
        assert time.monotonic() < deadline, celery_worker_process.log()
        time.sleep(0.25)
    snapshot = QualitySnapshot.objects.filter(campaign=campaign, judgment_count=12).latest()
    assert snapshot.data["overall"]["n_units"] == 4
    assert snapshot.data["pairs_complete"] == 4
    assert [a["annotator"] for a in snapshot.data["per_annotator"]] == ["ann", "ben", "cat"]
    assert CampaignPair.objects.filter(campaign=campaign, consensus_level__isnull=False).count() == 4
    assert AnnotatorStanding.objects.filter(campaign=campaign).count() == 3
