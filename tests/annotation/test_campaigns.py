from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.utils import timezone

from annotation import campaigns
from annotation.campaigns import CampaignError, campaign_progress, create_campaign, pairs_matching, select_queries
from annotation.default_guideline import install_default_guideline
from annotation.models import Campaign, CampaignPair, Guideline, Judgment, Lease, Pair, Pin, Pool, Query, SkipReason

# The world: 4 English queries × 3 pins in the human pool (the first pin of each labeled 4),
# 2 German queries × 2 pins in the unlabeled pool.
EN_QUERIES, EN_PINS, DE_QUERIES, DE_PINS = 4, 3, 2, 2


def _make_pairs(language: str, queries: int, pins: int, pool: str, label_first: int | None) -> list[Pair]:
    made = []
    for q in range(queries):
        query = Query.objects.create(external_id=f"{language}-q{q}", text=f"{language} query {q}", language=language)
        for p in range(pins):
            pin = Pin.objects.create(external_id=f"{language}-q{q}-pin{p}", title=f"pin {p} of {query.text}")
            label = label_first if p == 0 else None
            made.append(Pair.objects.create(query=query, pin=pin, pool=pool, label=label))
    return made


@pytest.fixture
def world(db: None) -> dict[str, list[Pair]]:
    return {
        "en": _make_pairs("en", EN_QUERIES, EN_PINS, Pool.HUMAN, label_first=4),
        "de": _make_pairs("de", DE_QUERIES, DE_PINS, Pool.UNLABELED, label_first=None),
    }


@pytest.fixture
def guideline(db: None) -> Guideline:
    return install_default_guideline()


def _create(guideline: Guideline, pairs: Any = None, **overrides: Any) -> Campaign:
    options: dict[str, Any] = {
        "name": "Spring",
        "guideline": guideline,
        "pairs": Pair.objects.all() if pairs is None else pairs,
        "judgments_per_pair": 3,
        "gold_rate": 0.0,
        "lease_seconds": 120,
        "members": [],
    }
    return create_campaign(**{**options, **overrides})


def _pair_ids(campaign: Campaign) -> set[int]:
    return set(campaign.campaign_pairs.values_list("pair_id", flat=True))


def _ordered_query_ids(campaign: Campaign) -> list[int]:
    return list(campaign.campaign_pairs.order_by("position").values_list("pair__query_id", flat=True))


# create_campaign ---------------------------------------------------------------------------


def test_creates_a_campaign_with_its_settings_and_members(
    world: dict[str, list[Pair]], guideline: Guideline, alice: User, bob: User
) -> None:
    campaign = _create(guideline, judgments_per_pair=2, gold_rate=0.0, lease_seconds=90, members=[alice, bob])
    campaign.refresh_from_db()
    assert (campaign.name, campaign.guideline, campaign.judgments_per_pair, campaign.lease_seconds) == (
        "Spring",
        guideline,
        2,
        90,
    )
    assert set(campaign.members.all()) == {alice, bob}
    assert _pair_ids(campaign) == {pair.pk for pair in world["en"] + world["de"]}
    assert not campaign.campaign_pairs.filter(is_gold=True).exists()


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        ({"languages": ["de"]}, lambda w: w["de"]),
        ({"languages": ["en", "de"]}, lambda w: w["en"] + w["de"]),
        ({"pools": [Pool.HUMAN]}, lambda w: w["en"]),
        ({"pools": [Pool.UNLABELED, Pool.EVALUATION]}, lambda w: w["de"]),
        ({"labeled": True}, lambda w: w["en"][::EN_PINS]),
        ({"labeled": False}, lambda w: [p for p in w["en"] if p.label is None] + w["de"]),
        ({"languages": ["en"], "labeled": False}, lambda w: [p for p in w["en"] if p.label is None]),
    ],
)
def test_pairs_are_selected_by_language_pool_and_label(
    world: dict[str, list[Pair]], guideline: Guideline, filters: dict[str, Any], expected: Any
) -> None:
    campaign = _create(guideline, pairs_matching(Pair.objects.all(), **filters))
    assert _pair_ids(campaign) == {pair.pk for pair in expected(world)}


