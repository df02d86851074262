"""Import (query, Pin) pairs from JSONL or CSV files (format: DESIGN §5).

One function, `import_pairs`, serves the management command, the admin upload page and the
API. Every row is validated before any real table is written, and a file never sits in
memory whole — validation keeps only, per external id, the line it first appeared on and a
hash of its values, enough to report every bad row and every conflict:

- on PostgreSQL, one read: valid rows stream through COPY into a temporary staging table as
  they are checked; only if the whole file is valid do three INSERT ... ON CONFLICT statements
  upsert queries, pins and pairs (otherwise the transaction, staging included, rolls back);
- elsewhere (SQLite), two reads: validate, then write with the ORM in batches.

Rules:
- A row describes its query, pin and pair completely; an omitted optional field is stored
  empty (no label, no split), so re-importing an exported file changes nothing and
  re-importing an edited one updates by external id (query_id, pin_id; a pair is the two).
- A query_id, pin_id or (query_id, pin_id) pair may repeat in a file only with identical
  values; a repeat that differs (another title, another label...) is an error on its line.
- Missing query_id: derived from text + language; missing language: detected (languages.py).
- Lines are 1-based physical lines of the file; in CSV the header is line 1.
"""

from __future__ import annotations

import codecs
import csv
import itertools
import json
import re
import shutil
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

from django.db import connection, transaction
from tqdm import tqdm

from annotation.languages import detect_language
from annotation.models import Pair, Pin, Pool, Query, Split, derived_query_id

PIN_FIELDS = (
    "title",
    "description",
    "caption",
    "link_title",
    "link_description",
    "image_url",
    "board_titles",
    "engaged_queries",
)
FIELDS = (
    "query_id",
    "query",
    "language",
    "country",
    "pin_id",
    *PIN_FIELDS,
    "label",
    "split",
    "pool",
)
LIST_FIELDS = frozenset({"board_titles", "engaged_queries"})
LIST_SEPARATOR = "|"
FORMATS = ("jsonl", "csv")
_FIELD_SET = frozenset(FIELDS)
_REQUIRED = ("query", "pin_id")
_TEXT_FIELDS = ("title", "description", "caption", "link_title", "link_description")
_LANGUAGE = re.compile(r"[a-z]{2}")
_BOM = codecs.BOM_UTF8
_ID_MAX = Query._meta.get_field("external_id").max_length
_COUNTRY_MAX = Query._meta.get_field("country").max_length
_URL_MAX = Pin._meta.get_field("image_url").max_length
ORM_BATCH_SIZE = 1000


@dataclass(frozen=True)
class RowError:
    line: int
    field: str
    reason: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.field}: {self.reason}"


class ImportFailed(Exception):
    """The file has bad rows; nothing was written."""

    def __init__(self, errors: list[RowError]) -> None:
        self.errors = errors
        super().__init__(f"{len(errors)} error(s) in the file; nothing was imported")


@dataclass
class ImportReport:
    rows: int = 0
    queries_created: int = 0
    queries_updated: int = 0
    pins_created: int = 0
    pins_updated: int = 0
    pairs_created: int = 0
    pairs_updated: int = 0
    languages_detected: int = 0

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


@dataclass(slots=True)
class ImportRow:
    """One valid row, normalised: empty strings and lists instead of nulls, except `label`."""

    line: int
    query_id: str
    query: str
    language: str
    country: str
    pin_id: str
    title: str
    description: str
    caption: str
    link_title: str
    link_description: str
    image_url: str
    board_titles: list[str]
    engaged_queries: list[str]
    label: int | None
    split: str
    pool: str
    language_detected: bool

    def query_values(self) -> tuple[str, str, str]:
        return (self.query, self.language, self.country)

    def pin_values(self) -> tuple[object, ...]:
        return (
            self.title,
            self.description,
            self.caption,
            self.link_title,
            self.link_description,
            self.image_url,
            tuple(self.board_titles),
            tuple(self.engaged_queries),
        )

    def pair_values(self) -> tuple[int | None, str, str]:
        return (self.label, self.split, self.pool)


