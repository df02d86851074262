from __future__ import annotations

import random
import threading
from datetime import timedelta

import pytest
from django.contrib.auth.models import User
from django.db import connection
from django.utils import timezone

from annotation import queue
from annotation.models import CampaignPair, Judgment, Lease
from tests.conftest import make_user
from tests.factories import make_campaign, make_pairs


def grade_all(campaign, user, level: int = 4) -> int:
    count = 0
    while (lease := queue.next_lease(campaign, user)) is not None:
        queue.submit(user, lease.token, level=level, seconds_spent=1.5)
        count += 1
    return count


def test_next_lease_serves_closest_to_completion_first(alice, bob) -> None:
    pairs = make_pairs(3)
    campaign = make_campaign(pairs, [alice, bob], n=2)
    first = queue.next_lease(campaign, alice)
    assert first.campaign_pair.pair_id == pairs[0].pk  # campaign order when nothing is started
    queue.submit(alice, first.token, level=5)
    # Bob gets the pair that already has one grade, not the next in order.
    assert queue.next_lease(campaign, bob).campaign_pair.pair_id == pairs[0].pk


def test_a_pair_is_never_offered_beyond_n_live_leases_plus_grades(alice, bob) -> None:
    carol = make_user("carol", "annotator")
    campaign = make_campaign(make_pairs(1), [alice, bob, carol], n=2)
    assert queue.next_lease(campaign, alice) is not None
    assert queue.next_lease(campaign, bob) is not None
    assert queue.next_lease(campaign, carol) is None


def test_an_annotator_never_gets_a_pair_twice(alice) -> None:
    campaign = make_campaign(make_pairs(4), [alice], n=3)
    assert grade_all(campaign, alice) == 4
    assert Judgment.objects.filter(annotator=alice).count() == 4


def test_reload_returns_the_held_lease_and_exclude_fetches_ahead(alice) -> None:
    campaign = make_campaign(make_pairs(3), [alice])
    current = queue.next_lease(campaign, alice)
    assert queue.next_lease(campaign, alice).token == current.token
    ahead = queue.next_lease(campaign, alice, exclude=(current.token,))
    assert ahead.token != current.token
    assert Lease.objects.filter(annotator=alice).count() == 2


def test_same_token_twice_gives_one_judgment(alice) -> None:
    campaign = make_campaign(make_pairs(1), [alice])
    lease = queue.next_lease(campaign, alice)
    first = queue.submit(alice, lease.token, level=3)
    second = queue.submit(alice, lease.token, level=5)
    assert first.created and not second.created
    assert second.judgment.pk == first.judgment.pk
    assert Judgment.objects.get().level == 3
    assert CampaignPair.objects.get().graded_count == 1