def test_order_keeps_each_query_together_and_is_reproducible(
    world: dict[str, list[Pair]], guideline: Guideline
) -> None:
    first = _create(guideline, name="a", seed=5)
    positions = list(first.campaign_pairs.order_by("position").values_list("position", flat=True))
    assert positions == list(range(len(world["en"]) + len(world["de"])))
    order = _ordered_query_ids(first)
    runs = [query for i, query in enumerate(order) if i == 0 or order[i - 1] != query]
    assert len(runs) == len(set(runs)) == EN_QUERIES + DE_QUERIES  # each query's pairs are contiguous
    assert _ordered_query_ids(_create(guideline, name="b", seed=5)) == order
    orders = {tuple(_ordered_query_ids(_create(guideline, name=f"s{seed}", seed=seed))) for seed in range(6)}
    assert len(orders) > 1  # the seed shuffles the queries


def test_pairs_of_one_query_follow_pair_id(world: dict[str, list[Pair]], guideline: Guideline) -> None:
    campaign = _create(guideline, seed=3)
    rows = campaign.campaign_pairs.order_by("position").values_list("pair__query_id", "pair_id")
    by_query: dict[int, list[int]] = {}
    for query_id, pair_id in rows:
        by_query.setdefault(query_id, []).append(pair_id)
    assert all(ids == sorted(ids) for ids in by_query.values())


def test_query_sample_takes_whole_queries_reproducibly(world: dict[str, list[Pair]], guideline: Guideline) -> None:
    campaign = _create(guideline, name="a", query_sample=3, seed=11)
    queries = set(_ordered_query_ids(campaign))
    assert len(queries) == 3
    whole = set(Pair.objects.filter(query_id__in=queries).values_list("pk", flat=True))
    assert _pair_ids(campaign) == whole
    again = _create(guideline, name="b", query_sample=3, seed=11)
    assert _ordered_query_ids(again) == _ordered_query_ids(campaign)
    samples = {frozenset(select_queries(Pair.objects.all(), query_sample=3, seed=s).query_order) for s in range(8)}
    assert len(samples) > 1  # different seeds, different samples


def test_query_sample_within_a_filter_and_larger_than_available(
    world: dict[str, list[Pair]], guideline: Guideline
) -> None:
    german = pairs_matching(Pair.objects.all(), languages=["de"])
    campaign = _create(guideline, german, query_sample=50)
    assert _pair_ids(campaign) == {pair.pk for pair in world["de"]}


def test_gold_from_labels_marks_labeled_pairs_with_their_label(
    world: dict[str, list[Pair]], guideline: Guideline
) -> None:
    campaign = _create(guideline, gold_rate=0.1, gold_from_labels=True)
    gold = dict(campaign.campaign_pairs.filter(is_gold=True).values_list("pair_id", "gold_level"))
    assert gold == {pair.pk: 4 for pair in world["en"][::EN_PINS]}
    assert campaign.campaign_pairs.filter(is_gold=False).count() == len(world["en"]) + len(world["de"]) - EN_QUERIES


def test_gold_from_labels_with_a_zero_gold_rate_marks_nothing(
    world: dict[str, list[Pair]], guideline: Guideline
) -> None:
    campaign = _create(guideline, gold_rate=0.0, gold_from_labels=True)
    assert not campaign.campaign_pairs.filter(is_gold=True).exists()


def test_large_selections_are_written_in_batches(
    world: dict[str, list[Pair]], guideline: Guideline, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(campaigns, "BATCH_SIZE", 4)  # 16 pairs: four full batches and an empty tail
    campaign = _create(guideline)
    positions = sorted(campaign.campaign_pairs.values_list("position", flat=True))
    assert positions == list(range(16))


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"pairs": lambda: pairs_matching(Pair.objects.all(), languages=["fr"])}, None),
        ({"judgments_per_pair": 0}, "judgments_per_pair"),
        ({"gold_rate": 1.5}, "gold_rate"),
        ({"gold_rate": -0.1}, "gold_rate"),
        ({"gold_rate": 0.2}, "gold_rate"),  # a gold rate but no gold pairs
        ({"gold_rate": 0.2, "gold_from_labels": True, "pairs": lambda: Pair.objects.filter(label=None)}, "gold_rate"),
        ({"gold_rate": 0.2, "gold_from_labels": True, "pairs": lambda: Pair.objects.exclude(label=None)}, None),
        ({"lease_seconds": 0}, "lease_seconds"),
        ({"query_sample": 0}, "query_sample"),
        ({"name": "  "}, "name"),
        ({"name": "Taken"}, "name"),
    ],
)
def test_every_refusal_writes_nothing(
    world: dict[str, list[Pair]], guideline: Guideline, alice: User, overrides: dict[str, Any], field: str | None
) -> None:
    Campaign.objects.create(name="Taken", guideline=guideline)
    options = {key: value() if callable(value) else value for key, value in overrides.items()}
    with pytest.raises(CampaignError) as refused:
        _create(guideline, members=[alice], **options)
    assert refused.value.field == field
    assert str(refused.value)
    assert list(Campaign.objects.values_list("name", flat=True)) == ["Taken"]
    assert CampaignPair.objects.count() == 0
    assert not alice.campaigns.exists()