def import_pairs(
    source: str | Path | BinaryIO,
    *,
    file_format: str | None = None,
    pool: str = Pool.HUMAN,
    progress: bool = False,
) -> ImportReport:
    """Validate the whole file, then write it in one transaction; raise ImportFailed on any bad row.

    `source` is a path or a binary file object (read twice; a non-seekable one is spooled to a
    temporary file). `file_format` is "jsonl", "csv" or None (from the file name, else sniffed).
    `pool` is used for rows without a `pool` column.
    """
    if pool not in Pool.values:
        raise ValueError(f"pool must be one of {', '.join(Pool.values)}")
    with _opened(source) as (stream, name):
        fmt = _file_format(stream, name, file_format)
        if _use_copy():
            return _import_with_copy(stream, fmt, pool, progress)
        return _import_with_orm(stream, fmt, pool, progress)


def _use_copy() -> bool:
    """PostgreSQL gets COPY into a staging table + INSERT ... ON CONFLICT; others the ORM."""
    return connection.vendor == "postgresql"


def _import_with_orm(stream: BinaryIO, file_format: str, pool: str, progress: bool) -> ImportReport:
    """Two reads: validate everything, then write in batches."""
    plan = _validate(_records(stream, file_format), pool, progress)
    if plan.errors:
        raise ImportFailed(plan.errors)
    stream.seek(0)
    rows = _planned_rows(_records(stream, file_format), pool, plan)
    with transaction.atomic():
        written = _OrmWriter().write(tqdm(rows, total=plan.report.rows, desc="import", disable=not progress))
    return _merge(plan.report, written)


def _import_with_copy(stream: BinaryIO, file_format: str, pool: str, progress: bool) -> ImportReport:
    """One read: each row is validated and streamed into a temporary staging table; only when
    the whole file is valid do the upserts touch the real tables. A bad row rolls the
    transaction back, staging table included, so nothing is written."""
    plan = _Plan()
    with transaction.atomic():
        writer = _PostgresWriter()
        writer.stage(_scan(_records(stream, file_format), pool, plan, progress))
        if plan.errors:
            raise ImportFailed(plan.errors)
        written = writer.upsert()
    return _merge(plan.report, written)


# --- reading ---------------------------------------------------------------------------------


@contextmanager
def _opened(source: str | Path | BinaryIO) -> Iterator[tuple[BinaryIO, str | None]]:
    if isinstance(source, str | Path):
        with open(source, "rb") as stream:
            yield stream, str(source)
        return
    name = getattr(source, "name", None)
    if source.seekable():
        source.seek(0)
        yield source, name
        return
    with tempfile.TemporaryFile() as spooled:
        shutil.copyfileobj(source, spooled)
        spooled.seek(0)
        yield spooled, name


def _file_format(stream: BinaryIO, name: str | None, file_format: str | None) -> str:
    if file_format is not None:
        if file_format not in FORMATS:
            raise ValueError(f"file_format must be one of {', '.join(FORMATS)}")
        return file_format
    suffix = Path(name).suffix.lower() if name else ""
    if suffix in (".jsonl", ".ndjson"):
        return "jsonl"
    if suffix == ".csv":
        return "csv"
    head = stream.read(4096)
    stream.seek(0)
    return "jsonl" if head.removeprefix(_BOM).lstrip().startswith(b"{") else "csv"


# (line, the row or its error, the row's JSON text when the file already holds it)
Record = tuple[int, dict[str, Any] | RowError, str | None]


def _records(stream: BinaryIO, file_format: str) -> Iterator[Record]:
    """A record for every non-blank row; CSV cells already converted to JSON values."""
    lines = iter(stream.readline, b"")
    return _jsonl_records(lines) if file_format == "jsonl" else _csv_records(lines)


def _jsonl_records(lines: Iterator[bytes]) -> Iterator[Record]:
    for number, raw in enumerate(lines, start=1):
        if not raw.strip():
            continue
        try:
            text = (raw.removeprefix(_BOM) if number == 1 else raw).decode()
            value = json.loads(text)
        except ValueError as error:  # JSONDecodeError and UnicodeDecodeError
            yield number, RowError(number, "line", f"not valid JSON ({error})"), None
            continue
        if not isinstance(value, dict):
            yield number, RowError(number, "line", "must be a JSON object"), None
        elif "\\u0000" in text:  # PostgreSQL text cannot hold NUL
            yield number, RowError(number, "line", "contains a NUL character (\\u0000)"), None
        else:
            yield number, value, text


