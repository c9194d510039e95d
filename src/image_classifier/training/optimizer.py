"""The optimizer and its learning-rate schedule from the built-in hyperparameters."""

import mxnet as mx

from ..hyperparameters import Hyperparameters


def lr_scheduler(hp: Hyperparameters, batches_per_epoch: int) -> mx.lr_scheduler.LRScheduler | None:
    """``lr_scheduler_step`` epochs become update counts: the rate is multiplied by the factor there."""
    if not hp.lr_scheduler_step:
        return None
    steps = [epoch * batches_per_epoch for epoch in hp.lr_scheduler_step]
    return mx.lr_scheduler.MultiFactorScheduler(step=steps, factor=hp.lr_scheduler_factor, base_lr=hp.learning_rate)


def optimizer_params(hp: Hyperparameters, batches_per_epoch: int) -> tuple[str, dict]:
    """The name and arguments ``gluon.Trainer`` takes for ``hp.optimizer``."""
    params = {
        "learning_rate": hp.learning_rate,
        "wd": hp.weight_decay,
        "lr_scheduler": lr_scheduler(hp, batches_per_epoch),
        "multi_precision": hp.precision_dtype == "float16",
    }
    if hp.optimizer in ("sgd", "nag"):
        params["momentum"] = hp.momentum
    elif hp.optimizer == "adam":
        params.update(beta1=hp.beta_1, beta2=hp.beta_2, epsilon=hp.eps)
    elif hp.optimizer == "rmsprop":
        params.update(gamma1=hp.gamma, epsilon=hp.eps)
    return hp.optimizer, params