def test_expired_lease_returns_to_the_pool(alice, bob) -> None:
    campaign = make_campaign(make_pairs(1), [alice, bob], n=1)
    lease = queue.next_lease(campaign, alice)
    assert queue.next_lease(campaign, bob) is None
    Lease.objects.filter(pk=lease.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    assert queue.next_lease(campaign, bob) is not None


def test_late_submission_is_kept_when_the_pair_still_has_room(alice) -> None:
    campaign = make_campaign(make_pairs(1), [alice], n=1)
    lease = queue.next_lease(campaign, alice)
    Lease.objects.filter(pk=lease.pk).update(expires_at=timezone.now() - timedelta(seconds=5))
    assert queue.submit(alice, lease.token, level=2).created


def test_late_submission_is_refused_when_others_completed_the_pair(alice, bob) -> None:
    campaign = make_campaign(make_pairs(1), [alice, bob], n=1)
    late = queue.next_lease(campaign, alice)
    Lease.objects.filter(pk=late.pk).update(expires_at=timezone.now() - timedelta(seconds=5))
    taken = queue.next_lease(campaign, bob)
    queue.submit(bob, taken.token, level=4)
    with pytest.raises(queue.PairAlreadyComplete):
        queue.submit(alice, late.token, level=2)
    assert Judgment.objects.count() == 1
    assert not Lease.objects.filter(token=late.token).exists()  # released, so she moves on
    assert CampaignPair.objects.get().graded_count == 1


def test_skips_do_not_count_towards_n_but_are_not_offered_again(alice, bob) -> None:
    campaign = make_campaign(make_pairs(1), [alice, bob], n=1)
    lease = queue.next_lease(campaign, alice)
    queue.submit(alice, lease.token, skip_reason="image", skip_note="404")
    assert queue.next_lease(campaign, alice) is None
    assert queue.next_lease(campaign, bob) is not None
    assert CampaignPair.objects.get().graded_count == 0


@pytest.mark.parametrize("kwargs", [{}, {"level": 6}, {"level": 0}, {"level": 3, "skip_reason": "other"}])
def test_bad_submissions_are_refused_and_change_nothing(alice, kwargs) -> None:
    campaign = make_campaign(make_pairs(1), [alice])
    lease = queue.next_lease(campaign, alice)
    with pytest.raises(queue.QueueError):
        queue.submit(alice, lease.token, **kwargs)
    assert Judgment.objects.count() == 0
    assert Lease.objects.filter(token=lease.token).exists()


def test_someone_elses_token_is_refused(alice, bob) -> None:
    campaign = make_campaign(make_pairs(1), [alice, bob])
    lease = queue.next_lease(campaign, alice)
    with pytest.raises(queue.UnknownToken):
        queue.submit(bob, lease.token, level=3)


def test_non_members_get_nothing(alice, outsider) -> None:
    campaign = make_campaign(make_pairs(1), [alice])
    with pytest.raises(queue.NotAMember):
        queue.next_lease(campaign, outsider)


def test_undo_takes_back_the_last_grade_and_shows_the_pair_again(alice) -> None:
    campaign = make_campaign(make_pairs(2), [alice])
    lease = queue.next_lease(campaign, alice)
    queue.submit(alice, lease.token, level=5)
    again = queue.undo_last(campaign, alice)
    assert again.token == lease.token
    assert Judgment.objects.count() == 0
    assert CampaignPair.objects.get(pk=lease.campaign_pair_id).graded_count == 0
    assert queue.next_lease(campaign, alice).token == lease.token
    assert queue.submit(alice, lease.token, level=4).judgment.level == 4


def test_undo_is_limited_to_the_lease_window(alice) -> None:
    campaign = make_campaign(make_pairs(1), [alice], lease_seconds=60)
    lease = queue.next_lease(campaign, alice)
    judgment = queue.submit(alice, lease.token, level=5).judgment
    Judgment.objects.filter(pk=judgment.pk).update(created_at=timezone.now() - timedelta(seconds=61))
    assert queue.undo_last(campaign, alice) is None
    assert Judgment.objects.count() == 1


def test_gold_pairs_are_mixed_in_at_the_rate_and_have_no_cap(alice, bob) -> None:
    pairs = make_pairs(10)
    gold = {pairs[0].pk: 5}
    campaign = make_campaign(pairs, [alice, bob], n=1, gold_rate=1.0, gold=gold)
    # rate 1.0: the gold pair comes first for both annotators although n=1.
    for user in (alice, bob):
        lease = queue.next_lease(campaign, user, rng=random.Random(0))
        assert lease.campaign_pair.is_gold
        queue.submit(user, lease.token, level=5)
    assert Judgment.objects.filter(pair=pairs[0]).count() == 2


def test_progress_counts_campaign_and_today(alice) -> None:
    campaign = make_campaign(make_pairs(4), [alice], n=2)
    grade_all(campaign, alice)
    p = queue.progress(campaign, alice)
    assert (p.campaign_graded, p.campaign_target, p.mine_total, p.mine_today) == (4, 8, 4, 4)
    assert p.campaign_fraction == 0.5


@pytest.mark.django_db(transaction=True)
def test_parallel_annotators_fill_every_pair_exactly_n_times() -> None:
    assert connection.vendor == "postgresql", "row locks are only real on PostgreSQL"
    users = [make_user(f"ann{i}", "annotator") for i in range(8)]
    campaign = make_campaign(make_pairs(40), users, n=3)
    errors: list[BaseException] = []

    def work(user: User) -> None:
        try:
            grade_all(campaign, user, level=random.randint(1, 5))
        except BaseException as error:  # surfaced by the assertion below
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=work, args=(u,)) for u in users]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    counts = list(CampaignPair.objects.values_list("graded_count", flat=True))
    assert counts == [3] * 40
    assert Judgment.objects.count() == 120
    assert Lease.objects.count() == 0


def test_progress_follows_grades_and_undo_while_the_campaign_sum_is_cached(alice, bob) -> None:
    campaign = make_campaign(make_pairs(3), [alice, bob], n=2)
    assert queue.progress(campaign, alice).campaign_graded == 0  # sums and caches
    lease = queue.next_lease(campaign, alice)
    queue.submit(alice, lease.token, level=4)
    queue.submit(alice, lease.token, level=4)  # a resubmission is not counted twice
    assert queue.progress(campaign, bob).campaign_graded == 1
    queue.undo_last(campaign, alice)
    assert queue.progress(campaign, bob).campaign_graded == 0
