"""Adjudication and the quality dashboard, mounted at /review/."""

from __future__ import annotations

from django.urls import URLPattern, path

from annotation import review_views as views

app_name = "review"
urlpatterns: list[URLPattern] = [
    path("", views.review_queue, name="queue"),
    path("<int:campaign_pair_id>/", views.adjudication_page, name="item"),
    path("<int:campaign_pair_id>/adjudicate/", views.adjudicate, name="adjudicate"),
    path("campaigns/<int:campaign_id>/quality", views.quality_dashboard, name="quality"),
    path("campaigns/<int:campaign_id>/quality/refresh", views.refresh_quality, name="refresh"),
    path("campaigns/<int:campaign_id>/quality/status", views.refresh_status, name="refresh_status"),
    path("campaigns/<int:campaign_id>/annotators/<int:user_id>/pause", views.pause_annotator, name="pause"),
]
