from __future__ import annotations

import csv
import io
import json
import random
from collections import Counter, defaultdict
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import transaction
from django.db.models import Count
from django.test import Client
from django.urls import reverse
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from annotation import quality
from annotation.datasets import (
    SPLITS,
    DatasetError,
    QueryGroup,
    assign_splits,
    counts_table,
    export_dataset,
    freeze_dataset,
)
from annotation.importing import FIELDS
from annotation.management.commands.freeze_dataset import Command as FreezeCommand
from annotation.models import (
    Adjudication,
    Campaign,
    CampaignPair,
    Dataset,
    DatasetItem,
    FrozenDatasetError,
    Pair,
    Pin,
    Query,
)
from tests.factories import make_campaign

FRACTIONS = {"train": 0.8, "val": 0.1, "test": 0.1}
LANGUAGES = ("en", "de", "ja")


def make_queries(sizes: list[tuple[str, int]], *, prefix: str = "q", label: int | None = 3) -> list[Pair]:
    """One query per (language, pair count), each with that many pins; pairs carry `label`."""
    queries = Query.objects.bulk_create(
        Query(external_id=f"{prefix}{i}", text=f"query {prefix}{i}", language=language)
        for i, (language, _) in enumerate(sizes)
    )
    pins = Pin.objects.bulk_create(
        Pin(external_id=f"{prefix}{i}-pin{j}", title=f"Pin {j} of {prefix}{i}")
        for i, (_, n) in enumerate(sizes)
        for j in range(n)
    )
    owners = [query for query, (_, n) in zip(queries, sizes, strict=True) for _ in range(n)]
    return Pair.objects.bulk_create(
        Pair(query=query, pin=pin, label=label) for query, pin in zip(owners, pins, strict=True)
    )


def realistic_sizes(seed: int = 7) -> list[tuple[str, int]]:
    """Mostly English, some German and Japanese; 1–10 pairs per query."""
    rng = random.Random(seed)
    counts = {"en": 300, "de": 80, "ja": 40}
    return [(language, rng.randint(1, 10)) for language, n in counts.items() for _ in range(n)]


def splits_of(dataset: Dataset) -> dict[int, str]:
    return dict(dataset.items.values_list("pair_id", "split"))


def labels_of(dataset: Dataset) -> dict[int, tuple[int, str]]:
    return {
        pair_id: (level, source) for pair_id, level, source in dataset.items.values_list("pair_id", "level", "source")
    }


def with_consensus(pairs: list[Pair], levels: list[int], *, name: str = "Campaign") -> Campaign:
    campaign = make_campaign(pairs, name=name)
    for pair, level in zip(pairs, levels, strict=True):
        CampaignPair.objects.filter(campaign=campaign, pair=pair).update(consensus_level=level)
    return campaign


def adjudicate(campaign: Campaign, pair: Pair, level: int, reviewer: User) -> Adjudication:
    campaign_pair = CampaignPair.objects.get(campaign=campaign, pair=pair)
    return quality.adjudicate(campaign_pair, reviewer, level, "checked the pin")


def api(user: User | None) -> APIClient:
    client = APIClient()
    if user is not None:
        client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=user).key}")
    return client


# Splitting -----------------------------------------------------------------------------

group_lists = st.lists(
    st.tuples(st.sampled_from(LANGUAGES), st.integers(min_value=1, max_value=30)), min_size=1, max_size=60
).map(lambda sizes: [QueryGroup(key=f"q{i}", language=lang, pairs=n) for i, (lang, n) in enumerate(sizes)])
fraction_triples = st.sampled_from(
    [(0.8, 0.1, 0.1), (0.7, 0.15, 0.15), (0.5, 0.5, 0.0), (1.0, 0.0, 0.0), (0.6, 0.2, 0.2)]
)


