"""The admin page where engineers upload a JSONL or CSV file of pairs.

relevance_site/admin_site.py wires it in with `admin_import_urls()`; the page calls the same `import_pairs` as
the management command and the API.
"""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import URLPattern, path

from annotation.importing import FORMATS, ImportFailed, import_pairs
from annotation.models import Pool
from annotation.roles import is_engineer


class ImportPairsForm(forms.Form):
    file = forms.FileField(help_text="JSONL (one object per line) or CSV with the same column names")
    file_format = forms.ChoiceField(
        choices=[("", "From the file name")] + [(name, name.upper()) for name in FORMATS], required=False
    )
    pool = forms.ChoiceField(choices=Pool.choices, initial=Pool.HUMAN, help_text="For rows that have no pool column")


def import_pairs_view(request: HttpRequest) -> HttpResponse:
    if not is_engineer(request.user):
        raise PermissionDenied("Only engineers may import pairs.")
    form = ImportPairsForm(request.POST or None, request.FILES or None)
    errors = []
    if request.method == "POST" and form.is_valid():
        try:
            report = import_pairs(
                form.cleaned_data["file"],
                file_format=form.cleaned_data["file_format"] or None,
                pool=form.cleaned_data["pool"],
            )
        except ImportFailed as failed:
            errors = failed.errors
        else:
            counts = ", ".join(f"{name.replace('_', ' ')}: {value}" for name, value in report.as_dict().items())
            messages.success(request, f"Imported {report.rows} rows ({counts}).")
            return redirect("admin:annotation_pair_changelist")
    context = {**admin.site.each_context(request), "title": "Import pairs", "form": form, "errors": errors}
    return render(request, "admin/annotation/import_pairs.html", context, status=400 if errors else 200)


def admin_import_urls() -> list[URLPattern]:
    """URLs to put before the admin site's own (relevance_site/admin_site.py does); name admin:annotation_import."""
    return [path("annotation/import/", admin.site.admin_view(import_pairs_view), name="annotation_import")]