# campaign_progress --------------------------------------------------------------------------


def test_progress_counts_a_small_campaign(
    world: dict[str, list[Pair]], guideline: Guideline, alice: User, bob: User, outsider: User
) -> None:
    english = pairs_matching(Pair.objects.all(), languages=["en"])
    campaign = _create(guideline, english, judgments_per_pair=2, gold_rate=0.5, gold_from_labels=True)
    regular = list(campaign.campaign_pairs.filter(is_gold=False).order_by("position"))
    gold = campaign.campaign_pairs.filter(is_gold=True).first()

    def judge(campaign_pair: CampaignPair, who: User, seconds: float, level: int | None = 3) -> Judgment:
        skip = "" if level else SkipReason.UNSURE
        if level:
            CampaignPair.objects.filter(pk=campaign_pair.pk).update(graded_count=campaign_pair.graded_count + 1)
            campaign_pair.refresh_from_db()
        return Judgment.objects.create(
            pair_id=campaign_pair.pair_id,
            annotator=who,
            campaign=campaign,
            level=level,
            skip_reason=skip,
            seconds_spent=seconds,
        )

    judge(regular[0], alice, 2.0)
    judge(regular[0], bob, 9.0)  # the first pair is complete
    old = judge(regular[1], alice, 4.0)
    Judgment.objects.filter(pk=old.pk).update(created_at=timezone.now() - timedelta(days=2))
    judge(regular[1], bob, 100.0, level=None)  # a skip: no grade, no seconds in the median
    judge(gold, alice, 6.0, level=4)
    now = timezone.now()
    Lease.objects.create(campaign_pair=regular[2], annotator=alice, expires_at=now + timedelta(minutes=1))
    Lease.objects.create(campaign_pair=regular[2], annotator=bob, expires_at=now - timedelta(minutes=1))

    assert campaign_progress(campaign) == {
        "pairs": EN_QUERIES * EN_PINS,
        "gold_pairs": EN_QUERIES,
        "complete_pairs": 1,
        "graded": 3,  # gold grades do not count towards the target
        "target": (EN_QUERIES * EN_PINS - EN_QUERIES) * 2,
        "skips": 1,
        "active_leases": 1,
        "judgments_today": 4,
        "median_seconds": 5.0,  # of 2, 4, 6, 9
    }


def test_progress_of_an_untouched_campaign(world: dict[str, list[Pair]], guideline: Guideline) -> None:
    progress = campaign_progress(_create(guideline, judgments_per_pair=3))
    assert progress["graded"] == 0
    assert progress["target"] == 16 * 3
    assert progress["median_seconds"] is None


def test_progress_takes_a_fixed_number_of_queries(
    world: dict[str, list[Pair]], guideline: Guideline, alice: User, django_assert_max_num_queries: Any
) -> None:
    campaign = _create(guideline)
    for campaign_pair in campaign.campaign_pairs.all()[:5]:
        Judgment.objects.create(pair_id=campaign_pair.pair_id, annotator=alice, campaign=campaign, level=2)
    with django_assert_max_num_queries(4):
        campaign_progress(campaign)


# The admin ----------------------------------------------------------------------------------

CREATE_URL = "/admin/annotation/campaign/create/"


def _form(guideline: Guideline, members: list[User], **fields: Any) -> dict[str, Any]:
    form: dict[str, Any] = {
        "name": "From the admin",
        "description": "",
        "guideline": guideline.pk,
        "judgments_per_pair": 2,
        "gold_rate": 0,
        "lease_seconds": 200,
        "members": [member.pk for member in members],
        "seed": 0,
    }
    return {**form, **fields}


