"""Queries, Pins, the pairs that join them, guidelines, campaigns and judgments."""

from __future__ import annotations

import hashlib
import uuid
from typing import Any

from django.conf import settings
from django.db import models
from django.db.models import Q


class Level(models.IntegerChoices):
    """The 5-level relevance scale (1 = worst, 5 = best)."""

    HIGHLY_IRRELEVANT = 1, "1 — Highly irrelevant"
    IRRELEVANT = 2, "2 — Irrelevant"
    MARGINAL = 3, "3 — Marginally relevant / complementary"
    RELEVANT = 4, "4 — Relevant"
    HIGHLY_RELEVANT = 5, "5 — Highly relevant"


def derived_query_id(text: str, language: str) -> str:
    """External id for a query imported without one: stable over text + language."""
    digest = hashlib.sha1(f"{language}\x00{text}".encode()).hexdigest()[:16]
    return f"q-{digest}"


class Query(models.Model):
    external_id = models.CharField(max_length=200, unique=True)
    text = models.TextField()
    language = models.CharField(max_length=8, db_index=True, help_text="ISO 639-1")
    country = models.CharField(max_length=8, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name_plural = "queries"
        ordering = ["id"]

    def __str__(self) -> str:
        return f"{self.text} [{self.language}]"


class Pin(models.Model):
    external_id = models.CharField(max_length=200, unique=True)
    title = models.TextField(blank=True)
    description = models.TextField(blank=True)
    image_url = models.URLField(max_length=2000, blank=True)
    # FileField, not ImageField: Pillow is not needed to store an uploaded image.
    image = models.FileField(upload_to="pins/", blank=True)
    caption = models.TextField(blank=True, help_text="Written by a vision-language model")
    link_title = models.TextField(blank=True)
    link_description = models.TextField(blank=True)
    board_titles = models.JSONField(default=list, blank=True)
    engaged_queries = models.JSONField(default=list, blank=True)
    language = models.CharField(max_length=8, blank=True, db_index=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return self.title[:80] or self.external_id

    @property
    def image_src(self) -> str:
        """The uploaded file if there is one, else the remote URL ('' when neither)."""
        return self.image.url if self.image else self.image_url


class Pool(models.TextChoices):
    HUMAN = "human", "Human labeling"
    UNLABELED = "unlabeled", "Unlabeled (for pseudo-labeling)"
    EVALUATION = "evaluation", "Evaluation"


class Split(models.TextChoices):
    TRAIN = "train", "Train"
    VAL = "val", "Validation"
    TEST = "test", "Test"


class Pair(models.Model):
    query = models.ForeignKey(Query, on_delete=models.CASCADE, related_name="pairs")
    pin = models.ForeignKey(Pin, on_delete=models.CASCADE, related_name="pairs")
    pool = models.CharField(max_length=16, choices=Pool.choices, default=Pool.HUMAN, db_index=True)
    label = models.PositiveSmallIntegerField(
        choices=Level.choices, null=True, blank=True, help_text="Imported human (consensus) grade"
    )
    split = models.CharField(max_length=8, choices=Split.choices, blank=True)
    engagement = models.JSONField(default=dict, blank=True, help_text="Optional engagement statistics")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(fields=["query", "pin"], name="pair_unique_query_pin"),
            models.CheckConstraint(
                condition=Q(label__isnull=True) | Q(label__gte=1, label__lte=5),
                name="pair_label_1_to_5",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.query.text} → {self.pin}"


class Guideline(models.Model):
    """One version of the grading instructions; a new version is a new row."""

    name = models.CharField(max_length=200)
    version = models.PositiveIntegerField()
    introduction = models.TextField(help_text="Markdown-free plain text shown above the levels")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name", "-version"]
        constraints = [
            models.UniqueConstraint(fields=["name", "version"], name="guideline_unique_version"),
        ]

    def __str__(self) -> str:
        return f"{self.name} v{self.version}"


class GuidelineLevel(models.Model):
    guideline = models.ForeignKey(Guideline, on_delete=models.CASCADE, related_name="levels")
    level = models.PositiveSmallIntegerField(choices=Level.choices)
    title = models.CharField(max_length=100)
    definition = models.TextField()
    examples = models.JSONField(
        default=list,
        blank=True,
        help_text='List of {"query": ..., "pin": ..., "why": ...} example pairs',
    )

    class Meta:
        ordering = ["guideline", "-level"]
        constraints = [
            models.UniqueConstraint(fields=["guideline", "level"], name="guideline_level_unique"),
            models.CheckConstraint(condition=Q(level__gte=1, level__lte=5), name="guideline_level_1_to_5"),
        ]

    def __str__(self) -> str:
        return f"L{self.level} {self.title}"


class Campaign(models.Model):
    name = models.CharField(max_length=200, unique=True)
    description = models.TextField(blank=True)
    guideline = models.ForeignKey(Guideline, on_delete=models.PROTECT, related_name="campaigns")
    pairs = models.ManyToManyField(Pair, through="CampaignPair", related_name="campaigns")
    members = models.ManyToManyField(settings.AUTH_USER_MODEL, blank=True, related_name="campaigns")
    judgments_per_pair = models.PositiveSmallIntegerField(default=3)
    gold_rate = models.FloatField(default=0.0, help_text="Share of served pairs that are gold, 0–1")
    lease_seconds = models.PositiveIntegerField(default=300)
    gold_threshold = models.FloatField(
        default=0.6, help_text="Annotators whose rolling exact gold accuracy falls below this are flagged, 0–1"
    )
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(condition=Q(judgments_per_pair__gte=1), name="campaign_n_positive"),
            models.CheckConstraint(condition=Q(gold_rate__gte=0, gold_rate__lte=1), name="campaign_gold_rate_0_1"),
        ]

    def __str__(self) -> str:
        return self.name


class CampaignPair(models.Model):
    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="campaign_pairs")
    pair = models.ForeignKey(Pair, on_delete=models.CASCADE, related_name="campaign_pairs")
    position = models.PositiveIntegerField(default=0, help_text="Campaign order (lower first)")
    is_gold = models.BooleanField(default=False)
    gold_level = models.PositiveSmallIntegerField(choices=Level.choices, null=True, blank=True)
    # Graded (not skipped) judgments of this pair in this campaign. Kept by annotation.queue
    # under this row's lock, so the next-pair query can order and filter without aggregating.
    graded_count = models.PositiveSmallIntegerField(default=0)
    # Set by annotation.quality once the pair has N grades: median grade, max − min, and whether
    # a reviewer must look at it. The final grade is the latest Adjudication if any, else consensus.
    consensus_level = models.PositiveSmallIntegerField(choices=Level.choices, null=True, blank=True)
    spread = models.PositiveSmallIntegerField(null=True, blank=True)
    needs_review = models.BooleanField(default=False, db_index=True)

    class Meta:
        ordering = ["campaign", "position"]
        indexes = [
            models.Index(fields=["campaign", "is_gold", "-graded_count", "position"], name="campaign_pair_queue_order"),
        ]
        constraints = [
            models.UniqueConstraint(fields=["campaign", "pair"], name="campaign_pair_unique"),
            models.CheckConstraint(
                condition=Q(is_gold=False) | Q(gold_level__gte=1, gold_level__lte=5),
                name="campaign_pair_gold_has_level",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.campaign} · pair {self.pair_id}" + (" (gold)" if self.is_gold else "")


class Lease(models.Model):
    """A pair handed to one annotator until `expires_at`; its token makes the submission idempotent."""

    token = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    campaign_pair = models.ForeignKey(CampaignPair, on_delete=models.CASCADE, related_name="leases")
    annotator = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="leases")
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField(db_index=True)

    class Meta:
        ordering = ["created_at"]
        constraints = [
            models.UniqueConstraint(fields=["campaign_pair", "annotator"], name="lease_unique_pair_annotator"),
        ]

    def __str__(self) -> str:
        return f"lease {self.token} → {self.annotator} until {self.expires_at:%H:%M:%S}"