def _csv_records(lines: Iterator[bytes]) -> Iterator[Record]:
    reader = csv.reader(codecs.iterdecode(lines, "utf-8-sig"))
    try:
        header = next(reader, None)
        if header is None:
            return
        header_errors = _header_errors(header)
        yield from ((1, error, None) for error in header_errors)
        if any(error.reason.startswith("required") for error in header_errors):
            return
        while True:
            start = reader.line_num + 1
            values = next(reader, None)
            if values is None:
                return
            yield start, _csv_row(start, header, values), None
    except (UnicodeDecodeError, csv.Error) as error:
        line = reader.line_num + 1
        yield line, RowError(line, "line", f"unreadable CSV ({error}); the rest of the file was not read"), None


def _header_errors(header: list[str]) -> list[RowError]:
    errors = [RowError(1, name, "unknown column") for name in header if name not in _FIELD_SET]
    errors += [RowError(1, name, "duplicate column") for name in set(header) if header.count(name) > 1]
    errors += [RowError(1, name, "required column missing") for name in _REQUIRED if name not in header]
    return errors


def _csv_row(line: int, header: list[str], values: list[str]) -> dict[str, Any] | RowError:
    if not any(values):
        return {}
    if any("\x00" in value for value in values):
        return RowError(line, "line", "contains a NUL character")
    if len(values) != len(header):
        return RowError(line, "line", f"expected {len(header)} values, found {len(values)}")
    row = zip(header, values, strict=True)
    return {name: _from_csv(name, value) for name, value in row if name in _FIELD_SET}


def _from_csv(name: str, value: str) -> Any:
    """A CSV cell as the JSON value it stands for: empty is null, lists are `|`-separated."""
    if value == "":
        return None
    if name in LIST_FIELDS:
        return [item.strip() for item in value.split(LIST_SEPARATOR) if item.strip()]
    if name == "label" and value.strip().isdigit():
        return int(value)
    return value


# --- validating ------------------------------------------------------------------------------


@dataclass
class _Plan:
    """What validation keeps: per external id, (first line, hash of values) — no row data."""

    report: ImportReport = field(default_factory=ImportReport)
    errors: list[RowError] = field(default_factory=list)
    queries: dict[str, tuple[int, int]] = field(default_factory=dict)
    pins: dict[str, tuple[int, int]] = field(default_factory=dict)
    pairs: dict[tuple[str, str], tuple[int, int]] = field(default_factory=dict)
    unknown_reported: set[str] = field(default_factory=set)


def _validate(records: Iterator[Record], pool: str, progress: bool) -> _Plan:
    plan = _Plan()
    for _ in _scan(records, pool, plan, progress):
        pass
    return plan


def _scan(records: Iterator[Record], pool: str, plan: _Plan, progress: bool) -> Iterator[tuple[_Planned, str]]:
    """Validate every record into `plan`; yield each valid row with its JSON text."""
    for line, raw, text in tqdm(records, desc="validate", unit=" rows", disable=not progress):
        if isinstance(raw, RowError):
            plan.errors.append(raw)
            continue
        if not raw:
            continue
        _check_unknown(plan, line, raw)
        row = _clean(line, raw, pool, plan.errors)
        if row is None:
            continue
        firsts = _check_repeats(plan, row)
        plan.report.rows += 1
        plan.report.languages_detected += row.language_detected
        yield _Planned(row, *firsts), text or json.dumps(raw, ensure_ascii=False)


def _check_unknown(plan: _Plan, line: int, raw: dict[str, Any]) -> None:
    for name in sorted(raw.keys() - _FIELD_SET - plan.unknown_reported):
        plan.unknown_reported.add(name)
        plan.errors.append(RowError(line, name, "unknown column"))


def _check_repeats(plan: _Plan, row: ImportRow) -> tuple[bool, bool, bool]:
    """Record the row's query, pin and pair; whether each first appears on this row."""
    checks = (
        (plan.queries, row.query_id, row.query_values(), "query_id", "query text, language or country"),
        (plan.pins, row.pin_id, row.pin_values(), "pin_id", "pin fields"),
        (plan.pairs, (row.query_id, row.pin_id), row.pair_values(), "label", "label, split or pool"),
    )
    firsts = []
    for seen, key, values, name, what in checks:
        digest = hash(values)
        first = seen.setdefault(key, (row.line, digest))
        firsts.append(first[0] == row.line)
        if first[1] != digest:
            noun = "query and pin" if isinstance(key, tuple) else name
            plan.errors.append(RowError(row.line, name, f"same {noun} as line {first[0]} but different {what}"))
    return firsts[0], firsts[1], firsts[2]


class _Invalid(ValueError):
    pass


