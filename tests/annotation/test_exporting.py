from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from django.core.management import call_command

from annotation.exporting import export_labels
from annotation.importing import FIELDS, import_pairs
from annotation.models import Pair
from tests.annotation.transfer_files import make_row, stored_values, table_counts, write_jsonl

MULTILINGUAL = [
    make_row(1, query_id="ja-1", query="赤いドレス", language="ja", country="JP", title="夏の赤いドレス"),
    make_row(2, query_id="es-1", query="zapatos rojos para mujer", language="es", title="Zapatos rojos, ¡baratos!"),
    make_row(3, query_id="es-1", query="zapatos rojos para mujer", language="es", label=None, split=None),
    make_row(4, board_titles=[], engaged_queries=["a, b", "c"], description='quote " and, comma\nnewline'),
]


def _export(file_format: str, **options: object) -> str:
    out = io.StringIO()
    export_labels(out, file_format=file_format, **options)
    return out.getvalue()


def _reimport_into_empty_database(text: str, suffix: str, tmp_path: Path) -> None:
    Pair.objects.all().delete()
    for model in {Pair.query.field.related_model, Pair.pin.field.related_model}:
        model.objects.all().delete()
    path = tmp_path / f"export{suffix}"
    path.write_text(text, encoding="utf-8")
    import_pairs(path)


@pytest.mark.parametrize("file_format", ["jsonl", "csv"])
def test_export_then_import_round_trips_unchanged(tmp_path: Path, db: None, file_format: str) -> None:
    import_pairs(write_jsonl(tmp_path / "in.jsonl", MULTILINGUAL))
    before = stored_values()

    text = _export(file_format)
    _reimport_into_empty_database(text, f".{file_format}", tmp_path)

    assert stored_values() == before
    assert _export(file_format) == text


def test_detected_languages_round_trip(tmp_path: Path, db: None) -> None:
    rows = [{"query": "赤いドレス", "pin_id": "p1", "label": 5}, {"query": "zapatos rojos para mujer", "pin_id": "p2"}]
    import_pairs(write_jsonl(tmp_path / "in.jsonl", rows))

    exported = [json.loads(line) for line in _export("jsonl").splitlines()]

    assert [(row["query"], row["language"], row["label"]) for row in exported] == [
        ("赤いドレス", "ja", 5),
        ("zapatos rojos para mujer", "es", None),
    ]
    _reimport_into_empty_database(_export("jsonl"), ".jsonl", tmp_path)
    assert [row["query"] for row in exported] == list(Pair.objects.values_list("query__text", flat=True))


def test_jsonl_rows_hold_exactly_the_import_columns(tmp_path: Path, db: None) -> None:
    import_pairs(write_jsonl(tmp_path / "in.jsonl", MULTILINGUAL))

    rows = [json.loads(line) for line in _export("jsonl").splitlines()]

    assert [tuple(row) for row in rows] == [FIELDS] * 4
    assert rows[0]["title"] == "夏の赤いドレス"
    assert "赤いドレス" in _export("jsonl")  # written as UTF-8, not \\u escapes
    assert rows[2]["label"] is None and rows[2]["split"] is None


def test_csv_joins_lists_with_bars(tmp_path: Path, db: None) -> None:
    import_pairs(write_jsonl(tmp_path / "in.jsonl", [make_row(1, board_titles=["Home", "Decor"])]))

    header, row = _export("csv").splitlines()

    assert header == ",".join(FIELDS)
    assert ",Home|Decor,decor," in row


def test_qrels_lists_labeled_pairs_only(tmp_path: Path, db: None) -> None:
    import_pairs(write_jsonl(tmp_path / "in.jsonl", MULTILINGUAL))

    assert _export("qrels") == "ja-1 0 p1 2\nes-1 0 p2 3\nq4 0 p4 5\n"


def test_labeled_only_and_pair_selection(tmp_path: Path, db: None) -> None:
    import_pairs(write_jsonl(tmp_path / "in.jsonl", MULTILINGUAL))
    out = io.StringIO()

    count = export_labels(out, pairs=Pair.objects.filter(query__language="es"), labeled_only=True)

    assert count == 1
    assert json.loads(out.getvalue())["pin_id"] == "p2"
    assert export_labels(io.StringIO(), file_format="csv") == 4


def test_command_writes_to_stdout_with_summary_on_stderr(tmp_path: Path, db: None) -> None:
    import_pairs(write_jsonl(tmp_path / "in.jsonl", MULTILINGUAL))
    stdout, stderr = io.StringIO(), io.StringIO()

    call_command("export_labels", "--format", "qrels", "--language", "ES", stdout=stdout, stderr=stderr)

    assert stdout.getvalue() == "es-1 0 p2 3\n"
    assert json.loads(stderr.getvalue().strip().splitlines()[-1]) == {"pairs": 1, "format": "qrels", "output": "-"}


def test_command_writes_a_file_and_its_summary_to_stdout(tmp_path: Path, db: None) -> None:
    import_pairs(write_jsonl(tmp_path / "in.jsonl", MULTILINGUAL))
    stdout = io.StringIO()
    target = tmp_path / "labels.csv"

    call_command("export_labels", "--format", "csv", "--labeled-only", "--output", str(target), stdout=stdout)

    assert json.loads(stdout.getvalue()) == {"pairs": 3, "format": "csv", "output": str(target)}
    assert len(target.read_text(encoding="utf-8").splitlines()) == 1 + 3 + 1  # header, rows, one newline inside
    _reimport_into_empty_database(target.read_text(encoding="utf-8"), ".csv", tmp_path)
    assert table_counts() == (3, 3, 3)