@settings(max_examples=300, deadline=None)
@given(groups=group_lists, triple=fraction_triples, seed=st.integers(min_value=0, max_value=2**31 - 1))
def test_each_language_is_cut_at_the_query_boundary_nearest_each_target(
    groups: list[QueryGroup], triple: tuple[float, float, float], seed: int
) -> None:
    fractions = dict(zip(SPLITS, triple, strict=True))

    assigned = assign_splits(groups, fractions, seed)

    assert set(assigned) == {group.key for group in groups}
    for language in LANGUAGES:
        mine = [group for group in groups if group.language == language]
        if not mine:
            continue
        total, largest = sum(g.pairs for g in mine), max(g.pairs for g in mine)
        per_split = Counter()
        for group in mine:
            per_split[assigned[group.key]] += group.pairs
        cumulative_pairs = cumulative_target = 0.0
        for split in SPLITS:
            cumulative_pairs += per_split[split]
            cumulative_target += fractions[split] * total
            assert abs(cumulative_pairs - cumulative_target) <= largest / 2 + 1e-9
            if fractions[split] == 0:
                assert per_split[split] == 0


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    sizes=st.lists(
        st.tuples(st.sampled_from(LANGUAGES), st.integers(min_value=1, max_value=6)), min_size=1, max_size=25
    ),
    consensus=st.lists(st.integers(min_value=1, max_value=5), max_size=20),
    seed=st.integers(min_value=0, max_value=2**31 - 1),
)
def test_frozen_split_never_puts_a_query_in_two_splits(
    db: None, sizes: list[tuple[str, int]], consensus: list[int], seed: int
) -> None:
    with transaction.atomic():
        pairs = make_queries(sizes)
        # Some pairs also get a consensus label: two sources per pair must not split a query.
        with_consensus(pairs[: len(consensus)], consensus[: len(pairs)])

        dataset = freeze_dataset("property", seed=seed)

        per_query = dataset.items.values("pair__query").annotate(splits=Count("split", distinct=True))
        assert {row["splits"] for row in per_query} == {1}
        assert dataset.items.count() == len(pairs)
        transaction.set_rollback(True)


def test_per_language_split_shares_follow_the_fractions(db: None) -> None:
    sizes = realistic_sizes()
    make_queries(sizes)

    dataset = freeze_dataset("stratified", seed=3)

    nested = dataset.counts["split_language_level"]
    for language in LANGUAGES:
        total = dataset.counts["language"][language]
        largest = max(n for lang, n in sizes if lang == language)
        for split in SPLITS:
            share = sum(nested[split][language].values()) / total
            assert abs(share - FRACTIONS[split]) <= largest / total
            assert share > 0


def test_same_seed_gives_the_same_split_and_another_seed_another(db: None) -> None:
    make_queries(realistic_sizes())

    first = freeze_dataset("seed-0-a", seed=0)
    again = freeze_dataset("seed-0-b", seed=0)
    other = freeze_dataset("seed-1", seed=1)

    assert splits_of(first) == splits_of(again)
    assert first.counts == again.counts
    assert splits_of(first) != splits_of(other)


def test_split_does_not_depend_on_the_order_queries_arrive_in() -> None:
    groups = [QueryGroup(key=f"q{i}", language=LANGUAGES[i % 3], pairs=1 + i % 7) for i in range(200)]
    shuffled = random.Random(5).sample(groups, len(groups))

    assert assign_splits(groups, FRACTIONS, 11) == assign_splits(shuffled, FRACTIONS, 11)


def test_adding_a_language_leaves_the_other_languages_split_alone() -> None:
    english = [QueryGroup(key=f"en{i}", language="en", pairs=3) for i in range(50)]
    german = [QueryGroup(key=f"de{i}", language="de", pairs=2) for i in range(30)]

    alone = assign_splits(english, FRACTIONS, 4)
    together = assign_splits(english + german, FRACTIONS, 4)

    assert {key: together[key] for key in alone} == alone


# Which label wins ----------------------------------------------------------------------


