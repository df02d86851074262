"""Training runs and model versions over the REST API (mounted under /api/v1/ by api_urls.py).

Reviewers and engineers read runs and model versions; engineers start teacher runs and cancel
runs. Starting a run goes through `start_teacher_run`, the same as the admin page and the CLI.
"""

from __future__ import annotations

from typing import Any

from django.shortcuts import get_object_or_404
from django.urls import URLPattern, path
from drf_spectacular.utils import OpenApiResponse, extend_schema, inline_serializer
from rest_framework import generics, serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from annotation.models import Dataset
from annotation.permissions import IsEngineer, IsReviewerOrEngineer
from modeling import runs
from modeling.models import ModelVersion, Run
from modeling.pipelines import PipelineError, TeacherParams, start_teacher_run


class ModelVersionSerializer(serializers.ModelSerializer):
    class Meta:
        model = ModelVersion
        fields = [
            "id",
            "kind",
            "name",
            "backbone",
            "config",
            "dataset",
            "parent",
            "metrics",
            "artifact_path",
            "status",
            "deployed",
            "created_at",
        ]


class RunSerializer(serializers.ModelSerializer):
    class Meta:
        model = Run
        fields = [
            "id",
            "kind",
            "status",
            "progress",
            "message",
            "error",
            "log",
            "loss_history",
            "params",
            "model_version",
            "attempts",
            "created_at",
            "started_at",
            "finished_at",
            "heartbeat_at",
            "cancel_requested",
        ]


class TeacherRunRequestSerializer(serializers.Serializer):
    dataset = serializers.CharField(max_length=200, help_text="The frozen dataset's name or id")
    name = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")
    params = serializers.DictField(
        required=False,
        default=dict,
        help_text="Teacher parameters (backbone, fields, epochs, lr, batch_size, max_length, …); omitted ones default",
    )


_ERROR = inline_serializer("RunError", {"detail": serializers.CharField()})


def find_dataset(key: str) -> Dataset | None:
    """The dataset named `key`, else the one whose id is `key`."""
    found = Dataset.objects.filter(name=key).first()
    if found is None and key.isdigit():
        found = Dataset.objects.filter(pk=int(key)).first()
    return found


def parse_teacher_params(values: dict[str, Any]) -> TeacherParams:
    """TeacherParams from request values; PipelineError on anything it refuses."""
    try:
        return TeacherParams.from_dict(values)
    except PipelineError:
        raise
    except (TypeError, ValueError) as error:
        raise PipelineError(f"bad teacher parameters: {error}") from None


class TeacherRunCreateView(APIView):
    permission_classes = [IsEngineer]

    @extend_schema(
        operation_id="start_teacher_run",
        summary="Start a teacher (cross-encoder) training run on a frozen dataset",
        request=TeacherRunRequestSerializer,
        responses={201: RunSerializer, 400: OpenApiResponse(_ERROR, description="bad input; nothing created")},
    )
    def post(self, request: Request) -> Response:
        body = TeacherRunRequestSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        dataset = find_dataset(body.validated_data["dataset"])
        if dataset is None:
            message = f"no dataset named or numbered {body.validated_data['dataset']!r}"
            return Response({"detail": message}, status=status.HTTP_400_BAD_REQUEST)
        try:
            params = parse_teacher_params(body.validated_data["params"])
        except PipelineError as error:
            return Response({"detail": str(error)}, status=status.HTTP_400_BAD_REQUEST)
        run = start_teacher_run(dataset, params, name=body.validated_data["name"])
        return Response(RunSerializer(run).data, status=status.HTTP_201_CREATED)


@extend_schema(summary="Training and other long runs, newest first")
class RunListView(generics.ListAPIView):
    permission_classes = [IsReviewerOrEngineer]
    queryset = Run.objects.all()
    serializer_class = RunSerializer


@extend_schema(summary="One run with its progress, loss history and log")
class RunDetailView(generics.RetrieveAPIView):
    permission_classes = [IsReviewerOrEngineer]
    queryset = Run.objects.all()
    serializer_class = RunSerializer


class RunCancelView(APIView):
    permission_classes = [IsEngineer]

    @extend_schema(
        operation_id="cancel_run",
        summary="Ask a run to stop: a pending run is cancelled at once, a running one at its next step",
        request=None,
        responses={200: RunSerializer, 409: OpenApiResponse(_ERROR, description="the run had already finished")},
    )
    def post(self, request: Request, pk: int) -> Response:
        run = get_object_or_404(Run, pk=pk)
        if not runs.request_cancel(run.pk):
            return Response({"detail": f"run {run.pk} has already finished"}, status=status.HTTP_409_CONFLICT)
        run.refresh_from_db()
        return Response(RunSerializer(run).data)


@extend_schema(summary="Trained (and training) models, newest first")
class ModelVersionListView(generics.ListAPIView):
    permission_classes = [IsReviewerOrEngineer]
    queryset = ModelVersion.objects.all()
    serializer_class = ModelVersionSerializer


urlpatterns: list[URLPattern] = [
    path("runs/teacher", TeacherRunCreateView.as_view(), name="api-run-teacher"),
    path("runs/", RunListView.as_view(), name="api-run-list"),
    path("runs/<int:pk>/", RunDetailView.as_view(), name="api-run-detail"),
    path("runs/<int:pk>/cancel", RunCancelView.as_view(), name="api-run-cancel"),
    path("model-versions/", ModelVersionListView.as_view(), name="api-model-version-list"),
]
