"""The run page: a run's live status, progress bar, loss curve and log, polled with htmx.

Reviewers and engineers see it; engineers also get a Cancel button. The `run_status` partial
is fetched every 2 s and answers 286 (htmx's "stop polling") with a page reload once the run
has finished, so the finished page shows the model version's metrics.
"""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_POST

from annotation.review_views import STOP_POLLING, engineer_required, staff_role_required
from annotation.roles import is_engineer
from modeling import runs
from modeling.models import Run

RUN_PAGE = "modeling/run_page.html"
LOG_TAIL_LINES = 40


def _run(run_id: int) -> Run:
    return get_object_or_404(Run.objects.select_related("model_version__dataset"), pk=run_id)


def run_context(run: Run, user: Any) -> dict[str, Any]:
    """What the page and its polled partial show."""
    steps = [point[0] for point in run.loss_history]
    losses = [point[1] for point in run.loss_history]
    version = run.model_version
    return {
        "run": run,
        "percent": round(run.progress * 100, 1),
        "loss_curve": {"steps": steps, "losses": losses},
        "log_tail": "\n".join(run.log.splitlines()[-LOG_TAIL_LINES:]),
        "metrics": version.metrics if version is not None and run.is_finished else {},
        "is_engineer": is_engineer(user),
    }


@staff_role_required
@require_GET
def run_page(request: HttpRequest, run_id: int) -> HttpResponse:
    return render(request, RUN_PAGE, run_context(_run(run_id), request.user))


@staff_role_required
@require_GET
def run_status(request: HttpRequest, run_id: int) -> HttpResponse:
    """Polled every 2 s: the status panel while the run goes on, 286 and a reload once it ended."""
    run = _run(run_id)
    if run.is_finished:
        return HttpResponse(status=STOP_POLLING, headers={"HX-Refresh": "true"})
    return render(request, RUN_PAGE + "#run_status", run_context(run, request.user))


@engineer_required
@require_POST
def cancel_run(request: HttpRequest, run_id: int) -> HttpResponse:
    run = _run(run_id)
    runs.request_cancel(run.pk)
    return redirect("runs:page", run.pk)
