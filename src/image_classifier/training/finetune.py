"""How much of a network that starts from weights (model.transfer.TransferNet) trains in each epoch.

Our hyperparameters, whose defaults train everything at ``learning_rate`` as the built-in does:
    freeze_epochs     the first N epochs train the head only; the body is frozen
    trainable_layers  after those, the head and the body's top N weighted layers (convolutions, in the
                      order data flows) train, and the rest of the body stays frozen; unset: the whole body
    body_lr_mult      the body learns at learning_rate times this; the head at learning_rate
    dropout_rate      dropout of this fraction of the body's features before the head, while training
    freeze_batch_norm 1: the body's batch normalisation uses its running statistics in every epoch, so they
                      stay as the starting weights have them while the weights (its scale and shift too) train
Frozen parameters get no gradient and their batch normalisation uses its running statistics, so they
stay bit-identical. The schedule depends only on the epoch number, so a resumed job picks it up.
"""

import logging

from mxnet import gluon

from ..errors import UserError
from ..hyperparameters import TABLE, Hyperparameters
from ..model.transfer import TransferNet

log = logging.getLogger(__name__)
CONTROLS = ("freeze_epochs", "trainable_layers", "body_lr_mult", "dropout_rate", "freeze_batch_norm")


class FineTuning:
    def __init__(self, hp: Hyperparameters, net: gluon.Block, trainer: gluon.Trainer):
        self.hp = hp
        self.net = net if isinstance(net, TransferNet) else None
        self.top_layers = None  # what trains now, as TransferNet.train_top takes it: None is everything
        if self.net is None:
            given = [name for name in CONTROLS if getattr(hp, name) != TABLE[name].default]
            if given:
                raise UserError(
                    f"{', '.join(given)} fine-tune a network that starts from weights: set use_pretrained_model=1 "
                    f"or give a 'pretrained' or 'model' channel, or leave {'it' if len(given) == 1 else 'them'} unset"
                )
            return
        if hp.dropout_rate:
            self.net.add_dropout(hp.dropout_rate)
        if hp.freeze_batch_norm:  # from the first epoch, also when the schedule leaves everything training
            self.net.train_top(None, freeze_batch_norm=True)
        body = set(self.net.body_params())
        for param in body:
            param.lr_mult = hp.body_lr_mult
        # Also by the trainer's index: a dist kvstore's servers get the optimizer without its Parameters. The
        # trainer numbers them its own way (a ParameterDict by sorted name), which collect_params' order is not.
        trainer.optimizer.set_lr_mult({trainer._param2idx[param.name]: hp.body_lr_mult for param in body})

    def start_epoch(self, epoch: int) -> bool:
        """Freeze or unfreeze the body for ``epoch`` (0-based); True when that changed what trains."""
        top_layers = 0 if epoch < self.hp.freeze_epochs else self.hp.trainable_layers
        if self.net is None or top_layers == self.top_layers:
            return False
        self.net.train_top(top_layers, self.hp.freeze_batch_norm)
        self.top_layers = top_layers
        if top_layers == 0:
            log.info("Epoch[%d] Training the head only; the body is frozen", epoch)
        elif top_layers is None:
            log.info("Epoch[%d] Training the head and the whole body", epoch)
        else:
            log.info(
                "Epoch[%d] Training the head and the body's top %d weighted layers; the rest is frozen",
                epoch,
                top_layers,
            )
        return True