def test_engineer_previews_the_count_without_creating(
    client: Client, engineer: User, world: dict[str, list[Pair]], guideline: Guideline
) -> None:
    client.force_login(engineer)
    page = client.get(CREATE_URL)
    assert page.status_code == 200
    assert 'value="de"' in page.content.decode()  # languages of the stored queries are offered
    response = client.post(CREATE_URL, {"languages": ["en"], "labeled": "no", "seed": 0, "_preview": "1"})
    assert response.status_code == 200
    assert response.context["selection"].pairs == EN_QUERIES * (EN_PINS - 1)
    assert response.context["selection"].queries == EN_QUERIES
    html = response.content.decode()
    assert "<strong>8</strong> pairs from 4 queries match" in html
    assert "errorlist" not in html  # a preview does not nag about the unfilled campaign settings
    assert not Campaign.objects.exists()


def test_engineer_creates_a_campaign_and_lands_on_it(
    client: Client, engineer: User, alice: User, bob: User, world: dict[str, list[Pair]], guideline: Guideline
) -> None:
    client.force_login(engineer)
    form = _form(guideline, [alice, bob], languages=["en"], query_sample=2, seed=4, _create="1")
    response = client.post(CREATE_URL, form)
    campaign = Campaign.objects.get()
    assert response.status_code == 302
    assert response["Location"] == f"/admin/annotation/campaign/{campaign.pk}/change/"
    assert (campaign.name, campaign.judgments_per_pair, campaign.lease_seconds) == ("From the admin", 2, 200)
    assert set(campaign.members.all()) == {alice, bob}
    assert campaign.campaign_pairs.count() == 2 * EN_PINS
    page = client.get(response["Location"])
    assert "Created campaign “From the admin” with 6 pairs." in page.content.decode()


def test_a_refused_campaign_shows_why_and_writes_nothing(
    client: Client, engineer: User, world: dict[str, list[Pair]], guideline: Guideline
) -> None:
    client.force_login(engineer)
    response = client.post(CREATE_URL, _form(guideline, [], gold_rate=0.3, _create="1"))
    assert response.status_code == 400
    assert "A gold rate above 0 needs gold pairs" in response.content.decode()
    response = client.post(CREATE_URL, _form(guideline, [], languages=["de"], labeled="yes", _create="1"))
    assert response.status_code == 400
    assert "No pairs match the selection." in response.content.decode()
    response = client.post(CREATE_URL, _form(guideline, [], name="", judgments_per_pair=0, _create="1"))
    assert response.status_code == 400
    assert set(response.context["campaign_form"].errors) == {"name", "judgments_per_pair"}
    assert not Campaign.objects.exists()


def test_members_are_annotators(
    client: Client, engineer: User, alice: User, reviewer: User, guideline: Guideline
) -> None:
    client.force_login(engineer)
    members = client.get(CREATE_URL).context["campaign_form"].fields["members"].queryset
    assert list(members) == [alice]


def test_reviewers_may_not_create_campaigns(
    client: Client, reviewer: User, world: dict[str, list[Pair]], guideline: Guideline
) -> None:
    client.force_login(reviewer)
    assert client.get(CREATE_URL).status_code == 403
    assert client.post(CREATE_URL, _form(guideline, [], _create="1")).status_code == 403
    listing = client.get("/admin/annotation/campaign/").content.decode()
    assert "Create from pairs" not in listing
    assert not Campaign.objects.exists()


def test_campaign_list_and_home_page_link_to_the_create_page(client: Client, engineer: User, db: None) -> None:
    client.force_login(engineer)
    assert f'href="{CREATE_URL}"' in client.get("/admin/annotation/campaign/").content.decode()
    assert f'href="{CREATE_URL}"' in client.get("/").content.decode()


def _action(ids: list[int], **extra: Any) -> dict[str, Any]:
    return {"action": "create_campaign_from_pairs", "_selected_action": ids, **extra}


