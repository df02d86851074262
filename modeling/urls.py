"""Run pages, mounted at /runs/."""

from __future__ import annotations

from django.urls import path

from modeling import views

app_name = "runs"

urlpatterns = [
    path("<int:run_id>/", views.run_page, name="page"),
    path("<int:run_id>/status", views.run_status, name="status"),
    path("<int:run_id>/cancel", views.cancel_run, name="cancel"),
]
