"""TensorBoard event files, where SageMaker's TensorBoardOutputConfig collects them (/opt/ml/output/tensorboard).

Per epoch (step = epoch, from 0): ``accuracy/train``, ``accuracy/validation``, ``loss/train``,
``loss/validation`` (and every other metric as ``NAME/PHASE``), ``learning_rate``. Every few batches
(step = batches trained so far): ``batch/accuracy`` and the other running training metrics,
``batch/loss`` (mean over those batches) and ``batch/learning_rate``.
"""

from pathlib import Path

from tensorboardX import SummaryWriter


class TensorBoard:
    def __init__(self, log_dir: Path):
        self.writer = SummaryWriter(str(log_dir))

    def epoch(self, record: dict) -> None:
        """Write one metrics.json record; flushed, so the epoch survives a stopped job."""
        for phase in ("train", "validation"):
            for name, value in record[phase].items():
                self.writer.add_scalar(f"{name}/{phase}", value, record["epoch"])
        self.writer.add_scalar("learning_rate", record["learning_rate"], record["epoch"])
        self.writer.flush()

    def batch(self, step: int, values: dict[str, float]) -> None:
        for name, value in values.items():
            self.writer.add_scalar(f"batch/{name}", value, step)

    def close(self) -> None:
        self.writer.close()
