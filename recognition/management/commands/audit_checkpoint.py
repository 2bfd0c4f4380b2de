"""Write a signed checkpoint of the access log now (Celery beat does it every AUDIT_CHECKPOINT_INTERVAL_S)."""

from __future__ import annotations

import json

from django.core.management.base import BaseCommand, CommandError

from recognition import checkpoints


class Command(BaseCommand):
    help = ("Sign the access log's head (id, hash, number of entries, keys) into a checkpoint file in "
            "AUDIT_CHECKPOINT_DIR; refuses when the entries since the last checkpoint do not hold.")

    def add_arguments(self, parser):
        parser.add_argument("--force", action="store_true", help="write one even if the log has not grown")

    def handle(self, *args, force: bool, **opts):
        try:
            checkpoint = checkpoints.write_checkpoint(force=force)
        except checkpoints.CheckpointRefused as exc:
            raise CommandError(f"REFUSED: the log does not hold: {exc}") from exc
        if checkpoint is None:
            self.stdout.write("Nothing new since the last checkpoint (or the log is empty).")
            return
        where = checkpoints.checkpoint_dir()
        self.stdout.write(self.style.SUCCESS(f"Checkpoint {checkpoint.name} in {where}"))
        self.stdout.write(json.dumps(checkpoint.payload, indent=1, sort_keys=True))
