"""Plain `make_*` factories for tests."""

from __future__ import annotations

from collections.abc import Iterable

from django.contrib.auth.models import User

from annotation.default_guideline import install_default_guideline
from annotation.models import Campaign, CampaignPair, Pair, Pin, Query


def make_pairs(count: int, *, prefix: str = "p", language: str = "en", label: int | None = None) -> list[Pair]:
    queries = Query.objects.bulk_create(
        Query(external_id=f"{prefix}-q{i}", text=f"query {i}", language=language) for i in range(count)
    )
    pins = Pin.objects.bulk_create(
        Pin(external_id=f"{prefix}-pin{i}", title=f"Pin {i}", description=f"about {i}") for i in range(count)
    )
    return Pair.objects.bulk_create(Pair(query=q, pin=p, label=label) for q, p in zip(queries, pins, strict=True))


def make_campaign(
    pairs: Iterable[Pair],
    members: Iterable[User] = (),
    *,
    name: str = "Campaign",
    n: int = 3,
    lease_seconds: int = 300,
    gold_rate: float = 0.0,
    gold: dict[int, int] | None = None,
) -> Campaign:
    """A campaign over `pairs` in the given order; `gold` maps pair id → known level."""
    gold = gold or {}
    campaign = Campaign.objects.create(
        name=name,
        guideline=install_default_guideline(),
        judgments_per_pair=n,
        lease_seconds=lease_seconds,
        gold_rate=gold_rate,
    )
    CampaignPair.objects.bulk_create(
        CampaignPair(campaign=campaign, pair=pair, position=i, is_gold=pair.pk in gold, gold_level=gold.get(pair.pk))
        for i, pair in enumerate(pairs)
    )
    campaign.members.add(*members)
    return campaign
