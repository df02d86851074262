"""Freeze final labels into a named, immutable Dataset split by query; export a dataset.

A pair's frozen label is, in this order of precedence: the latest reviewer adjudication, the
annotators' consensus (both per `quality.final_levels`), the label imported with the pair
(`Pair.label`). Splits are assigned to whole queries, so no query is in two splits, and per
language, so every language's pairs follow the fractions as closely as whole queries allow.
The split depends only on the labeled pairs, the fractions and the seed: queries are sorted by
external id before a seeded shuffle, so the same inputs and seed give the same split on any
database.
"""

from __future__ import annotations

import itertools
import math
import random
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TextIO

from django.contrib.auth.models import AbstractBaseUser
from django.db import IntegrityError, transaction
from django.db.models import QuerySet

from annotation.exporting import CHUNK_SIZE, EXPORT_FORMATS, pair_row, row_lines
from annotation.models import (
    Campaign,
    CampaignPair,
    Dataset,
    DatasetItem,
    LabelSource,
    Pair,
    Split,
)
from annotation.quality import final_levels

SPLITS: tuple[str, ...] = tuple(Split.values)  # train, val, test: the order of the cuts
DEFAULT_FRACTIONS: dict[str, float] = {"train": 0.8, "val": 0.1, "test": 0.1}
BATCH_SIZE = 5000
_FRACTION_TOLERANCE = 1e-6
_SEED_RANGE = range(-(2**31), 2**31)  # Dataset.seed is a 32-bit integer column

Labels = dict[int, tuple[int, str]]  # pair id → (level 1–5, LabelSource value)


class DatasetError(ValueError):
    """Bad input to `freeze_dataset` or an export; nothing was written."""


@dataclass(frozen=True)
class QueryGroup:
    """The labeled pairs of one query: the unit that goes to a split."""

    key: str  # the query's external id
    language: str
    pairs: int


@dataclass(frozen=True)
class _Row:
    pair_id: int
    level: int
    source: str
    split: str
    language: str


# Freezing ------------------------------------------------------------------------------


def freeze_dataset(
    name: str,
    *,
    campaigns: Iterable[Campaign | int] | None = None,
    include_imported: bool = True,
    seed: int = 0,
    fractions: Mapping[str, float] | None = None,
    created_by: AbstractBaseUser | None = None,
    description: str = "",
) -> Dataset:
    """Freeze the current final labels into a new Dataset, in one transaction.

    `campaigns` (objects or ids; None = every campaign) give adjudicated and consensus labels;
    `include_imported` adds the imported labels of all pairs, which campaign labels override.
    Raises DatasetError (and writes nothing) on a taken name, bad fractions or no labeled pair.
    """
    name = _checked_name(name)
    checked = check_fractions(DEFAULT_FRACTIONS if fractions is None else fractions)
    if seed not in _SEED_RANGE:
        raise DatasetError(f"The seed must be a 32-bit integer, got {seed}.")
    with transaction.atomic():
        if Dataset.objects.filter(name=name).exists():
            raise DatasetError(f"A dataset named {name!r} already exists; datasets are immutable, pick a new name.")
        labels = collect_labels(campaigns, include_imported=include_imported)
        if not labels:
            raise DatasetError("There are no labeled pairs to freeze (no consensus, adjudication or imported label).")
        rows, queries = _split_rows(labels, checked, seed)
        dataset = _create_dataset(
            name=name,
            description=description,
            seed=seed,
            split_fractions=checked,
            counts=count_rows(rows, queries),
            created_by=created_by,
        )
        _insert_items(dataset, rows)
    return dataset


def check_fractions(fractions: Mapping[str, Any]) -> dict[str, float]:
    """The fractions of train/val/test (missing ones are 0), checked: non-negative, summing to 1."""
    unknown = sorted(set(fractions) - set(SPLITS))
    if unknown:
        raise DatasetError(f"Unknown split(s) {', '.join(map(str, unknown))}; the splits are {', '.join(SPLITS)}.")
    checked = {split: _fraction(split, fractions.get(split, 0.0)) for split in SPLITS}
    total = sum(checked.values())
    if not math.isclose(total, 1.0, abs_tol=_FRACTION_TOLERANCE):
        raise DatasetError(f"The split fractions must sum to 1, got {total:g}.")
    return checked


def parse_fractions(text: str) -> dict[str, float]:
    """'0.8,0.1,0.1' → {"train": 0.8, "val": 0.1, "test": 0.1}, checked."""
    parts = [part.strip() for part in text.split(",")]
    if len(parts) != len(SPLITS):
        raise DatasetError(f"Give {len(SPLITS)} comma-separated fractions ({', '.join(SPLITS)}), got {text!r}.")
    return check_fractions(dict(zip(SPLITS, parts, strict=True)))