def _clean(line: int, raw: dict[str, Any], pool: str, errors: list[RowError]) -> ImportRow | None:
    """An ImportRow, or None after appending this row's errors to `errors`."""
    values: dict[str, Any] = {}
    before = len(errors)
    for name, convert in _CONVERTERS.items():
        try:
            values[name] = convert(raw.get(name))
        except _Invalid as error:
            errors.append(RowError(line, name, str(error)))
    if len(errors) > before:
        return None
    language = values["language"]
    detected = language is None
    if detected:
        language = detect_language(values["query"])
        if language is None:
            errors.append(RowError(line, "language", "missing and could not be detected from the query"))
            return None
    query_id = values["query_id"] or derived_query_id(values["query"], language)
    values.update(language=language, query_id=query_id, pool=values["pool"] or pool)
    return ImportRow(line=line, language_detected=detected, **values)


def _required_text(value: Any) -> str:
    if value is None or value == "":
        raise _Invalid("required")
    if not isinstance(value, str):
        raise _Invalid("must be a string")
    if not value.strip():
        raise _Invalid("must not be blank")
    return value


def _text(value: Any) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise _Invalid("must be a string")
    return value


def _external_id(value: Any, *, required: bool) -> str | None:
    if value is None or value == "":
        if required:
            raise _Invalid("required")
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str) or not value.strip():
        raise _Invalid("must be a non-blank string")
    if len(value) > _ID_MAX:
        raise _Invalid(f"longer than {_ID_MAX} characters")
    return value


def _language(value: Any) -> str | None:
    if value is None or value == "":
        return None
    if not isinstance(value, str) or not _LANGUAGE.fullmatch(value.lower()):
        raise _Invalid("must be a two-letter ISO 639-1 code")
    return value.lower()


def _country(value: Any) -> str:
    value = _text(value)
    if len(value) > _COUNTRY_MAX:
        raise _Invalid(f"longer than {_COUNTRY_MAX} characters")
    return value


def _image_url(value: Any) -> str:
    value = _text(value)
    if value and (not value.startswith(("http://", "https://")) or len(value) > _URL_MAX or " " in value):
        raise _Invalid(f"must be an http(s) URL of at most {_URL_MAX} characters")
    return value


def _string_list(value: Any) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise _Invalid("must be a list of strings")
    return value


def _label(value: Any) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 5:
        raise _Invalid("must be an integer from 1 to 5, or empty")
    return value


def _choice(choices: list[str]) -> Any:
    def convert(value: Any) -> str:
        if value is None or value == "":
            return ""
        if value not in choices:
            raise _Invalid(f"must be one of {', '.join(choices)}, or empty")
        return value

    return convert


_CONVERTERS: dict[str, Any] = {
    "query": _required_text,
    "query_id": lambda value: _external_id(value, required=False),
    "pin_id": lambda value: _external_id(value, required=True),
    "language": _language,
    "country": _country,
    **dict.fromkeys(_TEXT_FIELDS, _text),
    "image_url": _image_url,
    "board_titles": _string_list,
    "engaged_queries": _string_list,
    "label": _label,
    "split": _choice(Split.values),
    "pool": _choice(Pool.values),
}


# --- writing ---------------------------------------------------------------------------------


@dataclass(slots=True)
class _Planned:
    """A row to write, with whether its query / pin / pair first appears on this line."""

    row: ImportRow
    first_query: bool
    first_pin: bool
    first_pair: bool


def _planned_rows(records: Iterator[Record], pool: str, plan: _Plan) -> Iterator[_Planned]:
    errors: list[RowError] = []
    for line, raw, _ in records:
        if not raw:
            continue
        row = _clean(line, raw, pool, errors) if isinstance(raw, dict) else None
        if row is None:
            raise RuntimeError(f"line {line} changed between validation and writing")
        yield _Planned(
            row,
            plan.queries[row.query_id][0] == line,
            plan.pins[row.pin_id][0] == line,
            plan.pairs[(row.query_id, row.pin_id)][0] == line,
        )


def _merge(report: ImportReport, written: ImportReport) -> ImportReport:
    for name, value in written.as_dict().items():
        if name not in ("rows", "languages_detected"):
            setattr(report, name, value)
    return report


def _batches(items: Iterable[_Planned], size: int) -> Iterator[list[_Planned]]:
    iterator = iter(items)
    while batch := list(itertools.islice(iterator, size)):
        yield batch


