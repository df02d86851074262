"""Creating labeling campaigns from a selection of pairs, and measuring how far they got.

Campaign order: queries are shuffled with the seed and each query's pairs follow one another
by pair id. The queue serves pairs closest to completion first and then by this order, so a
campaign stopped half-way holds complete judgments for a random sample of queries (not for
whatever was imported first), and an annotator sees a query's pins one after another, which
keeps grades within a query consistent. The same selection and seed give the same campaign.

Gold: with `gold_from_labels=True` and a gold rate above 0, every selected pair that has an
imported label (`Pair.label`) becomes a gold pair whose known grade is that label. Gold pairs
are served to everybody at the gold rate and do not count towards N (see annotation.queue).
With a gold rate of 0 no pair is marked, whatever `gold_from_labels` says.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.db.models import Count, F, IntegerField, OuterRef, Q, QuerySet, Subquery, Sum
from django.db.models.functions import Coalesce, Least
from django.utils import timezone

from annotation.models import Campaign, CampaignPair, Guideline, Judgment, Lease, Pair

BATCH_SIZE = 5000


class CampaignError(ValueError):
    """A campaign that cannot be created as asked; the message is for the engineer.

    `field` names the setting at fault (a form field name), or is None for the selection as a whole.
    """

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class Selection:
    """The queries a campaign takes, in campaign order, with their pair and labeled-pair counts."""

    query_order: list[int]
    pair_counts: dict[int, int] = field(repr=False)
    labeled_counts: dict[int, int] = field(repr=False)

    @property
    def queries(self) -> int:
        return len(self.query_order)

    @property
    def pairs(self) -> int:
        return sum(self.pair_counts[query_id] for query_id in self.query_order)

    @property
    def labeled(self) -> int:
        return sum(self.labeled_counts[query_id] for query_id in self.query_order)

    def start_positions(self) -> dict[int, int]:
        """Query id → position (0-based) of its first pair in campaign order."""
        starts, offset = {}, 0
        for query_id in self.query_order:
            starts[query_id] = offset
            offset += self.pair_counts[query_id]
        return starts


def pairs_matching(
    pairs: QuerySet[Pair],
    *,
    languages: Iterable[str] = (),
    pools: Iterable[str] = (),
    labeled: bool | None = None,
) -> QuerySet[Pair]:
    """Narrow `pairs` by query language and pool (any of those given; none given = all) and by label."""
    languages, pools = list(languages), list(pools)
    if languages:
        pairs = pairs.filter(query__language__in=languages)
    if pools:
        pairs = pairs.filter(pool__in=pools)
    if labeled is not None:
        pairs = pairs.filter(label__isnull=not labeled)
    return pairs


def select_queries(pairs: QuerySet[Pair], *, query_sample: int | None = None, seed: int = 0) -> Selection:
    """The queries of `pairs` (all, or a random `query_sample` of them) in campaign order.

    One GROUP BY query; reproducible: the same pairs and seed give the same sample and order.
    """
    if query_sample is not None and query_sample < 1:
        raise CampaignError("The query sample must be at least 1 query.", "query_sample")
    rows = (
        pairs.order_by()
        .values("query_id")
        .annotate(n=Count("pk"), labeled=Count("pk", filter=Q(label__isnull=False)))
        .values_list("query_id", "n", "labeled")
    )
    pair_counts, labeled_counts = {}, {}
    for query_id, n, labeled in rows:
        pair_counts[query_id], labeled_counts[query_id] = n, labeled
    rng = random.Random(seed)
    order = sorted(pair_counts)
    if query_sample is not None and query_sample < len(order):
        order = sorted(rng.sample(order, query_sample))
    rng.shuffle(order)
    return Selection(order, pair_counts, labeled_counts)


def _check_settings(name: str, judgments_per_pair: int, gold_rate: float, lease_seconds: int) -> None:
    if not name.strip():
        raise CampaignError("Give the campaign a name.", "name")
    if Campaign.objects.filter(name=name).exists():
        raise CampaignError(f"A campaign named “{name}” already exists.", "name")
    if judgments_per_pair < 1:
        raise CampaignError("Judgments per pair (N) must be at least 1.", "judgments_per_pair")
    if not 0.0 <= gold_rate <= 1.0:
        raise CampaignError("The gold rate is a share between 0 and 1.", "gold_rate")
    if lease_seconds < 1:
        raise CampaignError("The lease must last at least 1 second.", "lease_seconds")


def _check_selection(selection: Selection, gold_rate: float, marks_gold: bool) -> None:
    if selection.pairs == 0:
        raise CampaignError("No pairs match the selection.")
    gold = selection.labeled if marks_gold else 0
    if gold_rate > 0 and gold == 0:
        raise CampaignError(
            "A gold rate above 0 needs gold pairs: turn on “gold from labels” and select some labeled pairs.",
            "gold_rate",
        )
    if gold == selection.pairs:
        raise CampaignError("Every selected pair has a label and would be gold: nothing would be left to judge.")


def _campaign_pairs(
    campaign: Campaign, pairs: QuerySet[Pair], selection: Selection, marks_gold: bool
) -> Iterator[CampaignPair]:
    """CampaignPair rows in pair order (streamed), each at its place in campaign order."""
    starts = selection.start_positions()
    rows = pairs.order_by("query_id", "pk").values_list("pk", "query_id", "label")
    current, index = None, 0
    for pair_id, query_id, label in rows.iterator(chunk_size=BATCH_SIZE):
        if query_id not in starts:
            continue  # a query left out of the sample
        index = index + 1 if query_id == current else 0
        current = query_id
        gold = marks_gold and label is not None
        yield CampaignPair(
            campaign=campaign,
            pair_id=pair_id,
            position=starts[query_id] + index,
            is_gold=gold,
            gold_level=label if gold else None,
        )


def _insert_in_batches(rows: Iterator[CampaignPair]) -> int:
    batch: list[CampaignPair] = []
    written = 0
    for row in rows:
        batch.append(row)
        if len(batch) == BATCH_SIZE:
            written += len(CampaignPair.objects.bulk_create(batch))
            batch = []
    return written + len(CampaignPair.objects.bulk_create(batch))


def create_campaign(
    *,
    name: str,
    guideline: Guideline,
    pairs: QuerySet[Pair],
    judgments_per_pair: int,
    gold_rate: float,
    lease_seconds: int,
    members: Iterable[AbstractBaseUser],
    query_sample: int | None = None,
    seed: int = 0,
    gold_from_labels: bool = False,
    description: str = "",
) -> Campaign:
    """A new campaign over `pairs` (or over every pair of `query_sample` random queries of them).

    One transaction: on any CampaignError nothing is written. Order and gold: see the module doc.
    """
    _check_settings(name, judgments_per_pair, gold_rate, lease_seconds)
    marks_gold = gold_from_labels and gold_rate > 0
    with transaction.atomic():
        selection = select_queries(pairs, query_sample=query_sample, seed=seed)
        _check_selection(selection, gold_rate, marks_gold)
        campaign = Campaign.objects.create(
            name=name,
            description=description,
            guideline=guideline,
            judgments_per_pair=judgments_per_pair,
            gold_rate=gold_rate,
            lease_seconds=lease_seconds,
        )
        campaign.members.set(list(members))
        _insert_in_batches(_campaign_pairs(campaign, pairs, selection, marks_gold))
    return campaign


def _midnight() -> datetime:
    return timezone.localtime().replace(hour=0, minute=0, second=0, microsecond=0)


def _median(values: QuerySet[Judgment], count: int) -> float | None:
    """Median of `seconds_spent` over `values` (which holds `count` rows) by offset: portable SQL."""
    if count == 0:
        return None
    ordered = values.order_by("seconds_spent").values_list("seconds_spent", flat=True)
    middle = ordered[(count - 1) // 2 : count // 2 + 1]
    picked = list(middle)
    return sum(picked) / len(picked)


def campaign_progress(campaign: Campaign) -> dict[str, Any]:
    """How far a campaign got, from a few aggregate queries.

    `graded` counts graded judgments of non-gold pairs, at most N per pair; `target` is non-gold
    pairs × N. `judgments_today` counts grades and skips since local midnight; `median_seconds`
    is over graded judgments (None when there are none).
    """
    n = campaign.judgments_per_pair
    regular = Q(is_gold=False)
    pairs = CampaignPair.objects.filter(campaign=campaign).aggregate(
        pairs=Count("pk"),
        gold_pairs=Count("pk", filter=Q(is_gold=True)),
        complete_pairs=Count("pk", filter=regular & Q(graded_count__gte=n)),
        regular_pairs=Count("pk", filter=regular),
        graded=Coalesce(Sum(Least("graded_count", n), filter=regular), 0),
    )
    judgments = Judgment.objects.filter(campaign=campaign)
    counts = judgments.aggregate(
        graded_judgments=Count("pk", filter=Q(level__isnull=False)),
        skips=Count("pk", filter=Q(level__isnull=True)),
        judgments_today=Count("pk", filter=Q(created_at__gte=_midnight())),
    )
    live = Lease.objects.filter(campaign_pair__campaign=campaign, expires_at__gt=timezone.now())
    target = pairs.pop("regular_pairs") * n
    return {
        **pairs,
        "target": target,
        "skips": counts["skips"],
        "active_leases": live.count(),
        "judgments_today": counts["judgments_today"],
        "median_seconds": _median(judgments.filter(level__isnull=False), counts["graded_judgments"]),
    }


def _per_campaign(rows: QuerySet[Any], value: Any) -> Coalesce:
    """A correlated subquery: `value` aggregated over `rows` of the outer campaign (0 when none)."""
    grouped = rows.filter(campaign=OuterRef("pk")).order_by().values("campaign").annotate(v=value).values("v")
    return Coalesce(Subquery(grouped, output_field=IntegerField()), 0)


def with_progress(campaigns: QuerySet[Campaign]) -> QuerySet[Campaign]:
    """Annotate each campaign with pair_total, complete_total, graded_total, target_total, member_total.

    Same meanings as `campaign_progress`; one SQL query for a whole changelist page.
    """
    regular = CampaignPair.objects.filter(is_gold=False)
    n = OuterRef("judgments_per_pair")
    members = Campaign.members.through.objects.filter(campaign=OuterRef("pk")).order_by().values("campaign")
    return campaigns.annotate(
        pair_total=_per_campaign(CampaignPair.objects.all(), Count("pk")),
        complete_total=_per_campaign(regular.filter(graded_count__gte=n), Count("pk")),
        graded_total=_per_campaign(regular, Sum(Least("graded_count", n))),
        target_total=_per_campaign(regular, Count("pk")) * F("judgments_per_pair"),
        member_total=Coalesce(Subquery(members.annotate(v=Count("pk")).values("v"), output_field=IntegerField()), 0),
    )
