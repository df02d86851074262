from __future__ import annotations

import json
from io import StringIO

import pytest
from django.contrib.auth.models import User
from django.core.management import CommandError, call_command

from annotation import quality
from annotation.models import Judgment, Pair
from tests.factories import make_campaign, make_pairs


def demo_campaign(count: int = 30) -> tuple[str, list[Pair]]:
    pairs = make_pairs(count)
    for i, pair in enumerate(pairs):
        pair.label = (5, 4, 2, None, 1)[i % 5]
    Pair.objects.bulk_update(pairs, ["label"])
    return make_campaign(pairs, name="ESCI demo (full text)", n=3).name, pairs


def simulate(name: str, *extra: str) -> dict[str, object]:
    out = StringIO()
    call_command("simulate_judgments", "--campaign", name, "--annotators", "3", "--seed", "0", *extra, stdout=out)
    return json.loads(out.getvalue().strip().splitlines()[-1])


@pytest.mark.django_db
def test_three_simulated_annotators_judge_every_pair_through_the_queue(settings) -> None:
    settings.DEBUG = True
    name, pairs = demo_campaign()
    summary = simulate(name, "--noise", "1.0")
    sims = list(User.objects.filter(username__startswith="sim-annotator-").order_by("username"))
    assert [user.username for user in sims] == ["sim-annotator-1", "sim-annotator-2", "sim-annotator-3"]
    assert all(user.campaigns.filter(name=name).exists() and not user.has_usable_password() for user in sims)
    judgments = Judgment.objects.filter(campaign__name=name)
    assert judgments.count() == 3 * len(pairs)
    assert summary["grades"] + summary["skips"] == 3 * len(pairs)
    assert all(judgment.token is not None for judgment in judgments)  # each came through a lease
    seconds = list(judgments.values_list("seconds_spent", flat=True))
    assert min(seconds) > 1 and max(seconds) <= 240 and len(set(seconds)) > len(seconds) // 2
    in_review = quality.review_queue().filter(campaign__name=name).count()
    assert summary["review_queue"] == in_review > 0
    assert summary["snapshot"] is not None and summary["alpha_ordinal"] is not None
    assert len({judgment.created_at.date() for judgment in judgments}) > 1  # spread over days


@pytest.mark.django_db
def test_simulating_again_with_the_same_seed_changes_nothing(settings) -> None:
    settings.DEBUG = True
    name, pairs = demo_campaign(10)
    first = simulate(name)
    levels = list(Judgment.objects.order_by("pk").values_list("pair_id", "annotator_id", "level"))
    again = simulate(name)
    assert (again["grades"], again["skips"]) == (0, 0)
    assert list(Judgment.objects.order_by("pk").values_list("pair_id", "annotator_id", "level")) == levels
    assert first["grades"] + first["skips"] == 30


@pytest.mark.django_db
def test_simulation_refuses_to_run_in_production(settings) -> None:
    settings.DEBUG = False
    name, _ = demo_campaign(3)
    with pytest.raises(CommandError, match="DJANGO_DEBUG=false"):
        simulate(name)
    assert not Judgment.objects.exists()
    summary = simulate(name, "--allow-production")
    assert summary["grades"] + summary["skips"] == Judgment.objects.count() == 9
