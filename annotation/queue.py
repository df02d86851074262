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

import contextlib
import random
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.contrib.auth.models import AbstractBaseUser
from django.core.cache import cache
from django.db import connection, transaction
from django.db.models import Count, F, Model, Q, QuerySet, Sum
from django.db.models.functions import Coalesce, Least
from django.utils import timezone

from annotation import tasks as quality_tasks
from annotation.models import AnnotatorStanding, Campaign, CampaignPair, Judgment, Lease

MAX_SECONDS_SPENT = 3600.0
MAX_CANDIDATE_TRIES = 5
PROGRESS_CACHE_SECONDS = 5


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
    counts_towards_n: bool = False  # a new grade of a non-gold pair


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


def _member_and_paused(campaign: Campaign, annotator: AbstractBaseUser) -> tuple[bool, bool]:
    """(is a member, is paused by quality control) of the annotator in the campaign, in one query."""
    members = Campaign.members.through._meta.db_table
    sql = (
        f"SELECT EXISTS (SELECT 1 FROM {members} WHERE campaign_id = %s AND user_id = %s),"
        f" EXISTS (SELECT 1 FROM {AnnotatorStanding._meta.db_table}"
        " WHERE campaign_id = %s AND annotator_id = %s AND paused)"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [campaign.pk, annotator.pk, campaign.pk, annotator.pk])
        member, paused = cursor.fetchone()
    return bool(member), bool(paused)


def _live_leases(now: datetime) -> Q:
    return Q(expires_at__gt=now)


def _candidate_sql(gold: bool, passed_over: int, *, wait: bool = False) -> str:
    """The candidate query in SQL: the best pair the annotator may take, its row locked (SKIP LOCKED).

    Written out rather than built with the ORM: compiling the equivalent queryset cost more CPU
    than the database spends running it. Parameters are those of `_candidate_params`, then the
    `passed_over` ids. Not judged by the annotator, not leased by them, and for non-gold pairs
    graded + live leases < N; closest to completion first, then campaign order.
    """
    cp, lease = CampaignPair._meta.db_table, Lease._meta.db_table
    sql = (
        f"SELECT cp.* FROM {cp} cp WHERE cp.campaign_id = %s AND {'' if gold else 'NOT '}cp.is_gold"
        f" AND NOT EXISTS (SELECT 1 FROM {Judgment._meta.db_table} j"
        " WHERE j.pair_id = cp.pair_id AND j.annotator_id = %s)"
        f" AND NOT EXISTS (SELECT 1 FROM {lease} l"
        " WHERE l.campaign_pair_id = cp.id AND l.annotator_id = %s AND l.expires_at > %s)"
    )
    if not gold:
        sql += (
            " AND cp.graded_count < %s"
            f" AND (SELECT COUNT(*) FROM {lease} l WHERE l.campaign_pair_id = cp.id AND l.expires_at > %s)"
            " < %s - cp.graded_count"
        )
    if passed_over:
        sql += f" AND cp.id NOT IN ({', '.join(['%s'] * passed_over)})"
    sql += " ORDER BY cp.graded_count DESC, cp.position LIMIT 1"
    if connection.features.has_select_for_update_skip_locked:  # SQLite has no row locks (one writer at a time)
        sql += " FOR UPDATE OF cp" + ("" if wait else " SKIP LOCKED")
    return sql


def _candidate_params(campaign: Campaign, annotator: AbstractBaseUser, gold: bool, now: datetime) -> list[object]:
    at = connection.ops.adapt_datetimefield_value(now)
    params: list[object] = [campaign.pk, annotator.pk, annotator.pk, at]
    if not gold:
        n = campaign.judgments_per_pair
        params += [n, at, n]
    return params


def _take(campaign: Campaign, annotator: AbstractBaseUser, gold: bool, now: datetime) -> Lease | None:
    """Lock the best candidate row and lease it if it still has room.

    The candidate query counts live leases in its own snapshot; a lease committed by another
    annotator just before we locked the row is not in it. The lease statement runs afterwards,
    under the row lock and with a fresh snapshot, so its room check is exact; a stale candidate
    is passed over and the next one tried.
    """
    passed_over: list[int] = []
    wait = False
    for _ in range(MAX_CANDIDATE_TRIES):
        sql = _candidate_sql(gold, len(passed_over), wait=wait)
        rows = CampaignPair.objects.raw(sql, _candidate_params(campaign, annotator, gold, now) + passed_over)
        chosen = next(iter(rows), None)
        if chosen is None and not wait and connection.features.has_select_for_update_skip_locked:
            # Nothing unlocked: the last open pairs may just be held for a few milliseconds by
            # another annotator's statement. Wait for them once rather than report "all done".
            wait = True
            continue
        if chosen is None:
            return None
        cap = None if gold else campaign.judgments_per_pair
        lease = _lease_if_room(chosen, annotator, now, campaign.lease_seconds, cap)
        if lease is not None:
            return lease
        passed_over.append(chosen.pk)
    return None


