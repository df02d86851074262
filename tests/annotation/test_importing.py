from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.management import call_command

from annotation import importing
from annotation.importing import ImportFailed, RowError, import_pairs
from annotation.models import Pair, Pin, Query, derived_query_id
from tests.annotation.transfer_files import make_row, stored_values, table_counts, write_csv, write_jsonl


@pytest.fixture(params=["copy", "orm"])
def writer(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Run a test through both write paths: PostgreSQL COPY and the portable ORM one."""
    monkeypatch.setattr(importing, "_use_copy", lambda: request.param == "copy")
    return request.param


def _errors(path: Path) -> list[RowError]:
    with pytest.raises(ImportFailed) as failed:
        import_pairs(path)
    return failed.value.errors


def test_thousand_rows_with_three_bad_ones_report_three_errors_and_write_nothing(
    tmp_path: Path, db: None, writer: str
) -> None:
    rows: list[dict | str] = [make_row(i) for i in range(1000)]
    rows[16] = make_row(16, label=7)
    rows[499] = {k: v for k, v in make_row(499).items() if k != "pin_id"}
    rows[998] = '{"query": "broken'

    errors = _errors(write_jsonl(tmp_path / "pairs.jsonl", rows))

    assert [(e.line, e.field) for e in errors] == [(17, "label"), (500, "pin_id"), (999, "line")]
    assert errors[0].reason == "must be an integer from 1 to 5, or empty"
    assert errors[1].reason == "required"
    assert table_counts() == (0, 0, 0)


def test_valid_file_imported_twice_gives_identical_rows(tmp_path: Path, db: None, writer: str) -> None:
    path = write_jsonl(tmp_path / "pairs.jsonl", [make_row(i) for i in range(40)])

    first = import_pairs(path)
    values = stored_values()
    second = import_pairs(path)

    assert (first.rows, first.queries_created, first.pins_created, first.pairs_created) == (40, 5, 40, 40)
    assert second.as_dict() == {**first.as_dict(), "queries_created": 0, "pins_created": 0, "pairs_created": 0}
    assert table_counts() == (5, 40, 40)
    assert stored_values() == values


def test_reimport_with_changed_fields_updates_by_external_id(tmp_path: Path, db: None, writer: str) -> None:
    import_pairs(write_jsonl(tmp_path / "a.jsonl", [make_row(i) for i in range(10)]))
    pair_ids = set(Pair.objects.values_list("id", flat=True))
    renamed = {"query": "renamed query", "country": ""}
    changed = [make_row(i, **(renamed if i % 5 == 0 else {})) for i in range(10)]
    changed[3] = make_row(3, title="New title", board_titles=["Other"])
    changed[4] = make_row(4, label=None, split=None, pool="evaluation")

    report = import_pairs(write_jsonl(tmp_path / "b.jsonl", changed))

    assert (report.queries_updated, report.pins_updated, report.pairs_updated) == (1, 1, 1)
    assert report.queries_created + report.pins_created + report.pairs_created == 0
    assert set(Pair.objects.values_list("id", flat=True)) == pair_ids
    assert Pin.objects.get(external_id="p3").board_titles == ["Other"]
    assert Pair.objects.filter(pin__external_id="p4").values_list("label", "split", "pool").get() == (
        None,
        "",
        "evaluation",
    )
    assert Query.objects.get(external_id="q0").text == "renamed query"


def test_repeated_pin_must_repeat_its_fields_exactly(tmp_path: Path, db: None) -> None:
    same = make_row(1, query_id="q9", query="another query")
    different = make_row(1, query_id="q8", query="third query", title="Not the same title")

    errors = _errors(write_jsonl(tmp_path / "pairs.jsonl", [make_row(1), same, different]))

    assert errors == [RowError(3, "pin_id", "same pin_id as line 1 but different pin fields")]


def test_same_pair_with_another_label_is_an_error_but_an_exact_repeat_is_not(tmp_path: Path, db: None) -> None:
    rows = [make_row(1, label=2), make_row(1, label=2), make_row(1, label=5)]

    errors = _errors(write_jsonl(tmp_path / "pairs.jsonl", rows))

    assert errors == [RowError(3, "label", "same query and pin as line 1 but different label, split or pool")]
    report = import_pairs(write_jsonl(tmp_path / "ok.jsonl", rows[:2]))
    assert (report.rows, report.pairs_created) == (2, 1)


def test_query_id_repeated_with_another_text_is_an_error(tmp_path: Path, db: None) -> None:
    rows = [make_row(1), make_row(2, query_id="q1", query="something else")]

    assert _errors(write_jsonl(tmp_path / "pairs.jsonl", rows)) == [
        RowError(2, "query_id", "same query_id as line 1 but different query text, language or country")
    ]


def test_unknown_column_is_reported_once_at_its_first_line(tmp_path: Path, db: None) -> None:
    rows = [make_row(0), make_row(1, colour="red"), make_row(2, colour="blue", size=3)]

    assert _errors(write_jsonl(tmp_path / "pairs.jsonl", rows)) == [
        RowError(2, "colour", "unknown column"),
        RowError(3, "size", "unknown column"),
    ]


@pytest.mark.parametrize(
    ("overrides", "field", "reason"),
    [
        ({"query": ""}, "query", "required"),
        ({"query": "   "}, "query", "must not be blank"),
        ({"query": 12}, "query", "must be a string"),
        ({"label": True}, "label", "must be an integer from 1 to 5, or empty"),
        ({"label": 0}, "label", "must be an integer from 1 to 5, or empty"),
        ({"split": "dev"}, "split", "must be one of train, val, test, or empty"),
        ({"pool": "gold"}, "pool", "must be one of human, unlabeled, evaluation, or empty"),
        ({"language": "english"}, "language", "must be a two-letter ISO 639-1 code"),
        ({"board_titles": "Home"}, "board_titles", "must be a list of strings"),
        ({"engaged_queries": [1, 2]}, "engaged_queries", "must be a list of strings"),
        ({"image_url": "ftp://x/y.jpg"}, "image_url", "must be an http(s) URL of at most 2000 characters"),
        ({"pin_id": "x" * 201}, "pin_id", "longer than 200 characters"),
        ({"country": "UNITED-STATES"}, "country", "longer than 8 characters"),
    ],
)
def test_bad_values_are_reported_by_field(tmp_path: Path, db: None, overrides: dict, field: str, reason: str) -> None:
    path = write_jsonl(tmp_path / "pairs.jsonl", [make_row(0), make_row(1, **overrides)])

    assert _errors(path) == [RowError(2, field, reason)]


def test_every_bad_value_of_a_row_is_reported(tmp_path: Path, db: None) -> None:
    path = write_jsonl(tmp_path / "pairs.jsonl", ["", "[1, 2]", json.dumps({"label": 9})])

    assert [(e.line, e.field) for e in _errors(path)] == [(2, "line"), (3, "query"), (3, "pin_id"), (3, "label")]


def test_csv_lines_count_the_header_and_multiline_values(tmp_path: Path, db: None) -> None:
    rows = [make_row(0, description="two\nlines"), make_row(1), make_row(2, label="high")]

    errors = _errors(write_csv(tmp_path / "pairs.csv", rows))

    assert errors == [RowError(5, "label", "must be an integer from 1 to 5, or empty")]


def test_csv_header_problems_are_reported_on_line_one(tmp_path: Path, db: None) -> None:
    path = tmp_path / "pairs.csv"
    path.write_text("query,colour,title\nred dress,red,Dress\n", encoding="utf-8")

    assert _errors(path) == [RowError(1, "colour", "unknown column"), RowError(1, "pin_id", "required column missing")]


def test_csv_row_with_wrong_number_of_values(tmp_path: Path, db: None) -> None:
    path = tmp_path / "pairs.csv"
    path.write_text("query,pin_id,label\nred dress,p1,3\nblue dress,p2\n", encoding="utf-8")

    assert _errors(path) == [RowError(3, "line", "expected 3 values, found 2")]


def test_csv_imports_lists_labels_and_empty_values(tmp_path: Path, db: None, writer: str) -> None:
    path = tmp_path / "pairs.csv"
    path.write_text(
        "\ufeffquery,pin_id,language,board_titles,label,split\n"
        "red dress,p1,en,Summer | Dresses||,4,val\n"
        "red dress,p2,en,,,\n",
        encoding="utf-8",
    )

    report = import_pairs(path, pool="unlabeled")

    assert (report.rows, report.queries_created, report.pairs_created) == (2, 1, 2)
    assert Pin.objects.get(external_id="p1").board_titles == ["Summer", "Dresses"]
    assert list(Pair.objects.order_by("id").values_list("label", "split", "pool")) == [
        (4, "val", "unlabeled"),
        (None, "", "unlabeled"),
    ]
    assert Query.objects.get().external_id == derived_query_id("red dress", "en")


def test_missing_language_is_detected_and_the_query_id_derived(tmp_path: Path, db: None) -> None:
    rows = [
        {"query": "赤いドレス", "pin_id": "p1"},
        {"query": "zapatos rojos para mujer", "pin_id": "p2"},
        {"query": "zapatos rojos para mujer", "pin_id": "p3", "language": "ES"},
    ]

    report = import_pairs(write_jsonl(tmp_path / "pairs.jsonl", rows))

    assert report.languages_detected == 2
    assert dict(Query.objects.values_list("text", "language")) == {
        "赤いドレス": "ja",
        "zapatos rojos para mujer": "es",
    }
    assert Query.objects.get(language="ja").external_id == derived_query_id("赤いドレス", "ja")
    assert Pair.objects.count() == 3


def test_undetectable_language_is_an_error(tmp_path: Path, db: None) -> None:
    path = write_jsonl(tmp_path / "pairs.jsonl", [{"query": "12345", "pin_id": "p1"}])

    assert _errors(path) == [RowError(1, "language", "missing and could not be detected from the query")]


def test_stream_without_a_name_is_sniffed(db: None) -> None:
    jsonl = io.BytesIO((json.dumps(make_row(1)) + "\n").encode())
    csv_file = io.BytesIO(b"query,pin_id,language\nred dress,p2,en\n")

    assert import_pairs(jsonl).pairs_created == 1
    assert import_pairs(csv_file).pairs_created == 1
    assert not jsonl.closed and not csv_file.closed


def test_explicit_format_wins_over_the_suffix(tmp_path: Path, db: None) -> None:
    path = tmp_path / "pairs.txt"
    path.write_text("query,pin_id,language\nred dress,p1,en\n", encoding="utf-8")

    with pytest.raises(ImportFailed):
        import_pairs(path, file_format="jsonl")
    assert import_pairs(path, file_format="csv").rows == 1


def test_a_failing_write_leaves_nothing_behind(tmp_path: Path, db: None, writer: str) -> None:
    # A valid file cannot make the write fail, so the database is made to: a check constraint
    # rejects the last pair, after its query and pin were already written in the transaction.
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("ALTER TABLE annotation_pair ADD CONSTRAINT no_val CHECK (split <> 'val')")
    rows = [make_row(i) for i in range(5)] + [make_row(5, split="val")]

    with pytest.raises(Exception, match="no_val"):
        import_pairs(write_jsonl(tmp_path / "pairs.jsonl", rows))
    assert table_counts() == (0, 0, 0)


def test_command_prints_one_json_line_on_success(tmp_path: Path, db: None) -> None:
    path = write_jsonl(tmp_path / "pairs.jsonl", [make_row(i) for i in range(3)])
    stdout, stderr = io.StringIO(), io.StringIO()

    call_command("import_pairs", str(path), "--pool", "evaluation", stdout=stdout, stderr=stderr)

    assert stdout.getvalue().count("\n") == 1
    assert json.loads(stdout.getvalue())["pairs_created"] == 3
    assert set(Pair.objects.values_list("pool", flat=True)) == {"evaluation"}


def test_command_lists_errors_and_exits_non_zero(tmp_path: Path, db: None) -> None:
    path = write_jsonl(tmp_path / "pairs.jsonl", [make_row(0), make_row(1, label=9), make_row(2, split="x")])
    result = subprocess.run(
        [sys.executable, "manage.py", "import_pairs", str(path), "--format", "jsonl"],
        cwd=Path(__file__).resolve().parents[2],
        env={**os.environ, "DATABASE_URL": _test_database_url()},
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert result.returncode == 1
    assert result.stdout == ""
    assert "line 2: label: must be an integer from 1 to 5, or empty" in result.stderr
    assert "line 3: split: must be one of train, val, test, or empty" in result.stderr
    assert "2 error(s); nothing was imported" in result.stderr
    assert table_counts() == (0, 0, 0)


def _test_database_url() -> str:
    from django.db import connection

    settings = connection.settings_dict
    return f"postgres://{settings['USER']}@{settings['HOST']}:{settings['PORT']}/{settings['NAME']}"
