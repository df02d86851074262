"""Bulk import and export over the REST API (mounted under /api/v1/ by api_urls.py).

Both call the same functions as the management commands: `importing.import_pairs` and
`exporting.export_lines`. A JSON body of rows is turned into JSONL in a spooled temporary
file, so it goes through exactly the same validation as an uploaded file.
"""

from __future__ import annotations

import json
import tempfile
from typing import IO

from django.http import StreamingHttpResponse
from django.urls import URLPattern, path
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.parsers import JSONParser, MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from annotation.exporting import CONTENT_TYPES, EXPORT_FORMATS, export_lines
from annotation.importing import FORMATS, ImportFailed, ImportReport, import_pairs
from annotation.models import Pair, Pool
from annotation.permissions import IsEngineer, IsReviewerOrEngineer

SPOOL_BYTES = 4 * 1024 * 1024


class ImportFileSerializer(serializers.Serializer):
    file = serializers.FileField(help_text="JSONL or CSV in the import format (DESIGN §5)")
    file_format = serializers.ChoiceField(choices=FORMATS, required=False, help_text="default: from the name")
    pool = serializers.ChoiceField(choices=Pool.choices, default=Pool.HUMAN, help_text="for rows without one")


class ImportRowsSerializer(serializers.Serializer):
    rows = serializers.ListField(child=serializers.DictField(), allow_empty=False)
    pool = serializers.ChoiceField(choices=Pool.choices, default=Pool.HUMAN)


class ImportReportSerializer(serializers.Serializer):
    rows = serializers.IntegerField()
    queries_created = serializers.IntegerField()
    queries_updated = serializers.IntegerField()
    pins_created = serializers.IntegerField()
    pins_updated = serializers.IntegerField()
    pairs_created = serializers.IntegerField()
    pairs_updated = serializers.IntegerField()
    languages_detected = serializers.IntegerField()


class ExportQuerySerializer(serializers.Serializer):
    file_format = serializers.ChoiceField(choices=EXPORT_FORMATS, default="jsonl")
    language = serializers.RegexField(r"^[a-zA-Z]{2}$", required=False, help_text="ISO 639-1 of the query")
    labeled_only = serializers.BooleanField(default=False)


_ERRORS = inline_serializer(
    "ImportErrors",
    {
        "detail": serializers.CharField(),
        "errors": inline_serializer(
            "ImportRowError",
            {"line": serializers.IntegerField(), "field": serializers.CharField(), "reason": serializers.CharField()},
            many=True,
        ),
    },
)


class ImportView(APIView):
    permission_classes = [IsEngineer]
    parser_classes = [MultiPartParser, JSONParser]

    @extend_schema(
        operation_id="import_pairs",
        summary="Import pairs from a file or a list of rows",
        description="All or nothing: a bad row (reported with its line; a JSON row's line is its "
        "1-based index) means nothing is written. Re-importing updates by query_id / pin_id.",
        request={"multipart/form-data": ImportFileSerializer, "application/json": ImportRowsSerializer},
        responses={201: ImportReportSerializer, 400: OpenApiResponse(_ERRORS, description="bad rows")},
    )
    def post(self, request: Request) -> Response:
        if "rows" in request.data and "file" not in request.data:
            return self._import_rows(request)
        params = ImportFileSerializer(data=request.data)
        params.is_valid(raise_exception=True)
        data = params.validated_data
        return _import_response(data["file"], data.get("file_format"), data["pool"])

    def _import_rows(self, request: Request) -> Response:
        params = ImportRowsSerializer(data=request.data)
        params.is_valid(raise_exception=True)
        with tempfile.SpooledTemporaryFile(SPOOL_BYTES) as spooled:
            for row in params.validated_data["rows"]:
                spooled.write(json.dumps(row, ensure_ascii=False).encode() + b"\n")
            spooled.seek(0)
            return _import_response(spooled, "jsonl", params.validated_data["pool"])


def _import_response(source: IO[bytes], file_format: str | None, pool: str) -> Response:
    try:
        report: ImportReport = import_pairs(source, file_format=file_format, pool=pool)  # type: ignore[arg-type]
    except ImportFailed as failed:
        errors = [{"line": e.line, "field": e.field, "reason": e.reason} for e in failed.errors]
        return Response({"detail": str(failed), "errors": errors}, status=status.HTTP_400_BAD_REQUEST)
    return Response(report.as_dict(), status=status.HTTP_201_CREATED)


class ExportView(APIView):
    permission_classes = [IsReviewerOrEngineer]

    @extend_schema(
        operation_id="export_labels",
        summary="Export pairs as JSONL, CSV (the import format) or TREC qrels",
        parameters=[ExportQuerySerializer],
        responses={(200, content_type): OpenApiTypes.STR for content_type in CONTENT_TYPES.values()},
    )
    def get(self, request: Request) -> StreamingHttpResponse:
        params = ExportQuerySerializer(data=request.query_params)
        params.is_valid(raise_exception=True)
        options = params.validated_data
        pairs = Pair.objects.all()
        if "language" in options:
            pairs = pairs.filter(query__language=options["language"].lower())
        fmt = options["file_format"]
        lines = export_lines(file_format=fmt, pairs=pairs, labeled_only=options["labeled_only"])
        response = StreamingHttpResponse(lines, content_type=f"{CONTENT_TYPES[fmt]}; charset=utf-8")
        extension = "txt" if fmt == "qrels" else fmt
        response["Content-Disposition"] = f'attachment; filename="labels.{extension}"'
        return response


urlpatterns: list[URLPattern] = [
    path("import", ImportView.as_view(), name="api-import"),
    path("export", ExportView.as_view(), name="api-export"),
]