def _has_room(campaign_pair: CampaignPair, n: int, now: datetime, *, besides: Lease | None = None) -> bool:
    """Under the row's lock: may one more lease or grade be given to this pair?"""
    live = campaign_pair.leases.filter(_live_leases(now))
    if besides is not None:
        live = live.exclude(pk=besides.pk)
    fresh = CampaignPair.objects.values_list("graded_count", flat=True).get(pk=campaign_pair.pk)
    return fresh + live.count() < n


def _columns_and_params(model: type[Model], values: dict[str, object]) -> tuple[list[str], list[object]]:
    """Quoted column names and database-ready parameters of `values` (field name → value) for raw SQL."""
    fields = [model._meta.get_field(name) for name in values]
    params = [field.get_db_prep_save(values[field.name], connection) for field in fields]
    return [connection.ops.quote_name(field.column) for field in fields], params


def _lease_if_room(
    campaign_pair: CampaignPair, annotator: AbstractBaseUser, now: datetime, seconds: int, cap: int | None
) -> Lease | None:
    """One statement under the row's lock: lease the pair if graded + other annotators' live leases < cap.

    `cap` None (gold pairs) leases unconditionally. An earlier lease of this annotator on the pair is
    renewed and keeps its token, so a late submission still finds it. None when there is no room.
    (This replaces update_or_create's savepoint + SELECT + INSERT/UPDATE and a separate recount.)
    """
    lease_table = Lease._meta.db_table
    columns, params = _columns_and_params(
        Lease,
        {
            "token": uuid.uuid4(),
            "campaign_pair": campaign_pair.pk,
            "annotator": annotator.pk,
            "created_at": now,
            "expires_at": now + timedelta(seconds=seconds),
        },
    )
    room = "1 = 1"  # SQLite parses INSERT … SELECT … ON CONFLICT only with a WHERE clause
    if cap is not None:
        room = (
            f"(SELECT graded_count FROM {CampaignPair._meta.db_table} WHERE id = %s)"
            f" + (SELECT COUNT(*) FROM {lease_table} WHERE campaign_pair_id = %s AND expires_at > %s"
            " AND annotator_id <> %s) < %s"
        )
        live_after = _columns_and_params(Lease, {"expires_at": now})[1][0]
        params += [campaign_pair.pk, campaign_pair.pk, live_after, annotator.pk, cap]
    sql = (
        f"INSERT INTO {lease_table} ({', '.join(columns)}) SELECT {', '.join(['%s'] * len(columns))} WHERE {room}"
        " ON CONFLICT (campaign_pair_id, annotator_id) DO UPDATE SET expires_at = excluded.expires_at RETURNING *"
    )
    lease = next(iter(Lease.objects.raw(sql, params)), None)
    if lease is not None:
        lease.campaign_pair = campaign_pair
        lease.annotator = annotator
    return lease


