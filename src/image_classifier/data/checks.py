"""Checks of the hyperparameters against the data, before any heavy work."""

from ..errors import UserError
from ..hyperparameters import Hyperparameters
from .record_set import RecordSet


def against_train_set(hp: Hyperparameters, train_set: RecordSet) -> None:
    """Refuse hyperparameters that disagree with the training set: its image count, a batch larger than it."""
    if hp.num_training_samples != train_set.count:
        raise UserError(
            f"num_training_samples is {hp.num_training_samples} but the 'train' channel holds {train_set.count} "
            f"images; set num_training_samples={train_set.count}"
        )
    if hp.mini_batch_size > train_set.count:
        raise UserError(
            f"mini_batch_size ({hp.mini_batch_size}) is larger than the {train_set.count} training images; "
            f"set mini_batch_size to at most {train_set.count}"
        )