def test_adjudicated_beats_consensus_beats_imported(db: None, reviewer: User) -> None:
    imported_only, with_both, adjudicated = make_queries([("en", 1), ("en", 1), ("en", 1)], label=2)
    consensus_only = make_queries([("en", 1)], prefix="c", label=None)[0]
    campaign = with_consensus([with_both, adjudicated, consensus_only], [4, 4, 1])
    adjudicate(campaign, adjudicated, 5, reviewer)

    dataset = freeze_dataset("precedence")

    assert labels_of(dataset) == {
        imported_only.pk: (2, "imported"),
        with_both.pk: (4, "consensus"),
        adjudicated.pk: (5, "adjudicated"),
        consensus_only.pk: (1, "consensus"),
    }
    assert dataset.counts["source"] == {"adjudicated": 1, "consensus": 2, "imported": 1}


def test_reviewer_decision_overrides_consensus_in_the_next_dataset(db: None, reviewer: User) -> None:
    pairs = make_queries([("en", 2), ("de", 2)], label=None)
    campaign = with_consensus(pairs, [3, 3, 4, 4])
    before = freeze_dataset("before")

    adjudicate(campaign, pairs[0], 1, reviewer)
    adjudicate(campaign, pairs[0], 2, reviewer)  # the latest decision counts
    after = freeze_dataset("after")

    assert labels_of(after)[pairs[0].pk] == (2, "adjudicated")
    assert labels_of(before)[pairs[0].pk] == (3, "consensus")  # frozen: unchanged
    assert labels_of(after)[pairs[1].pk] == (3, "consensus")


def test_imported_labels_can_be_left_out(db: None) -> None:
    imported = make_queries([("en", 3)], label=5)
    judged = make_queries([("en", 2)], prefix="j", label=None)
    with_consensus(judged, [2, 3])

    everything = freeze_dataset("with-imported")
    campaigns_only = freeze_dataset("without-imported", include_imported=False)

    assert set(splits_of(everything)) == {p.pk for p in imported + judged}
    assert set(splits_of(campaigns_only)) == {p.pk for p in judged}


def test_only_the_chosen_campaigns_give_labels(db: None) -> None:
    first = make_queries([("en", 2)], prefix="a", label=None)
    second = make_queries([("en", 2)], prefix="b", label=None)
    chosen = with_consensus(first, [2, 2], name="Chosen")
    with_consensus(second, [4, 4], name="Other")

    dataset = freeze_dataset("chosen", campaigns=[chosen.pk], include_imported=False)

    assert set(splits_of(dataset)) == {p.pk for p in first}


def test_counts_add_up(db: None) -> None:
    pairs = make_queries([("en", 4), ("de", 3), ("ja", 2)], label=None)
    with_consensus(pairs, [5, 5, 4, 1, 2, 2, 3, 3, 3])

    counts = freeze_dataset("counts").counts

    assert counts["total"] == 9
    assert counts["language"] == {"de": 3, "en": 4, "ja": 2}
    assert counts["level"] == {"1": 1, "2": 2, "3": 3, "4": 1, "5": 2}
    assert sum(counts["split"].values()) == 9
    assert sum(counts["queries"].values()) == 3
    nested_total = sum(
        n for split in counts["split_language_level"].values() for lv in split.values() for n in lv.values()
    )
    assert nested_total == 9


# Errors write nothing ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"fractions": {"train": 0.8, "val": 0.1}}, "must sum to 1"),
        ({"fractions": {"train": 1.1, "val": -0.1, "test": 0.0}}, "between 0 and 1"),
        ({"fractions": {"train": 0.5, "dev": 0.5}}, "Unknown split"),
        ({"fractions": {"train": "lots", "val": 0, "test": 0}}, "must be a number"),
        ({"campaigns": [999999]}, "No campaign with id 999999"),
        ({"seed": 2**40}, "32-bit"),
    ],
)
def test_bad_input_is_refused_and_writes_nothing(db: None, options: dict[str, Any], message: str) -> None:
    make_queries([("en", 2)])

    with pytest.raises(DatasetError, match=message):
        freeze_dataset("bad", **options)

    assert not Dataset.objects.exists()
    assert not DatasetItem.objects.exists()


