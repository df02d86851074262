from __future__ import annotations

import random
from pathlib import Path

import pytest
from django.contrib.auth.models import User
from django.urls import reverse
from playwright.sync_api import Page, expect

from annotation import quality
from annotation.models import Adjudication, Campaign, CampaignPair, Judgment, Pin
from annotation.roles import ANNOTATOR
from tests.browser.conftest import log_in
from tests.conftest import make_user
from tests.factories import make_campaign, make_pairs
from tests.worker_process import WorkerProcess

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

CHARTS = ("chart-judgments", "chart-grades", "chart-alpha", "chart-gold", "chart-kappa")
SCREENSHOTS = Path("/tmp/review-screens")  # also kept outside tmp_path so a person can look at them


def shoot(page: Page, tmp_path: Path, name: str) -> None:
    SCREENSHOTS.mkdir(exist_ok=True)
    for folder in (tmp_path, SCREENSHOTS):
        page.screenshot(path=str(folder / name), full_page=True)


def graded_campaign(annotators: list[User]) -> Campaign:
    """24 pairs (English and Spanish, every other one gold) graded by three annotators with seeded noise."""
    pairs = make_pairs(16, prefix="en", label=4) + make_pairs(8, prefix="es", language="es", label=2)
    Pin.objects.filter(pk=pairs[0].pin_id).update(title="Red velvet layer cake", caption="A sliced red cake")
    gold = {pair.pk: pair.label for pair in pairs[::2]}
    campaign = make_campaign(pairs, annotators, name="Cakes", gold=gold)
    rng = random.Random(3)
    for annotator, noise in zip(annotators, (0.4, 0.7, 1.4), strict=True):
        for pair in pairs:
            level = min(5, max(1, round(pair.label + rng.gauss(0, noise))))
            Judgment.objects.create(
                pair=pair, annotator=annotator, campaign=campaign, level=level, seconds_spent=rng.uniform(3, 20)
            )
    CampaignPair.objects.filter(campaign=campaign).update(graded_count=len(annotators))
    return campaign


def test_the_dashboard_draws_every_chart_and_a_reviewer_resolves_a_pair_by_keyboard(
    page: Page, reviewer: User, alice: User, bob: User, tmp_path: Path
) -> None:
    campaign = graded_campaign([alice, bob, make_user("carol", ANNOTATOR)])
    snapshot = quality.refresh_quality(campaign.pk)
    assert snapshot is not None
    flagged = [row["annotator"] for row in snapshot.data["per_annotator"] if row["flagged"]]
    assert "carol" in flagged and "alice" not in flagged  # the noisiest annotator falls below the threshold
    log_in(page, "rita", "pw-rita", next_url=reverse("review:quality", args=[campaign.pk]))
    for chart in CHARTS:
        expect(page.locator(f"#{chart}.js-plotly-plot .main-svg").first).to_be_visible()
    expect(page.locator("#chart-alpha .errorbar path")).not_to_have_count(0)  # α intervals drawn
    expect(page.locator("#chart-kappa .hm image, #chart-kappa .heatmaplayer image").first).to_be_attached()
    expect(page.locator("[data-role=agreement] tbody tr")).to_have_count(3)  # all, en, es
    expect(page.locator("#chart-gold .point path[style*='rgb(200, 16, 46)']")).to_have_count(len(flagged))  # red
    expect(page.locator(".standings .standing .who")).to_have_text(flagged)
    expect(page.locator("[data-action=refresh]")).to_have_count(0)  # reviewers do not refresh
    shoot(page, tmp_path, "quality.png")

    waiting = list(quality.review_queue(campaign))
    assert len(waiting) >= 2
    page.click("text=in the review queue →")
    page.click(f"tr[data-campaign='{campaign.pk}'] >> text=Review →")
    page.wait_for_url(f"**{reverse('review:item', args=[waiting[0].pk])}")
    for username in ("alice", "bob", "carol"):
        expect(page.locator("#review-item")).not_to_contain_text(username)
    expect(page.locator(".grade-row")).to_have_count(3)

    page.keyboard.press("?")
    expect(page.locator("#review-keys")).to_be_visible()
    page.keyboard.press("Escape")
    expect(page.locator("#review-keys")).to_be_hidden()

    # A grade without a reason is refused; the grade stays chosen and the reason field waits.
    page.keyboard.press("4")
    expect(page.locator(".reason-input")).to_be_focused()
    page.keyboard.press("Enter")
    expect(page.locator("[data-errors]")).to_contain_text("Write why")
    expect(page.locator("input[name=level][value='4']")).to_be_checked()
    assert not Adjudication.objects.exists()
    shoot(page, tmp_path, "review_error.png")

    # Digits typed in the reason are text, not grades; Enter saves and brings the next pair.
    page.keyboard.type("title and caption match; 2 of 3 agree")
    page.keyboard.press("Enter")
    expect(page.locator("#review-item")).to_have_attribute("data-item", str(waiting[1].pk))
    page.wait_for_url(f"**{reverse('review:item', args=[waiting[1].pk])}")
    decision = Adjudication.objects.get()
    assert (decision.campaign_pair_id, decision.level, decision.reviewer_id) == (waiting[0].pk, 4, reviewer.pk)
    assert decision.reason == "title and caption match; 2 of 3 agree"
    assert not quality.review_queue().filter(pk=waiting[0].pk).exists()
    expect(page.locator(".reason-input")).to_have_value("")
    shoot(page, tmp_path, "review_next.png")


def test_an_engineers_refresh_runs_on_the_worker_and_the_page_reloads_with_new_numbers(
    page: Page,
    engineer: User,
    alice: User,
    bob: User,
    celery_worker_process: WorkerProcess,  # noqa: F811
) -> None:
    campaign = graded_campaign([alice, bob, make_user("carol", ANNOTATOR)])
    old = quality.compute_snapshot(campaign, n_boot=20)  # before consensus: nothing in review yet
    log_in(page, "erin", "pw-erin", next_url=reverse("review:quality", args=[campaign.pk]))
    expect(page.locator("#chart-grades .main-svg").first).to_be_visible()
    page.click("[data-action=refresh]")
    expect(page.locator("[data-role=refreshing]")).to_be_visible()
    # The worker computes a new snapshot; the poll answers 286 + HX-Refresh and the page reloads.
    expect(page.locator("[data-role=refreshing]")).to_have_count(0, timeout=60_000)
    newest = campaign.quality_snapshots.order_by("-pk").first()
    assert newest is not None and newest.pk > old.pk
    expect(page.locator("time")).to_have_attribute("datetime", newest.computed_at.isoformat())
    expect(page.locator("[data-role=review-queue]")).to_have_text(str(newest.data["review_queue"]))
    assert newest.data["review_queue"] > 0