def _held_lease(
    campaign: Campaign, annotator: AbstractBaseUser, now: datetime, exclude: tuple[uuid.UUID, ...]
) -> Lease | None:
    """The annotator's oldest live lease in the campaign whose token is not in `exclude`, campaign_pair loaded."""
    token = Lease._meta.get_field("token")
    sql = (
        f"SELECT l.* FROM {Lease._meta.db_table} l JOIN {CampaignPair._meta.db_table} cp"
        " ON cp.id = l.campaign_pair_id WHERE cp.campaign_id = %s AND l.annotator_id = %s AND l.expires_at > %s"
    )
    params: list[object] = [campaign.pk, annotator.pk, connection.ops.adapt_datetimefield_value(now)]
    if exclude:
        sql += f" AND l.token NOT IN ({', '.join(['%s'] * len(exclude))})"
        params += [token.get_db_prep_value(value, connection) for value in exclude]
    held = next(iter(Lease.objects.raw(sql + " ORDER BY l.created_at LIMIT 1", params)), None)
    if held is not None:  # rare (a reload, a prefetched pair): one more query is fine here
        held.campaign_pair = CampaignPair.objects.get(pk=held.campaign_pair_id)
    return held


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
    renewed; `exclude` names tokens the caller is already showing. The lease comes with its
    campaign_pair loaded. An annotator paused in the campaign (AnnotatorStanding.paused) gets None.
    """
    member, paused = _member_and_paused(campaign, annotator)
    if not member:
        raise NotAMember("You are not a member of this campaign.")
    if paused:
        return None
    now = timezone.now()
    held = _held_lease(campaign, annotator, now, exclude)
    if held is not None:
        held.expires_at = now + timedelta(seconds=campaign.lease_seconds)
        held.save(update_fields=["expires_at"])
        return held
    want_gold = campaign.gold_rate > 0 and (rng or random).random() < campaign.gold_rate
    taken = _take(campaign, annotator, want_gold, now)
    if taken is None and want_gold:
        taken = _take(campaign, annotator, False, now)
    return taken


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
    if outcome.created:
        _refresh_quality_after_commit(outcome.judgment.campaign_id)
    if outcome.counts_towards_n:
        _bump_cached_progress(outcome.judgment.campaign_id, +1)
    return outcome


def _lock_through_lease(token: uuid.UUID, annotator: AbstractBaseUser) -> Lease | None:
    """The annotator's lease with this token, its CampaignPair row locked (FOR UPDATE) and campaign loaded.

    Every change to a pair's judgments and leases happens under that row's lock.
    """
    sql = (
        "SELECT l.*, cp.campaign_id AS cp_campaign, cp.pair_id AS cp_pair, cp.is_gold AS cp_is_gold,"
        " cp.graded_count AS cp_graded_count, c.guideline_id AS c_guideline, c.judgments_per_pair AS c_n"
        f" FROM {Lease._meta.db_table} l JOIN {CampaignPair._meta.db_table} cp ON cp.id = l.campaign_pair_id"
        f" JOIN {Campaign._meta.db_table} c ON c.id = cp.campaign_id WHERE l.token = %s AND l.annotator_id = %s"
    )
    if connection.features.has_select_for_update_of:  # SQLite: one writer at a time, no row locks
        sql += " FOR UPDATE OF cp"
    token_param = Lease._meta.get_field("token").get_db_prep_value(token, connection)
    lease = next(iter(Lease.objects.raw(sql, [token_param, annotator.pk])), None)
    if lease is None:
        return None
    # Only the columns the submission reads are loaded; any other field loads on access, as with .only().
    campaign = Campaign.from_db(
        connection.alias,
        ["id", "guideline_id", "judgments_per_pair"],
        [lease.cp_campaign, lease.c_guideline, lease.c_n],
    )
    campaign_pair = CampaignPair.from_db(
        connection.alias,
        ["id", "campaign_id", "pair_id", "is_gold", "graded_count"],
        [lease.campaign_pair_id, lease.cp_campaign, lease.cp_pair, bool(lease.cp_is_gold), lease.cp_graded_count],
    )
    campaign_pair.campaign = campaign
    lease.campaign_pair = campaign_pair
    return lease


def _already_judged(campaign_pair: CampaignPair, token: uuid.UUID, annotator: AbstractBaseUser) -> Judgment | None:
    return (
        _existing(token, annotator)
        or Judgment.objects.filter(pair_id=campaign_pair.pair_id, annotator=annotator).first()
    )


def _submit_locked(
    annotator: AbstractBaseUser,
    token: uuid.UUID,
    level: int | None,
    skip_reason: str,
    skip_note: str,
    seconds_spent: float,
) -> Submission | QueueError:
    lease = _lock_through_lease(token, annotator)
    if lease is None:  # a resubmission (the first one released the lease), or a token that is not ours
        existing = _existing(token, annotator)
        if existing is None:
            raise UnknownToken("This pair is no longer assigned to you.")
        return Submission(existing, created=False)
    campaign_pair = lease.campaign_pair
    if level is not None and not campaign_pair.is_gold and not _grade_fits(campaign_pair, lease):
        existing = _already_judged(campaign_pair, token, annotator)
        _release(lease)
        if existing is not None:
            return Submission(existing, created=False)
        return PairAlreadyComplete("Others completed this pair while it was open; moving on.")
    judgment = _record(campaign_pair, annotator, token, level, skip_reason, skip_note, seconds_spent)
    if judgment is None:  # a concurrent resubmission got the row lock first
        existing = _already_judged(campaign_pair, token, annotator)
        _release(lease)
        return Submission(existing, created=False)
    if level is not None:
        with connection.cursor() as cursor:
            cursor.execute(
                f"UPDATE {CampaignPair._meta.db_table} SET graded_count = graded_count + 1 WHERE id = %s",
                [campaign_pair.pk],
            )
    _release(lease)
    return Submission(judgment, created=True, counts_towards_n=level is not None and not campaign_pair.is_gold)


def _record(
    campaign_pair: CampaignPair,
    annotator: AbstractBaseUser,
    token: uuid.UUID,
    level: int | None,
    skip_reason: str,
    skip_note: str,
    seconds_spent: float,
) -> Judgment | None:
    """Insert the judgment; None, writing nothing, if this token or this annotator already judged the pair.

    The unique constraints decide (ON CONFLICT DO NOTHING) instead of two existence checks first.
    """
    campaign = campaign_pair.campaign
    columns, params = _columns_and_params(
        Judgment,
        {
            "pair": campaign_pair.pair_id,
            "annotator": annotator.pk,
            "campaign": campaign.pk,
            "level": level,
            "skip_reason": skip_reason,
            "skip_note": skip_note,
            "seconds_spent": min(max(float(seconds_spent), 0.0), MAX_SECONDS_SPENT),
            "guideline": campaign.guideline_id,
            "token": token,
            "created_at": timezone.now(),
        },
    )
    sql = (
        f"INSERT INTO {Judgment._meta.db_table} ({', '.join(columns)}) VALUES ({', '.join(['%s'] * len(columns))})"
        " ON CONFLICT DO NOTHING RETURNING *"
    )
    return next(iter(Judgment.objects.raw(sql, params)), None)


def _release(lease: Lease) -> None:
    # Plain SQL: nothing refers to a lease, so the ORM's delete collector would only add CPU.
    with connection.cursor() as cursor:
        cursor.execute(f"DELETE FROM {Lease._meta.db_table} WHERE id = %s", [lease.pk])


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
        if not campaign_pair.is_gold:  # a display figure: off by one for seconds at worst if this rolls back
            _bump_cached_progress(campaign.pk, -1)
    token = judgment.token or uuid.uuid4()
    judgment.delete()
    lease, _ = Lease.objects.update_or_create(
        campaign_pair=campaign_pair,
        annotator=annotator,
        defaults={"expires_at": now + timedelta(seconds=campaign.lease_seconds), "token": token},
    )
    return lease


def _progress_keys(campaign_id: int) -> tuple[str, str]:
    return f"annotation:progress:{campaign_id}:pairs", f"annotation:progress:{campaign_id}:graded"


def _campaign_totals(campaign: Campaign) -> tuple[int, int]:
    """(non-gold pairs, grades capped at N) of the campaign.

    Summing over a million-pair campaign after every grade would cost more than the grade
    itself, so the sum is cached for PROGRESS_CACHE_SECONDS and this process's own grades and
    undos adjust it meanwhile; other processes' grades show when it expires.
    """
    pairs_key, graded_key = _progress_keys(campaign.pk)
    cached = cache.get_many([pairs_key, graded_key])
    if len(cached) == 2:
        return cached[pairs_key], cached[graded_key]
    n = campaign.judgments_per_pair
    totals = CampaignPair.objects.filter(campaign=campaign, is_gold=False).aggregate(
        pairs=Count("pk"), graded=Coalesce(Sum(Least("graded_count", n)), 0)
    )
    cache.set_many({pairs_key: totals["pairs"], graded_key: totals["graded"]}, PROGRESS_CACHE_SECONDS)
    return totals["pairs"], totals["graded"]


def _bump_cached_progress(campaign_id: int, delta: int) -> None:
    # Not cached (or just expired): nothing to adjust, the next read sums afresh.
    with contextlib.suppress(ValueError):
        cache.incr(_progress_keys(campaign_id)[1], delta)


def progress(campaign: Campaign, annotator: AbstractBaseUser) -> Progress:
    """Campaign totals (up to PROGRESS_CACHE_SECONDS old) and the annotator's own counts (exact)."""
    n = campaign.judgments_per_pair
    pairs, graded = _campaign_totals(campaign)
    mine = Judgment.objects.filter(campaign=campaign, annotator=annotator)
    midnight = timezone.localtime().replace(hour=0, minute=0, second=0, microsecond=0)
    return Progress(
        campaign_graded=min(graded, pairs * n),
        campaign_target=pairs * n,
        mine_total=mine.count(),
        mine_today=mine.filter(created_at__gte=midnight).count(),
    )


# ---- label quality hooks (annotation.quality) ---------------------------------------------------


# A paused annotator (AnnotatorStanding.paused) is told apart in `_member_and_paused`.


def _refresh_quality_after_commit(campaign_id: int | None) -> None:
    """Once the judgment is committed, ask for a (debounced) quality refresh of its campaign.

    robust: a broker that is down must not turn a saved judgment into an error for the annotator.
    """
    if campaign_id is not None:
        transaction.on_commit(lambda: quality_tasks.refresh_quality_soon(campaign_id), robust=True)
