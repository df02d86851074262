"""Simulated annotators for the demo: they judge a campaign through the real queue, with seeded noise.

Each simulated annotator takes leases with `queue.next_lease` and answers with `queue.submit`, like the
labeling page does, so N, gold mixing and skips behave as for people. A grade is the pair's imported
label (3 when it has none, the gold level on gold pairs) plus rounded Gaussian noise, so some pairs
disagree by two levels or more and land in the review queue. Judgment times are then spread over
the last few days so the dashboard's timeline has a shape. Finally the quality numbers are refreshed.
"""

from __future__ import annotations

import json
import math
import random
import sys
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth.models import User
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone
from tqdm import tqdm

from annotation import quality, queue
from annotation.models import Campaign, CampaignPair, Judgment, SkipReason
from annotation.roles import ANNOTATOR, ensure_role_groups

USERNAME = "sim-annotator-{}"
SKIP_RATE = 0.02
MEDIAN_SECONDS = 9.0


@dataclass
class Tally:
    judged: int = 0
    skipped: int = 0
    judgments: list[Judgment] = field(default_factory=list)


def simulated_annotators(campaign: Campaign, count: int) -> list[User]:
    """sim-annotator-1..count: created once (no usable password), annotators, members of the campaign."""
    group = ensure_role_groups()[ANNOTATOR]
    users = []
    for i in range(1, count + 1):
        user, created = User.objects.get_or_create(username=USERNAME.format(i))
        if created:
            user.set_unusable_password()
            user.save(update_fields=["password"])
        user.groups.add(group)
        users.append(user)
    campaign.members.add(*users)
    return users


def simulated_grade(campaign_pair: CampaignPair, rng: random.Random, noise: float) -> int:
    """The pair's known grade (gold level, else imported label, else 3) plus rounded N(0, noise), in 1–5."""
    base = campaign_pair.gold_level or campaign_pair.pair.label or 3
    return min(5, max(1, round(base + rng.gauss(0.0, noise))))


def simulated_seconds(rng: random.Random) -> float:
    """Log-normal around MEDIAN_SECONDS: most pairs take a few seconds, a few take a minute."""
    return round(min(rng.lognormvariate(math.log(MEDIAN_SECONDS), 0.6), 240.0), 2)


def judge_everything(campaign: Campaign, annotator: User, rng: random.Random, noise: float, tally: Tally) -> None:
    """Take and answer leases until the queue has nothing left for this annotator."""
    while (lease := queue.next_lease(campaign, annotator, rng=rng)) is not None:
        campaign_pair = CampaignPair.objects.select_related("pair").get(pk=lease.campaign_pair_id)
        seconds = simulated_seconds(rng)
        if rng.random() < SKIP_RATE:
            reason = rng.choice([SkipReason.UNSURE, SkipReason.IMAGE, SkipReason.LANGUAGE])
            outcome = queue.submit(annotator, lease.token, skip_reason=reason, seconds_spent=seconds)
            tally.skipped += 1
        else:
            level = simulated_grade(campaign_pair, rng, noise)
            outcome = queue.submit(annotator, lease.token, level=level, seconds_spent=seconds)
            tally.judged += 1
        tally.judgments.append(outcome.judgment)


def spread_over_days(judgments: list[Judgment], days: int, rng: random.Random) -> None:
    """Re-time the judgments as if each annotator worked a varying share of them on each of the last `days` days."""
    if days <= 0 or not judgments:
        return
    now = timezone.now()
    first_morning = now.replace(hour=8, minute=0, second=0, microsecond=0) - timedelta(days=days - 1)
    by_annotator: dict[int, list[Judgment]] = {}
    for judgment in judgments:
        by_annotator.setdefault(judgment.annotator_id, []).append(judgment)
    for own in by_annotator.values():
        weights = [rng.uniform(0.2, 1.5) for _ in range(days)]
        bounds = [round(len(own) * sum(weights[: d + 1]) / sum(weights)) for d in range(days)]
        begin = 0
        for day, end in enumerate(bounds):
            clock = first_morning + timedelta(days=day, minutes=rng.uniform(0, 120))
            for judgment in own[begin:end]:
                clock += timedelta(seconds=judgment.seconds_spent + rng.uniform(1, 15))
                judgment.created_at = min(clock, now)
            begin = end
    Judgment.objects.bulk_update(judgments, ["created_at"], batch_size=500)


class Command(BaseCommand):
    help = "Simulate annotators judging a campaign through the real queue (demo data), then refresh quality."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--campaign", required=True, help="campaign name")
        parser.add_argument("--annotators", type=int, default=3)
        parser.add_argument("--seed", type=int, default=0)
        parser.add_argument("--noise", type=float, default=0.8, help="std. dev. of the grade noise, in levels")
        parser.add_argument("--days", type=int, default=7, help="spread judgment times over this many days")
        parser.add_argument("--allow-production", action="store_true", help="Run even with DJANGO_DEBUG=false.")

    def handle(self, *args: Any, **options: Any) -> None:
        if not settings.DEBUG and not options["allow_production"]:
            raise CommandError("Refusing to simulate judgments with DJANGO_DEBUG=false (use --allow-production).")
        if options["annotators"] < 1 or options["noise"] < 0:
            raise CommandError("--annotators must be at least 1 and --noise not negative.")
        campaign = Campaign.objects.filter(name=options["campaign"]).first()
        if campaign is None:
            raise CommandError(f"No campaign named {options['campaign']!r}.")
        rng = random.Random(options["seed"])
        tally = Tally()
        annotators = simulated_annotators(campaign, options["annotators"])
        for annotator in tqdm(annotators, desc="simulate", unit=" annotator", file=sys.stderr):
            judge_everything(campaign, annotator, rng, options["noise"], tally)
        spread_over_days(tally.judgments, options["days"], rng)
        quality.refresh_quality(campaign.pk)
        self._report(campaign, annotators, tally)

    def _report(self, campaign: Campaign, annotators: list[User], tally: Tally) -> None:
        in_review = quality.review_queue(campaign).count()
        snapshot = campaign.quality_snapshots.order_by("-computed_at", "-pk").first()
        alpha = ((snapshot.data.get("overall") or {}).get("alpha_ordinal") or {}).get("value") if snapshot else None
        self.stdout.write(
            f"{campaign.name}: {tally.judged} grades and {tally.skipped} skips by "
            f"{', '.join(user.username for user in annotators)}; {in_review} pairs in the review queue; "
            f"ordinal α = {alpha if alpha is None else round(alpha, 3)}"
        )
        summary = {
            "campaign": campaign.name,
            "annotators": [user.username for user in annotators],
            "grades": tally.judged,
            "skips": tally.skipped,
            "review_queue": in_review,
            "snapshot": snapshot.pk if snapshot else None,
            "alpha_ordinal": alpha,
        }
        self.stdout.write(json.dumps(summary))
