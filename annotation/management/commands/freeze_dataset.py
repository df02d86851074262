from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from annotation.datasets import DatasetError, counts_table, freeze_dataset, parse_fractions


class Command(BaseCommand):
    help = (
        "Freeze the current final labels (adjudicated > consensus > imported) into a named, immutable "
        "dataset split by query into train/val/test, stratified by language."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("name", help="a new, unique dataset name")
        parser.add_argument("--seed", type=int, default=0, help="the split is reproducible from it (default 0)")
        parser.add_argument(
            "--campaign",
            dest="campaigns",
            type=int,
            nargs="+",
            action="extend",
            metavar="ID",
            help="take labels from these campaigns only (default: every campaign)",
        )
        parser.add_argument("--no-imported", action="store_true", help="leave out labels imported with the pairs")
        parser.add_argument("--fractions", default="0.8,0.1,0.1", help="train,val,test shares (default 0.8,0.1,0.1)")
        parser.add_argument("--description", default="")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            dataset = freeze_dataset(
                options["name"],
                campaigns=options["campaigns"],
                include_imported=not options["no_imported"],
                seed=options["seed"],
                fractions=parse_fractions(options["fractions"]),
                description=options["description"],
            )
        except DatasetError as error:
            raise CommandError(f"{error} Nothing was written.") from None
        self.stdout.write(counts_table(dataset.counts))
        summary = {"dataset": dataset.pk, "name": dataset.name, "seed": dataset.seed, **dataset.counts}
        self.stdout.write(json.dumps(summary))
