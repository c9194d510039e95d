"""The built-in algorithm's early stopping on validation accuracy.

From ``early_stopping_min_epochs`` on, training ends once ``early_stopping_patience`` epochs in a row
have not improved on the best accuracy by more than ``early_stopping_tolerance`` (relative).
"""


class EarlyStopping:
    def __init__(self, min_epochs: int, patience: int, tolerance: float):
        self.min_epochs = min_epochs
        self.patience = patience
        self.tolerance = tolerance
        self.best = None
        self.epochs_without_improvement = 0

    def should_stop(self, epoch_number: int, accuracy: float) -> bool:
        """Record epoch ``epoch_number``'s (1-based) accuracy; True when training should end."""
        if self.best is None or self._improves(accuracy):
            self.best = accuracy
            self.epochs_without_improvement = 0
        else:
            self.epochs_without_improvement += 1
        return epoch_number >= self.min_epochs and self.epochs_without_improvement >= self.patience

    def state(self) -> dict:
        return {"best": self.best, "epochs_without_improvement": self.epochs_without_improvement}

    def restore(self, state: dict) -> None:
        self.best, self.epochs_without_improvement = state["best"], state["epochs_without_improvement"]

    def _improves(self, accuracy):
        if self.best == 0:
            return accuracy > 0
        return (accuracy - self.best) / self.best > self.tolerance
