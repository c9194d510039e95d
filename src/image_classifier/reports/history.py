"""metrics.json: one record per epoch, rewritten whole after each so that a stopped job keeps its history.

    {"epochs": [{"epoch": 0, "learning_rate": 0.1,
                 "train": {"accuracy": 0.61, "loss": 1.02},
                 "validation": {"accuracy": 0.58, "loss": 1.10}}, ...]}

Epochs count from 0, as the log lines do; metric names are the log lines' (top_k_accuracy_5, ...).
"""

import json
from pathlib import Path

from .. import atomic_files


class History:
    def __init__(self, path: Path):
        self.path = path
        self.epochs = []

    def add(self, record: dict) -> None:
        self.epochs.append(record)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        atomic_files.write_text(self.path, json.dumps({"epochs": self.epochs}, indent=1))