class SkipReason(models.TextChoices):
    IMAGE = "image", "Can't load image"
    LANGUAGE = "language", "Foreign language"
    UNSURE = "unsure", "Unsure"
    OTHER = "other", "Other"


class Judgment(models.Model):
    """One annotator's grade (or reasoned skip) of one pair."""

    pair = models.ForeignKey(Pair, on_delete=models.CASCADE, related_name="judgments")
    annotator = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="judgments")
    campaign = models.ForeignKey(Campaign, on_delete=models.SET_NULL, null=True, blank=True, related_name="judgments")
    level = models.PositiveSmallIntegerField(choices=Level.choices, null=True, blank=True)
    skip_reason = models.CharField(max_length=16, choices=SkipReason.choices, blank=True)
    skip_note = models.TextField(blank=True)
    seconds_spent = models.FloatField(default=0)
    guideline = models.ForeignKey(Guideline, on_delete=models.PROTECT, null=True, blank=True)
    # The lease token of the form that produced this judgment: a resubmission finds it.
    token = models.UUIDField(null=True, blank=True, unique=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(fields=["pair", "annotator"], name="judgment_unique_pair_annotator"),
            models.CheckConstraint(
                condition=(Q(level__gte=1, level__lte=5) & Q(skip_reason=""))
                | (Q(level__isnull=True) & ~Q(skip_reason="")),
                name="judgment_level_1_to_5_or_skip",
            ),
            models.CheckConstraint(condition=Q(seconds_spent__gte=0), name="judgment_seconds_non_negative"),
        ]

    def __str__(self) -> str:
        grade = f"L{self.level}" if self.level else f"skip ({self.skip_reason})"
        return f"{self.annotator} · {grade} · pair {self.pair_id}"


