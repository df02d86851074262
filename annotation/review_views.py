"""Reviewer pages: the review queue, adjudicating one disputed pair, and a campaign's quality dashboard.

Reviewers and engineers only. The adjudication page never shows who graded: annotators appear as
"Annotator A/B/C" in the order their judgments were made. The dashboard reads the latest
QualitySnapshot and nothing else computed; an engineer's refresh enqueues the Celery task and the
page polls until a newer snapshot exists.
"""

from __future__ import annotations

import string
from collections.abc import Callable
from functools import wraps
from typing import Any

from django import forms
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from annotation import charts, quality, tasks
from annotation.models import (
    AnnotatorStanding,
    Campaign,
    CampaignPair,
    Judgment,
    Level,
    QualitySnapshot,
)
from annotation.roles import is_engineer, is_staff_role

ITEM_PAGE = "annotation/review_item.html"
ITEM_SWAP = ITEM_PAGE + "#review_item"
QUALITY_PAGE = "annotation/review_quality.html"
STOP_POLLING = 286  # htmx stops an `every 2s` trigger on this status

View = Callable[..., HttpResponse]


def staff_role_required(view: View) -> View:
    """Signed-in reviewers and engineers; anyone else signed in gets 403."""

    @login_required
    @wraps(view)
    def guarded(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not is_staff_role(request.user):
            raise PermissionDenied("Only reviewers and engineers may open this page.")
        return view(request, *args, **kwargs)

    return guarded


def engineer_required(view: View) -> View:
    @login_required
    @wraps(view)
    def guarded(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not is_engineer(request.user):
            raise PermissionDenied("Only engineers may do this.")
        return view(request, *args, **kwargs)

    return guarded


class AdjudicationForm(forms.Form):
    level = forms.TypedChoiceField(
        choices=Level.choices, coerce=int, error_messages={"required": "Pick the final grade (1–5)."}
    )
    reason = forms.CharField(
        max_length=2000, strip=True, error_messages={"required": "Write why this grade is the right one."}
    )


# ---- review queue and adjudication --------------------------------------------------------------


def _queue_rows() -> list[dict[str, Any]]:
    """Per campaign: how many pairs wait for a reviewer and which comes first."""
    waiting: dict[int, dict[str, Any]] = {}
    for campaign_id, pk in quality.review_queue().values_list("campaign_id", "pk"):
        row = waiting.setdefault(campaign_id, {"count": 0, "first": pk})
        row["count"] += 1
    campaigns = Campaign.objects.filter(pk__in=waiting) | Campaign.objects.filter(is_active=True)
    return [
        {"campaign": campaign, **waiting.get(campaign.pk, {"count": 0, "first": None})}
        for campaign in campaigns.distinct().order_by("name")
    ]


def _anonymous_name(index: int) -> str:
    letters = string.ascii_uppercase
    return f"Annotator {letters[index]}" if index < len(letters) else f"Annotator {index + 1}"


def _grades(campaign_pair: CampaignPair) -> list[dict[str, Any]]:
    """Every judgment of the pair in its campaign, oldest first, with no trace of who made it."""
    judgments = Judgment.objects.filter(pair_id=campaign_pair.pair_id, campaign_id=campaign_pair.campaign_id)
    return [
        {
            "name": _anonymous_name(i),
            "level": judgment.level,
            "skip_reason": judgment.get_skip_reason_display() if judgment.skip_reason else "",
            "skip_note": judgment.skip_note,
            "seconds": judgment.seconds_spent,
        }
        for i, judgment in enumerate(judgments.order_by("created_at", "pk"))
    ]


def _item_context(campaign_pair: CampaignPair, form: AdjudicationForm | None = None) -> dict[str, Any]:
    campaign = campaign_pair.campaign
    return {
        "item": campaign_pair,
        "campaign": campaign,
        "pair": campaign_pair.pair,
        "grades": _grades(campaign_pair),
        "decision": campaign_pair.adjudications.select_related("reviewer").first(),
        "levels": campaign.guideline.levels.order_by("-level"),
        "waiting": quality.review_queue(campaign).exclude(pk=campaign_pair.pk).count(),
        "form": form or AdjudicationForm(),
    }


def _campaign_pair(campaign_pair_id: int) -> CampaignPair:
    related = ("campaign__guideline", "pair__query", "pair__pin")
    return get_object_or_404(CampaignPair.objects.select_related(*related), pk=campaign_pair_id)


def _next_item(done: CampaignPair) -> CampaignPair | None:
    """The next pair waiting in the same campaign, else in any campaign."""
    same = quality.review_queue(done.campaign).exclude(pk=done.pk).first()
    return same or quality.review_queue().exclude(pk=done.pk).first()


@staff_role_required
@require_GET
def review_queue(request: HttpRequest) -> HttpResponse:
    return render(request, "annotation/review_queue.html", {"rows": _queue_rows()})


@staff_role_required
@require_GET
def adjudication_page(request: HttpRequest, campaign_pair_id: int) -> HttpResponse:
    return render(request, ITEM_PAGE, _item_context(_campaign_pair(campaign_pair_id)))


@staff_role_required
@require_POST
def adjudicate(request: HttpRequest, campaign_pair_id: int) -> HttpResponse:
    """Store the final grade, then show the next disputed pair (the same fragment, swapped in)."""
    campaign_pair = _campaign_pair(campaign_pair_id)
    form = AdjudicationForm(request.POST)
    if form.is_valid():
        try:
            quality.adjudicate(campaign_pair, request.user, form.cleaned_data["level"], form.cleaned_data["reason"])
        except (ValueError, ValidationError) as refused:
            form.add_error(None, "; ".join(getattr(refused, "messages", None) or [str(refused)]))
    if not form.is_valid():
        return render(request, ITEM_SWAP, _item_context(campaign_pair, form), status=422)
    upcoming = _next_item(campaign_pair)
    if not request.htmx:
        return redirect("review:item", upcoming.pk) if upcoming else redirect("review:queue")
    if upcoming is None:
        response = render(request, ITEM_PAGE + "#queue_empty", {"done": campaign_pair})
        response["HX-Push-Url"] = reverse("review:queue")
        return response
    response = render(request, ITEM_SWAP, _item_context(_campaign_pair(upcoming.pk)))
    response["HX-Push-Url"] = reverse("review:item", args=[upcoming.pk])
    return response


# ---- quality dashboard -------------------------------------------------------------------------


def _latest_snapshot(campaign: Campaign) -> QualitySnapshot | None:
    return campaign.quality_snapshots.order_by("-computed_at", "-pk").first()


def _refresh_context(campaign: Campaign, snapshot: QualitySnapshot | None, *, polling: bool) -> dict[str, Any]:
    judgments = Judgment.objects.filter(campaign=campaign)
    if snapshot is not None:
        judgments = judgments.filter(created_at__gt=snapshot.computed_at)
    return {
        "campaign": campaign,
        "snapshot": snapshot,
        "since": judgments.count(),
        "polling": polling,
        "after": snapshot.pk if snapshot else 0,
    }


@staff_role_required
@require_GET
def quality_dashboard(request: HttpRequest, campaign_id: int) -> HttpResponse:
    """Charts and tables from the latest snapshot; only a count of newer judgments touches raw rows."""
    campaign = get_object_or_404(Campaign, pk=campaign_id)
    snapshot = _latest_snapshot(campaign)
    data = snapshot.data if snapshot else {}
    watched = AnnotatorStanding.objects.filter(campaign=campaign).exclude(flagged=False, paused=False)
    context = _refresh_context(campaign, snapshot, polling=False)
    context.update(
        data=data,
        figures=charts.dashboard_figures(data, campaign.gold_threshold) if snapshot else None,
        standings=watched.select_related("annotator").order_by("annotator__username"),
        is_engineer=is_engineer(request.user),
    )
    return render(request, QUALITY_PAGE, context)


@engineer_required
@require_POST
def refresh_quality(request: HttpRequest, campaign_id: int) -> HttpResponse:
    """Enqueue a recomputation; the answer is the panel that polls for the newer snapshot."""
    campaign = get_object_or_404(Campaign, pk=campaign_id)
    tasks.refresh_quality.delay(campaign.pk)
    if not request.htmx:
        return redirect("review:quality", campaign.pk)
    context = _refresh_context(campaign, _latest_snapshot(campaign), polling=True)
    return render(request, QUALITY_PAGE + "#refresh_panel", {**context, "is_engineer": True})


@staff_role_required
@require_GET
def refresh_status(request: HttpRequest, campaign_id: int) -> HttpResponse:
    """Polled every 2 s after a refresh: 286 and a page reload once a snapshot newer than `after` exists."""
    campaign = get_object_or_404(Campaign, pk=campaign_id)
    after = int(request.GET["after"]) if request.GET.get("after", "").isdigit() else 0
    if campaign.quality_snapshots.filter(pk__gt=after).exists():
        return HttpResponse(status=STOP_POLLING, headers={"HX-Refresh": "true"})
    context = _refresh_context(campaign, _latest_snapshot(campaign), polling=True)
    return render(request, QUALITY_PAGE + "#refresh_panel", {**context, "is_engineer": is_engineer(request.user)})


@engineer_required
@require_POST
def pause_annotator(request: HttpRequest, campaign_id: int, user_id: int) -> HttpResponse:
    """Pause (`paused=1`) or resume (`paused=0`) an annotator in one campaign."""
    standing = get_object_or_404(
        AnnotatorStanding.objects.select_related("annotator"), campaign_id=campaign_id, annotator_id=user_id
    )
    standing.paused = request.POST.get("paused") == "1"
    standing.save(update_fields=["paused", "updated_at"])
    if not request.htmx:
        return redirect("review:quality", campaign_id)
    return render(request, QUALITY_PAGE + "#standing_row", {"standing": standing, "is_engineer": True})