def test_pair_action_opens_the_form_with_the_selection(
    client: Client, engineer: User, alice: User, world: dict[str, list[Pair]], guideline: Guideline
) -> None:
    client.force_login(engineer)
    chosen = [world["en"][1].pk, world["de"][0].pk, world["de"][3].pk]
    page = client.post("/admin/annotation/pair/", _action(chosen, index=0))
    assert page.status_code == 200
    assert page.context["base_count"] == 3
    html = page.content.decode()
    assert all(f'name="_selected_action" value="{pk}"' in html for pk in chosen)
    preview = client.post("/admin/annotation/pair/", {**_action(chosen), "languages": ["de"], "_preview": "1"})
    assert preview.context["selection"].pairs == 2
    created = client.post("/admin/annotation/pair/", {**_action(chosen), **_form(guideline, [alice], _create="1")})
    assert created.status_code == 302
    assert _pair_ids(Campaign.objects.get()) == set(chosen)


def test_pair_action_across_all_filtered_pairs(
    client: Client, engineer: User, world: dict[str, list[Pair]], guideline: Guideline
) -> None:
    client.force_login(engineer)
    url = "/admin/annotation/pair/?pool__exact=unlabeled"
    form = {**_action([world["de"][0].pk], select_across="1"), **_form(guideline, [], _create="1")}
    assert client.post(url, form).status_code == 302
    assert _pair_ids(Campaign.objects.get()) == {pair.pk for pair in world["de"]}


def test_reviewers_do_not_get_the_pair_action(
    client: Client, reviewer: User, world: dict[str, list[Pair]], guideline: Guideline
) -> None:
    client.force_login(reviewer)
    listing = client.get("/admin/annotation/pair/")
    assert "create_campaign_from_pairs" not in listing.content.decode()
    form = {**_action([world["de"][0].pk], index=0), **_form(guideline, [], _create="1")}
    client.post("/admin/annotation/pair/", form)
    assert not Campaign.objects.exists()


def test_campaign_list_shows_progress_members_and_settings(
    client: Client, engineer: User, alice: User, bob: User, world: dict[str, list[Pair]], guideline: Guideline
) -> None:
    campaign = _create(guideline, pairs_matching(Pair.objects.all(), languages=["de"]), judgments_per_pair=2)
    campaign.members.set([alice, bob])
    first = campaign.campaign_pairs.order_by("position").first()
    CampaignPair.objects.filter(pk=first.pk).update(graded_count=2)
    client.force_login(engineer)
    response = client.get("/admin/annotation/campaign/")
    row = response.context["cl"].result_list[0]
    assert (row.pair_total, row.complete_total, row.graded_total, row.target_total, row.member_total) == (4, 1, 2, 8, 2)
    html = response.content.decode()
    assert '<progress value="2" max="8"></progress> 2 / 8 (25%)' in html
    assert "1 / 4" in html


def test_change_page_shows_progress_and_edits_settings(
    client: Client, engineer: User, alice: User, bob: User, world: dict[str, list[Pair]], guideline: Guideline
) -> None:
    campaign = _create(guideline, members=[alice])
    client.force_login(engineer)
    url = f"/admin/annotation/campaign/{campaign.pk}/change/"
    html = client.get(url).content.decode()
    assert "<th>Graded judgments</th><td>0 / 48 (0%)</td>" in html
    assert "<th>Median seconds per judgment</th><td>—</td>" in html
    form = {
        "name": campaign.name,
        "description": "",
        "guideline": guideline.pk,
        "is_active": "",
        "judgments_per_pair": 5,
        "gold_rate": 0,
        "gold_threshold": 0.7,
        "lease_seconds": 60,
        "members": [alice.pk, bob.pk],
    }
    assert client.post(url, form).status_code == 302
    campaign.refresh_from_db()
    assert (campaign.judgments_per_pair, campaign.lease_seconds, campaign.is_active) == (5, 60, False)
    assert campaign.gold_threshold == 0.7
    assert set(campaign.members.all()) == {alice, bob}


def test_judgment_list_shows_seconds_spent(
    client: Client, engineer: User, alice: User, world: dict[str, list[Pair]], guideline: Guideline
) -> None:
    campaign = _create(guideline)
    Judgment.objects.create(pair=world["de"][0], annotator=alice, campaign=campaign, level=2, seconds_spent=7.25)
    client.force_login(engineer)
    assert '<td class="field-seconds_spent">7.25</td>' in client.get("/admin/annotation/judgment/").content.decode()
