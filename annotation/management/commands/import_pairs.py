from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from annotation.importing import FORMATS, ImportFailed, import_pairs
from annotation.models import Pool


class Command(BaseCommand):
    help = "Import (query, Pin) pairs from a JSONL or CSV file; nothing is written if any row is bad."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file")
        parser.add_argument("--format", dest="file_format", choices=FORMATS, help="default: from the suffix")
        parser.add_argument("--pool", choices=Pool.values, default=Pool.HUMAN, help="for rows without a pool")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            report = import_pairs(
                options["file"], file_format=options["file_format"], pool=options["pool"], progress=True
            )
        except ImportFailed as failed:
            for error in failed.errors:
                self.stderr.write(str(error))
            raise CommandError(f"{len(failed.errors)} error(s); nothing was imported") from None
        except OSError as error:
            raise CommandError(str(error)) from None
        self.stdout.write(json.dumps(report.as_dict()))
