"""Where a training job stands: the one state a checkpoint saves (as state.json) and a resumed job starts from.

The weights, the optimizer's state and the RNG states are saved beside it (checkpoints.py); everything else
a resumed job needs to go on exactly as if it had never stopped is here.
"""

from dataclasses import dataclass

from ..environment import Environment
from ..hyperparameters import Hyperparameters
from .early_stopping import EarlyStopping
from .keeper import ModelKeeper


@dataclass
class Progress:
    seed: int
    keeper: ModelKeeper | None  # None on a worker that is not the master: it keeps no epochs
    early_stopping: EarlyStopping | None  # None without early_stopping
    epochs_done: int = 0
    batches_done: int = 0  # batches of the next epoch trained before a stop
    stopped_early: bool = False

    @classmethod
    def start(cls, env: Environment, hp: Hyperparameters, validation_count: int | None) -> "Progress":
        """The state of a job that has trained nothing yet (``hp`` with the job's seed)."""
        keeper = ModelKeeper(env.paths.model_dir, hp.checkpoint_frequency, validation_count) if env.is_master else None
        early_stopping = (
            EarlyStopping(hp.early_stopping_min_epochs, hp.early_stopping_patience, hp.early_stopping_tolerance)
            if hp.early_stopping
            else None
        )
        return cls(seed=hp.seed, keeper=keeper, early_stopping=early_stopping)

    def end_epoch(self, epochs_done: int, stopped_early: bool) -> None:
        self.epochs_done, self.batches_done, self.stopped_early = epochs_done, 0, stopped_early

    def state(self) -> dict:
        return {
            "seed": self.seed,
            "batches_done": self.batches_done,
            "keeper": self.keeper.state() if self.keeper else None,
            "early_stopping": self.early_stopping.state() if self.early_stopping else None,
            "stopped_early": self.stopped_early,
            "epochs_done": self.epochs_done,
        }

    def restore(self, state: dict) -> None:
        """Go on from a checkpoint's state (one written before batches were counted has none done)."""
        if self.keeper and state["keeper"]:
            self.keeper.restore(state["keeper"])
        if self.early_stopping and state["early_stopping"]:
            self.early_stopping.restore(state["early_stopping"])
        self.epochs_done = state["epochs_done"]
        self.batches_done = state.get("batches_done", 0)
        self.stopped_early = state["stopped_early"]
