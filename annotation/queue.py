"""Handing out pairs to annotators and taking their grades back, safely under concurrency.

A campaign wants N graded judgments per pair. A pair is offered to an annotator only while
`graded + live leases < N`; taking it writes a Lease (with an expiry) under the pair's row lock,
taken with `SELECT … FOR UPDATE SKIP LOCKED` so that concurrent annotators never wait on each
other and never both take the last slot. Submissions carry the lease token, so a double click,
a retry or a late resubmission finds the judgment it already made instead of writing a second.

Skips do not count towards N (the pair still needs N grades), but the annotator who skipped is
not offered the pair again. Gold pairs are served to everybody, at the campaign's gold rate,
and have no N.
"""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.db.models import Count, Exists, F, IntegerField, OuterRef, Q, QuerySet, Subquery, Sum
from django.db.models.functions import Coalesce, Least
from django.utils import timezone

from annotation.models import Campaign, CampaignPair, Judgment, Lease

MAX_SECONDS_SPENT = 3600.0
MAX_CANDIDATE_TRIES = 5


class QueueError(Exception):
    """A submission or request the queue refuses; the message is meant for the annotator."""


class NotAMember(QueueError):
    pass


class UnknownToken(QueueError):
    pass


class PairAlreadyComplete(QueueError):
    """The lease expired and, meanwhile, the pair reached its N judgments."""


@dataclass(frozen=True)
class Submission:
    judgment: Judgment
    created: bool


@dataclass(frozen=True)
class Progress:
    campaign_graded: int  # graded judgments in the campaign (gold excluded), capped at N per pair
    campaign_target: int  # non-gold pairs × N
    mine_total: int  # this annotator's judgments in the campaign, skips included
    mine_today: int  # of which since midnight (server time zone)

    @property
    def campaign_fraction(self) -> float:
        return self.campaign_graded / self.campaign_target if self.campaign_target else 1.0


def campaigns_for(user: AbstractBaseUser) -> QuerySet[Campaign]:
    """Active campaigns the user is a member of."""
    return Campaign.objects.filter(is_active=True, members=user)


def _check_member(campaign: Campaign, annotator: AbstractBaseUser) -> None:
    if not campaign.members.filter(pk=annotator.pk).exists():
        raise NotAMember("You are not a member of this campaign.")


def _live_leases(now: datetime) -> Q:
    return Q(expires_at__gt=now)


def _candidates(campaign: Campaign, annotator: AbstractBaseUser, gold: bool, now: datetime) -> QuerySet[CampaignPair]:
    judged = Judgment.objects.filter(pair=OuterRef("pair_id"), annotator=annotator)
    mine = Lease.objects.filter(campaign_pair=OuterRef("pk"), annotator=annotator).filter(_live_leases(now))
    rows = (
        CampaignPair.objects.filter(campaign=campaign, is_gold=gold)
        .filter(~Exists(judged), ~Exists(mine))
        .order_by("-graded_count", "position")
    )
    if gold:
        return rows
    live = (
        Lease.objects.filter(campaign_pair=OuterRef("pk"))
        .filter(_live_leases(now))
        .values("campaign_pair")
        .annotate(n=Count("pk"))
        .values("n")
    )
    n = campaign.judgments_per_pair
    return (
        rows.filter(graded_count__lt=n)
        .annotate(live=Coalesce(Subquery(live, output_field=IntegerField()), 0))
        .filter(live__lt=n - F("graded_count"))
    )


def _take(campaign: Campaign, annotator: AbstractBaseUser, gold: bool, now: datetime) -> CampaignPair | None:
    """Lock the best candidate row, then confirm it still has room.

    The candidate query counts live leases in its own snapshot; a lease committed by another
    annotator just before we locked the row is not in it. Under the row lock a fresh count is
    exact, so a stale candidate is passed over and the next one tried.
    """
    passed_over: list[int] = []
    for _ in range(MAX_CANDIDATE_TRIES):
        rows = _candidates(campaign, annotator, gold, now).exclude(pk__in=passed_over)
        chosen = rows.select_for_update(skip_locked=True, of=("self",)).first()
        if chosen is None or gold or _has_room(chosen, campaign.judgments_per_pair, now):
            return chosen
        passed_over.append(chosen.pk)
    return None