def test_taken_name_is_refused(db: None) -> None:
    make_queries([("en", 2)])
    first = freeze_dataset("taken")
    make_queries([("de", 3)], prefix="more")

    with pytest.raises(DatasetError, match="already exists"):
        freeze_dataset(" taken ")

    assert list(Dataset.objects.all()) == [first]
    assert DatasetItem.objects.count() == 2


def test_no_labeled_pairs_is_an_error(db: None) -> None:
    make_queries([("en", 2)], label=None)

    with pytest.raises(DatasetError, match="no labeled pairs"):
        freeze_dataset("empty")

    assert not Dataset.objects.exists()


# Immutability --------------------------------------------------------------------------


def test_saving_a_frozen_dataset_or_item_raises(db: None) -> None:
    make_queries([("en", 2)], label=4)
    dataset = freeze_dataset("frozen")
    item = dataset.items.first()
    assert item is not None

    dataset.description = "changed"
    item.level = 1
    with pytest.raises(FrozenDatasetError):
        dataset.save()
    with pytest.raises(FrozenDatasetError):
        item.save()
    with pytest.raises(FrozenDatasetError):
        item.delete()

    assert Dataset.objects.get().description == ""
    assert set(DatasetItem.objects.values_list("level", flat=True)) == {4}
    assert DatasetItem.objects.count() == 2


def test_api_has_no_writes_on_a_dataset(db: None, engineer: User) -> None:
    make_queries([("en", 2)])
    dataset = freeze_dataset("frozen")
    client = api(engineer)
    url = f"/api/v1/datasets/{dataset.pk}/"

    assert client.put(url, {"name": "x"}, format="json").status_code == 405
    assert client.patch(url, {"name": "x"}, format="json").status_code == 405
    assert client.delete(url).status_code == 405
    assert Dataset.objects.get().name == "frozen"


def test_admin_is_read_only_but_a_whole_dataset_may_be_deleted(client: Client, engineer: User) -> None:
    make_queries([("en", 2)])
    dataset = freeze_dataset("frozen")
    item = dataset.items.first()
    assert item is not None
    client.force_login(engineer)

    page = client.get(reverse("admin:annotation_dataset_change", args=[dataset.pk]))
    assert page.status_code == 200
    assert b"Save" not in page.content and "train" in page.content.decode()
    assert client.get(reverse("admin:annotation_dataset_add")).status_code == 403
    assert client.get(reverse("admin:annotation_datasetitem_add")).status_code == 403
    change_item = reverse("admin:annotation_datasetitem_change", args=[item.pk])
    assert client.post(change_item, {"level": 1}).status_code == 403
    assert (
        client.post(reverse("admin:annotation_datasetitem_delete", args=[item.pk]), {"post": "yes"}).status_code == 403
    )
    assert DatasetItem.objects.count() == 2

    deleted = client.post(reverse("admin:annotation_dataset_delete", args=[dataset.pk]), {"post": "yes"})
    assert deleted.status_code == 302
    assert not Dataset.objects.exists() and not DatasetItem.objects.exists()


# Command -------------------------------------------------------------------------------


def test_command_prints_the_counts_and_a_json_line(db: None) -> None:
    make_queries([("en", 3), ("de", 2)], label=None, prefix="c")
    campaign = with_consensus(list(Pair.objects.order_by("pk")), [5, 4, 4, 2, 1])
    make_queries([("en", 2)], prefix="i", label=3)
    out = io.StringIO()

    call_command("freeze_dataset", "cli", "--seed", "9", "--campaign", str(campaign.pk), "--no-imported", stdout=out)

    lines = out.getvalue().splitlines()
    summary = json.loads(lines[-1])
    assert summary["name"] == "cli" and summary["seed"] == 9 and summary["total"] == 5
    assert summary["language"] == {"de": 2, "en": 3}
    assert lines[0].split() == ["language", "train", "val", "test", "total"]
    assert any(line.split()[:1] == ["L4"] and line.split()[-1] == "2" for line in lines)
    assert Dataset.objects.get().pk == summary["dataset"]


