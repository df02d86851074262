from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from annotation import quality
from annotation.models import Campaign


class Command(BaseCommand):
    help = "Recompute consensus grades, gold standings and the quality snapshot now (no worker needed)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--campaign", type=int, help="campaign id (default: every active campaign)")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["campaign"] is not None:
            campaigns = Campaign.objects.filter(pk=options["campaign"])
            if not campaigns.exists():
                raise CommandError(f"No campaign with id {options['campaign']}.")
        else:
            campaigns = Campaign.objects.filter(is_active=True)
        for campaign in campaigns.order_by("pk"):
            snapshot = quality.refresh_quality(campaign.pk)
            if snapshot is None:
                continue
            overall = snapshot.data["overall"]
            alpha = overall["alpha_ordinal"]["value"]
            self.stdout.write(
                f"{campaign.name}: {snapshot.judgment_count} judgments, {overall['n_units']} pairs with 2+ grades, "
                f"ordinal α {'n/a' if alpha is None else f'{alpha:.3f}'}, "
                f"{snapshot.data['review_queue']} in review"
            )
