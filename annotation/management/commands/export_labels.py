from __future__ import annotations

import json
import sys
from typing import Any, TextIO

from django.core.management.base import BaseCommand, CommandParser
from tqdm import tqdm

from annotation.exporting import EXPORT_FORMATS, export_labels
from annotation.models import Pair


class Command(BaseCommand):
    help = "Export pairs in the import format (JSONL, CSV) or as TREC qrels."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--format", dest="file_format", choices=EXPORT_FORMATS, default="jsonl")
        parser.add_argument("--output", help="file to write (default: standard output)")
        parser.add_argument("--labeled-only", action="store_true", help="only pairs with a label")
        parser.add_argument("--language", help="only queries in this ISO 639-1 language")

    def handle(self, *args: Any, **options: Any) -> None:
        pairs = Pair.objects.all()
        if options["language"]:
            pairs = pairs.filter(query__language=options["language"].lower())
        if options["output"]:
            with open(options["output"], "w", encoding="utf-8", newline="") as out:
                count = self._export(out, pairs, options)
            summary_to = self.stdout
        else:
            count = self._export(self.stdout, pairs, options)
            summary_to = self.stderr
        summary = {"pairs": count, "format": options["file_format"], "output": options["output"] or "-"}
        summary_to.write(json.dumps(summary))

    def _export(self, out: TextIO, pairs: Any, options: dict[str, Any]) -> int:
        bar = tqdm(total=pairs.count(), desc="export", unit=" pairs", file=sys.stderr)
        with bar:
            return export_labels(
                _Counting(out, bar),
                file_format=options["file_format"],
                pairs=pairs,
                labeled_only=options["labeled_only"],
            )


class _Counting:
    """Moves the progress bar one step per line written."""

    def __init__(self, out: TextIO, bar: tqdm) -> None:
        self._out = out
        self._bar = bar

    def write(self, text: str) -> int:
        self._bar.update(1)
        return self._out.write(text)
