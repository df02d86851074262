"""The labeling workspace, mounted at /label/."""

from __future__ import annotations

from django.urls import URLPattern, path

from annotation import views

app_name = "annotation"
urlpatterns: list[URLPattern] = [
    path("", views.campaign_list, name="campaign_list"),
    path("<int:campaign_id>/", views.labeling_page, name="labeling_page"),
    path("<int:campaign_id>/next/", views.prefetch, name="prefetch"),
    path("<int:campaign_id>/judge/", views.submit_judgment, name="submit_judgment"),
    path("<int:campaign_id>/undo/", views.undo, name="undo"),
]
