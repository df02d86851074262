from __future__ import annotations

from django.contrib import admin
from django.urls import path
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect

from annotation import models


def _import_placeholder(request: HttpRequest) -> HttpResponse:
    return redirect("admin:index")


# Placeholder until the import page lands; keeps the URL name stable for templates.
_original_get_urls = admin.site.get_urls
admin.site.get_urls = lambda: [
    path("annotation/import/", admin.site.admin_view(_import_placeholder), name="annotation_import")
] + _original_get_urls()

for model in (models.Query, models.Pin, models.Pair, models.Guideline, models.Campaign, models.Judgment):
    admin.site.register(model)
