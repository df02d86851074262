"""Label quality of a campaign: consensus grades, the review queue, adjudication, gold standings,
and the precomputed numbers of the quality dashboard.

Everything reads judgments with `values_list` and computes in numpy (`annotation.agreement`);
there is no per-pair ORM loop, and writes are bulk updates of the rows that changed.

Consensus: once a pair has N graded judgments (N = the campaign's judgments_per_pair; skips do
not count) its consensus is the median grade, the lower middle one for an even count (see
`agreement.consensus_level`), and its spread is max − min. It needs review when the spread is
≥ 2, or, on a gold pair, when the consensus is ≥ 2 levels from the gold level. A pair with an
Adjudication never goes back to the queue: its final grade is the latest adjudication.

Snapshot schema (`QualitySnapshot.data`; the dashboard reads exactly these keys). An "interval
cell" is {"value": float | null, "low": float | null, "high": float | null}: the statistic and
its 95% percentile-bootstrap interval over pairs (SNAPSHOT_BOOTSTRAP resamples, seed 0). Any
number may be null when there is too little data (no pair with two grades, one value only, …).

    {
      "overall": {
        "alpha_ordinal": cell, "alpha_interval": cell, "alpha_nominal": cell,   # Krippendorff's α
        "exact": cell, "within_one": cell,   # share of annotator pairs on a pair agreeing exactly / within 1
        "n_units": int,                      # pairs with at least two grades (what α is computed on)
      },
      "per_language": {"en": {same keys as "overall"}, ...},   # by the query's language
      "per_annotator": [                     # sorted by username
        {"annotator": username, "judgments": int (skips included),
         "alpha_vs_rest": cell,              # ordinal α of this annotator vs the others' lower median
         "gold_judged": int, "gold_exact": float | null, "gold_within_one": float | null,
         "flagged": bool, "median_seconds": float | null}, ...],
      "kappas": [                            # quadratic κ of every two annotators with ≥ KAPPA_MIN_OVERLAP common pairs
        {"a": username, "b": username, "kappa": float | null, "n": int,
         "low": float | null, "high": float | null}, ...],   # low/high: its bootstrap interval
      "judgments_per_day": [{"day": "YYYY-MM-DD", "count": int}, ...],   # UTC days, skips included
      "median_seconds": float | null,        # over all judgments, skips included
      "grade_distribution": {"1": int, "2": int, "3": int, "4": int, "5": int, "skip": int},
      "review_queue": int,                   # pairs waiting for a reviewer
      "pairs_complete": int, "pairs_total": int,   # non-gold pairs with N grades / all non-gold pairs
    }
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.db.models import (
    Case,
    CharField,
    Count,
    Exists,
    F,
    IntegerField,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Value,
    When,
    Window,
)
from django.db.models.functions import Coalesce, RowNumber, TruncDate
from django.utils import timezone

from annotation import agreement
from annotation.models import (
    Adjudication,
    AnnotatorStanding,
    Campaign,
    CampaignPair,
    Judgment,
    LabelSource,
    QualitySnapshot,
)
from annotation.roles import is_staff_role

GOLD_WINDOW = 50  # standings use each annotator's latest K gold judgments
MIN_GOLD_FOR_FLAG = 10  # nobody is flagged on fewer gold judgments than this
REVIEW_SPREAD = 2  # grades spanning this many levels (or more) go to a reviewer
REVIEW_GOLD_DISTANCE = 2  # a consensus this far from the gold level goes to a reviewer
SNAPSHOT_BOOTSTRAP = 1000
KAPPA_MIN_OVERLAP = 10
KEEP_SNAPSHOTS = 50  # per campaign; older ones are deleted (the dashboard shows the latest)
BULK_BATCH = 500

FinalLevels = dict[int, tuple[int, str]]
Cell = dict[str, float | None]


class AdjudicationError(ValueError):
    """A final grade the reviewer may not set; the message is meant for them."""


# ---- consensus and review routing --------------------------------------------------------------


@dataclass(frozen=True)
class _Consensus:
    level: int
    spread: int


def _consensus_by_pair(campaign: Campaign, min_grades: int) -> dict[int, _Consensus]:
    """Pair id → consensus and spread, for pairs with at least `min_grades` grades in the campaign."""
    rows = np.array(
        Judgment.objects.filter(campaign=campaign, level__isnull=False).values_list("pair_id", "level"),
        dtype=np.int64,
    ).reshape(-1, 2)
    if rows.size == 0:
        return {}
    rows = rows[np.lexsort((rows[:, 1], rows[:, 0]))]
    pair_ids, starts, counts = np.unique(rows[:, 0], return_index=True, return_counts=True)
    levels = rows[:, 1]
    lower_middle = levels[starts + (counts - 1) // 2]
    spread = levels[starts + counts - 1] - levels[starts]
    enough = counts >= min_grades
    return {
        int(pair): _Consensus(int(level), int(width))
        for pair, level, width in zip(pair_ids[enough], lower_middle[enough], spread[enough], strict=True)
    }


def _needs_review(consensus: _Consensus | None, gold_level: int | None, adjudicated: bool) -> bool:
    if consensus is None or adjudicated:
        return False
    if consensus.spread >= REVIEW_SPREAD:
        return True
    return gold_level is not None and abs(consensus.level - gold_level) >= REVIEW_GOLD_DISTANCE


def _adjudications() -> QuerySet[Adjudication]:
    return Adjudication.objects.filter(campaign_pair=OuterRef("pk"))


def update_consensus(campaign: Campaign) -> int:
    """Set consensus_level, spread and needs_review on the campaign's pairs; returns rows changed.

    Pairs with fewer than N grades get no consensus (None) and are not in review.
    """
    consensus = _consensus_by_pair(campaign, campaign.judgments_per_pair)
    rows = CampaignPair.objects.filter(campaign=campaign).annotate(adjudicated=Exists(_adjudications()))
    changed: list[CampaignPair] = []
    for row in rows.only("pk", "pair_id", "is_gold", "gold_level", "consensus_level", "spread", "needs_review"):
        found = consensus.get(row.pair_id)
        gold = row.gold_level if row.is_gold else None
        wanted = (
            found.level if found else None,
            found.spread if found else None,
            _needs_review(found, gold, row.adjudicated),
        )
        if wanted != (row.consensus_level, row.spread, row.needs_review):
            row.consensus_level, row.spread, row.needs_review = wanted
            changed.append(row)
    CampaignPair.objects.bulk_update(changed, ["consensus_level", "spread", "needs_review"], batch_size=BULK_BATCH)
    return len(changed)


def review_queue(campaign: Campaign | None = None) -> QuerySet[CampaignPair]:
    """Pairs waiting for a reviewer (in one campaign or all), widest disagreement first."""
    rows = CampaignPair.objects.filter(needs_review=True).exclude(Exists(_adjudications()))
    if campaign is not None:
        rows = rows.filter(campaign=campaign)
    return rows.order_by("campaign_id", F("spread").desc(nulls_last=True), "position", "pk")


# ---- adjudication and final grades -------------------------------------------------------------


def _validated(reviewer: AbstractBaseUser, level: object, reason: str) -> tuple[int, str]:
    if not is_staff_role(reviewer):
        raise AdjudicationError("Only reviewers and engineers may set a final grade.")
    if isinstance(level, bool) or not isinstance(level, int) or not 1 <= level <= 5:
        raise AdjudicationError("The final grade must be a level from 1 to 5.")
    reason = (reason or "").strip()
    if not reason:
        raise AdjudicationError("Give a reason for the final grade.")
    return level, reason


def adjudicate(campaign_pair: CampaignPair, reviewer: AbstractBaseUser, level: int, reason: str) -> Adjudication:
    """Record the reviewer's final grade (1–5) with a reason; the pair leaves the review queue.

    A later adjudication of the same pair overrides an earlier one. Raises AdjudicationError.
    """
    level, reason = _validated(reviewer, level, reason)
    with transaction.atomic():
        decision = Adjudication.objects.create(
            campaign_pair=campaign_pair, reviewer=reviewer, level=level, reason=reason
        )
        CampaignPair.objects.filter(pk=campaign_pair.pk).update(needs_review=False)
    campaign_pair.needs_review = False
    return decision


def with_final_level(campaign_pairs: QuerySet[CampaignPair]) -> QuerySet[CampaignPair]:
    """Annotate `final_level` (latest adjudication, else consensus, else None), `final_source`
    (a LabelSource value or None) and `adjudicated_at` (None when never adjudicated)."""
    latest = _adjudications().order_by("-created_at", "-pk")
    return campaign_pairs.annotate(
        adjudicated_level=Subquery(latest.values("level")[:1]),
        adjudicated_at=Subquery(latest.values("created_at")[:1]),
        final_level=Coalesce("adjudicated_level", "consensus_level", output_field=IntegerField()),
        final_source=Case(
            When(adjudicated_level__isnull=False, then=Value(str(LabelSource.ADJUDICATED))),
            When(consensus_level__isnull=False, then=Value(str(LabelSource.CONSENSUS))),
            default=Value(None),
            output_field=CharField(),
        ),
    )


def final_level(campaign_pair: CampaignPair) -> tuple[int, str] | None:
    """(level, source) of one campaign pair: its latest adjudication, else its consensus, else None."""
    decision = campaign_pair.adjudications.order_by("-created_at", "-pk").values_list("level", flat=True).first()
    if decision is not None:
        return decision, str(LabelSource.ADJUDICATED)
    if campaign_pair.consensus_level is not None:
        return campaign_pair.consensus_level, str(LabelSource.CONSENSUS)
    return None


def final_levels(campaign_pairs: QuerySet[CampaignPair]) -> FinalLevels:
    """Pair id (Pair, not CampaignPair) → (level, source) for the pairs that have a final grade.

    One query. A Pair in several of the given campaigns takes an adjudication over a consensus,
    the latest adjudication among several, and otherwise the newest campaign pair's consensus.
    """
    rows = (
        with_final_level(campaign_pairs)
        .filter(final_level__isnull=False)
        .order_by(F("adjudicated_at").asc(nulls_first=True), "pk")
        .values_list("pair_id", "final_level", "final_source")
    )
    # Later rows win: consensus rows first (by campaign pair id), then adjudications by time.
    return {pair_id: (level, source) for pair_id, level, source in rows.iterator(chunk_size=2000)}


# ---- gold standings ----------------------------------------------------------------------------


def _gold_rows(campaign: Campaign, window: int) -> list[tuple[int, int, int, int]]:
    """(annotator id, grade, gold level, the annotator's gold grades in all) for each annotator's
    latest `window` graded gold judgments."""
    gold = CampaignPair.objects.filter(campaign=campaign, is_gold=True, pair_id=OuterRef("pair_id"))
    recent = Window(RowNumber(), partition_by=[F("annotator_id")], order_by=[F("created_at").desc(), F("pk").desc()])
    return list(
        Judgment.objects.filter(campaign=campaign, level__isnull=False)
        .annotate(gold_level=Subquery(gold.values("gold_level")[:1]), recent=recent)
        .filter(gold_level__isnull=False)
        .annotate(total=Window(Count("pk"), partition_by=[F("annotator_id")]))
        .filter(recent__lte=window)
        .values_list("annotator_id", "level", "gold_level", "total")
    )


def update_standings(campaign: Campaign, window: int = GOLD_WINDOW) -> list[AnnotatorStanding]:
    """Per annotator with judgments in the campaign: gold accuracy (exact, within 1) over their
    latest `window` graded gold judgments, and `flagged` when they have ≥ MIN_GOLD_FOR_FLAG gold
    grades and exact accuracy below the campaign's gold_threshold. `paused` is left as set.

    gold_judged counts all their graded gold judgments; accuracies are None with no gold graded.
    """
    hits: dict[int, list[tuple[int, int]]] = {}
    totals: dict[int, int] = {}
    for annotator_id, level, gold_level, total in _gold_rows(campaign, window):
        hits.setdefault(annotator_id, []).append((level, gold_level))
        totals[annotator_id] = total
    judged = Judgment.objects.filter(campaign=campaign).order_by("annotator_id")  # no created_at in DISTINCT
    annotators = judged.values_list("annotator_id", flat=True).distinct()
    now = timezone.now()
    standings = [_standing(campaign, annotator_id, hits.get(annotator_id, []), totals.get(annotator_id, 0), now)
                 for annotator_id in annotators]  # fmt: skip
    AnnotatorStanding.objects.bulk_create(
        standings,
        update_conflicts=True,
        unique_fields=["campaign", "annotator"],
        update_fields=["gold_judged", "gold_exact", "gold_within_one", "flagged", "updated_at"],
        batch_size=BULK_BATCH,
    )
    return list(AnnotatorStanding.objects.filter(campaign=campaign).order_by("annotator_id"))


def _standing(
    campaign: Campaign, annotator_id: int, grades: list[tuple[int, int]], total: int, now: datetime
) -> AnnotatorStanding:
    exact = within_one = None
    if grades:
        pairs = np.array(grades, dtype=np.int64)
        distances = np.abs(pairs[:, 0] - pairs[:, 1])
        exact, within_one = float(np.mean(distances == 0)), float(np.mean(distances <= 1))
    flagged = total >= MIN_GOLD_FOR_FLAG and exact is not None and exact < campaign.gold_threshold
    return AnnotatorStanding(
        campaign=campaign,
        annotator_id=annotator_id,
        gold_judged=total,
        gold_exact=exact,
        gold_within_one=within_one,
        flagged=flagged,
        updated_at=now,
    )


# ---- the snapshot ------------------------------------------------------------------------------


def _number(value: float | None) -> float | None:
    """JSON has no nan: undefined statistics become null."""
    return None if value is None or math.isnan(value) else float(value)


def _cell(statistic: Callable[[agreement.FloatArray], float], matrix: agreement.FloatArray, n_boot: int) -> Cell:
    low, high = agreement.bootstrap_ci(statistic, matrix, n_boot=n_boot)
    return {"value": _number(statistic(matrix)), "low": _number(low), "high": _number(high)}


def _pairable(matrix: agreement.FloatArray) -> agreement.FloatArray:
    """The columns (pairs) with at least two grades: the units every agreement number is about."""
    return matrix[:, (~np.isnan(matrix)).sum(axis=0) >= 2]


def _summary(matrix: agreement.FloatArray, n_boot: int) -> dict[str, Any]:
    units = _pairable(matrix)
    return {
        "alpha_ordinal": _cell(lambda m: agreement.krippendorff_alpha(m, "ordinal"), units, n_boot),
        "alpha_interval": _cell(lambda m: agreement.krippendorff_alpha(m, "interval"), units, n_boot),
        "alpha_nominal": _cell(lambda m: agreement.krippendorff_alpha(m, "nominal"), units, n_boot),
        "exact": _cell(agreement.exact_agreement, units, n_boot),
        "within_one": _cell(agreement.within_one_agreement, units, n_boot),
        "n_units": int(units.shape[1]),
    }


@dataclass
class _Judgments:
    """A campaign's judgments as columns (one entry per judgment, level nan for a skip)."""

    pair_ids: np.ndarray[Any, np.dtype[np.int64]]
    annotator_ids: np.ndarray[Any, np.dtype[np.int64]]
    levels: agreement.FloatArray
    seconds: agreement.FloatArray

    @classmethod
    def load(cls, campaign: Campaign) -> _Judgments:
        rows = list(
            Judgment.objects.filter(campaign=campaign)
            .order_by("annotator_id", "pair_id")
            .values_list("pair_id", "annotator_id", "level", "seconds_spent")
        )
        pair_ids, annotator_ids, levels, seconds = zip(*rows, strict=True) if rows else ((), (), (), ())
        return cls(
            np.array(pair_ids, dtype=np.int64),
            np.array(annotator_ids, dtype=np.int64),
            np.array([np.nan if level is None else level for level in levels], dtype=np.float64),
            np.array(seconds, dtype=np.float64),
        )

    def grade_matrix(self) -> tuple[agreement.FloatArray, list[int], list[int]]:
        graded = ~np.isnan(self.levels)
        triples = zip(self.pair_ids[graded].tolist(), self.annotator_ids[graded].tolist(),
                      self.levels[graded].tolist(), strict=True)  # fmt: skip
        return agreement.reliability_matrix(triples)


def _median(values: agreement.FloatArray) -> float | None:
    return float(np.median(values)) if values.size else None


def _per_annotator(
    judgments: _Judgments, matrix: agreement.FloatArray, raters: list[int], names: dict[int, str],
    standings: dict[int, AnnotatorStanding], n_boot: int,
) -> list[dict[str, Any]]:  # fmt: skip
    rows = []
    for annotator_id in sorted(set(judgments.annotator_ids.tolist()), key=lambda pk: names.get(pk, "")):
        mine = judgments.annotator_ids == annotator_id
        standing = standings.get(annotator_id)
        if annotator_id in raters:
            versus = agreement.vs_rest_matrix(matrix, raters.index(annotator_id))
            alpha = _cell(agreement.krippendorff_alpha, versus, n_boot)
        else:
            alpha = {"value": None, "low": None, "high": None}
        rows.append(
            {
                "annotator": names.get(annotator_id, str(annotator_id)),
                "judgments": int(mine.sum()),
                "alpha_vs_rest": alpha,
                "gold_judged": standing.gold_judged if standing else 0,
                "gold_exact": standing.gold_exact if standing else None,
                "gold_within_one": standing.gold_within_one if standing else None,
                "flagged": standing.flagged if standing else False,
                "median_seconds": _median(judgments.seconds[mine]),
            }
        )
    return rows


def _kappas(
    matrix: agreement.FloatArray, raters: list[int], names: dict[int, str], n_boot: int
) -> list[dict[str, Any]]:
    rows = []
    for i, j, kappa, n in agreement.pairwise_kappas(matrix, min_overlap=KAPPA_MIN_OVERLAP):
        both = matrix[[i, j]][:, ~np.isnan(matrix[i]) & ~np.isnan(matrix[j])]
        low, high = agreement.bootstrap_ci(lambda m: agreement.cohen_kappa_quadratic(m[0], m[1]), both, n_boot=n_boot)
        a, b = names.get(raters[i], str(raters[i])), names.get(raters[j], str(raters[j]))
        rows.append({"a": a, "b": b, "kappa": _number(kappa), "n": n, "low": _number(low), "high": _number(high)})
    return sorted(rows, key=lambda row: (row["a"], row["b"]))


def _per_day(campaign: Campaign) -> list[dict[str, Any]]:
    days = (
        Judgment.objects.filter(campaign=campaign)
        .annotate(day=TruncDate("created_at"))
        .values("day")
        .annotate(count=Count("pk"))
        .order_by("day")
    )
    return [{"day": row["day"].isoformat(), "count": row["count"]} for row in days]


def _distribution(levels: agreement.FloatArray) -> dict[str, int]:
    counts = Counter("skip" if math.isnan(level) else str(int(level)) for level in levels.tolist())
    return {key: counts.get(key, 0) for key in ("1", "2", "3", "4", "5", "skip")}


def _completion(campaign: Campaign) -> dict[str, int]:
    n = campaign.judgments_per_pair
    totals = CampaignPair.objects.filter(campaign=campaign, is_gold=False).aggregate(
        pairs_total=Count("pk"), pairs_complete=Count("pk", filter=Q(graded_count__gte=n))
    )
    return {"pairs_complete": totals["pairs_complete"], "pairs_total": totals["pairs_total"]}


def _usernames(ids: Iterable[int]) -> dict[int, str]:
    user_model = get_user_model()
    return dict(user_model.objects.filter(pk__in=list(ids)).values_list("pk", user_model.USERNAME_FIELD))


def _languages(campaign: Campaign) -> dict[int, str]:
    return dict(CampaignPair.objects.filter(campaign=campaign).values_list("pair_id", "pair__query__language"))


def snapshot_data(campaign: Campaign, n_boot: int = SNAPSHOT_BOOTSTRAP) -> tuple[dict[str, Any], int]:
    """(data in the schema of the module docstring, number of judgments it covers)."""
    judgments = _Judgments.load(campaign)
    matrix, units, raters = judgments.grade_matrix()
    names = _usernames(judgments.annotator_ids.tolist())
    languages = _languages(campaign)
    unit_languages = np.array([languages.get(pair_id, "") for pair_id in units], dtype=object)
    standings = {row.annotator_id: row for row in AnnotatorStanding.objects.filter(campaign=campaign)}
    data = {
        "overall": _summary(matrix, n_boot),
        "per_language": {
            language: _summary(matrix[:, unit_languages == language], n_boot)
            for language in sorted(set(unit_languages.tolist()))
        },
        "per_annotator": _per_annotator(judgments, matrix, raters, names, standings, n_boot),
        "kappas": _kappas(matrix, raters, names, n_boot),
        "judgments_per_day": _per_day(campaign),
        "median_seconds": _median(judgments.seconds),
        "grade_distribution": _distribution(judgments.levels),
        "review_queue": review_queue(campaign).count(),
        **_completion(campaign),
    }
    return data, int(judgments.levels.size)


def compute_snapshot(campaign: Campaign, n_boot: int = SNAPSHOT_BOOTSTRAP) -> QualitySnapshot:
    """Store a new QualitySnapshot of the campaign (keeping the latest KEEP_SNAPSHOTS)."""
    data, count = snapshot_data(campaign, n_boot)
    snapshot = QualitySnapshot.objects.create(campaign=campaign, judgment_count=count, data=data)
    stale = campaign.quality_snapshots.order_by("-computed_at", "-pk").values_list("pk", flat=True)[KEEP_SNAPSHOTS:]
    QualitySnapshot.objects.filter(pk__in=list(stale)).delete()
    return snapshot


def refresh_quality(campaign_id: int) -> QualitySnapshot | None:
    """Consensus, standings, then a fresh snapshot; None when the campaign no longer exists.

    Safe to run again at any time: each step recomputes from the judgments.
    """
    campaign = Campaign.objects.filter(pk=campaign_id).first()
    if campaign is None:
        return None
    update_consensus(campaign)
    update_standings(campaign)
    return compute_snapshot(campaign)
