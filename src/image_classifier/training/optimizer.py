"""The optimizer and its learning-rate schedule from the hyperparameters (the built-in's and ours)."""

import mxnet as mx
from mxnet import gluon

from ..hyperparameters import Hyperparameters

# Biases and batch norm's gamma and beta end so in Gluon's names and in MXNet's symbolic ones (a model loaded
# from its symbol file) alike, as MXNet's own Optimizer.set_wd_mult reads them.
NO_DECAY_SUFFIXES = ("_bias", "_gamma", "_beta")


def lr_scheduler(hp: Hyperparameters, batches_per_epoch: int) -> mx.lr_scheduler.LRScheduler | None:
    """The learning rate per update (MXNet counts updates from 1), all from MXNet's own schedulers.

    ``warmup_epochs``: a linear rise from 0, reaching ``learning_rate`` after that many epochs' updates. Then
    ``lr_scheduler``: ``step`` multiplies the rate by ``lr_scheduler_factor`` after each epoch of
    ``lr_scheduler_step`` (constant without it: a polynomial of power 0); ``cosine`` and ``poly`` (GluonCV's
    power 2) decay it every update to 0 at the last update of the last epoch. The scheduler is part of the
    optimizer the trainer's states pickle, so a checkpoint resumes it at the update count it had.
    """
    warmup = hp.warmup_epochs * batches_per_epoch
    last = hp.epochs * batches_per_epoch
    rate = dict(base_lr=hp.learning_rate, warmup_steps=warmup, warmup_begin_lr=0.0)
    if hp.lr_scheduler == "cosine":
        return mx.lr_scheduler.CosineScheduler(max_update=last, final_lr=0.0, **rate)
    if hp.lr_scheduler == "poly":
        return mx.lr_scheduler.PolyScheduler(max_update=last, pwr=2, final_lr=0.0, **rate)
    if hp.lr_scheduler_step:
        steps = [epoch * batches_per_epoch for epoch in hp.lr_scheduler_step]
        return mx.lr_scheduler.MultiFactorScheduler(step=steps, factor=hp.lr_scheduler_factor, **rate)
    if warmup:
        return mx.lr_scheduler.PolyScheduler(max_update=last, pwr=0, **rate)
    return None


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


def without_bias_decay(trainer: gluon.Trainer) -> None:
    """``no_bias_decay``: no weight decay on biases and batch norm's gamma and beta, GluonCV's ``--no-wd``.

    Set on the Parameters, which the trainer's optimizer reads, and by the optimizer's index too (the
    trainer numbers its parameters by sorted name): a dist kvstore's servers get the optimizer without them.
    """
    params = trainer.optimizer.param_dict
    exempt = {index: param for index, param in params.items() if param.name.endswith(NO_DECAY_SUFFIXES)}
    for param in exempt.values():
        param.wd_mult = 0.0
    trainer.optimizer.set_wd_mult(dict.fromkeys(exempt, 0.0))
