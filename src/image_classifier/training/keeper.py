"""Which epochs' parameters stay in the model directory.

``checkpoint_frequency`` unset: only the best epoch by validation accuracy (the new best is written
before the old one is removed). Set to k: every k-th epoch, and the last one trained.
"""
from ..model import artifacts


class ModelKeeper:
    def __init__(self, model_dir, checkpoint_frequency):
        self.model_dir = model_dir
        self.frequency = checkpoint_frequency
        self.best_score = None
        self.best_epoch_number = None
        self.saved = []

    def end_of_epoch(self, served_net, epoch_number, score, last):
        """Keep epoch ``epoch_number`` (1-based) if the policy says so; returns whether it is the best."""
        improved = self.best_score is None or score > self.best_score
        if improved:
            self.best_score, self.best_epoch_number = score, epoch_number
        if self.frequency:
            if epoch_number % self.frequency == 0 or last:
                self._save(served_net, epoch_number)
        elif improved:
            previous = list(self.saved)
            self._save(served_net, epoch_number)
            for old in previous:
                artifacts.params_path(self.model_dir, old).unlink(missing_ok=True)
                self.saved.remove(old)
        return improved

    def state(self):
        return {"best_score": self.best_score, "best_epoch_number": self.best_epoch_number, "saved": self.saved}

    def restore(self, state):
        self.best_score, self.best_epoch_number = state["best_score"], state["best_epoch_number"]
        self.saved = list(state["saved"])

    def _save(self, served_net, epoch_number):
        artifacts.save_epoch(served_net, self.model_dir, epoch_number)
        self.saved.append(epoch_number)