def collect_labels(campaigns: Iterable[Campaign | int] | None, *, include_imported: bool) -> Labels:
    """Pair id → (level, source) of every pair with a final label; campaign labels beat imported ones."""
    labels: Labels = {}
    if include_imported:
        imported = Pair.objects.filter(label__isnull=False).values_list("pk", "label").order_by()
        labels.update((pk, (label, LabelSource.IMPORTED)) for pk, label in imported.iterator(chunk_size=CHUNK_SIZE))
    final = final_levels(_campaign_pairs(campaigns))
    labels.update((pk, (level, LabelSource(source).value)) for pk, (level, source) in final.items())
    return labels


def assign_splits(groups: Iterable[QueryGroup], fractions: Mapping[str, float], seed: int) -> dict[str, str]:
    """Query key → split. Per language, a seeded shuffle of its queries, cut by cumulative pair counts.

    Each cut falls at the query boundary nearest its target (e.g. 80% of the language's pairs).
    A language's RNG is seeded by (seed, language), so adding a language moves no other one.
    """
    by_language: dict[str, list[QueryGroup]] = defaultdict(list)
    for group in groups:
        by_language[group.language].append(group)
    assigned: dict[str, str] = {}
    for language, language_groups in sorted(by_language.items()):
        ordered = sorted(language_groups, key=lambda group: group.key)
        random.Random(f"{seed}/{language}").shuffle(ordered)
        assigned.update(_cut(ordered, fractions))
    return assigned


def _cut(groups: Sequence[QueryGroup], fractions: Mapping[str, float]) -> dict[str, str]:
    total = sum(group.pairs for group in groups)
    bounds = list(zip(SPLITS, itertools.accumulate(fractions[split] * total for split in SPLITS), strict=True))
    # Float sums may fall a hair short of `total`: the last split with a share takes the rest.
    last = [split for split in SPLITS if fractions[split] > 0][-1]
    assigned: dict[str, str] = {}
    done = 0
    for group in groups:
        middle = done + group.pairs / 2
        assigned[group.key] = next((split for split, bound in bounds if middle < bound), last)
        done += group.pairs
    return assigned


def count_rows(rows: Iterable[_Row], queries: Mapping[str, int]) -> dict[str, Any]:
    """The counts stored on Dataset.counts (levels as strings: JSON object keys)."""
    nested: dict[str, dict[str, Counter[str]]] = {split: defaultdict(Counter) for split in SPLITS}
    by_source: Counter[str] = Counter()
    for row in rows:
        nested[row.split][row.language][str(row.level)] += 1
        by_source[row.source] += 1
    by_split = {split: sum(sum(levels.values()) for levels in nested[split].values()) for split in SPLITS}
    by_language: Counter[str] = Counter()
    by_level: Counter[str] = Counter()
    for languages in nested.values():
        for language, levels in languages.items():
            by_language[language] += sum(levels.values())
            by_level.update(levels)
    return {
        "total": sum(by_split.values()),
        "split": by_split,
        "queries": {split: queries.get(split, 0) for split in SPLITS},
        "language": dict(sorted(by_language.items())),
        "level": dict(sorted(by_level.items())),
        "source": {source: by_source[source] for source in LabelSource.values},
        "split_language_level": {
            split: {language: dict(sorted(levels.items())) for language, levels in sorted(nested[split].items())}
            for split in SPLITS
        },
    }


def _checked_name(name: str) -> str:
    name = name.strip()
    if not name:
        raise DatasetError("A dataset needs a name.")
    if len(name) > Dataset._meta.get_field("name").max_length:
        raise DatasetError("The dataset name is too long (200 characters at most).")
    return name


def _fraction(split: str, value: Any) -> float:
    try:
        if isinstance(value, bool):
            raise TypeError
        fraction = float(value)
    except (TypeError, ValueError):
        raise DatasetError(f"The {split} fraction must be a number, got {value!r}.") from None
    if not math.isfinite(fraction) or fraction < 0:
        raise DatasetError(f"The {split} fraction must be between 0 and 1, got {value!r}.")
    return fraction


def _campaign_pairs(campaigns: Iterable[Campaign | int] | None) -> QuerySet[CampaignPair]:
    if campaigns is None:
        return CampaignPair.objects.all()
    ids = {campaign.pk if isinstance(campaign, Campaign) else int(campaign) for campaign in campaigns}
    missing = ids - set(Campaign.objects.filter(pk__in=ids).values_list("pk", flat=True))
    if missing:
        raise DatasetError(f"No campaign with id {', '.join(map(str, sorted(missing)))}.")
    return CampaignPair.objects.filter(campaign__in=ids)


