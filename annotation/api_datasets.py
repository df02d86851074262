"""Frozen datasets over the REST API (mounted under /api/v1/ by api_urls.py).

Reviewers and engineers list, read and export datasets; engineers freeze new ones. A dataset
is immutable, so there is no update or delete here (deleting is an admin matter).
"""

from __future__ import annotations

from django.http import StreamingHttpResponse
from django.shortcuts import get_object_or_404
from django.urls import URLPattern, path
from django.utils.text import slugify
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema, inline_serializer
from rest_framework import generics, serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from annotation.datasets import (
    DEFAULT_FRACTIONS,
    SPLITS,
    DatasetError,
    dataset_lines,
    freeze_dataset,
)
from annotation.exporting import CONTENT_TYPES, EXPORT_FORMATS
from annotation.models import Dataset
from annotation.permissions import IsReviewerOrEngineer, StaffReadsEngineerWrites

_INT32 = 2**31


class DatasetSummarySerializer(serializers.ModelSerializer):
    created_by = serializers.SlugRelatedField(slug_field="username", read_only=True)
    total = serializers.SerializerMethodField(help_text="Pairs in the dataset")
    split_counts = serializers.SerializerMethodField(help_text="Pairs per split")

    class Meta:
        model = Dataset
        fields = [
            "id",
            "name",
            "description",
            "seed",
            "split_fractions",
            "total",
            "split_counts",
            "created_by",
            "created_at",
        ]

    def get_total(self, dataset: Dataset) -> int:
        return int(dataset.counts.get("total", 0))

    def get_split_counts(self, dataset: Dataset) -> dict[str, int]:
        return dict(dataset.counts.get("split", {}))


class DatasetSerializer(DatasetSummarySerializer):
    class Meta(DatasetSummarySerializer.Meta):
        fields = [*DatasetSummarySerializer.Meta.fields, "counts"]


class FreezeSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=200)
    description = serializers.CharField(required=False, allow_blank=True, default="")
    seed = serializers.IntegerField(default=0, min_value=-_INT32, max_value=_INT32 - 1)
    campaigns = serializers.ListField(
        child=serializers.IntegerField(min_value=1),
        required=False,
        default=None,
        allow_null=True,
        help_text="Campaign ids whose labels to take; omitted or null: every campaign",
    )
    include_imported = serializers.BooleanField(default=True, help_text="Add the labels imported with the pairs")
    fractions = serializers.DictField(
        child=serializers.FloatField(),
        required=False,
        default=lambda: dict(DEFAULT_FRACTIONS),
        help_text="Shares of train / val / test, summing to 1",
    )


class DatasetExportQuerySerializer(serializers.Serializer):
    file_format = serializers.ChoiceField(choices=EXPORT_FORMATS, default="jsonl")
    split = serializers.ChoiceField(choices=SPLITS, required=False, help_text="default: every split")


_ERROR = inline_serializer("DatasetError", {"detail": serializers.CharField()})


class DatasetListView(generics.ListAPIView):
    permission_classes = [StaffReadsEngineerWrites]
    queryset = Dataset.objects.select_related("created_by")
    serializer_class = DatasetSummarySerializer

    @extend_schema(
        operation_id="freeze_dataset",
        summary="Freeze the current final labels into a new dataset split by query",
        request=FreezeSerializer,
        responses={201: DatasetSerializer, 400: OpenApiResponse(_ERROR, description="bad input; nothing written")},
    )
    def post(self, request: Request) -> Response:
        params = FreezeSerializer(data=request.data)
        params.is_valid(raise_exception=True)
        try:
            dataset = freeze_dataset(**params.validated_data, created_by=request.user)
        except DatasetError as error:
            return Response({"detail": str(error)}, status=status.HTTP_400_BAD_REQUEST)
        return Response(DatasetSerializer(dataset).data, status=status.HTTP_201_CREATED)


class DatasetDetailView(generics.RetrieveAPIView):
    permission_classes = [StaffReadsEngineerWrites]
    queryset = Dataset.objects.select_related("created_by")
    serializer_class = DatasetSerializer


class DatasetExportView(APIView):
    permission_classes = [IsReviewerOrEngineer]

    @extend_schema(
        operation_id="export_dataset",
        summary="Export a dataset as JSONL, CSV (the import format, frozen label and split) or TREC qrels",
        parameters=[DatasetExportQuerySerializer],
        responses={(200, content_type): OpenApiTypes.STR for content_type in CONTENT_TYPES.values()},
    )
    def get(self, request: Request, pk: int) -> StreamingHttpResponse:
        dataset = get_object_or_404(Dataset, pk=pk)
        params = DatasetExportQuerySerializer(data=request.query_params)
        params.is_valid(raise_exception=True)
        fmt, split = params.validated_data["file_format"], params.validated_data.get("split")
        lines = dataset_lines(dataset, file_format=fmt, split=split)
        response = StreamingHttpResponse(lines, content_type=f"{CONTENT_TYPES[fmt]}; charset=utf-8")
        filename = f"{slugify(dataset.name) or dataset.pk}-{split or 'all'}.{'txt' if fmt == 'qrels' else fmt}"
        response["Content-Disposition"] = f'attachment; filename="{filename}"'
        return response


urlpatterns: list[URLPattern] = [
    path("datasets/", DatasetListView.as_view(), name="api-dataset-list"),
    path("datasets/<int:pk>/", DatasetDetailView.as_view(), name="api-dataset-detail"),
    path("datasets/<int:pk>/export", DatasetExportView.as_view(), name="api-dataset-export"),
]
