"""`manage.py train_teacher --dataset NAME [options] [--wait | --inline]`: start a teacher run.

By default the run is enqueued on the gpu queue and the command returns at once; `--wait` then
follows the run row with a progress bar until it finishes; `--inline` trains in this process
instead of a worker. The last line printed is the run as JSON.
"""

from __future__ import annotations

import json
import time
from argparse import ArgumentParser
from typing import Any

from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from annotation.models import Dataset
from modeling import pipelines
from modeling.models import Run, RunStatus

DEFAULTS = pipelines.TeacherParams()
# The bar counts thousandths of the run's progress when it follows the row.
BAR_UNITS = 1000


class Command(BaseCommand):
    help = "Train a teacher cross-encoder on a frozen dataset (enqueued on the gpu queue, or in-process)."

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("--dataset", required=True, help="name of a frozen dataset")
        parser.add_argument("--name", default="", help="name for the model version")
        parser.add_argument("--backbone", default="", help="local Hugging Face folder (default: BACKBONE_DIR)")
        parser.add_argument("--fields", default=",".join(DEFAULTS.fields), help="pin fields, comma-separated")
        parser.add_argument("--epochs", type=int, default=DEFAULTS.epochs)
        parser.add_argument("--lr", type=float, default=DEFAULTS.lr)
        parser.add_argument("--batch-size", type=int, default=DEFAULTS.batch_size)
        parser.add_argument("--max-length", type=int, default=DEFAULTS.max_length)
        parser.add_argument("--seed", type=int, default=DEFAULTS.seed)
        parser.add_argument("--device", default="", help="auto, cpu, cuda, cuda:N or mps (default: ML_DEVICE)")
        mode = parser.add_mutually_exclusive_group()
        mode.add_argument("--wait", action="store_true", help="enqueue, then follow the run until it ends")
        mode.add_argument("--inline", action="store_true", help="train in this process instead of a worker")
        parser.add_argument("--timeout", type=float, default=None, help="seconds --wait follows the run")

    def handle(self, *args: Any, **options: Any) -> None:
        dataset = Dataset.objects.filter(name=options["dataset"]).first()
        if dataset is None:
            raise CommandError(f"no dataset named {options['dataset']!r}")
        params = self.params(options)
        try:
            pipelines.check_trainable(dataset.name, pipelines.item_counts(dataset)["train"])
        except pipelines.PipelineError as error:
            raise CommandError(str(error)) from None
        run = pipelines.start_teacher_run(dataset, params, name=options["name"], enqueue=not options["inline"])
        self.stderr.write(f"teacher run {run.pk} (model version {run.model_version_id}) on {dataset.name}")
        if options["inline"]:
            run = self.train_here(run)
        elif options["wait"]:
            run = self.follow(run, options["timeout"])
        self.stdout.write(json.dumps(run_summary(run)))
        if run.status in (RunStatus.FAILED, RunStatus.CANCELLED):
            raise CommandError(f"run {run.pk} {run.status}: {run.error.strip().splitlines()[-1:] or run.message}")

    def params(self, options: dict[str, Any]) -> pipelines.TeacherParams:
        fields = tuple(field.strip() for field in options["fields"].split(",") if field.strip())
        try:
            return pipelines.TeacherParams(
                backbone=options["backbone"],
                fields=fields,
                epochs=options["epochs"],
                lr=options["lr"],
                batch_size=options["batch_size"],
                max_length=options["max_length"],
                seed=options["seed"],
                device=options["device"],
            )
        except pipelines.PipelineError as error:
            raise CommandError(str(error)) from None

    def train_here(self, run: Run) -> Run:
        with tqdm(desc="training", unit="step", file=self.stderr._out, dynamic_ncols=True) as bar:

            def show(event: Any) -> None:
                bar.total = event.total_steps
                bar.n = event.step
                bar.set_postfix(epoch=event.epoch, loss=f"{event.loss:.4f}", refresh=False)
                bar.refresh()

            return pipelines.train_teacher_run(run.pk, on_event=show)

    def follow(self, run: Run, timeout_s: float | None) -> Run:
        deadline = None if timeout_s is None else time.monotonic() + timeout_s
        with tqdm(total=BAR_UNITS, desc=f"run {run.pk}", file=self.stderr._out, dynamic_ncols=True) as bar:
            while not run.is_finished:
                if deadline is not None and time.monotonic() > deadline:
                    raise CommandError(f"run {run.pk} still {run.status} after {timeout_s:g} s: {run.message}")
                time.sleep(1.0)
                run.refresh_from_db()
                bar.n = round(run.progress * BAR_UNITS)
                bar.set_postfix_str(f"{run.status}: {run.message}"[:80])
        return run


def run_summary(run: Run) -> dict[str, Any]:
    version = run.model_version
    return {
        "run": run.pk,
        "status": run.status,
        "progress": run.progress,
        "message": run.message,
        "model_version": version.pk if version else None,
        "artifact_path": version.artifact_path if version else "",
        "metrics": {split: version.metrics.get(split) for split in ("val", "test")} if version else {},
    }
