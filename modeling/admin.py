"""Admin pages for models and runs; heartbeat rows are read-only."""

from __future__ import annotations

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from modeling import runs
from modeling.models import ModelVersion, Run, WorkerPing


@admin.register(WorkerPing)
class WorkerPingAdmin(admin.ModelAdmin):
    list_display = ["queue", "sent_at", "answered_at", "worker_hostname", "latency_s"]
    list_filter = ["queue"]
    date_hierarchy = "sent_at"

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: WorkerPing | None = None) -> bool:
        return False


class ReadOnlyAdmin(admin.ModelAdmin):
    """Rows written by workers and domain functions, never edited by hand."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


@admin.register(ModelVersion)
class ModelVersionAdmin(ReadOnlyAdmin):
    list_display = ["id", "kind", "name", "dataset", "status", "deployed", "val_accuracy", "created_at"]
    list_filter = ["kind", "status", "deployed"]
    search_fields = ["name", "backbone"]
    list_select_related = ["dataset"]

    @admin.display(description="val accuracy")
    def val_accuracy(self, obj: ModelVersion) -> str:
        value = (obj.metrics.get("val") or {}).get("accuracy")
        return "–" if value is None else f"{value:.3f}"


@admin.register(Run)
class RunAdmin(ReadOnlyAdmin):
    list_display = ["id", "kind", "status", "percent", "message", "attempts", "model_version", "created_at"]
    list_filter = ["kind", "status"]
    list_select_related = ["model_version"]
    actions = ["cancel_runs"]

    @admin.display(description="progress")
    def percent(self, obj: Run) -> str:
        return f"{obj.progress:.0%}"

    @admin.action(description="Cancel selected runs")
    def cancel_runs(self, request: HttpRequest, queryset: QuerySet[Run]) -> None:
        cancelled = sum(runs.request_cancel(run.pk) for run in queryset)
        self.message_user(request, f"Asked {cancelled} run(s) to stop.", messages.SUCCESS)
