"""The admin page where engineers start a teacher run (admin_site.py wires it in with
`admin_run_urls()`); it calls the same `start_teacher_run` as the API and `train_teacher`."""

from __future__ import annotations

from typing import Any

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import URLPattern, path

from annotation.models import Dataset
from annotation.roles import is_engineer
from modeling.ml.text import FIELDS
from modeling.pipelines import PipelineError, TeacherParams, start_teacher_run

_DEFAULTS = TeacherParams()


class TeacherRunForm(forms.Form):
    dataset = forms.ModelChoiceField(queryset=Dataset.objects.order_by("-created_at"), help_text="A frozen dataset")
    name = forms.CharField(max_length=200, required=False, help_text="Blank: “teacher on <dataset>”")
    backbone = forms.CharField(max_length=1000, help_text="A local Hugging Face model folder")
    pin_fields = forms.MultipleChoiceField(
        label="Fields",
        choices=[(name, name.replace("_", " ")) for name in FIELDS],
        initial=list(_DEFAULTS.fields),
        widget=forms.CheckboxSelectMultiple,
        help_text="Pin fields the teacher reads",
    )
    epochs = forms.IntegerField(min_value=1, max_value=1000, initial=_DEFAULTS.epochs)
    lr = forms.FloatField(min_value=0, initial=_DEFAULTS.lr, label="Learning rate")
    batch_size = forms.IntegerField(min_value=1, max_value=4096, initial=_DEFAULTS.batch_size)
    max_length = forms.IntegerField(min_value=8, max_value=8192, initial=_DEFAULTS.max_length)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["backbone"].initial = str(settings.BACKBONE_DIR)

    def teacher_params(self) -> TeacherParams:
        """The cleaned values as TeacherParams; PipelineError when they are refused."""
        data = self.cleaned_data
        keys = ("backbone", "epochs", "lr", "batch_size", "max_length")
        return TeacherParams.from_dict({**{key: data[key] for key in keys}, "fields": tuple(data["pin_fields"])})


def start_teacher_run_view(request: HttpRequest) -> HttpResponse:
    if not is_engineer(request.user):
        raise PermissionDenied("Only engineers may start training runs.")
    form = TeacherRunForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            params = form.teacher_params()
        except PipelineError as error:
            form.add_error(None, str(error))
        else:
            run = start_teacher_run(form.cleaned_data["dataset"], params, name=form.cleaned_data["name"])
            messages.success(request, f"Started teacher run #{run.pk}.")
            return redirect("runs:page", run.pk)
    context = {**admin.site.each_context(request), "title": "Start a teacher run", "form": form}
    status = 400 if request.method == "POST" else 200
    return render(request, "admin/modeling/run/start_teacher.html", context, status=status)


def admin_run_urls() -> list[URLPattern]:
    """URLs to put before the admin site's own; the name is admin:modeling_start_teacher."""
    view = admin.site.admin_view(start_teacher_run_view)
    return [path("modeling/run/start-teacher/", view, name="modeling_start_teacher")]
