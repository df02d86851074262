"""Export pairs in the import format (JSONL or CSV) or as TREC qrels.

JSONL and CSV rows carry exactly the columns that `annotation.importing` reads, so an export
imported again changes nothing. CSV joins lists with `|` (like the import); a list item that
itself contains `|` cannot survive that, so CSV writes it with `/` instead — use JSONL, which
is lossless, when that matters. Qrels lines are `query_id 0 pin_id label`, labeled pairs only.
"""

from __future__ import annotations

import csv
import io
import itertools
import json
from collections.abc import Iterator
from typing import TextIO

from django.db.models import QuerySet

from annotation.importing import FIELDS, LIST_FIELDS, LIST_SEPARATOR, PIN_FIELDS
from annotation.models import Pair

EXPORT_FORMATS = ("jsonl", "csv", "qrels")
CHUNK_SIZE = 2000
CONTENT_TYPES = {"jsonl": "application/x-ndjson", "csv": "text/csv", "qrels": "text/plain"}


def export_labels(
    out: TextIO,
    *,
    file_format: str = "jsonl",
    pairs: QuerySet[Pair] | None = None,
    labeled_only: bool = False,
) -> int:
    """Write `pairs` (default: all, in id order) to `out`; return the number of pairs written.

    Qrels always holds labeled pairs only.
    """
    lines = 0
    for text in export_lines(file_format=file_format, pairs=pairs, labeled_only=labeled_only):
        out.write(text)
        lines += 1
    return lines - (file_format == "csv")  # the CSV header is not a pair


def export_lines(
    *, file_format: str = "jsonl", pairs: QuerySet[Pair] | None = None, labeled_only: bool = False
) -> Iterator[str]:
    """The export as lines (each ending in a newline), read from the database in chunks."""
    if file_format not in EXPORT_FORMATS:
        raise ValueError(f"file_format must be one of {', '.join(EXPORT_FORMATS)}")
    selected = _selected(pairs, labeled_only=labeled_only or file_format == "qrels")
    if file_format == "qrels":
        return (f"{pair.query.external_id} 0 {pair.pin.external_id} {pair.label}\n" for pair in selected)
    return row_lines((pair_row(pair) for pair in selected), file_format)


def row_lines(rows: Iterator[dict[str, object]], file_format: str) -> Iterator[str]:
    """Rows in the import format as JSONL or CSV lines (qrels is built by the caller)."""
    return _jsonl_lines(rows) if file_format == "jsonl" else _csv_lines(rows)


def pair_row(pair: Pair) -> dict[str, object]:
    """One pair as an import row (all columns of the import format, in its order)."""
    query, pin = pair.query, pair.pin
    row: dict[str, object] = {
        "query_id": query.external_id,
        "query": query.text,
        "language": query.language,
        "country": query.country,
        "pin_id": pin.external_id,
        **{name: getattr(pin, name) for name in PIN_FIELDS},
        "label": pair.label,
        "split": pair.split or None,
        "pool": pair.pool,
    }
    return {name: row[name] for name in FIELDS}


def _selected(pairs: QuerySet[Pair] | None, *, labeled_only: bool) -> Iterator[Pair]:
    selected = Pair.objects.all() if pairs is None else pairs
    if labeled_only:
        selected = selected.filter(label__isnull=False)
    return selected.select_related("query", "pin").order_by("id").iterator(chunk_size=CHUNK_SIZE)


def _jsonl_lines(rows: Iterator[dict[str, object]]) -> Iterator[str]:
    for row in rows:
        yield json.dumps(row, ensure_ascii=False) + "\n"


def _csv_lines(rows: Iterator[dict[str, object]]) -> Iterator[str]:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    header = [list(FIELDS)]
    values = ([_csv_value(name, value) for name, value in row.items()] for row in rows)
    for record in itertools.chain(header, values):
        writer.writerow(record)
        yield buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()


def _csv_value(name: str, value: object) -> object:
    if name in LIST_FIELDS and isinstance(value, list):
        return LIST_SEPARATOR.join(str(item).replace(LIST_SEPARATOR, "/") for item in value)
    return "" if value is None else value
