"""Admin pages for models and runs; heartbeat rows are read-only."""

from __future__ import annotations

from django.contrib import admin
from django.http import HttpRequest

from modeling.models import WorkerPing


@admin.register(WorkerPing)
class WorkerPingAdmin(admin.ModelAdmin):
    list_display = ["queue", "sent_at", "answered_at", "worker_hostname", "latency_s"]
    list_filter = ["queue"]
    date_hierarchy = "sent_at"

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: WorkerPing | None = None) -> bool:
        return False