class Adjudication(models.Model):
    """A reviewer's final grade for a disputed pair; the latest one overrides the consensus."""

    campaign_pair = models.ForeignKey(CampaignPair, on_delete=models.CASCADE, related_name="adjudications")
    reviewer = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="adjudications")
    level = models.PositiveSmallIntegerField(choices=Level.choices)
    reason = models.TextField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(condition=Q(level__gte=1, level__lte=5), name="adjudication_level_1_to_5"),
        ]

    def __str__(self) -> str:
        return f"L{self.level} by {self.reviewer} on {self.campaign_pair}"


class AnnotatorStanding(models.Model):
    """Per campaign and annotator: gold accuracy, whether it fell below the threshold, whether paused."""

    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="standings")
    annotator = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="standings")
    gold_judged = models.PositiveIntegerField(default=0)
    gold_exact = models.FloatField(null=True, blank=True, help_text="Rolling exact accuracy on gold, 0–1")
    gold_within_one = models.FloatField(null=True, blank=True)
    flagged = models.BooleanField(default=False, db_index=True)
    paused = models.BooleanField(default=False, help_text="A paused annotator is served no pairs")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["campaign", "annotator"], name="standing_unique_campaign_annotator"),
        ]

    def __str__(self) -> str:
        return f"{self.annotator} in {self.campaign}"


class QualitySnapshot(models.Model):
    """Precomputed quality numbers of a campaign (agreement, gold, distributions) for the dashboard."""

    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="quality_snapshots")
    computed_at = models.DateTimeField(auto_now_add=True, db_index=True)
    judgment_count = models.PositiveIntegerField(help_text="Judgments in the campaign when computed")
    data = models.JSONField()

    class Meta:
        ordering = ["-computed_at"]
        get_latest_by = "computed_at"

    def __str__(self) -> str:
        return f"{self.campaign} @ {self.computed_at:%Y-%m-%d %H:%M}"


class FrozenDatasetError(Exception):
    """An attempt to change a frozen Dataset or its items."""


class Dataset(models.Model):
    """A named, immutable snapshot of final labels with a train/val/test split by query."""

    name = models.CharField(max_length=200, unique=True)
    description = models.TextField(blank=True)
    seed = models.IntegerField(default=0)
    split_fractions = models.JSONField(default=dict, help_text='e.g. {"train": 0.8, "val": 0.1, "test": 0.1}')
    counts = models.JSONField(default=dict, help_text="Pairs per split, language and level")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return self.name

    def save(self, *args: Any, **kwargs: Any) -> None:
        # Frozen: models record which dataset they trained on, so a dataset never changes.
        if not self._state.adding:
            raise FrozenDatasetError(f"Dataset {self.pk} is frozen; freeze a new one instead.")
        super().save(*args, **kwargs)


class LabelSource(models.TextChoices):
    ADJUDICATED = "adjudicated", "Reviewer's final grade"
    CONSENSUS = "consensus", "Median of annotators"
    IMPORTED = "imported", "Imported label"


class DatasetItem(models.Model):
    dataset = models.ForeignKey(Dataset, on_delete=models.CASCADE, related_name="items")
    pair = models.ForeignKey(Pair, on_delete=models.PROTECT, related_name="dataset_items")
    level = models.PositiveSmallIntegerField(choices=Level.choices)
    split = models.CharField(max_length=8, choices=Split.choices)
    source = models.CharField(max_length=16, choices=LabelSource.choices)

    class Meta:
        ordering = ["dataset", "id"]
        constraints = [
            models.UniqueConstraint(fields=["dataset", "pair"], name="dataset_item_unique_pair"),
            models.CheckConstraint(condition=Q(level__gte=1, level__lte=5), name="dataset_item_level_1_to_5"),
        ]

    def __str__(self) -> str:
        return f"{self.dataset}: pair {self.pair_id} L{self.level} ({self.split})"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if not self._state.adding:
            raise FrozenDatasetError(f"Dataset item {self.pk} is frozen.")
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> tuple[int, dict[str, int]]:
        raise FrozenDatasetError(f"Dataset item {self.pk} is frozen; delete the whole dataset instead.")