def _has_room(campaign_pair: CampaignPair, n: int, now: datetime, *, besides: Lease | None = None) -> bool:
    """Under the row's lock: may one more lease or grade be given to this pair?"""
    live = campaign_pair.leases.filter(_live_leases(now))
    if besides is not None:
        live = live.exclude(pk=besides.pk)
    fresh = CampaignPair.objects.values_list("graded_count", flat=True).get(pk=campaign_pair.pk)
    return fresh + live.count() < n


def _lease(campaign_pair: CampaignPair, annotator: AbstractBaseUser, now: datetime, seconds: int) -> Lease:
    # The token stays with (pair, annotator) across renewals: a late submission still finds it.
    lease, _ = Lease.objects.update_or_create(
        campaign_pair=campaign_pair,
        annotator=annotator,
        defaults={"expires_at": now + timedelta(seconds=seconds)},
    )
    return lease


@transaction.atomic
def next_lease(
    campaign: Campaign,
    annotator: AbstractBaseUser,
    *,
    exclude: tuple[uuid.UUID, ...] = (),
    rng: random.Random | None = None,
) -> Lease | None:
    """The annotator's next pair as a live lease, or None when the campaign has nothing left for them.

    A live lease the annotator already holds (a reload, the prefetched next pair) comes back first,
    renewed; `exclude` names tokens the caller is already showing.
    """
    _check_member(campaign, annotator)
    now = timezone.now()
    held = (
        Lease.objects.filter(campaign_pair__campaign=campaign, annotator=annotator)
        .filter(_live_leases(now))
        .exclude(token__in=exclude)
        .order_by("created_at")
        .first()
    )
    if held is not None:
        held.expires_at = now + timedelta(seconds=campaign.lease_seconds)
        held.save(update_fields=["expires_at"])
        return held
    want_gold = campaign.gold_rate > 0 and (rng or random).random() < campaign.gold_rate
    chosen = _take(campaign, annotator, want_gold, now) or (
        _take(campaign, annotator, False, now) if want_gold else None
    )
    if chosen is None:
        return None
    return _lease(chosen, annotator, now, campaign.lease_seconds)


def _existing(token: uuid.UUID, annotator: AbstractBaseUser) -> Judgment | None:
    judgment = Judgment.objects.filter(token=token).first()
    if judgment is not None and judgment.annotator_id != annotator.pk:
        raise UnknownToken("This form does not belong to you.")
    return judgment


def submit(
    annotator: AbstractBaseUser,
    token: uuid.UUID,
    *,
    level: int | None = None,
    skip_reason: str = "",
    skip_note: str = "",
    seconds_spent: float = 0.0,
) -> Submission:
    """Record a grade (level 1–5) or a skip for the leased pair. Safe to call again with the same token.

    Raises PairAlreadyComplete when the lease had expired and the pair meanwhile got its N grades;
    the stale lease is released all the same, so the annotator moves on.
    """
    if (level is None) == (not skip_reason):
        raise QueueError("Give either a level from 1 to 5 or a skip reason.")
    if level is not None and not 1 <= level <= 5:
        raise QueueError("The level must be between 1 and 5.")
    with transaction.atomic():
        outcome = _submit_locked(annotator, token, level, skip_reason, skip_note, seconds_spent)
    if isinstance(outcome, QueueError):
        raise outcome
    return outcome