def _split_rows(labels: Labels, fractions: Mapping[str, float], seed: int) -> tuple[list[_Row], dict[str, int]]:
    """Rows in pair-id order with their split, and the number of queries per split."""
    pair_queries = _pair_queries(sorted(labels))
    sizes = Counter(pair_queries.values())
    groups = [QueryGroup(key=key, language=language, pairs=n) for (key, language), n in sizes.items()]
    splits = assign_splits(groups, fractions, seed)
    rows = [
        _Row(pair_id, level, source, splits[pair_queries[pair_id][0]], pair_queries[pair_id][1])
        for pair_id, (level, source) in sorted(labels.items())
    ]
    return rows, dict(Counter(splits.values()))


def _pair_queries(pair_ids: Sequence[int]) -> dict[int, tuple[str, str]]:
    """Pair id → (query external id, query language), read in chunks of ids."""
    found: dict[int, tuple[str, str]] = {}
    for start in range(0, len(pair_ids), BATCH_SIZE):
        chunk = pair_ids[start : start + BATCH_SIZE]
        values = Pair.objects.filter(pk__in=chunk).values_list("pk", "query__external_id", "query__language")
        found.update((pk, (key, language)) for pk, key, language in values.order_by())
    return found


def _create_dataset(**fields: Any) -> Dataset:
    try:
        with transaction.atomic():
            return Dataset.objects.create(**fields)
    except IntegrityError:
        # Another freeze took the name between our check and this insert.
        raise DatasetError(f"A dataset named {fields['name']!r} already exists.") from None


def _insert_items(dataset: Dataset, rows: Sequence[_Row]) -> None:
    for start in range(0, len(rows), BATCH_SIZE):
        DatasetItem.objects.bulk_create(
            DatasetItem(dataset=dataset, pair_id=row.pair_id, level=row.level, split=row.split, source=row.source)
            for row in rows[start : start + BATCH_SIZE]
        )


# Showing and exporting -----------------------------------------------------------------


def counts_table(counts: Mapping[str, Any]) -> str:
    """Two plain-text tables: pairs per language × split, and per level × split (with totals)."""
    nested: Mapping[str, Mapping[str, Mapping[str, int]]] = counts["split_language_level"]
    languages = sorted(counts["language"])
    levels = sorted(counts["level"], key=int, reverse=True)
    by_language = {lang: {s: sum(nested[s].get(lang, {}).values()) for s in SPLITS} for lang in languages}
    by_level = {
        f"L{level}": {s: sum(lv.get(level, 0) for lv in nested[s].values()) for s in SPLITS} for level in levels
    }
    return _table("language", by_language, counts["split"]) + "\n" + _table("level", by_level, counts["split"])


def _table(title: str, rows: Mapping[str, Mapping[str, int]], totals: Mapping[str, int]) -> str:
    header = [title, *SPLITS, "total"]
    body = [[label, *(str(row[s]) for s in SPLITS), str(sum(row.values()))] for label, row in rows.items()]
    footer = ["total", *(str(totals[s]) for s in SPLITS), str(sum(totals.values()))]
    table = [header, *body, footer]
    widths = [max(len(line[i]) for line in table) for i in range(len(header))]
    return "".join(_table_line(line, widths) for line in table)


def _table_line(cells: Sequence[str], widths: Sequence[int]) -> str:
    # The first column (labels) is left-aligned, the numbers right-aligned.
    aligned = [cells[0].ljust(widths[0]), *(c.rjust(w) for c, w in zip(cells[1:], widths[1:], strict=True))]
    return "  ".join(aligned).rstrip() + "\n"


def export_dataset(dataset: Dataset, out: TextIO, file_format: str = "jsonl", split: str | None = None) -> int:
    """Write the dataset's items (or one split's) to `out`; return the number of items written."""
    lines = 0
    for line in dataset_lines(dataset, file_format=file_format, split=split):
        out.write(line)
        lines += 1
    return lines - (file_format == "csv")  # the CSV header is not an item


def dataset_lines(dataset: Dataset, *, file_format: str = "jsonl", split: str | None = None) -> Iterator[str]:
    """The export as lines, read in chunks: import-format rows whose `label` and `split` are the frozen ones.

    Qrels lines are `query_id 0 pin_id label`.
    """
    if file_format not in EXPORT_FORMATS:
        raise DatasetError(f"file_format must be one of {', '.join(EXPORT_FORMATS)}.")
    if split is not None and split not in SPLITS:
        raise DatasetError(f"split must be one of {', '.join(SPLITS)}.")
    items = dataset.items.select_related("pair__query", "pair__pin").order_by("pk")
    if split is not None:
        items = items.filter(split=split)
    selected = items.iterator(chunk_size=CHUNK_SIZE)
    if file_format == "qrels":
        return (f"{i.pair.query.external_id} 0 {i.pair.pin.external_id} {i.level}\n" for i in selected)
    return row_lines((item_row(item) for item in selected), file_format)


def item_row(item: DatasetItem) -> dict[str, object]:
    """A dataset item as an import row: its pair's columns with the frozen label and split."""
    return {**pair_row(item.pair), "label": item.level, "split": item.split}