def test_command_fractions_option(db: None) -> None:
    make_queries([("en", 1)] * 10)

    call_command("freeze_dataset", "all-train", "--fractions", "1,0,0", stdout=io.StringIO())

    assert set(splits_of(Dataset.objects.get())) and set(splits_of(Dataset.objects.get()).values()) == {"train"}


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--fractions", "0.5,0.1,0.1"], "must sum to 1"),
        (["--fractions", "0.8,0.2"], "Give 3 comma-separated fractions"),
        (["--campaign", "424242"], "No campaign with id 424242"),
    ],
)
def test_command_fails_with_exit_code_1(
    db: None, capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    make_queries([("en", 2)])

    with pytest.raises(SystemExit) as exited:
        FreezeCommand().run_from_argv(["manage.py", "freeze_dataset", "bad", *argv])

    assert exited.value.code == 1
    assert message in capsys.readouterr().err


def test_command_refuses_a_taken_name(db: None) -> None:
    make_queries([("en", 2)])
    freeze_dataset("taken")

    with pytest.raises(CommandError, match="already exists") as failed:
        call_command("freeze_dataset", "taken", stdout=io.StringIO())

    assert failed.value.returncode == 1
    assert Dataset.objects.count() == 1


def test_counts_table_lists_languages_and_levels(db: None) -> None:
    make_queries([("en", 2), ("ja", 1)], label=5)

    table = counts_table(freeze_dataset("table").counts)

    rows = {line.split()[0]: line.split()[1:] for line in table.splitlines() if line}
    assert rows["en"][-1] == "2" and rows["ja"][-1] == "1" and rows["L5"][-1] == "3"


# API -----------------------------------------------------------------------------------


def test_engineer_freezes_over_the_api(db: None, engineer: User) -> None:
    pairs = make_queries([("en", 2), ("de", 1)], label=None)
    campaign = with_consensus(pairs, [2, 3, 4])

    response = api(engineer).post(
        "/api/v1/datasets/",
        {"name": "api", "seed": 5, "campaigns": [campaign.pk], "include_imported": False, "fractions": FRACTIONS},
        format="json",
    )

    assert response.status_code == 201
    body = response.json()
    assert body["counts"]["total"] == 3 and body["created_by"] == "erin" and body["seed"] == 5
    assert Dataset.objects.get(name="api").created_by == engineer


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        ({"name": "x", "fractions": {"train": 0.9}}, "must sum to 1"),
        ({"name": "x", "campaigns": [777]}, "No campaign with id 777"),
        ({"name": "taken"}, "already exists"),
    ],
)
def test_bad_freeze_request_is_400_with_a_message(
    db: None, engineer: User, payload: dict[str, Any], message: str
) -> None:
    make_queries([("en", 2)])
    freeze_dataset("taken")

    response = api(engineer).post("/api/v1/datasets/", payload, format="json")

    assert response.status_code == 400
    assert message in response.json()["detail"]
    assert Dataset.objects.count() == 1


def test_reviewer_reads_but_may_not_freeze(db: None, reviewer: User) -> None:
    make_queries([("en", 2)])
    dataset = freeze_dataset("read")
    client = api(reviewer)

    listed = client.get("/api/v1/datasets/")
    detail = client.get(f"/api/v1/datasets/{dataset.pk}/")

    assert listed.status_code == 200 and listed.json()["results"][0]["split_counts"] == dataset.counts["split"]
    assert detail.status_code == 200 and detail.json()["counts"] == dataset.counts
    assert client.post("/api/v1/datasets/", {"name": "mine"}, format="json").status_code == 403
    assert client.get(f"/api/v1/datasets/{dataset.pk}/export").status_code == 200


