"""Which epochs' parameters stay in the model directory.

``checkpoint_frequency`` set to k: every k-th epoch, and the last one trained.

Unset: one epoch, chosen so that validation noise cannot pick a worse model. Among the epochs whose
validation accuracy is within one binomial standard error of the best accuracy p, sqrt(p(1 - p) / n) on n
validation images (never less than one image, 1/n), the one with the lowest validation loss, then the latest.
Accuracies that close differ by chance (at p = 0.98 on 1,000 images the standard error is 4.4 images), while
the loss weighs every image's confidence. The window's lower edge, p minus its width, only rises with p, so
while training runs, every epoch that may still be chosen whatever the later epochs bring stays saved (a new
epoch is written before any is removed); ``finish`` then leaves the chosen one alone and logs why.
"""

import logging
import math
from dataclasses import asdict, dataclass
from pathlib import Path

from mxnet.gluon import HybridBlock

from ..model import artifacts

log = logging.getLogger(__name__)
ROUNDING = 1e-9  # accuracies are ratios of counts: equal ones may differ in the last bits


@dataclass(frozen=True)
class EpochScore:
    epoch_number: int  # 1-based, as the params files are numbered
    accuracy: float  # validation accuracy
    loss: float  # mean validation loss; inf when it was not finite

    def rank(self) -> tuple[float, int]:
        """Lower is preferred among epochs of near-equal accuracy: lower loss, then the later epoch."""
        return self.loss, -self.epoch_number


def window(best: float, count: int) -> float:
    """How far below the best accuracy ``best`` of ``count`` validation images an epoch ties with it: one
    binomial standard error, and at least one image."""
    return max(math.sqrt(best * (1.0 - best) / count), 1.0 / count)


def near_best(history: list[EpochScore], count: int) -> list[EpochScore]:
    """The epochs of ``history`` whose accuracy is within ``window`` of the best."""
    best = max(score.accuracy for score in history)
    return [score for score in history if score.accuracy >= best - window(best, count) - ROUNDING]


def choose(history: list[EpochScore], count: int) -> EpochScore:
    """The epoch to keep: among those within ``window`` of the best accuracy, the lowest loss, then the latest."""
    return min(near_best(history, count), key=EpochScore.rank)


def still_possible(history: list[EpochScore], count: int) -> list[EpochScore]:
    """The epochs ``choose`` may still pick after any later epochs: near the best so far (the window's lower
    edge only rises) and not beaten by an epoch of at least their accuracy and a better rank (which stays near
    the best as long as they do)."""
    near = near_best(history, count)
    return [
        score
        for score in near
        if not any(other.accuracy >= score.accuracy and other.rank() < score.rank() for other in near)
    ]


class ModelKeeper:
    def __init__(self, model_dir: Path, checkpoint_frequency: int | None, validation_count: int | None):
        self.model_dir = model_dir
        self.frequency = checkpoint_frequency
        self.validation_count = validation_count  # None until a streamed validation set's first pass counts it
        self.history = []
        self.saved = []

    def end_of_epoch(
        self, served_net: HybridBlock, epoch_number: int, accuracy: float, loss: float, last: bool
    ) -> None:
        """Record epoch ``epoch_number`` (1-based); save it if the policy may keep it."""
        self.history.append(EpochScore(epoch_number, accuracy, loss if math.isfinite(loss) else math.inf))
        if self.frequency:
            if epoch_number % self.frequency == 0 or last:
                self._save(served_net, epoch_number)
            return
        keep = {score.epoch_number for score in still_possible(self.history, self.validation_count)}
        if epoch_number in keep:
            self._save(served_net, epoch_number)
        self._remove_all_but(keep)

    def finish(self) -> None:
        """Log which epochs are kept and why; with checkpoint_frequency unset, leave only the chosen one's
        parameters."""
        if not self.history:
            return
        if self.frequency:
            log.info(
                "Kept epochs %s: every %d epochs (checkpoint_frequency) and the last",
                ", ".join(str(number - 1) for number in self.saved),
                self.frequency,
            )
            return
        chosen = choose(self.history, self.validation_count)
        self._remove_all_but({chosen.epoch_number})
        log.info(
            "Kept epoch %d (%s): %s",
            chosen.epoch_number - 1,
            artifacts.params_path(self.model_dir, chosen.epoch_number).name,
            self._reason(chosen),
        )

    def _reason(self, chosen):
        count = self.validation_count
        near = near_best(self.history, count)
        best = max(score.accuracy for score in self.history)
        said = f"Validation-accuracy={chosen.accuracy:f}, validation loss {chosen.loss:f}"
        width = f"{window(best, count):f}: sqrt(p(1-p)/n) at p={best:f} on n={count} validation images, at least 1/n"
        if len(near) == 1:
            return f"{said}; the best accuracy, more than one standard error ({width}) above any other epoch"
        epochs = ", ".join(str(score.epoch_number - 1) for score in near)
        lowest = [score for score in near if score.loss == chosen.loss]
        why = "the lowest validation loss" + (" and the latest of those" if len(lowest) > 1 else "")
        return f"{said}; epochs {epochs} are within one standard error ({width}) of the best accuracy, and it has {why}"

    def state(self) -> dict:
        return {
            "history": [asdict(score) for score in self.history],
            "saved": self.saved,
            "validation_count": self.validation_count,
        }

    def restore(self, state: dict) -> None:
        if "history" in state:
            self.history = [EpochScore(**score) for score in state["history"]]
        else:  # a checkpoint written before losses were kept knows only its best epoch, at an unknown loss
            best = state.get("best_epoch_number")
            self.history = [EpochScore(best, state["best_score"], math.inf)] if best else []
        self.saved = list(state["saved"])
        self.validation_count = state.get("validation_count") or self.validation_count

    def _save(self, served_net, epoch_number):
        artifacts.save_epoch(served_net, self.model_dir, epoch_number)
        self.saved.append(epoch_number)

    def _remove_all_but(self, keep):
        for old in [number for number in self.saved if number not in keep]:
            artifacts.params_path(self.model_dir, old).unlink(missing_ok=True)
            self.saved.remove(old)
