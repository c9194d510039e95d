"""Checks of the hyperparameters against the data, before any heavy work."""

from ..errors import UserError
from ..hyperparameters import Hyperparameters
from .record_set import RecordSet
from .stream import StreamedSet


def against_train_set(hp: Hyperparameters, train_set: RecordSet | StreamedSet, sharded: bool = False) -> None:
    """Refuse hyperparameters that disagree with the training set: its image count, a batch larger than it.

    num_training_samples is the whole channel's count: with ShardedByS3Key, a host's part is at most that.
    A streamed set's count is num_training_samples' share until its first pass checks it (stream.py).
    """
    if sharded:
        if train_set.count > hp.num_training_samples:
            raise UserError(
                f"num_training_samples is {hp.num_training_samples} but this host's part of the sharded 'train' "
                f"channel alone holds {train_set.count} images; set num_training_samples to the whole channel's count"
            )
    elif not isinstance(train_set, StreamedSet) and hp.num_training_samples != train_set.count:
        raise UserError(
            f"num_training_samples is {hp.num_training_samples} but the 'train' channel holds {train_set.count} "
            f"images; set num_training_samples={train_set.count}"
        )
    if hp.use_weighted_loss and isinstance(train_set, StreamedSet):
        raise UserError(
            "use_weighted_loss=1 needs the label counts before training, which a streamed Pipe-mode channel "
            "does not give; set IMAGE_CLASSIFIER_PIPE_MODE=copy, use File mode, or use_weighted_loss=0"
        )
    if hp.mini_batch_size > train_set.count:
        raise UserError(
            f"mini_batch_size ({hp.mini_batch_size}) is larger than the {train_set.count} training images; "
            f"set mini_batch_size to at most {train_set.count}"
        )