@pytest.mark.parametrize(
    ("who", "status"),
    [("alice", 403), (None, 401)],
)
def test_annotators_and_anonymous_are_refused(db: None, alice: User, who: str | None, status: int) -> None:
    make_queries([("en", 2)])
    dataset = freeze_dataset("closed")
    client = api(alice if who else None)

    assert client.get("/api/v1/datasets/").status_code == status
    assert client.get(f"/api/v1/datasets/{dataset.pk}/").status_code == status
    assert client.get(f"/api/v1/datasets/{dataset.pk}/export").status_code == status
    assert client.post("/api/v1/datasets/", {"name": "x"}, format="json").status_code == status
    assert Dataset.objects.count() == 1


# Exports -------------------------------------------------------------------------------


@pytest.fixture
def frozen(db: None, reviewer: User) -> Dataset:
    pairs = make_queries(realistic_sizes()[:60], label=3)
    campaign = with_consensus(pairs[:5], [5, 5, 5, 5, 5])
    adjudicate(campaign, pairs[0], 1, reviewer)
    return freeze_dataset("export", seed=2)


def _export(dataset: Dataset, file_format: str, split: str | None = None) -> tuple[str, int]:
    out = io.StringIO()
    written = export_dataset(dataset, out, file_format, split)
    return out.getvalue(), written


def test_jsonl_export_has_the_import_columns_with_frozen_label_and_split(frozen: Dataset) -> None:
    Pair.objects.update(label=None, split="")  # later changes to pairs do not reach a frozen dataset
    text, written = _export(frozen, "jsonl")

    rows = [json.loads(line) for line in text.splitlines()]
    expected = {
        (item.pair.pin.external_id, item.level, item.split) for item in frozen.items.select_related("pair__pin")
    }
    assert written == len(rows) == frozen.items.count()
    assert list(rows[0]) == list(FIELDS)
    assert {(row["pin_id"], row["label"], row["split"]) for row in rows} == expected
    assert Counter(row["label"] for row in rows) == {3: len(rows) - 5, 5: 4, 1: 1}


def test_csv_export_of_one_split(frozen: Dataset) -> None:
    text, written = _export(frozen, "csv", "val")

    rows = list(csv.DictReader(io.StringIO(text)))
    assert written == len(rows) == frozen.counts["split"]["val"] > 0
    assert {row["split"] for row in rows} == {"val"}
    assert list(rows[0]) == list(FIELDS)


def test_qrels_export(frozen: Dataset) -> None:
    text, written = _export(frozen, "qrels", "test")

    lines = [line.split() for line in text.splitlines()]
    test_items = frozen.items.filter(split="test").select_related("pair__query", "pair__pin")
    assert written == len(lines) == test_items.count() > 0
    assert sorted(lines) == sorted(
        [item.pair.query.external_id, "0", item.pair.pin.external_id, str(item.level)] for item in test_items
    )


def test_api_export_streams_each_format(frozen: Dataset, reviewer: User) -> None:
    client = api(reviewer)
    url = f"/api/v1/datasets/{frozen.pk}/export"
    bodies = {}
    for file_format in ("jsonl", "csv", "qrels"):
        response = client.get(url, {"file_format": file_format, "split": "train"})
        assert response.status_code == 200
        bodies[file_format] = b"".join(response.streaming_content).decode()

    assert bodies["jsonl"] == _export(frozen, "jsonl", "train")[0]
    assert bodies["csv"] == _export(frozen, "csv", "train")[0]
    assert bodies["qrels"] == _export(frozen, "qrels", "train")[0]
    assert client.get(url, {"file_format": "xml"}).status_code == 400
    assert client.get(url, {"split": "dev"}).status_code == 400
    assert client.get("/api/v1/datasets/999999/export").status_code == 404


def test_export_rejects_an_unknown_format(frozen: Dataset) -> None:
    with pytest.raises(DatasetError, match="file_format"):
        _export(frozen, "xml")


