"""Rows and files shared by the import / export tests."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

from annotation.importing import FIELDS, LIST_FIELDS
from annotation.models import Pair, Pin, Query


def make_row(index: int, **overrides: Any) -> dict[str, Any]:
    """A valid import row for pin p<index>; five queries take turns, as in real data."""
    row: dict[str, Any] = {
        "query_id": f"q{index % 5}",
        "query": f"query number {index % 5}",
        "language": "en",
        "country": "US",
        "pin_id": f"p{index}",
        "title": f"Pin {index}",
        "description": f"A description of pin {index}",
        "caption": "a photo",
        "link_title": "",
        "link_description": "",
        "image_url": f"https://img.example/{index}.jpg",
        "board_titles": ["Home", f"Board {index % 7}"],
        "engaged_queries": ["decor"],
        "label": index % 5 + 1,
        "split": "train",
    }
    row.update(overrides)
    return row


def write_jsonl(path: Path, rows: list[dict[str, Any] | str]) -> Path:
    """One object per line; a str is written as the raw line (for broken lines)."""
    lines = [row if isinstance(row, str) else json.dumps(row, ensure_ascii=False) for row in rows]
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return path


def write_csv(path: Path, rows: list[dict[str, Any]], columns: tuple[str, ...] = FIELDS) -> Path:
    with path.open("w", encoding="utf-8", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(columns)
        for row in rows:
            writer.writerow([_csv_cell(name, row.get(name)) for name in columns])
    return path


def _csv_cell(name: str, value: Any) -> str:
    if name in LIST_FIELDS and isinstance(value, list):
        return "|".join(value)
    return "" if value is None else str(value)


def table_counts() -> tuple[int, int, int]:
    return Query.objects.count(), Pin.objects.count(), Pair.objects.count()


def stored_values() -> list[tuple[Any, ...]]:
    """Everything an import writes, in a comparable form."""
    return sorted(
        Pair.objects.values_list(
            "query__external_id",
            "query__text",
            "query__language",
            "query__country",
            "pin__external_id",
            "pin__title",
            "pin__description",
            "pin__caption",
            "pin__image_url",
            "pin__board_titles",
            "pin__engaged_queries",
            "label",
            "split",
            "pool",
        )
    )