class _OrmWriter:
    """Portable path: per batch, read the existing rows, then bulk create and bulk update."""

    def __init__(self) -> None:
        self.counts = ImportReport()
        self.query_pks: dict[str, int] = {}
        self.pin_pks: dict[str, int] = {}

    def write(self, items: Iterable[_Planned]) -> ImportReport:
        for batch in _batches(items, ORM_BATCH_SIZE):
            self._write_queries([item.row for item in batch if item.first_query])
            self._write_pins([item.row for item in batch if item.first_pin])
            self._write_pairs([item.row for item in batch if item.first_pair])
        return self.counts

    def _write_queries(self, rows: list[ImportRow]) -> None:
        fields = ("text", "language", "country")
        objects = [Query(external_id=r.query_id, text=r.query, language=r.language, country=r.country) for r in rows]
        created, updated = _upsert(Query, objects, "external_id", fields, self.query_pks)
        self.counts.queries_created += created
        self.counts.queries_updated += updated

    def _write_pins(self, rows: list[ImportRow]) -> None:
        objects = [Pin(external_id=r.pin_id, **{name: getattr(r, name) for name in PIN_FIELDS}) for r in rows]
        created, updated = _upsert(Pin, objects, "external_id", PIN_FIELDS, self.pin_pks)
        self.counts.pins_created += created
        self.counts.pins_updated += updated

    def _write_pairs(self, rows: list[ImportRow]) -> None:
        objects = [
            Pair(
                query_id=self.query_pks[r.query_id],
                pin_id=self.pin_pks[r.pin_id],
                label=r.label,
                split=r.split,
                pool=r.pool,
            )
            for r in rows
        ]
        created, updated = _upsert(Pair, objects, ("query_id", "pin_id"), ("label", "split", "pool"), {})
        self.counts.pairs_created += created
        self.counts.pairs_updated += updated


def _upsert(
    model: Any, objects: list[Any], key: str | tuple[str, ...], fields: Iterable[str], pks: dict[Any, int]
) -> tuple[int, int]:
    """Create missing `objects`, update changed ones; record pk by key in `pks`. (created, updated)."""
    if not objects:
        return 0, 0
    fields = tuple(fields)
    key_of = _key_getter(key)
    existing = _existing(model, key, [key_of(obj) for obj in objects], fields)
    new = [obj for obj in objects if key_of(obj) not in existing]
    changed = []
    for obj in objects:
        found = existing.get(key_of(obj))
        if found is not None:
            obj.pk = found[0]
            if found[1:] != tuple(getattr(obj, name) for name in fields):
                changed.append(obj)
    model.objects.bulk_create(new)
    model.objects.bulk_update(changed, fields)
    pks.update((key_of(obj), obj.pk) for obj in objects)
    return len(new), len(changed)


def _key_getter(key: str | tuple[str, ...]) -> Any:
    if isinstance(key, str):
        return lambda obj: getattr(obj, key)
    return lambda obj: tuple(getattr(obj, name) for name in key)


def _existing(
    model: Any, key: str | tuple[str, ...], keys: list[Any], fields: tuple[str, ...]
) -> dict[Any, tuple[Any, ...]]:
    """{key: (pk, *field values)} of the stored rows among `keys`."""
    if isinstance(key, str):
        found = model.objects.filter(**{f"{key}__in": keys}).values_list(key, "pk", *fields)
        return {row[0]: row[1:] for row in found}
    wanted = set(keys)
    filters = {f"{name}__in": {k[i] for k in keys} for i, name in enumerate(key)}
    found = model.objects.filter(**filters).values_list(*key, "pk", *fields)
    width = len(key)
    return {row[:width]: row[width:] for row in found if row[:width] in wanted}