def _submit_locked(
    annotator: AbstractBaseUser,
    token: uuid.UUID,
    level: int | None,
    skip_reason: str,
    skip_note: str,
    seconds_spent: float,
) -> Submission | QueueError:
    existing = _existing(token, annotator)
    if existing is not None:
        return Submission(existing, created=False)
    lease = Lease.objects.filter(token=token, annotator=annotator).first()
    if lease is None:
        raise UnknownToken("This pair is no longer assigned to you.")
    # Every change to a pair's judgments and leases happens under this row's lock.
    campaign_pair = CampaignPair.objects.select_for_update().select_related("campaign").get(pk=lease.campaign_pair_id)
    lease.refresh_from_db()
    existing = (
        _existing(token, annotator)
        or Judgment.objects.filter(pair_id=campaign_pair.pair_id, annotator=annotator).first()
    )
    if existing is not None:
        lease.delete()
        return Submission(existing, created=False)
    campaign = campaign_pair.campaign
    if level is not None and not campaign_pair.is_gold and not _grade_fits(campaign_pair, lease):
        lease.delete()
        return PairAlreadyComplete("Others completed this pair while it was open; moving on.")
    judgment = Judgment.objects.create(
        pair_id=campaign_pair.pair_id,
        annotator=annotator,
        campaign=campaign,
        level=level,
        skip_reason=skip_reason,
        skip_note=skip_note,
        seconds_spent=min(max(float(seconds_spent), 0.0), MAX_SECONDS_SPENT),
        guideline_id=campaign.guideline_id,
        token=token,
    )
    if level is not None:
        CampaignPair.objects.filter(pk=campaign_pair.pk).update(graded_count=F("graded_count") + 1)
    lease.delete()
    return Submission(judgment, created=True)


def _grade_fits(campaign_pair: CampaignPair, lease: Lease) -> bool:
    """A grade under a live lease had its slot reserved; a late one needs a free slot."""
    n = campaign_pair.campaign.judgments_per_pair
    if campaign_pair.graded_count >= n:
        return False
    now = timezone.now()
    if lease.expires_at > now:
        return True
    return _has_room(campaign_pair, n, now, besides=lease)


@transaction.atomic
def undo_last(campaign: Campaign, annotator: AbstractBaseUser) -> Lease | None:
    """Take back the annotator's latest judgment in the campaign if it is younger than the lease length.

    Returns a live lease on that pair (same token) so the page shows it again, or None if there is
    nothing to undo.
    """
    _check_member(campaign, annotator)
    now = timezone.now()
    judgment = (
        Judgment.objects.filter(campaign=campaign, annotator=annotator)
        .filter(created_at__gt=now - timedelta(seconds=campaign.lease_seconds))
        .order_by("-created_at", "-pk")
        .first()
    )
    if judgment is None:
        return None
    campaign_pair = CampaignPair.objects.select_for_update().get(campaign=campaign, pair_id=judgment.pair_id)
    if judgment.level is not None:
        CampaignPair.objects.filter(pk=campaign_pair.pk, graded_count__gt=0).update(graded_count=F("graded_count") - 1)
    token = judgment.token or uuid.uuid4()
    judgment.delete()
    lease, _ = Lease.objects.update_or_create(
        campaign_pair=campaign_pair,
        annotator=annotator,
        defaults={"expires_at": now + timedelta(seconds=campaign.lease_seconds), "token": token},
    )
    return lease


def progress(campaign: Campaign, annotator: AbstractBaseUser) -> Progress:
    n = campaign.judgments_per_pair
    totals = CampaignPair.objects.filter(campaign=campaign, is_gold=False).aggregate(
        pairs=Count("pk"), graded=Coalesce(Sum(Least("graded_count", n)), 0)
    )
    mine = Judgment.objects.filter(campaign=campaign, annotator=annotator)
    midnight = timezone.localtime().replace(hour=0, minute=0, second=0, microsecond=0)
    return Progress(
        campaign_graded=totals["graded"],
        campaign_target=totals["pairs"] * n,
        mine_total=mine.count(),
        mine_today=mine.filter(created_at__gte=midnight).count(),
    )
