"""The labeling workspace: campaign list, the labeling page and the fragments its script swaps in.

The page shows one pair and holds a second, prefetched one (its own lease). A grade swaps the
prefetched card in on the client at once and posts here; the answer is the next prefetched card
plus the progress panel. Every card carries its lease token, so posting twice is harmless.
"""

from __future__ import annotations

import uuid

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render
from django.views.decorators.http import require_GET, require_POST

from annotation import queue
from annotation.forms import JudgmentForm
from annotation.models import Campaign, Lease, Pair, SkipReason

PAGE = "annotation/labeling_page.html"
SWAP = PAGE + "#card_swap"  # one card and the progress panel: the answer to every swap


def _member_campaign(request: HttpRequest, campaign_id: int) -> Campaign:
    """The active campaign, or 404; 403 unless the user is one of its members."""
    campaign = get_object_or_404(Campaign.objects.select_related("guideline"), pk=campaign_id, is_active=True)
    if not campaign.members.filter(pk=request.user.pk).exists():
        raise PermissionDenied("You are not a member of this campaign.")
    return campaign


def _card(lease: Lease | None) -> dict[str, object] | None:
    """What a pair card shows: the lease token, the query and the Pin. Never labels, grades or scores."""
    if lease is None:
        return None
    pair = Pair.objects.select_related("query", "pin").get(campaign_pairs__pk=lease.campaign_pair_id)
    return {"token": lease.token, "query": pair.query, "pin": pair.pin}


def _prefetch(campaign: Campaign, request: HttpRequest, showing: uuid.UUID | None) -> dict[str, object]:
    """The next pair after the one on screen, and the progress panel."""
    lease = queue.next_lease(campaign, request.user, exclude=(showing,) if showing else ())
    return {"campaign": campaign, "card": _card(lease), "progress": queue.progress(campaign, request.user)}


@login_required
@require_GET
def campaign_list(request: HttpRequest) -> HttpResponse:
    campaigns = queue.campaigns_for(request.user).order_by("name")
    rows = [(campaign, queue.progress(campaign, request.user)) for campaign in campaigns]
    return render(request, "annotation/campaign_list.html", {"rows": rows})


@login_required
@require_GET
def labeling_page(request: HttpRequest, campaign_id: int) -> HttpResponse:
    """The pair on screen (`current`) and, hidden, the prefetched next one (`card`)."""
    campaign = _member_campaign(request, campaign_id)
    current = queue.next_lease(campaign, request.user)
    context = _prefetch(campaign, request, current.token if current else None)
    context.update(
        current=_card(current),
        levels=campaign.guideline.levels.order_by("-level"),
        skip_reasons=SkipReason.choices,
    )
    return render(request, PAGE, context)


@login_required
@require_GET
def prefetch(request: HttpRequest, campaign_id: int) -> HttpResponse:
    """A fresh prefetched card (after a lost response): `?showing=<token on screen>`."""
    campaign = _member_campaign(request, campaign_id)
    try:
        showing = uuid.UUID(request.GET.get("showing", ""))
    except ValueError:
        showing = None
    return render(request, SWAP, _prefetch(campaign, request, showing))


@login_required
@require_POST
def submit_judgment(request: HttpRequest, campaign_id: int) -> HttpResponse:
    campaign = _member_campaign(request, campaign_id)
    form = JudgmentForm(request.POST)
    if not form.is_valid():
        return HttpResponse(" ".join(m for ms in form.errors.values() for m in ms), status=400)
    notice, status = "", 200
    try:
        queue.submit(request.user, form.cleaned_data["token"], **form.submission())
    except (queue.PairAlreadyComplete, queue.UnknownToken) as refused:
        notice, status = str(refused), 409
    context = _prefetch(campaign, request, form.cleaned_data["showing"])
    return render(request, SWAP, {**context, "notice": notice}, status=status)


@login_required
@require_POST
def undo(request: HttpRequest, campaign_id: int) -> HttpResponse:
    """Take back the latest judgment; the answer is that pair's card again (or a notice)."""
    campaign = _member_campaign(request, campaign_id)
    lease = queue.undo_last(campaign, request.user)
    context = {"card": _card(lease), "progress": queue.progress(campaign, request.user), "campaign": campaign}
    if lease is None:
        context["notice"] = "Nothing to undo."
    return render(request, SWAP, context, status=200 if lease else 409)