class _PostgresWriter:
    """Fast path: rows go through one COPY into a temporary staging table holding each row's
    JSON text; three INSERT ... SELECT ... ON CONFLICT statements then upsert queries, pins
    and pairs, changing only rows whose values differ, so the counts say what really changed."""

    STAGING = "annotation_import_staging"

    def stage(self, rows: Iterable[tuple[_Planned, str]]) -> None:
        with connection.cursor() as cursor:
            cursor.execute(f"DROP TABLE IF EXISTS {self.STAGING}")
            cursor.execute(_STAGING_DDL.format(table=self.STAGING))
            with cursor.copy(f"COPY {self.STAGING} FROM STDIN") as copy:
                for item, text in rows:
                    if item.first_query or item.first_pin or item.first_pair:
                        copy.write_row(_staging_row(item, text))

    def upsert(self) -> ImportReport:
        counts = ImportReport()
        with connection.cursor() as cursor:
            cursor.execute(f"ANALYZE {self.STAGING}")
            for prefix, sql in _upsert_statements(self.STAGING).items():
                cursor.execute(sql)
                created, updated = cursor.fetchone()
                setattr(counts, f"{prefix}_created", created)
                setattr(counts, f"{prefix}_updated", updated)
            # ON COMMIT DROP is not enough inside an outer transaction (a savepoint).
            cursor.execute(f"DROP TABLE {self.STAGING}")
        return counts


_STAGING_DDL = """
CREATE TEMPORARY TABLE {table} (
    line integer, query_id text, pin_id text, language text, pool text,
    first_query boolean, first_pin boolean, first_pair boolean, doc jsonb
) ON COMMIT DROP
"""


def _staging_row(item: _Planned, text: str) -> tuple[object, ...]:
    r = item.row
    return (r.line, r.query_id, r.pin_id, r.language, r.pool, item.first_query, item.first_pin, item.first_pair, text)


def _counted(insert: str) -> str:
    return (
        f"WITH written AS ({insert} RETURNING (xmax = 0) AS created) "
        "SELECT count(*) FILTER (WHERE created), count(*) FILTER (WHERE NOT created) FROM written"
    )


def _upsert_sql(table: str, columns: dict[str, str], conflict: tuple[str, ...], update: tuple[str, ...]) -> str:
    """INSERT INTO table (columns) SELECT <expressions> SOURCE ...; the caller fills in SOURCE."""
    targets = ", ".join(columns)
    assignments = ", ".join(f"{name} = EXCLUDED.{name}" for name in update)
    old = ", ".join(f"t.{name}" for name in update)
    new = ", ".join(f"EXCLUDED.{name}" for name in update)
    return (
        f"INSERT INTO {table} AS t ({targets}) SELECT {', '.join(columns.values())} SOURCE "
        f"ON CONFLICT ({', '.join(conflict)}) DO UPDATE SET {assignments} "
        f"WHERE ({old}) IS DISTINCT FROM ({new})"
    )


def _text_of(name: str) -> str:
    """SQL for a string field of the row's JSON, '' when absent or null (as `_text` does)."""
    return f"COALESCE(s.doc->>'{name}', '')"


def _list_of(name: str) -> str:
    return f"COALESCE(NULLIF(s.doc->'{name}', 'null'::jsonb), '[]'::jsonb)"


def _upsert_statements(staging: str) -> dict[str, str]:
    query_sql = _upsert_sql(
        Query._meta.db_table,
        {"external_id": "s.query_id", "text": "s.doc->>'query'", "language": "s.language"}
        | {"country": _text_of("country"), "created_at": "now()"},
        ("external_id",),
        ("text", "language", "country"),
    )
    pin_sql = _upsert_sql(
        Pin._meta.db_table,
        {"external_id": "s.pin_id"}
        | {name: _list_of(name) if name in LIST_FIELDS else _text_of(name) for name in PIN_FIELDS}
        # Columns the format does not carry get the model's empty defaults.
        | {"image": "''", "language": "''", "created_at": "now()"},
        ("external_id",),
        PIN_FIELDS,
    )
    pair_sql = _upsert_sql(
        Pair._meta.db_table,
        {"query_id": "q.id", "pin_id": "p.id", "label": "(s.doc->>'label')::smallint"}
        | {"split": _text_of("split"), "pool": "s.pool", "engagement": "'{}'::jsonb", "created_at": "now()"},
        ("query_id", "pin_id"),
        ("label", "split", "pool"),
    )
    pair_source = (
        f"FROM {staging} s JOIN {Query._meta.db_table} q ON q.external_id = s.query_id "
        f"JOIN {Pin._meta.db_table} p ON p.external_id = s.pin_id WHERE s.first_pair ORDER BY s.line"
    )
    return {
        "queries": _counted(query_sql.replace("SOURCE", f"FROM {staging} s WHERE s.first_query ORDER BY s.line")),
        "pins": _counted(pin_sql.replace("SOURCE", f"FROM {staging} s WHERE s.first_pin ORDER BY s.line")),
        "pairs": _counted(pair_sql.replace("SOURCE", pair_source)),
    }