# Admin action --------------------------------------------------------------------------


def test_engineer_freezes_from_the_campaign_list(client: Client, engineer: User) -> None:
    chosen_pairs = make_queries([("en", 2), ("de", 1)], prefix="a", label=None)
    chosen = with_consensus(chosen_pairs, [1, 2, 3], name="Chosen")
    with_consensus(make_queries([("en", 2)], prefix="b", label=None), [4, 4], name="Other")
    make_queries([("en", 1)], prefix="i", label=5)
    client.force_login(engineer)
    changelist = reverse("admin:annotation_campaign_changelist")
    selection = {"action": "freeze_from_campaigns", "_selected_action": [chosen.pk]}

    form_page = client.post(changelist, selection)
    assert form_page.status_code == 200
    assert "Freeze a dataset" in form_page.content.decode() and "Chosen" in form_page.content.decode()

    fields = {"name": "from-admin", "seed": "3", "fractions": "0.8,0.1,0.1", "description": "", "apply": "Freeze"}
    done = client.post(changelist, {**selection, **fields})

    dataset = Dataset.objects.get(name="from-admin")
    assert done.status_code == 302 and done["Location"] == reverse("admin:annotation_dataset_change", args=[dataset.pk])
    assert set(splits_of(dataset)) == {p.pk for p in chosen_pairs}  # no other campaign, no imported labels
    assert dataset.created_by == engineer and dataset.seed == 3


def test_admin_action_shows_errors_and_writes_nothing(client: Client, engineer: User) -> None:
    campaign = with_consensus(make_queries([("en", 1)], label=None), [3])
    client.force_login(engineer)
    post = {"action": "freeze_from_campaigns", "_selected_action": [campaign.pk], "name": "x", "seed": "0"}

    bad_fractions = client.post(
        reverse("admin:annotation_campaign_changelist"), {**post, "fractions": "1,1,1", "apply": "1"}
    )

    assert bad_fractions.status_code == 200 and "must sum to 1" in bad_fractions.content.decode()
    assert not Dataset.objects.exists()


def test_reviewer_is_not_offered_the_freeze_action(client: Client, reviewer: User, engineer: User) -> None:
    with_consensus(make_queries([("en", 1)], label=None), [3])
    client.force_login(reviewer)
    assert "freeze_from_campaigns" not in client.get(reverse("admin:annotation_campaign_changelist")).content.decode()

    client.force_login(engineer)
    assert "freeze_from_campaigns" in client.get(reverse("admin:annotation_campaign_changelist")).content.decode()


def test_dataset_admin_pages_show_counts_and_items(client: Client, engineer: User) -> None:
    make_queries([("en", 2), ("ja", 1)], label=4)
    dataset = freeze_dataset("shown")
    client.force_login(engineer)

    listing = client.get(reverse("admin:annotation_dataset_changelist")).content.decode()
    page = client.get(reverse("admin:annotation_dataset_change", args=[dataset.pk])).content.decode()
    items = client.get(reverse("admin:annotation_datasetitem_changelist"), {"dataset__id__exact": dataset.pk})

    assert "shown" in listing
    assert "L4" in page and f"/api/v1/datasets/{dataset.pk}/export?file_format=qrels" in page
    assert items.status_code == 200 and "query q0" in items.content.decode()


def test_split_shares_per_language_are_stored_per_split(db: None) -> None:
    make_queries(realistic_sizes(seed=1))

    dataset = freeze_dataset("per-split", seed=8)

    per_query_split: dict[int, set[str]] = defaultdict(set)
    for query_id, split in dataset.items.values_list("pair__query_id", "split"):
        per_query_split[query_id].add(split)
    assert all(len(splits) == 1 for splits in per_query_split.values())
    assert Counter(split for splits in per_query_split.values() for split in splits) == Counter(
        {split: n for split, n in dataset.counts["queries"].items() if n}
    )
